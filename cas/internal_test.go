package cas

import (
	"strings"
	"testing"
	"time"

	"atrium/ent"

	"github.com/google/go-cmp/cmp"
)

func TestAttributes(t *testing.T) {
	student := ent.User{Login: "lea.martin", Name: "Léa Martin", Profile: ent.Student, UAI: "0130040Y",
		JoinKey: "AIX-MARSEILLE:1234", Surname: "Martin", GivenName: "Léa", BirthDate: "2009-03-14",
		Classes: []string{"2NDE3", "GR-ESP"}}
	teacher := ent.User{Login: "paul.durand", Name: "Paul Jean Durand", Profile: ent.Teacher, UAI: "0130040Y",
		Classes: []string{"1ERE2"}, BirthDate: "1980-13-01"}
	relative := ent.User{Login: "sophie", Name: "Sophie", Profile: ent.Relative, UAI: "0130040Y"}
	agent := ent.User{Login: "agent", Name: "Anne Région", Profile: ent.Region}
	for _, c := range []struct {
		name    string
		profile string
		u       ent.User
		want    []attr
	}{
		{"generic student", ent.CASGeneric, student, []attr{
			{"uid", "lea.martin"}, {"ENTPersonProfils", "National_1"}, {"ENTPersonStructRattach", "0130040Y"},
			{"ENTPersonJointure", "AIX-MARSEILLE:1234"}, {"nom", "Martin"}, {"prenom", "Léa"},
			{"ENTEleveClasses", "2NDE3"}, {"ENTEleveClasses", "GR-ESP"}}},
		{"generic teacher, names from the display name", ent.CASGeneric, teacher, []attr{
			{"uid", "paul.durand"}, {"ENTPersonProfils", "National_3"}, {"ENTPersonStructRattach", "0130040Y"},
			{"nom", "Jean Durand"}, {"prenom", "Paul"}, {"ENTAuxEnsClasses", "1ERE2"}}},
		{"generic relative, one-word name", ent.CASGeneric, relative, []attr{
			{"uid", "sophie"}, {"ENTPersonProfils", "National_2"}, {"ENTPersonStructRattach", "0130040Y"}, {"nom", "Sophie"}}},
		{"generic Région staff: no national profile", ent.CASGeneric, agent, []attr{
			{"uid", "agent"}, {"nom", "Région"}, {"prenom", "Anne"}}},
		{"unknown profile is generic", "other", relative, []attr{
			{"uid", "sophie"}, {"ENTPersonProfils", "National_2"}, {"ENTPersonStructRattach", "0130040Y"}, {"nom", "Sophie"}}},
		{"pronote student", ent.CASPronote, student, []attr{
			{"nom", "Martin"}, {"prenom", "Léa"}, {"dateNaissance", "14/03/2009"}, {"categories", "Eleve"},
			{"ENTPersonStructRattach", "0130040Y"}, {"ENTPersonJointure", "AIX-MARSEILLE:1234"}}},
		{"pronote teacher, bad birth date left out", ent.CASPronote, teacher, []attr{
			{"nom", "Jean Durand"}, {"prenom", "Paul"}, {"categories", "Enseignant"}, {"ENTPersonStructRattach", "0130040Y"}}},
		{"pronote relative", ent.CASPronote, relative, []attr{
			{"nom", "Sophie"}, {"categories", "Responsable"}, {"ENTPersonStructRattach", "0130040Y"}}},
		{"grr", ent.CASGRR, student, []attr{{"uid", "lea.martin"}, {"nom", "Martin"}, {"prenom", "Léa"}, {"statut", "eleve"}}},
		{"grr Région staff", ent.CASGRR, agent, []attr{{"uid", "agent"}, {"nom", "Région"}, {"prenom", "Anne"}}},
		{"moodle", ent.CASMoodle, teacher, []attr{
			{"username", "paul.durand"}, {"firstname", "Paul"}, {"lastname", "Jean Durand"}, {"profile", "Teacher"}, {"UAI", "0130040Y"}}},
		{"glpi", ent.CASGLPI, agent, []attr{{"uid", "agent"}, {"nom", "Région"}, {"prenom", "Anne"}, {"profile", "Region"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, attributes(c.profile, c.u)); diff != "" {
				t.Errorf("attributes(%s, %s) (-want +got):\n%s", c.profile, c.u.Login, diff)
			}
		})
	}
}

func TestWithParam(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://a.example/app", "https://a.example/app?ticket=ST-1"},
		{"https://a.example/app?x=1", "https://a.example/app?x=1&ticket=ST-1"},
		{"https://a.example/app?", "https://a.example/app?ticket=ST-1"},
		{"https://a.example/app?x=1&", "https://a.example/app?x=1&ticket=ST-1"},
		{"https://a.example/app#/route?y", "https://a.example/app?ticket=ST-1#/route?y"},
	} {
		if got := withParam(c.in, "ticket", "ST-1"); got != c.want {
			t.Errorf("withParam(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTicketStoreBounds(t *testing.T) {
	now := time.UnixMilli(1767600000000)
	ts := newTicketStore(3, 10*time.Second)
	for i := range 3 {
		if err := ts.add(&ticket{id: string(rune('a' + i)), issued: now}, now); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	if err := ts.add(&ticket{id: "d", issued: now}, now); err != errTooManyTickets {
		t.Errorf("add beyond max = %v, want errTooManyTickets", err)
	}
	// Taken tickets still count until they expire; expired ones free room.
	ts.take("a")
	if err := ts.add(&ticket{id: "d", issued: now}, now.Add(time.Second)); err != errTooManyTickets {
		t.Errorf("add after take = %v, want errTooManyTickets", err)
	}
	later := now.Add(10 * time.Second)
	if err := ts.add(&ticket{id: "e", issued: later}, later); err != nil {
		t.Errorf("add after expiry = %v", err)
	}
	if n := ts.len(); n != 1 {
		t.Errorf("live tickets = %d, want 1", n)
	}
}

func TestSessionStoreBounds(t *testing.T) {
	now := time.UnixMilli(1767600000000)
	ss := newSessionStore(2, 3, time.Hour)
	u := ent.User{Login: "x"}
	for i := range 5 {
		ss.record("tok1", u, sloEntry{service: "s", ticket: strings.Repeat("t", i+1), issued: now}, now)
	}
	es, _, ok := ss.take("tok1", now)
	if !ok || len(es) != 3 || es[0].ticket != "ttt" || es[2].ticket != "ttttt" {
		t.Errorf("take = %v, %v; want the 3 newest entries", es, ok)
	}
	// Entries older than the session TTL are not sent.
	ss.record("tok2", u, sloEntry{service: "s", ticket: "old", issued: now}, now)
	if es, _, _ := ss.take("tok2", now.Add(time.Hour)); len(es) != 0 {
		t.Errorf("take after the session TTL = %v, want none", es)
	}
	// At most max sessions.
	for _, tok := range []string{"a", "b", "c", "d"} {
		ss.record(tok, u, sloEntry{service: "s", ticket: tok, issued: now}, now)
	}
	if n := ss.len(); n != 2 {
		t.Errorf("sessions = %d, want 2", n)
	}
}

func TestLogoutRequestXML(t *testing.T) {
	b, err := logoutRequest("id1", "ST-<&>", time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="LR-id1" Version="2.0" IssueInstant="2026-01-05T08:00:00Z">` +
		`<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">@NOT_USED@</saml:NameID>` +
		`<samlp:SessionIndex>ST-&lt;&amp;&gt;</samlp:SessionIndex></samlp:LogoutRequest>`
	if string(b) != want {
		t.Errorf("logoutRequest =\n%s\nwant\n%s", b, want)
	}
}

func TestPGTStoreBounds(t *testing.T) {
	now := time.UnixMilli(1767600000000)
	ps := newPGTStore(4, 2, time.Hour)
	pgtOf := func(id, token string, issued time.Time) *pgt {
		return &pgt{id: id, key: sessionKey(token), token: token, issued: issued}
	}
	// At most 2 per session: the oldest is dropped.
	for _, id := range []string{"a1", "a2", "a3"} {
		if err := ps.add(pgtOf(id, "tokA", now), now); err != nil {
			t.Fatalf("add %s: %v", id, err)
		}
	}
	for id, want := range map[string]bool{"a1": false, "a2": true, "a3": true} {
		if _, ok := ps.get(id, now); ok != want {
			t.Errorf("get(%s) after a third PGT in the session = %v, want %v", id, ok, want)
		}
	}
	// At most 4 in all; expired ones make room.
	ps.add(pgtOf("b1", "tokB", now.Add(-time.Hour+time.Minute)), now)
	ps.add(pgtOf("c1", "tokC", now), now)
	if err := ps.add(pgtOf("d1", "tokD", now), now); err != errTooManyTickets {
		t.Errorf("add beyond max = %v, want errTooManyTickets", err)
	}
	later := now.Add(time.Minute)
	if err := ps.add(pgtOf("d1", "tokD", later), later); err != nil {
		t.Errorf("add once one expired = %v", err)
	}
	if _, ok := ps.get("b1", later); ok {
		t.Errorf("get of an expired PGT succeeded")
	}
	// A session's logout drops its PGTs, and only those.
	ps.dropSession("tokA")
	if n := ps.len(); n != 2 {
		t.Errorf("PGTs after dropping a session = %d, want 2", n)
	}
	if _, ok := ps.get("c1", later); !ok {
		t.Errorf("another session's PGT was dropped")
	}
	ps.remove("c1")
	ps.remove("d1")
	if len(ps.byID) != 0 || len(ps.bySession) != 0 {
		t.Errorf("empty store still indexes %v, %v", ps.byID, ps.bySession)
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.3.2.1": true, "::1": true,
		"localhost": false, "10.0.0.1": false, "proxy.lycee.example": false, "": false, "::ffff:127.0.0.1": true,
	} {
		if got := loopback(host); got != want {
			t.Errorf("loopback(%q) = %v, want %v", host, got, want)
		}
	}
}
