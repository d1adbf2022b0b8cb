package cas_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/ent"

	"github.com/google/go-cmp/cmp"
	casclient "gopkg.in/cas.v2"
)

// tool is a third-party service protected by a real CAS client
// (gopkg.in/cas.v2): it answers its user and attributes as JSON, or sends
// the browser to Atrium.
type tool struct {
	ts   *httptest.Server
	path string // where the tool lives, e.g. /pronote/
}

type whoami struct {
	User       string              `json:"user"`
	Attributes map[string][]string `json:"attributes"`
}

func newTool(t *testing.T, casURL, path string) *tool {
	t.Helper()
	u, err := url.Parse(casURL + "/cas/")
	if err != nil {
		t.Fatal(err)
	}
	client := casclient.NewClient(&casclient.Options{
		URL: u,
		// Each tool's session cookie on its own path: a cookie jar
		// ignores ports, and every httptest server is on 127.0.0.1.
		Cookie: &http.Cookie{Path: path, MaxAge: 3600, HttpOnly: true},
	})
	h := client.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		if !casclient.IsAuthenticated(r) {
			casclient.RedirectToLogin(w, r)
			return
		}
		json.NewEncoder(w).Encode(whoami{User: casclient.Username(r), Attributes: casclient.Attributes(r)})
	})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &tool{ts: ts, path: path}
}

func (tl *tool) url() string { return tl.ts.URL + tl.path }

// follow fetches u following redirects (as a browser) and returns the last
// response's URL, status and body.
func follow(t *testing.T, c *http.Client, u string) (string, int, string) {
	t.Helper()
	for range 10 {
		resp, body := get(t, c, u)
		if resp.StatusCode/100 != 3 {
			return u, resp.StatusCode, body
		}
		next, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		u = next.String()
	}
	t.Fatalf("too many redirects from %s", u)
	return "", 0, ""
}

// TestRealCASClient drives a browser through two tools protected by
// gopkg.in/cas.v2: a password login at Atrium for the first, single
// sign-on for the second, then logout at Atrium ends both tools' sessions
// (back-channel single logout).
func TestRealCASClient(t *testing.T) {
	f := newFixture(t)
	pronote := newTool(t, f.ts.URL, "/pronote/")
	intranet := newTool(t, f.ts.URL, "/intranet/")
	f.addService(t, "pronote", `http://127\.0\.0\.1:\d+/pronote/.*`, ent.CASPronote)
	f.addService(t, "intranet", `http://127\.0\.0\.1:\d+/intranet/.*`, ent.CASGeneric)
	b := browser(t)

	// The tool sends the browser to Atrium's login form.
	at, code, body := follow(t, b, pronote.url())
	if code != http.StatusOK || !strings.HasPrefix(at, f.ts.URL+"/cas/login?service=") || !strings.Contains(body, "Connexion à l'ENT") {
		t.Fatalf("GET %s ended at %s (%d), want Atrium's login form:\n%s", pronote.url(), at, code, body)
	}
	service, _ := url.Parse(at)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("login form without csrf field:\n%s", body)
	}
	form := url.Values{"login": {student.Login}, "password": {password},
		"service": {service.Query().Get("service")}, "csrf": {html.UnescapeString(m[1])}}
	resp, err := b.PostForm(f.ts.URL+"/cas/login", form)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /cas/login = %d, want 303", resp.StatusCode)
	}
	at, code, body = follow(t, b, resp.Header.Get("Location"))
	if code != http.StatusOK || !strings.HasPrefix(at, pronote.url()) {
		t.Fatalf("after login, ended at %s (%d), want the tool:\n%s", at, code, body)
	}
	var got whoami
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("tool answered %q: %v", body, err)
	}
	want := whoami{User: student.Login, Attributes: map[string][]string{
		"nom": {"Martin"}, "prenom": {"Léa"}, "dateNaissance": {"14/03/2009"}, "categories": {"Eleve"},
		"ENTPersonStructRattach": {uaiA}, "ENTPersonJointure": {"AIX-MARSEILLE:1234"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pronote sees (-want +got):\n%s", diff)
	}

	// Single sign-on: the second tool gets the user without a form.
	at, code, body = follow(t, b, intranet.url())
	if code != http.StatusOK || !strings.HasPrefix(at, intranet.url()) {
		t.Fatalf("GET %s ended at %s (%d), want the tool without a login form:\n%s", intranet.url(), at, code, body)
	}
	got = whoami{}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("tool answered %q: %v", body, err)
	}
	want = whoami{User: student.Login, Attributes: map[string][]string{
		"uid": {student.Login}, "ENTPersonProfils": {"National_1"}, "ENTPersonStructRattach": {uaiA},
		"ENTPersonJointure": {"AIX-MARSEILLE:1234"}, "nom": {"Martin"}, "prenom": {"Léa"}, "ENTEleveClasses": {"2NDE3"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("intranet sees (-want +got):\n%s", diff)
	}

	// Both tools know the user until Atrium's logout.
	for _, tl := range []*tool{pronote, intranet} {
		if resp, _ := get(t, b, tl.url()); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d before logout, want 200 (the tool's own session)", tl.url(), resp.StatusCode)
		}
	}
	resp, body = get(t, b, f.ts.URL+"/cas/logout")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Vous êtes déconnecté de l&#39;ENT") {
		t.Fatalf("GET /cas/logout = %d:\n%s", resp.StatusCode, body)
	}
	// The logout requests reach the tools in the background: each tool,
	// once told, sends the browser back to Atrium, which asks for the
	// password again.
	for _, tl := range []*tool{pronote, intranet} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, _ := get(t, b, tl.url())
			if resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), f.ts.URL+"/cas/login") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s = %d after logout, want a redirect to Atrium (single logout not received)", tl.url(), resp.StatusCode)
			}
			time.Sleep(10 * time.Millisecond)
		}
		at, code, body := follow(t, b, tl.url())
		if code != http.StatusOK || !strings.Contains(body, `name="password"`) {
			t.Errorf("after logout, %s ends at %s (%d), want the login form", tl.url(), at, code)
		}
	}

	// The audit trail: two tickets issued and validated, one logout.
	var types []string
	for _, ev := range f.audit.events() {
		types = append(types, ev.Type)
		if ev.Login != student.Login || ev.UAI != uaiA || ev.Profile != ent.Student || ev.Node != "c1" || ev.IP == "" {
			t.Errorf("audit event %+v lacks who, where or the node", ev)
		}
	}
	wantTypes := []string{ent.AuditTicketIssued, ent.AuditTicketSuccess, ent.AuditTicketIssued, ent.AuditTicketSuccess, ent.AuditLogout}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}
