package ent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// newService returns a Service over an in-memory store holding the fixture
// users, all with password "secret".
func newService(t *testing.T) (*ent.Service, *enttest.Store, *clock) {
	t.Helper()
	st := enttest.New(ent.Exec)
	hash, err := ent.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range fixtureUsers {
		u.PasswordHash = hash
		if err := st.Submit(t.Context(), userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	clk := &clock{t: time.UnixMilli(t0).Add(time.Hour)}
	svc, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: record.OriginCentral,
		SessionKey: []byte(strings.Repeat("k", 32)), Now: clk.now, SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, clk
}

func TestPasswordHash(t *testing.T) {
	h, err := ent.HashPassword("demo-eleve-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("HashPassword = %q, want a PHC argon2id string", h)
	}
	if ok, err := ent.VerifyPassword(h, "demo-eleve-1"); !ok || err != nil {
		t.Errorf("VerifyPassword(right) = %v, %v; want true", ok, err)
	}
	if ok, _ := ent.VerifyPassword(h, "demo-eleve-2"); ok {
		t.Error("VerifyPassword(wrong) = true")
	}
	h2, _ := ent.HashPassword("demo-eleve-1")
	if h2 == h {
		t.Error("two hashes of one password are equal: salt missing")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", h + "$"} {
		if _, err := ent.VerifyPassword(bad, "x"); !errors.Is(err, ent.ErrBadHash) {
			t.Errorf("VerifyPassword(%q) error = %v, want ErrBadHash", bad, err)
		}
	}
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, h string) {
		ok, err := ent.VerifyPassword(h, "x")
		if ok && err != nil {
			t.Fatal("ok with an error")
		}
	})
}

func TestLoginAndSessions(t *testing.T) {
	svc, _, clk := newService(t)
	ctx := t.Context()
	tok, u, err := svc.Login(ctx, "eleve.a", "secret", ent.Client{})
	if err != nil || u.ID != studentA.ID {
		t.Fatalf("Login = %v, %v; want %s", u.Login, err, studentA.Login)
	}
	if got, err := svc.Authenticate(tok); err != nil || got.ID != studentA.ID {
		t.Fatalf("Authenticate = %v, %v", got.Login, err)
	}
	for _, c := range []struct{ login, pw string }{{"eleve.a", "wrong"}, {"nobody", "secret"}, {"ancien.a", "secret"}, {"", ""}} {
		if _, _, err := svc.Login(ctx, c.login, c.pw, ent.Client{}); !errors.Is(err, ent.ErrBadCredentials) {
			t.Errorf("Login(%q, %q) error = %v, want ErrBadCredentials", c.login, c.pw, err)
		}
	}
	// Tampering with any part of the token is refused.
	payload, mac, _ := strings.Cut(tok, ".")
	forged := []string{"", "x", payload, payload + ".", "A" + tok[1:], payload + "." + strings.ToUpper(mac)}
	other, _, _ := svc.Login(ctx, "prof.a", "secret", ent.Client{})
	op, _, _ := strings.Cut(other, ".")
	forged = append(forged, op+"."+mac) // teacher's payload, student's signature
	for _, f := range forged {
		if _, err := svc.Authenticate(f); !errors.Is(err, ent.ErrBadSession) {
			t.Errorf("Authenticate(%q) error = %v, want ErrBadSession", f, err)
		}
	}
	// Another region's key does not validate our tokens.
	stranger, _ := ent.NewService(ent.ServiceConfig{Store: enttest.New(ent.Exec), Origin: "central", SessionKey: []byte(strings.Repeat("z", 32)), Now: clk.now})
	if _, err := stranger.Authenticate(tok); !errors.Is(err, ent.ErrBadSession) {
		t.Errorf("Authenticate with another key = %v, want ErrBadSession", err)
	}
	// Expiry.
	clk.t = clk.t.Add(time.Hour + time.Second)
	if _, err := svc.Authenticate(tok); !errors.Is(err, ent.ErrBadSession) {
		t.Errorf("Authenticate(expired) = %v, want ErrBadSession", err)
	}
	// CSRF tokens are bound to their session.
	if !svc.CheckCSRF(tok, svc.CSRFToken(tok)) || svc.CheckCSRF(other, svc.CSRFToken(tok)) || svc.CheckCSRF(tok, "") {
		t.Error("CheckCSRF does not bind the token to its session")
	}
}

func TestServiceNewsAndMessages(t *testing.T) {
	svc, st, clk := newService(t)
	ctx := t.Context()
	mustPublish := func(u ent.User, title string, region bool) ent.News {
		t.Helper()
		clk.t = clk.t.Add(time.Minute)
		n, err := svc.PublishNews(ctx, u, title, "Texte de "+title, region)
		if err != nil {
			t.Fatalf("PublishNews(%s, %q) = %v", u.Login, title, err)
		}
		return n
	}
	mustPublish(teacherA, "Sortie au MuCEM", false)
	mustPublish(regionUser, "Transports", true)
	mustPublish(teacherB, "CDI fermé", false)
	mustPublish(staffA, "Réunion", false)

	titles := func(u ent.User) []string {
		ns, err := svc.ListNews(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range ns {
			out = append(out, n.Title)
		}
		return out
	}
	if got, want := strings.Join(titles(studentA), "|"), "Réunion|Transports|Sortie au MuCEM"; got != want {
		t.Errorf("student A reads %q, want %q", got, want)
	}
	if got, want := strings.Join(titles(regionUser), "|"), "Transports"; got != want {
		t.Errorf("region staff reads %q, want %q", got, want)
	}
	for _, c := range []struct {
		u      ent.User
		region bool
		want   string
	}{{studentA, false, "forbidden"}, {relativeA, false, "forbidden"}, {teacherA, true, "forbidden"}, {regionUser, false, "forbidden"}} {
		if _, err := svc.PublishNews(ctx, c.u, "T", "B", c.region); code(err) != c.want {
			t.Errorf("PublishNews(%s, region=%v) = %v, want %s", c.u.Login, c.region, err, c.want)
		}
	}
	if _, err := svc.PublishNews(ctx, teacherA, " ", "B", false); code(err) != "invalid" {
		t.Errorf("PublishNews(empty title) = %v, want invalid", err)
	}

	// Messages.
	clk.t = clk.t.Add(time.Minute)
	m1, err := svc.SendMessage(ctx, relativeA, "prof.a", "Absence", "Léa sera absente mardi.")
	if err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := svc.SendMessage(ctx, teacherA, "eleve.a", "Exposé", "Pense au plan."); err != nil {
		t.Fatal(err)
	}
	box, err := svc.ListMessages(ctx, teacherA)
	if err != nil || len(box) != 2 || box[0].Subject != "Exposé" || box[1].FromName != "Sophie Martin" {
		t.Fatalf("teacher's messages = %+v, %v; want Exposé (sent) then Absence (received)", box, err)
	}
	if box, _ := svc.ListMessages(ctx, staffA); len(box) != 0 {
		t.Errorf("staff sees %d messages of others", len(box))
	}
	if got, err := svc.GetMessage(ctx, teacherA, m1.ID); err != nil || got.Body != "Léa sera absente mardi." {
		t.Errorf("GetMessage = %+v, %v", got, err)
	}
	if _, err := svc.GetMessage(ctx, staffA, m1.ID); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("GetMessage by a third party = %v, want ErrNotFound", err)
	}
	for _, c := range []struct{ to, subject, want string }{
		{"personne", "Objet", "not_found"}, {"eleve.b", "Objet", "not_found"}, {"prof.a", "", "invalid"},
	} {
		n := len(st.Commands())
		if _, err := svc.SendMessage(ctx, studentA, c.to, c.subject, "Bonjour"); code(err) != c.want {
			t.Errorf("SendMessage(to %q, subject %q) = %v, want %s", c.to, c.subject, err, c.want)
		}
		if len(st.Commands()) != n {
			t.Errorf("refused SendMessage(to %q) submitted a command", c.to)
		}
	}
	// Commands carry the origin, the author and the minted time.
	cmds := st.Commands()
	last := cmds[len(cmds)-1]
	if last.Origin != record.OriginCentral || last.User != teacherA.ID || last.Time != clk.t.UnixMilli() || last.Op != ent.OpMessageSend {
		t.Errorf("last command = %+v", last)
	}
}
