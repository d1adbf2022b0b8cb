package cas_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/cas"
	"atrium/ent"

	"github.com/google/go-cmp/cmp"
)

// Services of the unit tests: nothing listens there, except where a test
// says so.
const (
	appURL    = "https://app.lycee.example/moodle/"
	pronoteAt = "https://pronote.lycee.example/pronote/eleve.html"
)

func newRegistry(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.addService(t, "moodle", `https://app\.lycee\.example/moodle/.*`, ent.CASMoodle)
	f.addService(t, "pronote", `https://pronote\.lycee\.example/pronote/.*`, ent.CASPronote)
	return f
}

// serviceResponse is a CAS 2/3 XML response, read with its namespace.
type serviceResponse struct {
	XMLName xml.Name `xml:"http://www.yale.edu/tp/cas serviceResponse"`
	Success *struct {
		User       string `xml:"http://www.yale.edu/tp/cas user"`
		Attributes struct {
			Values []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"http://www.yale.edu/tp/cas attributes"`
		ProxyGrantingTicket string   `xml:"http://www.yale.edu/tp/cas proxyGrantingTicket"`
		Proxies             []string `xml:"proxies>proxy"`
	} `xml:"http://www.yale.edu/tp/cas authenticationSuccess"`
	Failure *struct {
		Code    string `xml:"code,attr"`
		Message string `xml:",chardata"`
	} `xml:"http://www.yale.edu/tp/cas authenticationFailure"`
}

func parseResponse(t *testing.T, body string) serviceResponse {
	t.Helper()
	var r serviceResponse
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response is not CAS XML: %v\n%s", err, body)
	}
	if (r.Success == nil) == (r.Failure == nil) {
		t.Fatalf("response has neither or both success and failure:\n%s", body)
	}
	return r
}

// outcome summarises a validation response: "ok <user>" or the failure
// code.
func outcome(t *testing.T, body string) string {
	t.Helper()
	r := parseResponse(t, body)
	if r.Success != nil {
		return "ok " + r.Success.User
	}
	return r.Failure.Code
}

func TestTicketSingleUse(t *testing.T) {
	f := newRegistry(t)
	tk := f.loginTicket(t, browser(t), appURL, student)
	if !strings.HasPrefix(tk, "ST-") || !strings.HasSuffix(tk, "-c1") || len(tk) < len("ST-")+27+len("-c1") {
		t.Errorf("ticket %q, want ST-<at least 160 random bits>-c1", tk)
	}
	for i, want := range []string{"ok " + student.Login, "INVALID_TICKET"} {
		_, body := f.validate(t, "/cas/p3/serviceValidate", "service", appURL, "ticket", tk)
		if got := outcome(t, body); got != want {
			t.Errorf("validation %d = %s, want %s", i+1, got, want)
		}
	}
}

func TestTicketExpiry(t *testing.T) {
	f := newRegistry(t)
	b := browser(t)
	tk := f.loginTicket(t, b, appURL, student)
	f.clk.add(9 * time.Second)
	if _, body := f.validate(t, "/cas/serviceValidate", "service", appURL, "ticket", tk); outcome(t, body) != "ok "+student.Login {
		t.Errorf("validation 9 s after issue = %s, want success", body)
	}
	tk = f.ssoTicket(t, b, appURL)
	f.clk.add(10 * time.Second)
	_, body := f.validate(t, "/cas/serviceValidate", "service", appURL, "ticket", tk)
	if got := outcome(t, body); got != "INVALID_TICKET" || !strings.Contains(body, "expiré") {
		t.Errorf("validation 10 s after issue = %s, want INVALID_TICKET (expiré)", body)
	}
}

func TestServiceMismatch(t *testing.T) {
	f := newRegistry(t)
	tk := f.loginTicket(t, browser(t), appURL, student)
	other := appURL + "course/view.php?id=3"
	if _, body := f.validate(t, "/cas/serviceValidate", "service", other, "ticket", tk); outcome(t, body) != "INVALID_SERVICE" {
		t.Errorf("validation for %s = %s, want INVALID_SERVICE", other, body)
	}
	// The mismatch consumed the ticket.
	if _, body := f.validate(t, "/cas/serviceValidate", "service", appURL, "ticket", tk); outcome(t, body) != "INVALID_TICKET" {
		t.Errorf("validation after a mismatch = %s, want INVALID_TICKET", body)
	}
}

func TestRenew(t *testing.T) {
	f := newRegistry(t)
	b := browser(t)
	fresh := f.loginTicket(t, b, appURL, student)
	sso := f.ssoTicket(t, b, appURL)
	for _, c := range []struct {
		name, ticket, want string
	}{
		{"password login", fresh, "ok " + student.Login},
		{"single sign-on", sso, "INVALID_TICKET"},
	} {
		_, body := f.validate(t, "/cas/p3/serviceValidate", "service", appURL, "ticket", c.ticket, "renew", "true")
		if got := outcome(t, body); got != c.want {
			t.Errorf("renew validation of a %s ticket = %s, want %s", c.name, got, c.want)
		}
	}
	// With renew, the form is shown despite the session, and the ticket of
	// the login that follows passes renew.
	resp, body := get(t, b, f.loginURL(appURL, "renew", "true"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) || !strings.Contains(body, `name="renew" value="true"`) {
		t.Fatalf("login?renew=true with a session = %d, want the form carrying renew:\n%s", resp.StatusCode, body)
	}
	resp, body = f.postLogin(t, b, appURL, student.Login, password, "renew", "true")
	tk := ticketOf(t, resp, body, appURL)
	if _, body := f.validate(t, "/cas/p3/serviceValidate", "service", appURL, "ticket", tk, "renew", "true"); outcome(t, body) != "ok "+student.Login {
		t.Errorf("renew validation after renewed login = %s, want success", body)
	}
}

func TestGateway(t *testing.T) {
	f := newRegistry(t)
	b := browser(t)
	resp, _ := get(t, b, f.loginURL(appURL, "gateway", "true"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != appURL {
		t.Errorf("gateway without session = %d to %q, want 303 to %s without ticket", resp.StatusCode, resp.Header.Get("Location"), appURL)
	}
	f.loginTicket(t, b, pronoteAt, student)
	resp, body := get(t, b, f.loginURL(appURL, "gateway", "true"))
	ticketOf(t, resp, body, appURL)
}

func TestUnknownService(t *testing.T) {
	f := newRegistry(t)
	for _, service := range []string{
		"https://evil.example/moodle/",
		"https://app.lycee.example.evil.example/moodle/", // patterns match the whole URL
		"javascript:alert(1)//https://app.lycee.example/moodle/",
		"https://user@app.lycee.example/moodle/",
		appURL + strings.Repeat("a", 3000),
		`https://evil.example/<script>"`,
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var resp *http.Response
			var err error
			if method == http.MethodGet {
				resp, err = browser(t).Get(f.loginURL(service))
			} else {
				resp, err = browser(t).PostForm(f.ts.URL+"/cas/login", url.Values{"service": {service}, "login": {student.Login}, "password": {password}})
			}
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Ce service n&#39;est pas autorisé à utiliser la connexion unique de l&#39;ENT") {
				t.Errorf("%s /cas/login?service=%.60s = %d, want 403 and the French refusal:\n%.500s", method, service, resp.StatusCode, body)
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("%s /cas/login?service=%.60s: the URL is not escaped", method, service)
			}
		}
	}
	resp, body := get(t, browser(t), f.loginURL("https://evil.example/moodle/"))
	if !strings.Contains(body, "https://evil.example/moodle/") || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("refusal page does not name the URL:\n%s", body)
	}
}

func TestCAS1Validate(t *testing.T) {
	f := newRegistry(t)
	tk := f.loginTicket(t, browser(t), appURL, teacher)
	for i, want := range []string{"yes\n" + teacher.Login + "\n", "no\n\n"} {
		code, body := f.validate(t, "/cas/validate", "service", appURL, "ticket", tk)
		if code != http.StatusOK || body != want {
			t.Errorf("/cas/validate #%d = %d %q, want 200 %q", i+1, code, body, want)
		}
	}
	if _, body := f.validate(t, "/cas/validate", "ticket", tk); body != "no\n\n" {
		t.Errorf("/cas/validate without service = %q, want %q", body, "no\n\n")
	}
}

// TestP3Response checks the shape of a CAS 3 success, its attributes and
// the escaping of values chosen to break XML.
func TestP3Response(t *testing.T) {
	f := newRegistry(t)
	f.addService(t, "intranet", `https://intranet\.example/.*`, ent.CASGeneric)
	service := "https://intranet.example/?a=1&b=<2>"
	tk := f.loginTicket(t, browser(t), service, odd)
	_, body := f.validate(t, "/cas/p3/serviceValidate", "service", service, "ticket", tk)
	if !strings.Contains(body, `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">`) ||
		!strings.Contains(body, "<cas:user>o&#39;brien&amp;&lt;x&gt;&#34;</cas:user>") {
		t.Errorf("response is not CAS 3 XML with an escaped user:\n%s", body)
	}
	r := parseResponse(t, body)
	if r.Success == nil {
		t.Fatalf("validation failed:\n%s", body)
	}
	if r.Success.User != odd.Login {
		t.Errorf("user = %q, want %q", r.Success.User, odd.Login)
	}
	got := map[string][]string{}
	for _, a := range r.Success.Attributes.Values {
		if a.XMLName.Space != "http://www.yale.edu/tp/cas" {
			t.Errorf("attribute %s outside the CAS namespace", a.XMLName.Local)
		}
		got[a.XMLName.Local] = append(got[a.XMLName.Local], a.Value)
	}
	if len(got["authenticationDate"]) != 1 {
		t.Errorf("authenticationDate = %q, want one date", got["authenticationDate"])
	} else if _, err := time.Parse(time.RFC3339, got["authenticationDate"][0]); err != nil {
		t.Errorf("authenticationDate: %v", err)
	}
	delete(got, "authenticationDate")
	want := map[string][]string{
		"isFromNewLogin": {"true"}, "longTermAuthenticationRequestTokenUsed": {"false"},
		"uid": {odd.Login}, "ENTPersonProfils": {"National_4"}, "ENTPersonStructRattach": {uaiA},
		"nom": {odd.Surname}, "prenom": {"Seán\uFFFD"}, // a control character is not XML: replaced
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
}

// TestAllEndpointsReleaseAttributes: CAS 2 endpoints carry attributes too,
// proxyValidate validates service tickets, and a pgtUrl outside the
// registry gets no proxy-granting ticket.
func TestAllEndpointsReleaseAttributes(t *testing.T) {
	f := newRegistry(t)
	b := browser(t)
	f.loginTicket(t, b, appURL, teacher)
	for _, path := range []string{"/cas/serviceValidate", "/cas/proxyValidate", "/cas/p3/serviceValidate", "/cas/p3/proxyValidate"} {
		tk := f.ssoTicket(t, b, pronoteAt)
		_, body := f.validate(t, path, "service", pronoteAt, "ticket", tk, "pgtUrl", "https://evil.example/pgt")
		if outcome(t, body) != "ok "+teacher.Login || !strings.Contains(body, "<cas:categories>Enseignant</cas:categories>") {
			t.Errorf("%s = %s, want success with Pronote's attributes", path, body)
		}
		if strings.Contains(body, "proxyGrantingTicket") {
			t.Errorf("%s issued a proxy-granting ticket:\n%s", path, body)
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	f := newRegistry(t)
	long := "ST-" + strings.Repeat("x", 300)
	for _, path := range []string{"/cas/serviceValidate", "/cas/proxyValidate", "/cas/p3/serviceValidate", "/cas/p3/proxyValidate"} {
		for _, c := range []struct {
			params []string
			want   string
		}{
			{nil, "INVALID_REQUEST"},
			{[]string{"service", appURL}, "INVALID_REQUEST"},
			{[]string{"ticket", "ST-1"}, "INVALID_REQUEST"},
			{[]string{"service", appURL, "ticket", long}, "INVALID_REQUEST"},
			{[]string{"service", appURL + strings.Repeat("a", 3000), "ticket", "ST-1"}, "INVALID_REQUEST"},
			{[]string{"service", appURL, "ticket", "ST-unknown"}, "INVALID_TICKET"},
			{[]string{"service", appURL, "ticket", "PT-unknown"}, "INVALID_TICKET"},
		} {
			code, body := f.validate(t, path, c.params...)
			if got := outcome(t, body); code != http.StatusOK || got != c.want {
				t.Errorf("%s%v = %d %s, want 200 %s", path, c.params, code, got, c.want)
			}
		}
	}
	// Wrong methods and unknown paths.
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/cas/serviceValidate", http.StatusMethodNotAllowed},
		{http.MethodGet, "/cas/nothing", http.StatusNotFound},
		{http.MethodGet, "/cas/", http.StatusSeeOther},
	} {
		req, _ := http.NewRequest(c.method, f.ts.URL+c.path, nil)
		resp, err := browser(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
}

func TestJSONFormat(t *testing.T) {
	f := newRegistry(t)
	tk := f.loginTicket(t, browser(t), pronoteAt, student)
	type response struct {
		ServiceResponse struct {
			Success *struct {
				User       string              `json:"user"`
				Attributes map[string][]string `json:"attributes"`
			} `json:"authenticationSuccess"`
			Failure *struct {
				Code        string `json:"code"`
				Description string `json:"description"`
			} `json:"authenticationFailure"`
		} `json:"serviceResponse"`
	}
	for i, want := range []string{"ok", "INVALID_TICKET"} {
		_, body := f.validate(t, "/cas/p3/serviceValidate", "service", pronoteAt, "ticket", tk, "format", "JSON")
		var r response
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("format=JSON answered %q: %v", body, err)
		}
		got := ""
		switch s, fl := r.ServiceResponse.Success, r.ServiceResponse.Failure; {
		case s != nil && s.User == student.Login && s.Attributes["dateNaissance"][0] == "14/03/2009":
			got = "ok"
		case fl != nil && fl.Description != "":
			got = fl.Code
		}
		if got != want {
			t.Errorf("JSON validation %d = %s, want %s", i+1, body, want)
		}
	}
}

func TestLoginForm(t *testing.T) {
	f := newRegistry(t)

	// No service: the form, then "vous êtes connecté", and the portal's
	// session cookie.
	b := browser(t)
	resp, body := f.postLogin(t, b, "", student.Login, password)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/cas/login" {
		t.Fatalf("login without service = %d to %q, want 303 to /cas/login:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "atrium_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" {
		t.Errorf("session cookie = %+v, want atrium_session, HttpOnly, SameSite=Lax, Path=/", session)
	} else if u, err := f.svc.Authenticate(session.Value); err != nil || u.ID != student.ID {
		t.Errorf("Authenticate(cookie) = %v, %v; want %s", u.Login, err, student.Login)
	}
	resp, body = get(t, b, f.ts.URL+"/cas/login")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Vous êtes connecté à l&#39;ENT en tant que Léa Martin") {
		t.Errorf("GET /cas/login with a session = %d:\n%s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login page Cache-Control = %q, want no-store", cc)
	}

	// Wrong password: the form again, with the login kept.
	resp, body = f.postLogin(t, browser(t), appURL, teacher.Login, "wrong")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Identifiant ou mot de passe incorrect.") ||
		!strings.Contains(body, `value="`+teacher.Login+`"`) || !strings.Contains(body, `name="service" value="`+appURL+`"`) {
		t.Errorf("wrong password = %d, want 401 and the form with the French error:\n%s", resp.StatusCode, body)
	}

	// Forged posts: no anti-forgery token, a token from another browser,
	// another origin.
	form := url.Values{"login": {student.Login}, "password": {password}, "service": {appURL}}
	resp, err := browser(t).PostForm(f.ts.URL+"/cas/login", form)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Formulaire expiré ou d&#39;origine inconnue") {
		t.Errorf("post without token = %d, want 403 and the French message:\n%s", resp.StatusCode, body)
	}
	_, formBody := get(t, browser(t), f.loginURL(appURL))
	form.Set("csrf", html.UnescapeString(csrfField.FindStringSubmatch(formBody)[1]))
	other := browser(t)
	get(t, other, f.loginURL(appURL)) // its own nonce cookie
	resp, err = other.PostForm(f.ts.URL+"/cas/login", form)
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("post with another browser's token = %d, want 403", resp.StatusCode)
	}
	resp, body = f.postLogin(t, browser(t), appURL, student.Login, password) // sanity: a real post passes
	ticketOf(t, resp, body, appURL)
	b = browser(t)
	_, formBody = get(t, b, f.loginURL(appURL))
	form.Set("csrf", html.UnescapeString(csrfField.FindStringSubmatch(formBody)[1]))
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/cas/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err = b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin post = %d, want 403", resp.StatusCode)
	}

	// Repeated failures: refused for a while, with the portal's message.
	var last *http.Response
	for range 8 {
		last, body = f.postLogin(t, browser(t), appURL, odd.Login, "wrong")
	}
	if last.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Trop de tentatives de connexion : réessayez dans") || last.Header.Get("Retry-After") == "" {
		t.Errorf("8th failure = %d (Retry-After %q), want 429 with the French wait:\n%s", last.StatusCode, last.Header.Get("Retry-After"), body)
	}
}

func TestLogoutPage(t *testing.T) {
	f := newRegistry(t)
	b := browser(t)
	f.loginTicket(t, b, appURL, student)
	resp, body := get(t, b, f.ts.URL+"/cas/logout?service="+url.QueryEscape(appURL))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Vous êtes déconnecté de l&#39;ENT") ||
		!strings.Contains(body, `<a href="`+appURL+`">Retourner à moodle</a>`) {
		t.Errorf("logout with service = %d, want the French page linking back:\n%s", resp.StatusCode, body)
	}
	// The session is over: the form is shown again.
	if _, body := get(t, b, f.loginURL(appURL)); !strings.Contains(body, `name="password"`) {
		t.Errorf("after logout, login shows:\n%s", body)
	}
	// No link to a service that is not allowed.
	_, body = get(t, b, f.ts.URL+"/cas/logout?service="+url.QueryEscape("https://evil.example/"))
	if strings.Contains(body, "evil.example") {
		t.Errorf("logout links to a service not allowed:\n%s", body)
	}
}

// TestSingleLogoutRequest checks the back-channel request a service
// receives when the portal ends the session (EndSession).
func TestSingleLogoutRequest(t *testing.T) {
	f := newFixture(t)
	type received struct {
		contentType, sessionIndex string
	}
	got := make(chan received, 4)
	tool := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var lr struct {
			XMLName      xml.Name `xml:"urn:oasis:names:tc:SAML:2.0:protocol LogoutRequest"`
			Version      string   `xml:"Version,attr"`
			IssueInstant string   `xml:"IssueInstant,attr"`
			NameID       string   `xml:"urn:oasis:names:tc:SAML:2.0:assertion NameID"`
			SessionIndex string   `xml:"urn:oasis:names:tc:SAML:2.0:protocol SessionIndex"`
		}
		r.ParseForm()
		if err := xml.Unmarshal([]byte(r.PostForm.Get("logoutRequest")), &lr); err != nil || lr.Version != "2.0" {
			t.Errorf("logoutRequest %q: %v", r.PostForm.Get("logoutRequest"), err)
		}
		if _, err := time.Parse(time.RFC3339, lr.IssueInstant); err != nil {
			t.Errorf("IssueInstant: %v", err)
		}
		got <- received{r.Header.Get("Content-Type"), lr.SessionIndex}
	}))
	t.Cleanup(tool.Close)
	f.addService(t, "tool", `http://127\.0\.0\.1:\d+/app.*`, ent.CASGeneric)
	b := browser(t)
	service := tool.URL + "/app?x=1"
	tk := f.loginTicket(t, b, service, student)
	u, _ := url.Parse(f.ts.URL)
	var token string
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "atrium_session" {
			token = c.Value
		}
	}
	f.cas.EndSession(t.Context(), token)
	select {
	case r := <-got:
		if want := (received{"application/x-www-form-urlencoded", tk}); r != want {
			t.Errorf("logout request = %+v, want %+v", r, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no logout request within 10 s")
	}
	evs := f.audit.events()
	if last := evs[len(evs)-1]; last.Type != ent.AuditLogout || last.Login != student.Login {
		t.Errorf("last audit event = %+v, want the logout of %s", last, student.Login)
	}
	// A second EndSession sends nothing more and audits once more only if
	// the session is still valid (it is: tokens are stateless).
	f.cas.EndSession(t.Context(), token)
	select {
	case r := <-got:
		t.Errorf("second EndSession sent %+v", r)
	default:
	}
}

// TestAudit checks the events of issue and validation: who, profile, UAI,
// IP, user agent, service, time and why a validation failed.
func TestAudit(t *testing.T) {
	f := newRegistry(t)
	tk := f.loginTicket(t, browser(t), appURL, student)
	f.validate(t, "/cas/serviceValidate", "service", appURL, "ticket", tk)
	f.validate(t, "/cas/serviceValidate", "service", appURL, "ticket", tk)
	evs := f.audit.events()
	if len(evs) != 3 {
		t.Fatalf("audit events = %+v, want 3", evs)
	}
	for i, c := range []struct{ typ, login, detail string }{
		{ent.AuditTicketIssued, student.Login, ""},
		{ent.AuditTicketSuccess, student.Login, ""},
		{ent.AuditTicketFailure, "", "INVALID_TICKET"},
	} {
		ev := evs[i]
		if ev.Type != c.typ || ev.Login != c.login || !strings.HasPrefix(ev.Detail, c.detail) || ev.Service != appURL ||
			ev.IP != "127.0.0.1" || ev.UserAgent == "" || !ev.Time.Equal(f.clk.now()) || ev.Node != "c1" || ev.ID == "" {
			t.Errorf("event %d = %+v, want %s of %q (%s) for %s from 127.0.0.1", i, ev, c.typ, c.login, c.detail, appURL)
		}
		if c.login != "" && (ev.Profile != ent.Student || ev.UAI != uaiA || ev.UserID != student.ID) {
			t.Errorf("event %d = %+v, want profile, UAI and user id", i, ev)
		}
	}
}

func TestNew(t *testing.T) {
	if _, err := cas.New(cas.Config{}); !errors.Is(err, cas.ErrNoService) {
		t.Errorf("New without Service = %v, want ErrNoService", err)
	}
	f := newFixture(t)
	if err := f.cas.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := f.cas.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// FuzzRequests throws arbitrary service and ticket parameters at every
// endpoint: no panic, and answers within what the protocol allows.
func FuzzRequests(f *testing.F) {
	fx := newFixture(f)
	fx.addService(f, "moodle", `https://app\.lycee\.example/moodle/.*`, ent.CASMoodle)
	f.Add(appURL, "ST-1", "true")
	f.Add("", "", "")
	f.Add("https://app.lycee.example/moodle/#frag?x", "ST-"+strings.Repeat("A", 300), "0")
	f.Add("http://[::1", "\x00\xff", "JSON")
	f.Add("https://app.lycee.example/moodle/?"+strings.Repeat("&", 100), "PT-x", "false")
	paths := []string{"/cas/login", "/cas/logout", "/cas/validate", "/cas/serviceValidate", "/cas/proxyValidate",
		"/cas/p3/serviceValidate", "/cas/p3/proxyValidate", "/cas/proxy"}
	f.Fuzz(func(t *testing.T, service, ticket, extra string) {
		fx.audit.reset() // bounded memory over a long run
		q := url.Values{"service": {service}, "ticket": {ticket}, "renew": {extra}, "gateway": {extra}, "format": {extra},
			"pgtUrl": {service}, "pgt": {ticket}, "targetService": {service}}
		for _, p := range paths {
			req := httptest.NewRequest(http.MethodGet, p+"?"+q.Encode(), nil)
			w := httptest.NewRecorder()
			fx.cas.ServeHTTP(w, req)
			switch w.Code {
			case http.StatusOK, http.StatusSeeOther, http.StatusForbidden:
			default:
				t.Errorf("GET %s?%s = %d", p, q.Encode(), w.Code)
			}
			if p == "/cas/validate" {
				if b := w.Body.String(); b != "no\n\n" && !strings.HasPrefix(b, "yes\n") {
					t.Errorf("GET %s = %q", p, b)
				}
			}
			if strings.Contains(p, "alidate") && p != "/cas/validate" && !strings.EqualFold(extra, "JSON") {
				var r serviceResponse
				if err := xml.Unmarshal(w.Body.Bytes(), &r); err != nil {
					t.Errorf("GET %s?%s: not XML: %v", p, q.Encode(), err)
				}
			}
			if p == "/cas/proxy" && !strings.EqualFold(extra, "JSON") {
				var r proxyResponse
				if err := xml.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Failure == nil {
					t.Errorf("GET %s?%s = %s, want a proxyFailure (%v)", p, q.Encode(), w.Body, err)
				}
			}
		}
		form := url.Values{"service": {service}, "login": {ticket}, "password": {extra}}
		req := httptest.NewRequest(http.MethodPost, "/cas/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		fx.cas.ServeHTTP(w, req)
		if w.Code != http.StatusForbidden && w.Code != http.StatusBadRequest {
			t.Errorf("POST /cas/login without token = %d, want 403 (or 400)", w.Code)
		}
	})
}

// BenchmarkSSOAndValidate measures one single sign-on round: a ticket
// issued from a session (Authenticate, registry match, audit) and its
// CAS 3 validation, in process.
func BenchmarkSSOAndValidate(b *testing.B) {
	fx := newFixture(b)
	fx.addService(b, "moodle", `https://app\.lycee\.example/moodle/.*`, ent.CASMoodle)
	token, _, err := fx.svc.Login(b.Context(), student.Login, password, ent.Client{})
	if err != nil {
		b.Fatal(err)
	}
	login := "/cas/login?service=" + url.QueryEscape(appURL)
	for b.Loop() {
		fx.audit.reset()
		fx.clk.add(time.Millisecond) // live tickets stay bounded: they expire
		req := httptest.NewRequest(http.MethodGet, login, nil)
		req.AddCookie(&http.Cookie{Name: "atrium_session", Value: token})
		w := httptest.NewRecorder()
		fx.cas.ServeHTTP(w, req)
		loc, _ := url.Parse(w.Header().Get("Location"))
		tk := loc.Query().Get("ticket")
		req = httptest.NewRequest(http.MethodGet, "/cas/p3/serviceValidate?service="+url.QueryEscape(appURL)+"&ticket="+tk, nil)
		w = httptest.NewRecorder()
		fx.cas.ServeHTTP(w, req)
		if !strings.Contains(w.Body.String(), "authenticationSuccess") {
			b.Fatalf("validation failed: %s", w.Body.String())
		}
	}
}
