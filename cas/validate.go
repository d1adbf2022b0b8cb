package cas

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"atrium/ent"
)

// Failure codes of the CAS protocol.
const (
	codeInvalidRequest = "INVALID_REQUEST"
	codeInvalidTicket  = "INVALID_TICKET"
	codeInvalidService = "INVALID_SERVICE"
	codeInternalError  = "INTERNAL_ERROR"
)

// casNS is the namespace of CAS 2 and 3 responses.
const casNS = "http://www.yale.edu/tp/cas"

// internalErrorXML is answered when a response cannot be encoded.
const internalErrorXML = `<cas:serviceResponse xmlns:cas="` + casNS + `"><cas:authenticationFailure code="` +
	codeInternalError + `">Erreur interne du serveur CAS.</cas:authenticationFailure></cas:serviceResponse>
`

// validation is the outcome of a ticket validation: a ticket (success) or
// a failure code and message.
type validation struct {
	t       *ticket
	code    string
	message string
}

// check consumes the ticket of a validation request and checks it. The
// ticket is consumed whatever the outcome: a ticket validates once.
func (s *Server) check(r *http.Request) validation {
	q := r.URL.Query()
	service, id := q.Get("service"), q.Get("ticket")
	switch {
	case service == "" || id == "":
		return validation{code: codeInvalidRequest, message: "Les paramètres service et ticket sont obligatoires."}
	case len(service) > maxServiceURL:
		return validation{code: codeInvalidRequest, message: "Paramètre service trop long."}
	case len(id) > maxTicketID:
		return validation{code: codeInvalidRequest, message: "Paramètre ticket trop long."}
	}
	t, ok := s.tickets.take(id)
	switch {
	case !ok:
		return validation{code: codeInvalidTicket, message: "Ticket " + id + " inconnu ou déjà utilisé."}
	case s.tickets.expired(t, s.now()):
		return validation{t: t, code: codeInvalidTicket, message: "Ticket " + id + " expiré."}
	case t.service != service:
		return validation{t: t, code: codeInvalidService, message: "Le ticket " + id + " n'a pas été délivré pour ce service."}
	case flag(q.Get("renew")) && !t.fresh:
		return validation{t: t, code: codeInvalidTicket,
			message: "Le ticket " + id + " vient d'une session existante : renew exige une saisie du mot de passe."}
	}
	return validation{t: t}
}

// auditValidation records the outcome of a validation.
func (s *Server) auditValidation(r *http.Request, v validation) {
	var u ent.User
	if v.t != nil {
		u = v.t.user
	}
	service := r.URL.Query().Get("service")
	if len(service) > maxServiceURL {
		service = service[:maxServiceURL]
	}
	if v.code == "" {
		s.audit(r.Context(), ent.AuditTicketSuccess, u, clientOf(r), service, "")
		return
	}
	s.audit(r.Context(), ent.AuditTicketFailure, u, clientOf(r), service, v.code+": "+v.message)
}

// validateCAS1 serves /cas/validate (CAS 1): "yes\n<login>\n" or "no\n\n".
func (s *Server) validateCAS1(w http.ResponseWriter, r *http.Request) {
	v := s.check(r)
	s.auditValidation(r, v)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if v.code != "" {
		io.WriteString(w, "no\n\n")
		return
	}
	io.WriteString(w, "yes\n"+v.t.user.Login+"\n")
}

// validateXML serves /cas/serviceValidate and /cas/proxyValidate (CAS 2),
// and their /cas/p3/ twins (CAS 3). All four release the attributes (CAS 2
// clients read them too); none issues proxy tickets: pgtUrl is ignored and
// proxyValidate validates service tickets only. format=JSON answers in
// JSON rather than XML.
func (s *Server) validateXML(cas3 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := s.check(r)
		s.auditValidation(r, v)
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		var body []byte
		var err error
		if strings.EqualFold(r.URL.Query().Get("format"), "JSON") {
			h.Set("Content-Type", "application/json; charset=utf-8")
			body, err = jsonResponse(v)
		} else {
			h.Set("Content-Type", "application/xml; charset=utf-8")
			body, err = xmlResponse(v)
		}
		if err != nil {
			s.log.Error("cas encode validation response", "err", err)
			h.Set("Content-Type", "application/xml; charset=utf-8")
			body = []byte(internalErrorXML)
		}
		w.Write(body)
	}
}

// successAttributes are the attributes of a successful validation: the
// CAS 3 ones about the authentication, then the user's for the service.
func successAttributes(t *ticket) []attr {
	var out []attr
	if !t.authTime.IsZero() {
		out = append(out, attr{"authenticationDate", t.authTime.UTC().Format(time.RFC3339)})
	}
	out = append(out,
		attr{"isFromNewLogin", strconv.FormatBool(t.fresh)},
		attr{"longTermAuthenticationRequestTokenUsed", "false"})
	return append(out, attributes(t.entry.Profile, t.user)...)
}

// xmlResponse encodes a cas:serviceResponse. encoding/xml escapes every
// value; element names are ours.
func xmlResponse(v validation) ([]byte, error) {
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	start := func(name string, attrs ...xml.Attr) error {
		return e.EncodeToken(xml.StartElement{Name: xml.Name{Local: "cas:" + name}, Attr: attrs})
	}
	end := func(name string) error { return e.EncodeToken(xml.EndElement{Name: xml.Name{Local: "cas:" + name}}) }
	text := func(name, value string) error {
		if err := start(name); err != nil {
			return err
		}
		if err := e.EncodeToken(xml.CharData(value)); err != nil {
			return err
		}
		return end(name)
	}
	err := func() error {
		if err := start("serviceResponse", xml.Attr{Name: xml.Name{Local: "xmlns:cas"}, Value: casNS}); err != nil {
			return err
		}
		if v.code != "" {
			if err := start("authenticationFailure", xml.Attr{Name: xml.Name{Local: "code"}, Value: v.code}); err != nil {
				return err
			}
			if err := e.EncodeToken(xml.CharData(v.message)); err != nil {
				return err
			}
			if err := end("authenticationFailure"); err != nil {
				return err
			}
		} else {
			if err := start("authenticationSuccess"); err != nil {
				return err
			}
			if err := text("user", v.t.user.Login); err != nil {
				return err
			}
			if err := start("attributes"); err != nil {
				return err
			}
			for _, a := range successAttributes(v.t) {
				if err := text(a.Name, a.Value); err != nil {
					return err
				}
			}
			if err := end("attributes"); err != nil {
				return err
			}
			if err := end("authenticationSuccess"); err != nil {
				return err
			}
		}
		if err := end("serviceResponse"); err != nil {
			return err
		}
		return e.Flush()
	}()
	if err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// jsonResponse encodes the JSON form of a serviceResponse (CAS 3,
// format=JSON); every attribute is a list of values.
func jsonResponse(v validation) ([]byte, error) {
	type failure struct {
		Code        string `json:"code"`
		Description string `json:"description"`
	}
	type success struct {
		User       string              `json:"user"`
		Attributes map[string][]string `json:"attributes"`
	}
	type response struct {
		Success *success `json:"authenticationSuccess,omitempty"`
		Failure *failure `json:"authenticationFailure,omitempty"`
	}
	var resp response
	if v.code != "" {
		resp.Failure = &failure{Code: v.code, Description: v.message}
	} else {
		attrs := map[string][]string{}
		for _, a := range successAttributes(v.t) {
			attrs[a.Name] = append(attrs[a.Name], a.Value)
		}
		resp.Success = &success{User: v.t.user.Login, Attributes: attrs}
	}
	b, err := json.Marshal(map[string]response{"serviceResponse": resp})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
