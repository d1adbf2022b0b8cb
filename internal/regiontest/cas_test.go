package regiontest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/internal/regiontest"

	casclient "gopkg.in/cas.v2"
)

// schoolTool is a school's tool (Pronote, an intranet…) protected by a real
// CAS client library, gopkg.in/cas.v2, configured with one Atrium node's
// CAS URL. It answers the user and attributes the library received.
type schoolTool struct {
	ts   *httptest.Server
	path string
}

type toolView struct {
	User       string              `json:"user"`
	Attributes map[string][]string `json:"attributes"`
}

func newSchoolTool(t *testing.T, casBase, path string) *schoolTool {
	t.Helper()
	u, err := url.Parse(casBase + "/cas/")
	if err != nil {
		t.Fatal(err)
	}
	client := casclient.NewClient(&casclient.Options{URL: u, Cookie: &http.Cookie{Path: path, MaxAge: 3600, HttpOnly: true}})
	ts := httptest.NewServer(client.HandleFunc(func(w http.ResponseWriter, r *http.Request) {
		if !casclient.IsAuthenticated(r) {
			casclient.RedirectToLogin(w, r)
			return
		}
		json.NewEncoder(w).Encode(toolView{User: casclient.Username(r), Attributes: casclient.Attributes(r)})
	}))
	t.Cleanup(ts.Close)
	return &schoolTool{ts: ts, path: path}
}

func (s *schoolTool) url() string { return s.ts.URL + s.path }

// webBrowser is a person's browser: cookies, redirects followed by hand.
func webBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// visit follows redirects from u and returns where it ended, the status
// and the body.
func visit(t *testing.T, b *http.Client, u string) (string, int, string) {
	t.Helper()
	for range 10 {
		resp, err := b.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 3 {
			return u, resp.StatusCode, string(body)
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

// portalLogin opens a portal session in the browser (the API sets the
// session cookie, as the login form does).
func portalLogin(t *testing.T, b *http.Client, base, login, password string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login": login, "password": password})
	resp, err := b.Post(base+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("portal login of %s at %s = %d", login, base, resp.StatusCode)
	}
}

// signIn has the browser, logged in to the portal at base, open the tool:
// the tool sends it to Atrium's /cas/login, which sends it straight back
// with a ticket (single sign-on); the tool validates the ticket.
func signIn(t *testing.T, b *http.Client, tool *schoolTool) toolView {
	t.Helper()
	at, code, body := visit(t, b, tool.url())
	if code != http.StatusOK || !strings.HasPrefix(at, tool.url()) {
		t.Fatalf("GET %s ended at %s (%d), want the tool signed in:\n%.400s", tool.url(), at, code, body)
	}
	var v toolView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("tool answered %q: %v", body, err)
	}
	return v
}

// signedOut waits until the tool has dropped its session (it received
// Atrium's back-channel logout request) and sends the browser to Atrium.
func signedOut(t *testing.T, b *http.Client, tool *schoolTool, casBase string) {
	t.Helper()
	regiontest.Eventually(t, 10*time.Second, func() error {
		resp, err := b.Get(tool.url())
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), casBase+"/cas/login") {
			return fmt.Errorf("GET %s = %d, want a redirect to %s/cas/login (single logout not received)", tool.url(), resp.StatusCode, casBase)
		}
		return nil
	})
}

// A tool on the school's LAN signs users in through Atrium, at central
// and at the lycée's edge while its link is cut: the registry set at
// central reached the edge, the tool receives the attributes its profile
// promises, and logging out of the portal reaches the tool.
func TestCASSingleSignOnAtCentralAndOfflineEdge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{NoEdges: true})
	ctx := t.Context()
	dir := t.TempDir()
	if _, err := aaf.Generate(dir, aaf.GenConfig{Lycees: 1, StudentsPerLycee: 20, Seed: 21}); err != nil {
		t.Fatal(err)
	}
	client := r.Admin()
	rep, err := client.ImportFiles(ctx, setPaths(t, dir, "_Complet_"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	uai := rep.UAIs[0]
	users, err := client.Users(ctx, uai)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(users, func(u ent.User) bool { return u.Profile == ent.Student })
	student := users[i]
	svc := r.Central(r.Leader()).Service()
	if _, err := regiontest.Activate(ctx, r.Central(0).URL(), student.Login, svc.ActivationCode(student.ID), "eleve-password"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []ent.CASService{
		{Name: "pronote", Pattern: `http://127\.0\.0\.1:\d+/pronote/.*`, Profile: ent.CASPronote},
		{Name: "intranet", Pattern: `http://127\.0\.0\.1:\d+/intranet/.*`, Profile: ent.CASGeneric},
	} {
		if err := client.PutCASService(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	listed, err := client.CASServices(ctx)
	if err != nil || len(listed) != 2 {
		t.Fatalf("CAS registry = %v, %v; want the 2 services", listed, err)
	}

	// At central, from home.
	home := r.Central(1).URL()
	pronote := newSchoolTool(t, home, "/pronote/")
	b := webBrowser(t)
	portalLogin(t, b, home, student.Login, "eleve-password")
	got := signIn(t, b, pronote)
	birth := student.BirthDate[8:10] + "/" + student.BirthDate[5:7] + "/" + student.BirthDate[:4]
	if got.User != student.Login || !slices.Equal(got.Attributes["nom"], []string{student.Surname}) ||
		!slices.Equal(got.Attributes["dateNaissance"], []string{birth}) || !slices.Equal(got.Attributes["categories"], []string{"Eleve"}) {
		t.Errorf("pronote at central sees %+v; want %s, nom %s, born %s, category Eleve", got, student.Login, student.Surname, birth)
	}
	// A service missing from the registry is refused with a page saying so.
	_, code, body := visit(t, b, home+"/cas/login?service="+url.QueryEscape("http://127.0.0.1:1/inconnu/"))
	if code != http.StatusForbidden || !strings.Contains(body, "autorisé") {
		t.Errorf("unknown service: %d, want 403 and a page saying the service is not allowed:\n%.300s", code, body)
	}
	// Logging out of the portal logs the tool out.
	logoutPortal(t, b, home)
	signedOut(t, b, pronote, home)

	// At the lycée, with its link cut: the edge is the CAS server.
	edge := r.AddEdge(uai)
	r.WaitSynced(uai)
	r.CutWAN(uai)
	r.WaitOffline(uai)
	school := edge.URL()
	intranet := newSchoolTool(t, school, "/intranet/")
	sb := webBrowser(t)
	portalLogin(t, sb, school, student.Login, "eleve-password")
	got = signIn(t, sb, intranet)
	if got.User != student.Login || !slices.Equal(got.Attributes["ENTPersonProfils"], []string{"National_1"}) ||
		!slices.Equal(got.Attributes["ENTPersonStructRattach"], []string{uai}) || !slices.Equal(got.Attributes["ENTPersonJointure"], []string{student.JoinKey}) {
		t.Errorf("intranet at the offline edge sees %+v; want %s, National_1, %s, %s", got, student.Login, uai, student.JoinKey)
	}
	visit(t, sb, school+"/cas/logout")
	signedOut(t, sb, intranet, school)
}

// logoutPortal posts the portal's logout form with its anti-forgery token.
func logoutPortal(t *testing.T, b *http.Client, base string) {
	t.Helper()
	_, code, body := visit(t, b, base+"/deconnexion")
	if code != http.StatusOK {
		t.Fatalf("GET /deconnexion = %d", code)
	}
	const marker = `name="csrf" value="`
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("logout page without csrf field:\n%.500s", body)
	}
	token := body[i+len(marker):]
	token = token[:strings.IndexByte(token, '"')]
	req, err := http.NewRequest(http.MethodPost, base+"/deconnexion", strings.NewReader(url.Values{"csrf": {html.UnescapeString(token)}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /deconnexion = %d, want 303", resp.StatusCode)
	}
}
