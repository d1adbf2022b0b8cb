package ent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Lycée administrators, added to the fixture users by the audit tests.
var (
	auditorA = ent.User{ID: "01890000-0000-7000-8000-0000000000a1", Login: "direction.a", Name: "Marie Proviseure", Profile: ent.Personnel, UAI: uaiA, Active: true, Admin: true}
	auditorB = ent.User{ID: "01890000-0000-7000-8000-0000000000b1", Login: "direction.b", Name: "Luc Proviseur", Profile: ent.Personnel, UAI: uaiB, Active: true, Admin: true}
)

func addAuditors(t *testing.T, st *enttest.Store) {
	t.Helper()
	for _, u := range []ent.User{auditorA, auditorB} {
		if err := st.Submit(t.Context(), userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
}

// ignoreStamp ignores what the node mints (id, time, node).
var ignoreStamp = cmpopts.IgnoreFields(ent.AuditEvent{}, "ID", "Time", "Node")

func search(t *testing.T, svc *ent.Service, admin ent.User, q ent.AuditQuery) []ent.AuditEvent {
	t.Helper()
	evs, err := svc.SearchAudit(t.Context(), admin, q)
	if err != nil {
		t.Fatalf("SearchAudit(%s, %+v) error = %v", admin.Login, q, err)
	}
	return evs
}

func TestLoginLeavesAuditTrail(t *testing.T) {
	svc, st, clk := newService(t)
	addAuditors(t, st)
	ctx := t.Context()
	browser := ent.Client{IP: "192.0.2.7", UserAgent: "Mozilla/5.0 Firefox/128.0"}

	if _, _, err := svc.Login(ctx, "eleve.a", "wrong", browser); !errors.Is(err, ent.ErrBadCredentials) {
		t.Fatalf("Login(wrong password) error = %v", err)
	}
	clk.t = clk.t.Add(time.Second)
	if _, _, err := svc.Login(ctx, "eleve.a", "secret", browser); err != nil {
		t.Fatalf("Login(right password) error = %v", err)
	}
	svc.Login(ctx, "ancien.a", "secret", browser)
	svc.Login(ctx, "personne", "secret", browser)

	student := ent.AuditEvent{Login: studentA.Login, UserID: studentA.ID, Profile: ent.Student, UAI: uaiA,
		IP: browser.IP, UserAgent: browser.UserAgent}
	success, failure := student, student
	success.Type = ent.AuditLoginSuccess
	failure.Type, failure.Detail = ent.AuditLoginFailure, ent.AuditBadPassword
	got := search(t, svc, auditorA, ent.AuditQuery{Login: "ELEVE.A"})
	if diff := cmp.Diff([]ent.AuditEvent{success, failure}, got, ignoreStamp); diff != "" {
		t.Errorf("SearchAudit(login eleve.a) mismatch (-want +got):\n%s", diff)
	}
	if len(got) == 2 && (!got[0].Time.Equal(clk.t) || got[0].ID <= got[1].ID) {
		t.Errorf("SearchAudit times = %v, %v (ids %s, %s); want newest first, stamped %v", got[0].Time, got[1].Time, got[0].ID, got[1].ID, clk.t)
	}

	inactive := search(t, svc, auditorA, ent.AuditQuery{Login: "ancien.a"})
	if len(inactive) != 1 || inactive[0].Detail != ent.AuditInactive || inactive[0].Type != ent.AuditLoginFailure {
		t.Errorf("SearchAudit(ancien.a) = %+v, want one failure %q", inactive, ent.AuditInactive)
	}
	// An unknown login at central goes to the Région's trail.
	unknown := search(t, svc, regionUser, ent.AuditQuery{})
	want := []ent.AuditEvent{{Type: ent.AuditLoginFailure, Login: "personne", IP: browser.IP, UserAgent: browser.UserAgent, Detail: ent.AuditUnknownLogin}}
	if diff := cmp.Diff(want, unknown, ignoreStamp); diff != "" {
		t.Errorf("SearchAudit(region trail) mismatch (-want +got):\n%s", diff)
	}

	// Filters.
	if got := search(t, svc, auditorA, ent.AuditQuery{Type: ent.AuditLoginSuccess}); len(got) != 1 || got[0].Login != "eleve.a" {
		t.Errorf("SearchAudit(type success) = %+v, want eleve.a's success", got)
	}
	if got := search(t, svc, auditorA, ent.AuditQuery{To: clk.t}); len(got) != 1 || got[0].Detail != ent.AuditBadPassword {
		t.Errorf("SearchAudit(before the second login) = %+v, want the first failure only", got)
	}
	if got := search(t, svc, auditorA, ent.AuditQuery{From: clk.t.Add(time.Second)}); len(got) != 0 {
		t.Errorf("SearchAudit(after every event) = %+v, want none", got)
	}
	if got := search(t, svc, auditorA, ent.AuditQuery{Limit: 1}); len(got) != 1 {
		t.Errorf("SearchAudit(limit 1) = %d entries, want 1", len(got))
	}
	// Retention: a year later, the entries are no longer shown.
	clk.t = clk.t.Add(ent.AuditRetention + time.Minute)
	if got := search(t, svc, auditorA, ent.AuditQuery{}); len(got) != 0 {
		t.Errorf("SearchAudit a year later = %d entries, want none", len(got))
	}
}

func TestAuditSearchConfined(t *testing.T) {
	svc, st, _ := newService(t)
	addAuditors(t, st)
	ctx := t.Context()
	svc.Audit(ctx, ent.AuditEvent{Type: ent.AuditLoginSuccess, Login: studentA.Login, UAI: uaiA})
	svc.Audit(ctx, ent.AuditEvent{Type: ent.AuditLoginSuccess, Login: studentB.Login, UAI: uaiB})

	for _, c := range []struct {
		who  ent.User
		q    ent.AuditQuery
		want []string // logins seen; nil with code
		code string
	}{
		{who: auditorA, want: []string{studentA.Login}},
		{who: auditorA, q: ent.AuditQuery{UAI: uaiA}, want: []string{studentA.Login}},
		{who: auditorA, q: ent.AuditQuery{UAI: uaiB}, code: "forbidden"},
		{who: auditorB, want: []string{studentB.Login}},
		{who: regionUser, q: ent.AuditQuery{UAI: uaiB}, want: []string{studentB.Login}},
		{who: regionUser, q: ent.AuditQuery{UAI: "nimporte"}, code: "invalid"},
		{who: auditorA, q: ent.AuditQuery{Type: "autre"}, code: "invalid"},
		{who: studentA, code: "forbidden"},
		{who: staffA, code: "forbidden"}, // staff, not an administrator
		{who: teacherB, q: ent.AuditQuery{UAI: uaiB}, code: "forbidden"},
	} {
		evs, err := svc.SearchAudit(ctx, c.who, c.q)
		if code(err) != c.code {
			t.Errorf("SearchAudit(%s, %+v) error = %v, want %q", c.who.Login, c.q, err, c.code)
			continue
		}
		var logins []string
		for _, ev := range evs {
			logins = append(logins, ev.Login)
		}
		if diff := cmp.Diff(c.want, logins); diff != "" {
			t.Errorf("SearchAudit(%s, %+v) logins mismatch (-want +got):\n%s", c.who.Login, c.q, diff)
		}
	}
	if r, ok := record.AsRejection(mustErr(svc.SearchAudit(ctx, studentA, ent.AuditQuery{}))); !ok || !strings.Contains(r.Message, "administrateurs") {
		t.Errorf("SearchAudit(student) refusal = %v, want a French message naming the administrators", r)
	}
}

func mustErr(_ []ent.AuditEvent, err error) error { return err }

func auditCmd(t *testing.T, origin, partition string, ev ent.AuditEvent) record.Command {
	return record.Command{Origin: origin, Op: ent.OpAuditRecord, Partition: partition, Args: mustJSON(t, ev), Time: t0}
}

func TestExecAuditRecord(t *testing.T) {
	at := time.UnixMilli(t0).UTC()
	ev := func(uai string) ent.AuditEvent {
		return ent.AuditEvent{ID: "01890000-0000-7000-8000-00000000e001", Type: ent.AuditLoginFailure, Time: at,
			Login: "eleve.a", UAI: uai, IP: "192.0.2.7", Detail: ent.AuditBadPassword}
	}
	withUser := auditCmd(t, uaiA, uaiA, ev(uaiA))
	withUser.User = studentA.ID
	badType, badID, noTime, longUA, badUAI := ev(uaiA), ev(uaiA), ev(uaiA), ev(uaiA), ev("nimporte")
	badType.Type = "connexion"
	badID.ID = "42"
	noTime.Time = time.Time{}
	longUA.UserAgent = strings.Repeat("x", 600)

	tests := []struct {
		name      string
		cmd       record.Command
		code      string
		partition string // where the entry is written when accepted
	}{
		{"central, a lycée's event", auditCmd(t, record.OriginCentral, uaiA, ev(uaiA)), "", "audit:" + uaiA},
		{"central, an unknown login", auditCmd(t, record.OriginCentral, record.Region, ev("")), "", "audit:region"},
		{"edge, its own lycée", auditCmd(t, uaiA, uaiA, ev(uaiA)), "", "audit:" + uaiA},
		{"edge, another lycée", auditCmd(t, uaiA, uaiB, ev(uaiB)), "forbidden", ""},
		{"edge, another lycée's event in its partition", auditCmd(t, uaiA, uaiA, ev(uaiB)), "invalid", ""},
		{"edge, the Région's trail", auditCmd(t, uaiA, record.Region, ev("")), "forbidden", ""},
		{"central, partition not the event's", auditCmd(t, record.OriginCentral, uaiB, ev(uaiA)), "invalid", ""},
		{"a user's command", withUser, "forbidden", ""},
		{"unknown type", auditCmd(t, uaiA, uaiA, badType), "invalid", ""},
		{"bad id", auditCmd(t, uaiA, uaiA, badID), "invalid", ""},
		{"no time", auditCmd(t, uaiA, uaiA, noTime), "invalid", ""},
		{"user agent too long", auditCmd(t, uaiA, uaiA, longUA), "invalid", ""},
		{"bad UAI", auditCmd(t, record.OriginCentral, "nimporte", badUAI), "invalid", ""},
		{"malformed", record.Command{Origin: uaiA, Op: ent.OpAuditRecord, Partition: uaiA, Args: []byte("{"), Time: t0}, "invalid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := &countingTx{Tx: fixtureTx(t)}
			err := ent.Exec(tx, tt.cmd)
			if code(err) != tt.code {
				t.Fatalf("Exec(%s) error = %v, want %q", tt.name, err, tt.code)
			}
			if tt.code != "" {
				if tx.puts != 0 {
					t.Errorf("Exec(%s) refused but wrote %d records", tt.name, tx.puts)
				}
				return
			}
			var e ent.AuditEvent
			rec, ok, _ := tx.Get(tt.partition, "01890000-0000-7000-8000-00000000e001")
			if !ok || rec.Kind != ent.KindAudit {
				t.Fatalf("Exec(%s): no audit record in %s (got %+v)", tt.name, tt.partition, rec)
			}
			jsonUnmarshal(t, rec.Body, &e)
			if e.Login != "eleve.a" || e.IP != "192.0.2.7" || !e.Time.Equal(at) {
				t.Errorf("stored event = %+v, want eleve.a from 192.0.2.7 at %v", e, at)
			}
			// Replaying the command is a no-op.
			before := tx.puts
			if err := ent.Exec(tx, tt.cmd); err != nil || tx.puts != before {
				t.Errorf("Exec(replay) = %v with %d writes, want nil and none", err, tx.puts-before)
			}
		})
	}
}

func jsonUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestAuditAtEdge: at an edge an event without a UAI goes to the edge's
// lycée's trail, in a command the replication server accepts (partition =
// the edge's UAI, no user).
func TestAuditAtEdge(t *testing.T) {
	st := enttest.New(ent.Exec)
	svc, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: uaiA, Node: "edge-thiers",
		SessionKey: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	svc.Login(t.Context(), "inconnu", "x", ent.Client{IP: "10.0.0.9", UserAgent: "Chrome"})
	cmds := st.Commands()
	if len(cmds) != 1 {
		t.Fatalf("commands after a failed login at the edge = %d, want 1", len(cmds))
	}
	if c := cmds[0]; c.Op != ent.OpAuditRecord || c.Partition != uaiA || c.Origin != uaiA || c.User != "" {
		t.Errorf("audit command = %+v, want %s in partition %s from %s without a user", c, ent.OpAuditRecord, uaiA, uaiA)
	}
	recs := st.Records()
	if len(recs) != 1 || recs[0].Partition != "audit:"+uaiA {
		t.Fatalf("records = %+v, want one in audit:%s", recs, uaiA)
	}
	var ev ent.AuditEvent
	jsonUnmarshal(t, recs[0].Body, &ev)
	want := ent.AuditEvent{Type: ent.AuditLoginFailure, Login: "inconnu", UAI: uaiA, IP: "10.0.0.9", UserAgent: "Chrome",
		Detail: ent.AuditUnknownLogin, Node: "edge-thiers"}
	if diff := cmp.Diff(want, ev, cmpopts.IgnoreFields(ent.AuditEvent{}, "ID", "Time")); diff != "" {
		t.Errorf("edge audit event mismatch (-want +got):\n%s", diff)
	}
}

// A throttled login is recorded, but once a minute per login and address
// however often the client tries.
func TestAuditThrottledLogins(t *testing.T) {
	svc, st, clk := newService(t)
	addAuditors(t, st)
	ctx := t.Context()
	c := ent.Client{IP: "198.51.100.1"}
	throttled := 0
	for range 12 {
		if _, _, err := svc.Login(ctx, "eleve.a", "wrong", c); errors.Is(err, ent.ErrTooManyAttempts) {
			throttled++
		}
	}
	if throttled < 5 {
		t.Fatalf("throttled attempts = %d, want the last ones refused", throttled)
	}
	count := func() int {
		n := 0
		for _, ev := range search(t, svc, auditorA, ent.AuditQuery{Login: "eleve.a"}) {
			if ev.Detail == ent.AuditTooManyAttempts && ev.UAI == uaiA {
				n++
			}
		}
		return n
	}
	if got := count(); got != 1 {
		t.Errorf("entries %q after %d throttled attempts = %d, want 1", ent.AuditTooManyAttempts, throttled, got)
	}
	// A minute later the wait is over: one more wrong password, then
	// refusals again, of which the first is recorded.
	clk.t = clk.t.Add(time.Minute)
	for range 3 {
		svc.Login(ctx, "eleve.a", "wrong", c)
	}
	if got := count(); got != 2 {
		t.Errorf("entries %q a minute later = %d, want 2", ent.AuditTooManyAttempts, got)
	}
}

// failingAudit refuses audit commands, as a store cut off from raft would.
type failingAudit struct{ *enttest.Store }

func (f failingAudit) Submit(ctx context.Context, cmd record.Command) error {
	if cmd.Op == ent.OpAuditRecord {
		return errors.New("no leader")
	}
	return f.Store.Submit(ctx, cmd)
}

// An audit trail that cannot be written does not stop people logging in;
// the failure is logged.
func TestAuditFailureDoesNotBlockLogin(t *testing.T) {
	_, st, _ := newService(t)
	var logs bytes.Buffer
	svc, err := ent.NewService(ent.ServiceConfig{Store: failingAudit{st}, Origin: record.OriginCentral,
		SessionKey: []byte(strings.Repeat("k", 32)), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Login(t.Context(), "eleve.a", "secret", ent.Client{}); err != nil {
		t.Fatalf("Login with the audit trail failing = %v, want success", err)
	}
	if !strings.Contains(logs.String(), "record audit event") || !strings.Contains(logs.String(), "no leader") {
		t.Errorf("logs = %q, want the audit failure", logs.String())
	}
}

func TestAuditTruncatesLongFields(t *testing.T) {
	svc, st, _ := newService(t)
	addAuditors(t, st)
	long := strings.Repeat("é", 1000)
	svc.Audit(t.Context(), ent.AuditEvent{Type: ent.AuditLoginFailure, Login: long, UserAgent: long, UAI: uaiA})
	got := search(t, svc, auditorA, ent.AuditQuery{})
	if len(got) != 1 {
		t.Fatalf("entries after an event with long fields = %d, want 1 (truncated, not refused)", len(got))
	}
	if n := len([]rune(got[0].UserAgent)); n != 512 {
		t.Errorf("stored user agent = %d characters, want 512", n)
	}
}

// v7ID returns a UUIDv7 minted at unix millisecond ms, told apart by n.
func v7ID(ms int64, n int) string {
	return fmt.Sprintf("%08x-%04x-7000-8000-%012x", ms>>16, ms&0xffff, n)
}

const day = int64(24 * time.Hour / time.Millisecond)

// auditEntry is a failed login of eleve.a in lycée uai's trail, minted
// (id) at mintedMs and happened (event time) at atMs.
func auditEntry(t testing.TB, uai string, n int, mintedMs, atMs int64) record.Record {
	ev := ent.AuditEvent{ID: v7ID(mintedMs, n), Type: ent.AuditLoginFailure, Time: time.UnixMilli(atMs).UTC(),
		Login: "eleve.a", UAI: uai, IP: "192.0.2.7", Detail: ent.AuditBadPassword}
	return record.Record{Partition: record.AuditPartition(uai), ID: ev.ID, Kind: ent.KindAudit, Body: mustJSON(t, ev)}
}

func purgeCmd(t testing.TB, origin, partition string, a ent.AuditPurgeArgs) record.Command {
	return record.Command{Origin: origin, Op: ent.OpAuditPurge, Partition: partition, Args: mustJSON(t, a), Time: t0}
}

// live lists the ids of the live records of partition, oldest first.
func live(t testing.TB, r record.Reader, partition string) []string {
	t.Helper()
	var ids []string
	if err := r.Scan(partition, ent.KindAudit, func(rec record.Record) error {
		ids = append([]string{rec.ID}, ids...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestExecAuditPurgeRefusals(t *testing.T) {
	trailA := record.AuditPartition(uaiA)
	cutoff := t0 - ent.AuditRetention.Milliseconds()
	ok := ent.AuditPurgeArgs{Partition: trailA, Before: cutoff, Limit: 10}
	with := func(f func(*ent.AuditPurgeArgs)) ent.AuditPurgeArgs { a := ok; f(&a); return a }
	withUser := purgeCmd(t, record.OriginCentral, trailA, ok)
	withUser.User = auditorA.ID
	tests := []struct {
		name string
		cmd  record.Command
		code string
	}{
		{"operator", purgeCmd(t, record.OriginCentral, trailA, ok), ""},
		{"the Région's trail", purgeCmd(t, record.OriginCentral, "audit:region", with(func(a *ent.AuditPurgeArgs) { a.Partition = "audit:region" })), ""},
		{"limit at most", purgeCmd(t, record.OriginCentral, trailA, with(func(a *ent.AuditPurgeArgs) { a.Limit = ent.MaxAuditPurge })), ""},
		{"from the lycée's edge", purgeCmd(t, uaiA, trailA, ok), "forbidden"},
		{"from the lycée's edge, its partition", purgeCmd(t, uaiA, uaiA, ok), "forbidden"},
		{"a user's command", withUser, "forbidden"},
		{"not an audit partition", purgeCmd(t, record.OriginCentral, uaiA, with(func(a *ent.AuditPurgeArgs) { a.Partition = uaiA })), "invalid"},
		{"audit of a bad UAI", purgeCmd(t, record.OriginCentral, "audit:nimporte", with(func(a *ent.AuditPurgeArgs) { a.Partition = "audit:nimporte" })), "invalid"},
		{"command in another partition", purgeCmd(t, record.OriginCentral, record.AuditPartition(uaiB), ok), "invalid"},
		{"no limit", purgeCmd(t, record.OriginCentral, trailA, with(func(a *ent.AuditPurgeArgs) { a.Limit = 0 })), "invalid"},
		{"limit too large", purgeCmd(t, record.OriginCentral, trailA, with(func(a *ent.AuditPurgeArgs) { a.Limit = ent.MaxAuditPurge + 1 })), "invalid"},
		{"no cutoff", purgeCmd(t, record.OriginCentral, trailA, with(func(a *ent.AuditPurgeArgs) { a.Before = 0 })), "invalid"},
		{"cutoff within the year", purgeCmd(t, record.OriginCentral, trailA, with(func(a *ent.AuditPurgeArgs) { a.Before = cutoff + 1 })), "forbidden"},
		{"malformed", record.Command{Origin: record.OriginCentral, Op: ent.OpAuditPurge, Partition: trailA, Args: []byte("{"), Time: t0}, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := &countingTx{Tx: fixtureTx(t)}
			old := auditEntry(t, uaiA, 1, t0-400*day, t0-400*day)
			if err := tx.Put(old); err != nil {
				t.Fatal(err)
			}
			tx.puts = 0
			err := ent.Exec(tx, tt.cmd)
			if code(err) != tt.code {
				t.Fatalf("Exec(%s) error = %v, want %q", tt.name, err, tt.code)
			}
			if tt.code != "" && tx.puts != 0 {
				t.Errorf("Exec(%s) refused but wrote %d records", tt.name, tx.puts)
			}
		})
	}
}

func TestExecAuditPurge(t *testing.T) {
	trailA, trailB := record.AuditPartition(uaiA), record.AuditPartition(uaiB)
	tx := &countingTx{Tx: fixtureTx(t)}
	old := t0 - 400*day
	var oldA []string
	for i := range 5 {
		r := auditEntry(t, uaiA, i, old+int64(i)*60_000, old+int64(i)*60_000)
		oldA = append(oldA, r.ID)
		tx.Put(r)
	}
	kept := []record.Record{
		auditEntry(t, uaiA, 10, t0-300*day, t0-300*day), // within the year
		auditEntry(t, uaiA, 11, t0-day, t0-day),
		auditEntry(t, uaiA, 12, old, t0-day), // minted long ago, happened recently: its time decides
		auditEntry(t, uaiB, 13, old, old),    // another lycée's trail
	}
	for _, r := range kept {
		tx.Put(r)
	}
	want := func(ids ...string) []string { return ids }
	keptA := want(kept[2].ID, kept[0].ID, kept[1].ID) // oldest id first
	tx.puts = 0

	purge := purgeCmd(t, record.OriginCentral, trailA, ent.AuditPurgeArgs{Partition: trailA, Before: t0 - ent.AuditRetention.Milliseconds(), Limit: 3})
	if err := ent.Exec(tx, purge); err != nil {
		t.Fatalf("Exec(purge, limit 3) = %v", err)
	}
	if tx.puts != 3 {
		t.Errorf("Exec(purge, limit 3) wrote %d records, want 3", tx.puts)
	}
	// The oldest three went first.
	if diff := cmp.Diff(append(append([]string{}, keptA[:1]...), append(oldA[3:], keptA[1:]...)...), live(t, tx, trailA)); diff != "" {
		t.Errorf("live entries after the first purge (-want +got):\n%s", diff)
	}
	for _, id := range oldA[:3] {
		rec, ok, _ := tx.Get(trailA, id)
		if !ok || !rec.Deleted || rec.Body != nil {
			t.Errorf("Get(%s) after purge = %+v, %v, want a tombstone without body", id, rec, ok)
		}
	}
	if err := ent.Exec(tx, purge); err != nil {
		t.Fatalf("Exec(purge again) = %v", err)
	}
	if diff := cmp.Diff(keptA, live(t, tx, trailA)); diff != "" {
		t.Errorf("live entries after the second purge (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want(kept[3].ID), live(t, tx, trailB)); diff != "" {
		t.Errorf("lycée B's trail after purging A's (-want +got):\n%s", diff)
	}
	// Nothing is left to purge: replaying the command writes nothing.
	before := tx.puts
	if err := ent.Exec(tx, purge); err != nil || tx.puts != before {
		t.Errorf("Exec(replay) = %v with %d writes, want nil and none", err, tx.puts-before)
	}
}

// seedExec executes ent.Exec's commands, and "test.seed" commands whose
// args are records written as they are (to fill a trail quickly).
func seedExec(tx record.Tx, cmd record.Command) error {
	if cmd.Op != "test.seed" {
		return ent.Exec(tx, cmd)
	}
	var recs []record.Record
	if err := json.Unmarshal(cmd.Args, &recs); err != nil {
		return err
	}
	for _, r := range recs {
		if err := tx.Put(r); err != nil {
			return err
		}
	}
	return nil
}

// PurgeAudit submits as many commands as it takes, and leaves the entries
// of the year.
func TestPurgeAudit(t *testing.T) {
	trailA := record.AuditPartition(uaiA)
	st := enttest.New(seedExec)
	var recs []record.Record
	n := ent.MaxAuditPurge + 7
	old := t0 - 2*366*day
	for i := range n {
		ms := old + int64(i)*1000
		recs = append(recs, auditEntry(t, uaiA, i, ms, ms))
	}
	recent := auditEntry(t, uaiA, n, t0-day, t0-day)
	recs = append(recs, recent)
	if err := st.Submit(t.Context(), record.Command{Op: "test.seed", Args: mustJSON(t, recs), Time: t0}); err != nil {
		t.Fatal(err)
	}

	got, err := ent.PurgeAudit(t.Context(), st, trailA, time.UnixMilli(t0))
	if err != nil || got != n {
		t.Fatalf("PurgeAudit = %d, %v, want %d, nil", got, err, n)
	}
	var purges int
	for _, c := range st.Commands() {
		if c.Op == ent.OpAuditPurge {
			purges++
		}
	}
	if purges != 2 {
		t.Errorf("audit.purge commands = %d, want 2 (%d entries, %d per command)", purges, n, ent.MaxAuditPurge)
	}
	st.View(func(r record.Reader) error {
		if diff := cmp.Diff([]string{recent.ID}, live(t, r, trailA)); diff != "" {
			t.Errorf("live entries after PurgeAudit (-want +got):\n%s", diff)
		}
		return nil
	})
	// Nothing is left: another run submits nothing.
	if got, err := ent.PurgeAudit(t.Context(), st, trailA, time.UnixMilli(t0)); err != nil || got != 0 {
		t.Errorf("PurgeAudit again = %d, %v, want 0, nil", got, err)
	}
	if _, err := ent.PurgeAudit(t.Context(), st, uaiA, time.UnixMilli(t0)); err == nil {
		t.Errorf("PurgeAudit(%s) = nil error, want a refusal: not an audit partition", uaiA)
	}
}

func TestAuditExpired(t *testing.T) {
	cutoff := time.UnixMilli(t0)
	entry := func(at int64) record.Record { return auditEntry(t, uaiA, 1, at, at) }
	tomb := entry(t0 - 1)
	tomb.Deleted = true
	other := entry(t0 - 1)
	other.Kind = ent.KindNews
	bad := entry(t0 - 1)
	bad.Body = []byte("{")
	tests := []struct {
		name string
		rec  record.Record
		want bool
	}{
		{"before the cutoff", entry(t0 - 1), true},
		{"at the cutoff", entry(t0), false},
		{"after", entry(t0 + 1), false},
		{"tombstone", tomb, false},
		{"not an audit entry", other, false},
		{"undecodable", bad, false},
	}
	for _, tt := range tests {
		if got := ent.AuditExpired(tt.rec, cutoff); got != tt.want {
			t.Errorf("AuditExpired(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
