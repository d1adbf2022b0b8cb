package ent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/ent/uai"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

// usageNodes returns the Service of a central node and of uaiA's edge on
// one store (the edge's commands carry its origin), with the region's key
// written.
func usageNodes(t *testing.T) (central, edge *ent.Service, st *enttest.Store) {
	t.Helper()
	central, st, _ = newService(t)
	addAuditors(t, st)
	if err := central.EnsureUsageKey(t.Context()); err != nil {
		t.Fatalf("EnsureUsageKey: %v", err)
	}
	edge, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: uaiA, SessionKey: []byte(strings.Repeat("e", 32)), Node: "edge-" + uaiA})
	if err != nil {
		t.Fatal(err)
	}
	return central, edge, st
}

func newCounter(t *testing.T, svc *ent.Service, node string) *ent.UsageCounter {
	t.Helper()
	c, err := ent.NewUsageCounter(ent.UsageCounterConfig{Service: svc, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func usageRows(t *testing.T, svc *ent.Service, u ent.User, from, to, uai string) []ent.UsageRow {
	t.Helper()
	rows, err := svc.Usage(t.Context(), u, from, to, uai)
	if err != nil {
		t.Fatalf("Usage(%s, %s, %s, %q) error = %v", u.Login, from, to, uai, err)
	}
	return rows
}

func TestUsageCountsVisitsAndVisitorsAcrossNodes(t *testing.T) {
	central, edge, _ := usageNodes(t)
	atCentral, atEdge := newCounter(t, central, "c1"), newCounter(t, edge, "edge-"+uaiA)
	// 23:30 in Paris on 14 March is 22:30 UTC: the Paris day counts.
	evening := time.Date(2025, 3, 14, 22, 30, 0, 0, time.UTC)
	atCentral.Count(studentA, ent.UsageHomework, evening)
	atCentral.Count(studentA, ent.UsageHomework, evening.Add(time.Minute))
	atEdge.Count(studentA, ent.UsageHomework, evening.Add(-10*time.Hour))
	atEdge.Count(teacherA, ent.UsageHomework, evening.Add(-10*time.Hour))
	atEdge.Count(teacherA, ent.UsageGrades, evening.Add(-9*time.Hour))
	atCentral.Count(studentB, ent.UsageHome, evening.Add(time.Hour)) // 00:30 on the 15th in Paris
	atCentral.Count(regionUser, ent.UsageNews, evening)              // Région staff: not counted
	atCentral.Count(studentA, "Inconnu", evening)                    // not a service
	for _, c := range []*ent.UsageCounter{atCentral, atEdge} {
		if err := c.Flush(t.Context()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	got := append(usageRows(t, central, regionUser, "2025-03-01", "2025-03-31", uaiA),
		usageRows(t, central, regionUser, "2025-03-01", "2025-03-31", uaiB)...)
	want := []ent.UsageRow{
		{Day: "2025-03-14", UAI: uaiA, Profile: ent.Student, Service: ent.UsageHomework, Visits: 3, Visitors: 1},
		{Day: "2025-03-14", UAI: uaiA, Profile: ent.Teacher, Service: ent.UsageHomework, Visits: 1, Visitors: 1},
		{Day: "2025-03-14", UAI: uaiA, Profile: ent.Teacher, Service: ent.UsageGrades, Visits: 1, Visitors: 1},
		{Day: "2025-03-15", UAI: uaiB, Profile: ent.Student, Service: ent.UsageHome, Visits: 1, Visitors: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Usage(region, March) mismatch (-want +got):\n%s", diff)
	}
}

func TestUsageFlushIsIdempotent(t *testing.T) {
	central, _, st := usageNodes(t)
	c := newCounter(t, central, "c1")
	at := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	c.Count(studentA, ent.UsageMail, at)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var flush record.Command
	for _, cmd := range st.Commands() {
		if cmd.Op == ent.OpUsageRecord {
			flush = cmd
		}
	}
	// The same command again (a retransmission), then one with a lower
	// sequence (a retry that lost the race): neither counts.
	if err := st.Submit(t.Context(), flush); err != nil {
		t.Fatalf("resubmit flush: %v", err)
	}
	var f ent.UsageFlush
	json.Unmarshal(flush.Args, &f)
	f.Seq--
	older := flush
	older.Args, _ = json.Marshal(f)
	if err := st.Submit(t.Context(), older); err != nil {
		t.Fatalf("submit older flush: %v", err)
	}
	got := usageRows(t, central, auditorA, "2025-03-14", "2025-03-14", "")
	want := []ent.UsageRow{{Day: "2025-03-14", UAI: uaiA, Profile: ent.Student, Service: ent.UsageMail, Visits: 1, Visitors: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Usage after a re-sent flush mismatch (-want +got):\n%s", diff)
	}
	// A later flush adds up.
	c.Count(studentA, ent.UsageMail, at)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got = usageRows(t, central, auditorA, "2025-03-14", "2025-03-14", "")
	if len(got) != 1 || got[0].Visits != 2 || got[0].Visitors != 1 {
		t.Errorf("Usage after a second flush = %+v, want 2 visits by 1 visitor", got)
	}
}

func TestUsageRecordsHoldNoIdentity(t *testing.T) {
	central, _, st := usageNodes(t)
	c := newCounter(t, central, "c1")
	c.Count(studentA, ent.UsageGrades, time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC))
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range st.Records() {
		if rec.Partition != record.UsagePartition(uaiA) {
			continue
		}
		n++
		for _, secret := range []string{studentA.ID, studentA.Login, studentA.Name} {
			if bytes.Contains(rec.Body, []byte(secret)) {
				t.Errorf("usage record %s holds %q: %s", rec.ID, secret, rec.Body)
			}
		}
	}
	if n != 2 { // the day's counts and its pseudonyms
		t.Errorf("usage records of %s = %d, want 2", uaiA, n)
	}
	for _, cmd := range st.Commands() {
		if cmd.Op == ent.OpUsageRecord && (bytes.Contains(cmd.Args, []byte(studentA.ID)) || cmd.User != "") {
			t.Errorf("usage command carries the user: %+v %s", cmd, cmd.Args)
		}
	}
	// Pseudonyms are keyed and change with the day.
	k1, k2 := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	if ent.Pseudonym(k1, "2025-03-14", studentA.ID) == ent.Pseudonym(k2, "2025-03-14", studentA.ID) ||
		ent.Pseudonym(k1, "2025-03-14", studentA.ID) == ent.Pseudonym(k1, "2025-03-15", studentA.ID) {
		t.Error("Pseudonym does not depend on the key and the day")
	}
}

func TestUsageRights(t *testing.T) {
	central, _, _ := usageNodes(t)
	for _, tc := range []struct {
		who  ent.User
		uai  string
		want string // rejection code, "" for allowed
	}{
		{regionUser, "", ""},
		{regionUser, uaiB, ""},
		{auditorA, "", ""},
		{auditorA, uaiA, ""},
		{auditorA, uaiB, "forbidden"},
		{studentA, "", "forbidden"},
		{teacherA, uaiA, "forbidden"},
		{staffA, uaiA, "forbidden"}, // staff, not the direction
		{regionUser, "nope", "invalid"},
	} {
		_, err := central.Usage(t.Context(), tc.who, "2025-03-01", "2025-03-31", tc.uai)
		var rej *record.Rejection
		got := ""
		if errors.As(err, &rej) {
			got = rej.Code
		} else if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Usage(%s, uai %q) error = %v, want %q", tc.who.Login, tc.uai, err, tc.want)
		}
	}
	for _, r := range [][2]string{{"2025-03-31", "2025-03-01"}, {"2025-3-1", "2025-03-31"}, {"2024-01-01", "2025-03-31"}} {
		if _, err := central.Usage(t.Context(), regionUser, r[0], r[1], ""); err == nil {
			t.Errorf("Usage(%s, %s) error = nil, want a refusal", r[0], r[1])
		}
	}
}

func TestUsageRecordRefusesUsersAndOtherLycees(t *testing.T) {
	_, _, st := usageNodes(t)
	f := ent.UsageFlush{UAI: uaiA, Node: "edge-x", Seq: 1, Days: []ent.UsageDay{{Day: "2025-03-14",
		Cells: []ent.UsageCell{{Profile: ent.Student, Service: ent.UsageBlog, Visits: 1}}}}}
	args, _ := json.Marshal(f)
	for _, cmd := range []record.Command{
		{Origin: uaiA, User: studentA.ID, Op: ent.OpUsageRecord, Partition: uaiA, Args: args, Time: 1},
		{Origin: uaiB, Op: ent.OpUsageRecord, Partition: uaiA, Args: args, Time: 1},
		{Origin: uaiA, Op: ent.OpUsageRecord, Partition: uaiB, Args: args, Time: 1},
	} {
		var rej *record.Rejection
		if err := st.Submit(t.Context(), cmd); !errors.As(err, &rej) {
			t.Errorf("Submit(usage.record from %s by %q for %s) error = %v, want a rejection", cmd.Origin, cmd.User, cmd.Partition, err)
		}
	}
}

// BenchmarkUsageMonth reads a month of 200 lycées, as Région staff: per
// lycée and day a central node's and an edge's record, each with 450
// visits over 14 services and 4 profiles (half of the visitors seen at
// both nodes).
func BenchmarkUsageMonth(b *testing.B) {
	st := enttest.New(ent.Exec)
	ctx := context.Background()
	var parts []string
	newSvc := func(origin string) *ent.Service {
		svc, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: origin, SessionKey: []byte(strings.Repeat("k", 32)),
			Node: "node-" + origin, Partitions: func() ([]string, error) { return parts, nil }})
		if err != nil {
			b.Fatal(err)
		}
		return svc
	}
	central := newSvc(record.OriginCentral)
	if err := central.EnsureUsageKey(ctx); err != nil {
		b.Fatal(err)
	}
	profiles := []string{ent.Student, ent.Teacher, ent.Relative, ent.Personnel}
	for i := range 200 {
		digits := fmt.Sprintf("%07d", 1300000+i)
		l := digits + string(uai.CheckLetter(digits))
		parts = append(parts, record.UsagePartition(l))
		for n, svc := range []*ent.Service{central, newSvc(l)} {
			c, err := ent.NewUsageCounter(ent.UsageCounterConfig{Service: svc})
			if err != nil {
				b.Fatal(err)
			}
			for day := 1; day <= 30; day++ {
				for v := range 450 {
					u := ent.User{ID: fmt.Sprintf("01890000-0000-7000-8000-%012d", v+n*225), Profile: profiles[v%4], UAI: l, Active: true}
					c.Count(u, ent.UsageServices[(v/4)%len(ent.UsageServices)], time.Date(2025, 4, day, 10, 0, 0, 0, time.UTC))
				}
			}
			if err := c.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	region := ent.User{ID: "01890000-0000-7000-8000-000000000008", Login: "agent", Profile: ent.Region, Active: true}
	b.ResetTimer()
	b.ReportAllocs()
	for range b.N {
		rows, err := central.Usage(ctx, region, "2025-04-01", "2025-04-30", "")
		if err != nil || len(rows) != 200*30*56 {
			b.Fatalf("Usage = %d rows, %v; want %d", len(rows), err, 200*30*56)
		}
	}
}
