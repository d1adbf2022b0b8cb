package cas_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/cas"
	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"
)

const (
	uaiA     = "0130040Y"
	password = "secret"
	t0       = int64(1767600000000) // 2026-01-05T08:00:00Z
)

var (
	student = ent.User{ID: "01890000-0000-7000-8000-000000000001", Login: "lea.martin", Name: "Léa Martin",
		Profile: ent.Student, UAI: uaiA, Active: true,
		JoinKey: "AIX-MARSEILLE:1234", Jointure: "1234", Surname: "Martin", GivenName: "Léa",
		BirthDate: "2009-03-14", Classes: []string{"2NDE3"}}
	teacher = ent.User{ID: "01890000-0000-7000-8000-000000000002", Login: "paul.durand", Name: "Paul Durand",
		Profile: ent.Teacher, UAI: uaiA, Active: true}
	// odd has a login and names that XML and HTML must escape.
	odd = ent.User{ID: "01890000-0000-7000-8000-000000000003", Login: `o'brien&<x>"`, Name: "Seán O'Brien",
		Profile: ent.Personnel, UAI: uaiA, Active: true, Surname: `O'Brien <b>&amp; "fils"`, GivenName: "Seán\x01"}
	agent = ent.User{ID: "01890000-0000-7000-8000-000000000004", Login: "agent.region", Name: "Anne Région",
		Profile: ent.Region, Active: true}
)

// clock is a settable time source, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// auditLog records the events of Config.Audit.
type auditLog struct {
	mu  sync.Mutex
	evs []ent.AuditEvent
}

func (a *auditLog) add(_ context.Context, ev ent.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.evs = append(a.evs, ev)
}

func (a *auditLog) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.evs = nil
}

func (a *auditLog) events() []ent.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ent.AuditEvent(nil), a.evs...)
}

// fixture is a CAS server over a real ent.Service with the users above
// (password "secret"), served by an httptest server.
type fixture struct {
	svc   *ent.Service
	store *enttest.Store
	clk   *clock
	audit *auditLog
	cas   *cas.Server
	ts    *httptest.Server
}

var passwordHash = sync.OnceValues(func() (string, error) { return ent.HashPassword(password) })

func newFixture(t testing.TB) *fixture {
	t.Helper()
	st := enttest.New(ent.Exec)
	hash, err := passwordHash()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []ent.User{student, teacher, odd, agent} {
		u.PasswordHash = hash
		if err := st.Submit(context.Background(), command(t, ent.OpUserPut, u.Partition(), u)); err != nil {
			t.Fatalf("put user %s: %v", u.Login, err)
		}
	}
	f := &fixture{store: st, clk: &clock{t: time.UnixMilli(t0).Add(time.Hour)}, audit: &auditLog{}}
	f.svc, err = ent.NewService(ent.ServiceConfig{Store: st, Origin: record.OriginCentral,
		SessionKey: []byte(strings.Repeat("k", 32)), Now: f.clk.now, SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.cas, err = cas.New(cas.Config{Service: f.svc, Node: "c1", Audit: f.audit.add, Now: f.clk.now, SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cas.Close() })
	f.ts = httptest.NewServer(f.cas)
	t.Cleanup(f.ts.Close)
	return f
}

func command(t testing.TB, op, partition string, args any) record.Command {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return record.Command{Origin: record.OriginCentral, Op: op, Partition: partition, Args: b, Time: t0}
}

// addService registers a CAS service, as an operator would.
func (f *fixture) addService(t testing.TB, name, pattern, profile string) {
	t.Helper()
	cs := ent.CASServiceArgs{ID: record.NewID(), Name: name, Pattern: pattern, Profile: profile}
	if err := f.store.Submit(context.Background(), command(t, ent.OpCASServicePut, record.Region, cs)); err != nil {
		t.Fatalf("put CAS service %s: %v", name, err)
	}
}

// browser returns a client with a cookie jar that does not follow
// redirects: tests look at each step.
func browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches u and returns the response and its body.
func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp, readBody(t, resp)
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginURL is the CAS login URL for service, with extra parameters.
func (f *fixture) loginURL(service string, extra ...string) string {
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	u := f.ts.URL + "/cas/login"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// postLogin fetches the login form for service and posts the credentials
// with its anti-forgery token; extra are more parameters (name, value, …)
// of both.
func (f *fixture) postLogin(t testing.TB, c *http.Client, service, login, pw string, extra ...string) (*http.Response, string) {
	t.Helper()
	resp, body := get(t, c, f.loginURL(service, extra...))
	m := csrfField.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET login form = %d without a csrf field:\n%s", resp.StatusCode, body)
	}
	form := url.Values{"login": {login}, "password": {pw}, "csrf": {html.UnescapeString(m[1])}}
	if service != "" {
		form.Set("service", service)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	resp, err := c.PostForm(f.ts.URL+"/cas/login", form)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// loginTicket logs in with a password and returns the ticket of the
// redirect to service.
func (f *fixture) loginTicket(t testing.TB, c *http.Client, service string, u ent.User) string {
	t.Helper()
	resp, body := f.postLogin(t, c, service, u.Login, password)
	return ticketOf(t, resp, body, service)
}

// ssoTicket asks for a ticket with the browser's session.
func (f *fixture) ssoTicket(t testing.TB, c *http.Client, service string) string {
	t.Helper()
	resp, body := get(t, c, f.loginURL(service))
	return ticketOf(t, resp, body, service)
}

func ticketOf(t testing.TB, resp *http.Response, body, service string) string {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login status = %d, want 303 to the service:\n%s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	tk := u.Query().Get("ticket")
	u.RawQuery = strings.TrimSuffix(strings.Replace(u.RawQuery, "ticket="+tk, "", 1), "&")
	if !strings.HasPrefix(tk, "ST-") || strings.TrimSuffix(u.String(), "?") != service {
		t.Fatalf("redirect to %q, want %s with a ticket", loc, service)
	}
	return tk
}

// validate calls a validation endpoint with the given parameters
// (name, value, …) and returns the status and body.
func (f *fixture) validate(t testing.TB, path string, params ...string) (int, string) {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	resp, body := get(t, http.DefaultClient, f.ts.URL+path+"?"+q.Encode())
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("GET %s: Cache-Control = %q, want no-store", path, cc)
	}
	return resp.StatusCode, body
}
