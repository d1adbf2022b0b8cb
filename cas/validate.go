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
// a failure code and message; on success, the IOU of the proxy-granting
// ticket granted to pgtUrl, if any, and what became of the request for
// one (audit detail).
type validation struct {
	t       *ticket
	code    string
	message string
	iou     string
	pgtNote string
}

// check consumes the ticket of a validation request and checks it. The
// ticket is consumed whatever the outcome: a ticket validates once. Proxy
// tickets pass only where acceptProxy (/cas/proxyValidate): a service
// validating at /cas/serviceValidate accepts no proxied authentication.
func (s *Server) check(r *http.Request, acceptProxy bool) validation {
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
	case t.proxies != nil && !acceptProxy:
		return validation{t: t, code: codeInvalidTicket,
			message: "Le ticket " + id + " est un ticket de proxy : seul /cas/proxyValidate l'accepte."}
	case t.service != service:
		return validation{t: t, code: codeInvalidService, message: "Le ticket " + id + " n'a pas été délivré pour ce service."}
	case flag(q.Get("renew")) && !t.fresh:
		return validation{t: t, code: codeInvalidTicket,
			message: "Le ticket " + id + " vient d'une session existante : renew exige une saisie du mot de passe."}
	}
	return validation{t: t}
}

// auditValidation records the outcome of a validation; the detail names
// the proxies of a proxy ticket and what became of pgtUrl.
func (s *Server) auditValidation(r *http.Request, v validation) {
	var u ent.User
	var details []string
	if v.code != "" {
		details = append(details, v.code+": "+v.message)
	}
	if v.t != nil {
		u = v.t.user
		if d := proxiesDetail(v.t.proxies); d != "" {
			details = append(details, d)
		}
	}
	if v.pgtNote != "" {
		details = append(details, v.pgtNote)
	}
	service := truncate(r.URL.Query().Get("service"), maxServiceURL)
	typ := ent.AuditTicketSuccess
	if v.code != "" {
		typ = ent.AuditTicketFailure
	}
	s.audit(r.Context(), typ, u, clientOf(r), service, strings.Join(details, " ; "))
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// validateCAS1 serves /cas/validate (CAS 1): "yes\n<login>\n" or "no\n\n".
// It accepts service tickets only.
func (s *Server) validateCAS1(w http.ResponseWriter, r *http.Request) {
	v := s.check(r, false)
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

// validateXML serves /cas/serviceValidate and /cas/p3/serviceValidate
// (service tickets), or with acceptProxy /cas/proxyValidate and
// /cas/p3/proxyValidate (service and proxy tickets). All four release the
// attributes (CAS 2 clients read them too) and grant a proxy-granting
// ticket to pgtUrl. format=JSON answers in JSON rather than XML.
func (s *Server) validateXML(acceptProxy bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := s.check(r, acceptProxy)
		if pgtURL := r.URL.Query().Get("pgtUrl"); v.code == "" && pgtURL != "" {
			var refusal string
			v.iou, refusal = s.grantPGT(r.Context(), v.t, pgtURL)
			if refusal != "" {
				v.pgtNote = "PGT refusé à " + truncate(pgtURL, maxServiceURL) + " : " + refusal
			} else {
				v.pgtNote = "PGT délivré à " + pgtURL
			}
		}
		s.auditValidation(r, v)
		s.respond(w, r, func() ([]byte, error) { return jsonResponse(v) }, func() ([]byte, error) { return xmlResponse(v) }, internalErrorXML)
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

// xmlWriter writes a CAS XML response element by element and keeps the
// first error. encoding/xml escapes every value; element names are ours,
// in the cas: prefix.
type xmlWriter struct {
	buf bytes.Buffer
	e   *xml.Encoder
	err error
}

func newXMLWriter() *xmlWriter {
	x := &xmlWriter{}
	x.e = xml.NewEncoder(&x.buf)
	return x
}

// nsAttr declares the CAS namespace on the root element.
func nsAttr() xml.Attr { return xml.Attr{Name: xml.Name{Local: "xmlns:cas"}, Value: casNS} }

func (x *xmlWriter) token(t xml.Token) {
	if x.err == nil {
		x.err = x.e.EncodeToken(t)
	}
}

func (x *xmlWriter) start(name string, attrs ...xml.Attr) {
	x.token(xml.StartElement{Name: xml.Name{Local: "cas:" + name}, Attr: attrs})
}

func (x *xmlWriter) end(name string) { x.token(xml.EndElement{Name: xml.Name{Local: "cas:" + name}}) }

func (x *xmlWriter) text(name, value string) {
	x.start(name)
	x.token(xml.CharData(value))
	x.end(name)
}

// failure writes <cas:name code="code">message</cas:name>.
func (x *xmlWriter) failure(name, code, message string) {
	x.start(name, xml.Attr{Name: xml.Name{Local: "code"}, Value: code})
	x.token(xml.CharData(message))
	x.end(name)
}

// bytes returns the document, one line and a newline.
func (x *xmlWriter) bytes() ([]byte, error) {
	if x.err == nil {
		x.err = x.e.Flush()
	}
	if x.err != nil {
		return nil, x.err
	}
	x.buf.WriteByte('\n')
	return x.buf.Bytes(), nil
}

// xmlResponse encodes a cas:serviceResponse: the user, the attributes,
// the IOU of a proxy-granting ticket, the proxies of a proxy ticket (the
// order of the CAS 3 schema).
func xmlResponse(v validation) ([]byte, error) {
	x := newXMLWriter()
	x.start("serviceResponse", nsAttr())
	if v.code != "" {
		x.failure("authenticationFailure", v.code, v.message)
	} else {
		x.start("authenticationSuccess")
		x.text("user", v.t.user.Login)
		x.start("attributes")
		for _, a := range successAttributes(v.t) {
			x.text(a.Name, a.Value)
		}
		x.end("attributes")
		if v.iou != "" {
			x.text("proxyGrantingTicket", v.iou)
		}
		if len(v.t.proxies) > 0 {
			x.start("proxies")
			for _, p := range v.t.proxies {
				x.text("proxy", p)
			}
			x.end("proxies")
		}
		x.end("authenticationSuccess")
	}
	x.end("serviceResponse")
	return x.bytes()
}

// jsonResponse encodes the JSON form of a serviceResponse (CAS 3,
// format=JSON); every attribute is a list of values.
func jsonResponse(v validation) ([]byte, error) {
	type failure struct {
		Code        string `json:"code"`
		Description string `json:"description"`
	}
	type success struct {
		User                string              `json:"user"`
		Attributes          map[string][]string `json:"attributes"`
		ProxyGrantingTicket string              `json:"proxyGrantingTicket,omitempty"`
		Proxies             []string            `json:"proxies,omitempty"`
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
		resp.Success = &success{User: v.t.user.Login, Attributes: attrs, ProxyGrantingTicket: v.iou, Proxies: v.t.proxies}
	}
	return marshalJSON(map[string]response{"serviceResponse": resp})
}

// marshalJSON encodes v on one line, with a newline.
func marshalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// respond writes a protocol answer: JSON when the request asks format=JSON,
// XML otherwise, and fallback (an XML failure) if it cannot be encoded.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, asJSON, asXML func() ([]byte, error), fallback string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	encode := asXML
	if strings.EqualFold(r.URL.Query().Get("format"), "JSON") {
		h.Set("Content-Type", "application/json; charset=utf-8")
		encode = asJSON
	} else {
		h.Set("Content-Type", "application/xml; charset=utf-8")
	}
	body, err := encode()
	if err != nil {
		s.log.Error("cas encode response", "path", r.URL.Path, "err", err)
		h.Set("Content-Type", "application/xml; charset=utf-8")
		body = []byte(fallback)
	}
	w.Write(body)
}
