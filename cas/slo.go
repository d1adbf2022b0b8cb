package cas

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sloJob is one back-channel single logout request to send: the service
// that received the ticket, and the ticket (the SAML SessionIndex).
type sloJob struct {
	service string
	ticket  string
}

// sloTimeout bounds one logout request, whatever the HTTP client.
const sloTimeout = 5 * time.Second

// sloWorker sends the queued logout requests until Close.
func (s *Server) sloWorker() {
	for {
		select {
		case <-s.done:
			return
		case j := <-s.slo:
			if err := s.sendLogout(j); err != nil {
				s.log.Warn("cas single logout failed", "service", j.service, "err", err)
			}
		}
	}
}

// sendLogout POSTs the SAML LogoutRequest of a ticket to its service as the
// form field logoutRequest (CAS protocol, appendix C). Failures are not
// retried: the service's own session then ends on its own terms.
func (s *Server) sendLogout(j sloJob) error {
	body, err := logoutRequest(randomString(16), j.ticket, s.now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, sloTimeout)
	defer cancel()
	form := url.Values{"logoutRequest": {string(body)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.service, strings.NewReader(form))
	if err != nil {
		return err
	}
	// Exactly this content type: some clients (gopkg.in/cas.v2) compare it
	// without parameters.
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return nil
}

// logoutRequest encodes a samlp:LogoutRequest for ticket, issued at now.
func logoutRequest(id, ticket string, now time.Time) ([]byte, error) {
	type nameID struct {
		XMLName xml.Name `xml:"saml:NameID"`
		NS      string   `xml:"xmlns:saml,attr"`
		Value   string   `xml:",chardata"`
	}
	type request struct {
		XMLName      xml.Name `xml:"samlp:LogoutRequest"`
		NS           string   `xml:"xmlns:samlp,attr"`
		ID           string   `xml:"ID,attr"`
		Version      string   `xml:"Version,attr"`
		IssueInstant string   `xml:"IssueInstant,attr"`
		NameID       nameID
		SessionIndex string `xml:"samlp:SessionIndex"`
	}
	var buf bytes.Buffer
	err := xml.NewEncoder(&buf).Encode(request{
		NS: "urn:oasis:names:tc:SAML:2.0:protocol", ID: "LR-" + id, Version: "2.0",
		IssueInstant: now.UTC().Format("2006-01-02T15:04:05Z"),
		NameID:       nameID{NS: "urn:oasis:names:tc:SAML:2.0:assertion", Value: "@NOT_USED@"},
		SessionIndex: ticket,
	})
	return buf.Bytes(), err
}
