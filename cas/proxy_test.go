package cas_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/ent"

	"github.com/google/go-cmp/cmp"
)

// proxyResponse is the XML answer of /cas/proxy.
type proxyResponse struct {
	XMLName xml.Name `xml:"http://www.yale.edu/tp/cas serviceResponse"`
	Success *struct {
		Ticket string `xml:"http://www.yale.edu/tp/cas proxyTicket"`
	} `xml:"http://www.yale.edu/tp/cas proxySuccess"`
	Failure *struct {
		Code    string `xml:"code,attr"`
		Message string `xml:",chardata"`
	} `xml:"http://www.yale.edu/tp/cas proxyFailure"`
}

// proxyApp is a registered service that proxies (a portal aggregating
// Pronote data, say): it lives under /app/ and receives proxy-granting
// tickets at /pgtcallback, on 127.0.0.1 over plain HTTP.
type proxyApp struct {
	ts *httptest.Server

	mu     sync.Mutex
	status int               // what the callback answers; 200 unless set
	pgts   map[string]string // IOU → PGT, as the callback received them
	calls  int
}

func newProxyApp(t *testing.T, f *fixture, name string) *proxyApp {
	t.Helper()
	p := &proxyApp{status: http.StatusOK, pgts: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pgtcallback", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.calls++
		q := r.URL.Query()
		if q.Get("pgtIou") != "" {
			p.pgts[q.Get("pgtIou")] = q.Get("pgtId")
		}
		w.WriteHeader(p.status)
	})
	p.ts = httptest.NewServer(mux)
	t.Cleanup(p.ts.Close)
	f.addService(t, name, regexp.QuoteMeta(p.ts.URL)+`/(app/.*|pgtcallback)`, ent.CASGeneric)
	return p
}

func (p *proxyApp) service() string  { return p.ts.URL + "/app/" }
func (p *proxyApp) callback() string { return p.ts.URL + "/pgtcallback" }

func (p *proxyApp) setStatus(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = code
}

// pgt returns the PGT the callback received with iou.
func (p *proxyApp) pgt(iou string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pgts[iou]
}

func (p *proxyApp) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// obtainPGT validates ticket for the proxy's service with its callback as
// pgtUrl and returns the PGT the callback received.
func (f *fixture) obtainPGT(t *testing.T, path string, p *proxyApp, service, ticket string) string {
	t.Helper()
	_, body := f.validate(t, path, "service", service, "ticket", ticket, "pgtUrl", p.callback())
	r := parseResponse(t, body)
	if r.Success == nil || !strings.HasPrefix(r.Success.ProxyGrantingTicket, "PGTIOU-") {
		t.Fatalf("%s with pgtUrl = %s, want success with a PGTIOU", path, body)
	}
	pgt := p.pgt(r.Success.ProxyGrantingTicket)
	if !strings.HasPrefix(pgt, "PGT-") || !strings.HasSuffix(pgt, "-c1") || len(pgt) < 64 {
		t.Fatalf("callback received PGT %q for IOU %s, want PGT-<at least 64 characters>-c1", pgt, r.Success.ProxyGrantingTicket)
	}
	return pgt
}

// proxy asks /cas/proxy for a ticket and returns it, or the failure code.
func (f *fixture) proxy(t *testing.T, pgt, target string) string {
	t.Helper()
	code, body := f.validate(t, "/cas/proxy", "pgt", pgt, "targetService", target)
	var r proxyResponse
	if err := xml.Unmarshal([]byte(body), &r); err != nil || code != http.StatusOK {
		t.Fatalf("/cas/proxy = %d %s: %v", code, body, err)
	}
	switch {
	case r.Success != nil && r.Failure == nil:
		return r.Success.Ticket
	case r.Failure != nil && r.Success == nil && strings.TrimSpace(r.Failure.Message) != "":
		return r.Failure.Code
	}
	t.Fatalf("/cas/proxy answered neither a ticket nor a failure with a message:\n%s", body)
	return ""
}

func attrMap(t *testing.T, body string) map[string][]string {
	t.Helper()
	r := parseResponse(t, body)
	if r.Success == nil {
		t.Fatalf("validation failed:\n%s", body)
	}
	m := map[string][]string{}
	for _, a := range r.Success.Attributes.Values {
		m[a.XMLName.Local] = append(m[a.XMLName.Local], a.Value)
	}
	return m
}

// TestProxyFlow: a portal validates its service ticket with a pgtUrl,
// obtains a proxy ticket for Pronote and Pronote validates it, seeing the
// user, their attributes and the proxy; Pronote proxies in turn (chained
// proxying) and the last service sees both proxies, newest first.
func TestProxyFlow(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	st := f.loginTicket(t, browser(t), portal.service(), student)
	pgt := f.obtainPGT(t, "/cas/serviceValidate", portal, portal.service(), st)

	pt := f.proxy(t, pgt, pronoteAt)
	if !strings.HasPrefix(pt, "PT-") || !strings.HasSuffix(pt, "-c1") || len(pt) < len("PT-")+27+len("-c1") {
		t.Fatalf("proxy ticket = %q, want PT-<at least 160 random bits>-c1", pt)
	}
	_, body := f.validate(t, "/cas/proxyValidate", "service", pronoteAt, "ticket", pt)
	r := parseResponse(t, body)
	if r.Success == nil || r.Success.User != student.Login {
		t.Fatalf("proxyValidate of the PT = %s, want success for %s", body, student.Login)
	}
	if diff := cmp.Diff([]string{portal.callback()}, r.Success.Proxies); diff != "" {
		t.Errorf("proxies (-want +got):\n%s", diff)
	}
	attrs := attrMap(t, body)
	for name, want := range map[string]string{
		"categories": "Eleve", "dateNaissance": "14/03/2009", "ENTPersonJointure": student.JoinKey,
		"isFromNewLogin": "false", "nom": "Martin",
	} {
		if got := attrs[name]; len(got) != 1 || got[0] != want {
			t.Errorf("attribute %s = %q, want %q (Pronote's set)", name, got, want)
		}
	}
	if len(attrs["authenticationDate"]) != 1 {
		t.Errorf("authenticationDate = %q, want the password login's", attrs["authenticationDate"])
	}
	if r.Success.ProxyGrantingTicket != "" {
		t.Errorf("validation without pgtUrl returned a PGTIOU %q", r.Success.ProxyGrantingTicket)
	}

	// Chained: a second proxy validates a PT with its own callback, then
	// gets a ticket for Moodle.
	aggregator := newProxyApp(t, f, "agregateur")
	pt = f.proxy(t, pgt, aggregator.service())
	pgt2 := f.obtainPGT(t, "/cas/p3/proxyValidate", aggregator, aggregator.service(), pt)
	pt2 := f.proxy(t, pgt2, appURL)
	_, body = f.validate(t, "/cas/p3/proxyValidate", "service", appURL, "ticket", pt2)
	r = parseResponse(t, body)
	if r.Success == nil || r.Success.User != student.Login {
		t.Fatalf("proxyValidate of the chained PT = %s, want success", body)
	}
	if diff := cmp.Diff([]string{aggregator.callback(), portal.callback()}, r.Success.Proxies); diff != "" {
		t.Errorf("proxies of the chained PT, newest first (-want +got):\n%s", diff)
	}
	if got := attrMap(t, body)["username"]; len(got) != 1 || got[0] != student.Login {
		t.Errorf("Moodle's username = %q, want %s", got, student.Login)
	}

	// The first PGT still works: a PGT serves many proxy tickets.
	if pt := f.proxy(t, pgt, pronoteAt); !strings.HasPrefix(pt, "PT-") {
		t.Errorf("second /cas/proxy with the same PGT = %s, want a PT", pt)
	}
}

// TestProxyTicketSingleUse: a proxy ticket validates once, and a service
// ticket validates at proxyValidate without proxies.
func TestProxyTicketSingleUse(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	b := browser(t)
	pgt := f.obtainPGT(t, "/cas/serviceValidate", portal, portal.service(), f.loginTicket(t, b, portal.service(), student))
	pt := f.proxy(t, pgt, pronoteAt)
	for i, want := range []string{"ok " + student.Login, "INVALID_TICKET"} {
		_, body := f.validate(t, "/cas/p3/proxyValidate", "service", pronoteAt, "ticket", pt)
		if got := outcome(t, body); got != want {
			t.Errorf("validation %d of the PT = %s, want %s", i+1, got, want)
		}
	}
	// Expiry, like a service ticket.
	pt = f.proxy(t, pgt, pronoteAt)
	f.clk.add(10 * time.Second)
	if _, body := f.validate(t, "/cas/proxyValidate", "service", pronoteAt, "ticket", pt); outcome(t, body) != "INVALID_TICKET" || !strings.Contains(body, "expiré") {
		t.Errorf("validation of a PT 10 s old = %s, want INVALID_TICKET (expiré)", body)
	}
	// Bound to its target service.
	pt = f.proxy(t, pgt, pronoteAt)
	if _, body := f.validate(t, "/cas/proxyValidate", "service", appURL, "ticket", pt); outcome(t, body) != "INVALID_SERVICE" {
		t.Errorf("validation of a PT for another service = %s, want INVALID_SERVICE", body)
	}
	st := f.ssoTicket(t, b, appURL)
	_, body := f.validate(t, "/cas/proxyValidate", "service", appURL, "ticket", st)
	if r := parseResponse(t, body); r.Success == nil || len(r.Success.Proxies) != 0 || strings.Contains(body, "proxies") {
		t.Errorf("proxyValidate of a service ticket = %s, want success without proxies", body)
	}
}

// TestProxyTicketAtServiceValidate: serviceValidate (and CAS 1 validate)
// refuse proxy tickets, and the refused ticket is consumed.
func TestProxyTicketAtServiceValidate(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	pgt := f.obtainPGT(t, "/cas/serviceValidate", portal, portal.service(), f.loginTicket(t, browser(t), portal.service(), student))
	for _, path := range []string{"/cas/serviceValidate", "/cas/p3/serviceValidate"} {
		pt := f.proxy(t, pgt, pronoteAt)
		_, body := f.validate(t, path, "service", pronoteAt, "ticket", pt)
		if got := outcome(t, body); got != "INVALID_TICKET" || !strings.Contains(body, "ticket de proxy") {
			t.Errorf("%s of a PT = %s, want INVALID_TICKET naming the proxy ticket", path, body)
		}
		if _, body := f.validate(t, "/cas/proxyValidate", "service", pronoteAt, "ticket", pt); outcome(t, body) != "INVALID_TICKET" {
			t.Errorf("proxyValidate after %s = %s, want INVALID_TICKET (consumed)", path, body)
		}
	}
	pt := f.proxy(t, pgt, pronoteAt)
	if _, body := f.validate(t, "/cas/validate", "service", pronoteAt, "ticket", pt); body != "no\n\n" {
		t.Errorf("/cas/validate of a PT = %q, want %q", body, "no\n\n")
	}
}

// TestProxyFailures: what /cas/proxy answers to bad requests.
func TestProxyFailures(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	pgt := f.obtainPGT(t, "/cas/serviceValidate", portal, portal.service(), f.loginTicket(t, browser(t), portal.service(), student))
	for _, c := range []struct {
		name, pgt, target, want string
	}{
		{"no pgt", "", pronoteAt, "INVALID_REQUEST"},
		{"no targetService", pgt, "", "INVALID_REQUEST"},
		{"pgt too long", "PGT-" + strings.Repeat("x", 300), pronoteAt, "INVALID_REQUEST"},
		{"targetService too long", pgt, pronoteAt + strings.Repeat("a", 3000), "INVALID_REQUEST"},
		{"unknown PGT", "PGT-unknown-c1", pronoteAt, "INVALID_TICKET"},
		{"a service ticket as PGT", f.ssoTicketFor(t, appURL), pronoteAt, "INVALID_TICKET"},
		{"target not in the registry", pgt, "https://evil.example/pronote/", "INVALID_SERVICE"},
	} {
		if got := f.proxy(t, c.pgt, c.target); got != c.want {
			t.Errorf("%s: /cas/proxy = %s, want %s", c.name, got, c.want)
		}
	}
	code, body := f.validate(t, "/cas/proxy", "pgt", pgt, "targetService", "https://evil.example/x")
	if code != http.StatusOK || !strings.Contains(body, "https://evil.example/x") || !strings.Contains(body, "pas autorisé") {
		t.Errorf("refused target = %d %s, want 200 with the French refusal naming it", code, body)
	}
	// JSON.
	_, body = f.validate(t, "/cas/proxy", "pgt", pgt, "targetService", pronoteAt, "format", "JSON")
	var r struct {
		ServiceResponse struct {
			Success struct {
				ProxyTicket string `json:"proxyTicket"`
			} `json:"proxySuccess"`
		} `json:"serviceResponse"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || !strings.HasPrefix(r.ServiceResponse.Success.ProxyTicket, "PT-") {
		t.Errorf("/cas/proxy format=JSON = %s (%v), want a proxyTicket", body, err)
	}
	// The session expires: its PGT with it.
	f.clk.add(time.Hour)
	if got := f.proxy(t, pgt, pronoteAt); got != "INVALID_TICKET" {
		t.Errorf("/cas/proxy after the session expired = %s, want INVALID_TICKET", got)
	}
}

// ssoTicketFor logs a new browser in for service and returns the ticket.
func (f *fixture) ssoTicketFor(t *testing.T, service string) string {
	t.Helper()
	return f.loginTicket(t, browser(t), service, teacher)
}

// TestPGTRefused: the validation succeeds without a PGT when the callback
// is not acceptable or fails; the audit trail says why.
func TestPGTRefused(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	f.addService(t, "lan-http", `http://proxy\.lycee\.example/.*`, ent.CASGeneric)
	tls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the callback with an untrusted certificate was reached: %s", r.URL)
	}))
	tls.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	tls.StartTLS()
	t.Cleanup(tls.Close)
	f.addService(t, "tls", regexp.QuoteMeta(tls.URL)+`/.*`, ent.CASGeneric)

	b := browser(t)
	f.loginTicket(t, b, appURL, student)
	for _, c := range []struct {
		name, pgtURL, status, why string
	}{
		{"http to a non-loopback host", "http://proxy.lycee.example/pgtcallback", "", "https"},
		{"callback not in the registry", "https://evil.example/pgtcallback", "", "registre"},
		{"not a URL", "javascript:alert(1)", "", "invalide"},
		{"untrusted certificate", tls.URL + "/pgtcallback", "", "échec du rappel"},
		{"callback answers 500", portal.callback(), "500", "réponse 500"},
		{"callback redirects", portal.callback(), "302", "réponse 302"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.status == "500" {
				portal.setStatus(http.StatusInternalServerError)
			} else if c.status == "302" {
				portal.setStatus(http.StatusFound)
			}
			t.Cleanup(func() { portal.setStatus(http.StatusOK) })
			calls := portal.callCount()
			f.audit.reset()
			st := f.ssoTicket(t, b, portal.service())
			_, body := f.validate(t, "/cas/p3/serviceValidate", "service", portal.service(), "ticket", st, "pgtUrl", c.pgtURL)
			if outcome(t, body) != "ok "+student.Login || strings.Contains(body, "proxyGrantingTicket") {
				t.Errorf("validation with pgtUrl %s = %s, want success without a PGT", c.pgtURL, body)
			}
			evs := f.audit.events()
			if last := evs[len(evs)-1]; last.Type != ent.AuditTicketSuccess || !strings.Contains(last.Detail, "PGT refusé") ||
				!strings.Contains(last.Detail, c.why) {
				t.Errorf("audit = %+v, want a success whose detail says PGT refusé (%s)", last, c.why)
			}
			if c.status != "" {
				if portal.callCount() != calls+1 {
					t.Fatalf("callback calls = %d, want %d", portal.callCount(), calls+1)
				}
				// The PGT the failed callback carried is not valid.
				portal.mu.Lock()
				var pgt string
				for _, p := range portal.pgts {
					pgt = p
				}
				clear(portal.pgts)
				portal.mu.Unlock()
				if got := f.proxy(t, pgt, pronoteAt); got != "INVALID_TICKET" {
					t.Errorf("/cas/proxy with the PGT of a failed callback = %s, want INVALID_TICKET", got)
				}
			} else if portal.callCount() != calls {
				t.Errorf("the refused pgtUrl led to a callback")
			}
		})
	}
	// CAS 1 has no proxying: pgtUrl is not called back.
	calls := portal.callCount()
	st := f.ssoTicket(t, b, portal.service())
	f.validate(t, "/cas/validate", "service", portal.service(), "ticket", st, "pgtUrl", portal.callback())
	if portal.callCount() != calls {
		t.Errorf("/cas/validate called pgtUrl back")
	}
	// A failed validation calls nothing back either.
	f.validate(t, "/cas/serviceValidate", "service", portal.service(), "ticket", st, "pgtUrl", portal.callback())
	if portal.callCount() != calls {
		t.Errorf("a failed validation called pgtUrl back")
	}
}

// TestPGTLogout: single logout drops the session's PGTs, and a ticket
// validated after the logout grants none.
func TestPGTLogout(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	b := browser(t)
	pgt := f.obtainPGT(t, "/cas/serviceValidate", portal, portal.service(), f.loginTicket(t, b, portal.service(), student))
	st := f.ssoTicket(t, b, portal.service())
	if got := f.proxy(t, pgt, pronoteAt); !strings.HasPrefix(got, "PT-") {
		t.Fatalf("/cas/proxy before logout = %s, want a PT", got)
	}
	if resp, _ := get(t, b, f.ts.URL+"/cas/logout"); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	if got := f.proxy(t, pgt, pronoteAt); got != "INVALID_TICKET" {
		t.Errorf("/cas/proxy after logout = %s, want INVALID_TICKET", got)
	}
	_, body := f.validate(t, "/cas/serviceValidate", "service", portal.service(), "ticket", st, "pgtUrl", portal.callback())
	if outcome(t, body) != "ok "+student.Login || strings.Contains(body, "proxyGrantingTicket") {
		t.Errorf("validation after logout with pgtUrl = %s, want success without a PGT", body)
	}
}

// TestProxyAudit: a proxy ticket's issue and validation are in the audit
// trail with the target service and the proxy chain.
func TestProxyAudit(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	pgt := f.obtainPGT(t, "/cas/serviceValidate", portal, portal.service(), f.loginTicket(t, browser(t), portal.service(), student))
	evs := f.audit.events()
	if last := evs[len(evs)-1]; last.Type != ent.AuditTicketSuccess || last.Detail != "PGT délivré à "+portal.callback() {
		t.Errorf("audit of the validation with pgtUrl = %+v, want the PGT granted to %s", last, portal.callback())
	}
	f.audit.reset()
	pt := f.proxy(t, pgt, pronoteAt)
	f.validate(t, "/cas/proxyValidate", "service", pronoteAt, "ticket", pt)
	f.validate(t, "/cas/proxyValidate", "service", pronoteAt, "ticket", pt)
	evs = f.audit.events()
	if len(evs) != 3 {
		t.Fatalf("audit events = %+v, want 3", evs)
	}
	chain := "proxys : " + portal.callback()
	for i, c := range []struct{ typ, login, detail string }{
		{ent.AuditTicketIssued, student.Login, chain},
		{ent.AuditTicketSuccess, student.Login, chain},
		{ent.AuditTicketFailure, "", "INVALID_TICKET"},
	} {
		ev := evs[i]
		if ev.Type != c.typ || ev.Login != c.login || !strings.HasPrefix(ev.Detail, c.detail) || ev.Service != pronoteAt ||
			ev.IP != "127.0.0.1" || ev.Node != "c1" {
			t.Errorf("event %d = %+v, want %s of %q (%s) for %s", i, ev, c.typ, c.login, c.detail, pronoteAt)
		}
		if c.login != "" && (ev.Profile != ent.Student || ev.UAI != uaiA || ev.UserID != student.ID) {
			t.Errorf("event %d = %+v, want profile, UAI and user id", i, ev)
		}
	}
}

// TestProxyJSON: format=JSON carries the PGTIOU and the proxies.
func TestProxyJSON(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	b := browser(t)
	st := f.loginTicket(t, b, portal.service(), student)
	_, body := f.validate(t, "/cas/p3/serviceValidate", "service", portal.service(), "ticket", st,
		"pgtUrl", portal.callback(), "format", "JSON")
	type response struct {
		ServiceResponse struct {
			Success *struct {
				User    string   `json:"user"`
				PGTIOU  string   `json:"proxyGrantingTicket"`
				Proxies []string `json:"proxies"`
			} `json:"authenticationSuccess"`
		} `json:"serviceResponse"`
	}
	var r response
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.ServiceResponse.Success == nil ||
		!strings.HasPrefix(r.ServiceResponse.Success.PGTIOU, "PGTIOU-") {
		t.Fatalf("JSON validation with pgtUrl = %s (%v), want a proxyGrantingTicket", body, err)
	}
	pt := f.proxy(t, portal.pgt(r.ServiceResponse.Success.PGTIOU), pronoteAt)
	_, body = f.validate(t, "/cas/p3/proxyValidate", "service", pronoteAt, "ticket", pt, "format", "JSON")
	r = response{}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.ServiceResponse.Success == nil ||
		!cmp.Equal(r.ServiceResponse.Success.Proxies, []string{portal.callback()}) {
		t.Errorf("JSON proxyValidate = %s (%v), want the proxies", body, err)
	}
}

// TestProxyChainLimit: a ticket that went through 8 proxies grants no
// further PGT (a proxy looping on itself stops there).
func TestProxyChainLimit(t *testing.T) {
	f := newRegistry(t)
	portal := newProxyApp(t, f, "portail")
	pgt := f.obtainPGT(t, "/cas/serviceValidate", portal, portal.service(), f.loginTicket(t, browser(t), portal.service(), student))
	for range 7 {
		pgt = f.obtainPGT(t, "/cas/proxyValidate", portal, portal.service(), f.proxy(t, pgt, portal.service()))
	}
	pt := f.proxy(t, pgt, portal.service())
	_, body := f.validate(t, "/cas/proxyValidate", "service", portal.service(), "ticket", pt, "pgtUrl", portal.callback())
	r := parseResponse(t, body)
	if r.Success == nil || r.Success.ProxyGrantingTicket != "" || len(r.Success.Proxies) != 8 {
		t.Errorf("validation of a PT with 8 proxies and a pgtUrl = %s, want success, 8 proxies, no PGT", body)
	}
}
