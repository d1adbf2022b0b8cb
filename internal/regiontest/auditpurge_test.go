package regiontest_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// mintedAt returns a UUIDv7 minted at t, told apart by n: the id an event
// recorded at t carries.
func mintedAt(t time.Time, n int) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%08x-%04x-7000-8000-%012x", ms>>16, ms&0xffff, n)
}

// auditRecordCmd records, as central's operator path does, a failed login
// of login that happened at `at`.
func auditRecordCmd(tb testing.TB, uai, login string, at time.Time, n int) (record.Command, string) {
	tb.Helper()
	ev := ent.AuditEvent{ID: mintedAt(at, n), Type: ent.AuditLoginFailure, Time: at.UTC().Truncate(time.Millisecond),
		Node: "central-1", Login: login, UAI: uai, IP: "192.0.2.40", Detail: ent.AuditBadPassword}
	args, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	partition := uai
	if uai == "" {
		partition = record.Region
	}
	return record.Command{Op: ent.OpAuditRecord, Partition: partition, Args: args, Time: at.UnixMilli()}, ev.ID
}

// state returns the record id of partition at central node i: "live",
// "tombstone" or "absent".
func state(tb testing.TB, r *regiontest.Region, i int, partition, id string) string {
	tb.Helper()
	var s string
	err := r.Central(i).Node.View(func(rd record.Reader) error {
		rec, ok, err := rd.Get(partition, id)
		switch {
		case err != nil:
			return err
		case !ok:
			s = "absent"
		case rec.Deleted:
			s = "tombstone"
		default:
			s = "live"
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Audit entries older than a year go: at central through the leader's
// purge commands, on every node; at the edge, the copies it recorded
// itself. The entries of the year stay, and the lycée's direction still
// reads them.
func TestAuditPurge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{NoEdges: true})
	ctx := t.Context()
	e := r.AddEdge(lyceeA)
	r.WaitSynced(lyceeA)
	now := time.Now()
	longAgo, lastYear := now.Add(-400*24*time.Hour), now.Add(-300*24*time.Hour)
	trailA, trailRegion := record.AuditPartition(lyceeA), record.AuditPartition("")

	// The edge recorded two failed logins 400 days ago (its clock said
	// so); they reached central.
	var edgeOld []string
	for i := range 2 {
		cmd, id := auditRecordCmd(t, lyceeA, "purge.edge", longAgo.Add(time.Duration(i)*time.Minute), i)
		if err := e.Node.Store().Submit(ctx, cmd); err != nil {
			t.Fatalf("record an old event at the edge: %v", err)
		}
		edgeOld = append(edgeOld, id)
	}
	r.WaitSynced(lyceeA)

	// Central recorded, through the operator API, two old events of lycée
	// A, an old one of the Région's trail, and one of 300 days ago.
	var cmds []record.Command
	var centralOld []string
	for i, uai := range []string{lyceeA, lyceeA, ""} {
		cmd, id := auditRecordCmd(t, uai, "purge.central", longAgo.Add(time.Duration(i)*time.Second), 10+i)
		cmds = append(cmds, cmd)
		centralOld = append(centralOld, id)
	}
	recent, recentID := auditRecordCmd(t, lyceeA, "purge.central", lastYear, 20)
	cmds = append(cmds, recent)
	res, err := r.Admin().Commands(ctx, cmds)
	if err != nil || len(res.Rejected) > 0 || res.Applied != len(cmds) {
		t.Fatalf("POST /api/v1/admin/commands (audit.record) = %+v, %v; want %d applied", res, err, len(cmds))
	}
	oldA := append(append([]string{}, edgeOld...), centralOld[:2]...)
	leader := r.Leader()
	for _, id := range oldA {
		if s := state(t, r, leader, trailA, id); s != "live" {
			t.Fatalf("old entry %s at the leader before the purge is %s, want live", id, s)
		}
	}

	purged, err := r.Central(leader).PurgeAudit(ctx, now)
	if err != nil || purged != 5 {
		t.Fatalf("PurgeAudit(now) = %d, %v; want 5 (4 of %s, 1 of the Région), nil", purged, err, lyceeA)
	}
	// Every central node applied it.
	for i := range 3 {
		regiontest.Eventually(t, 10*time.Second, func() error {
			for _, id := range oldA {
				if s := state(t, r, i, trailA, id); s != "tombstone" {
					return fmt.Errorf("central-%d: old entry %s of %s is %s, want tombstone", i+1, id, lyceeA, s)
				}
			}
			if s := state(t, r, i, trailRegion, centralOld[2]); s != "tombstone" {
				return fmt.Errorf("central-%d: old entry of the Région is %s, want tombstone", i+1, s)
			}
			if s := state(t, r, i, trailA, recentID); s != "live" {
				return fmt.Errorf("central-%d: the 300-day-old entry is %s, want live", i+1, s)
			}
			return nil
		})
	}
	if again, err := r.Central(leader).PurgeAudit(ctx, now); err != nil || again != 0 {
		t.Errorf("PurgeAudit(now) again = %d, %v; want 0, nil", again, err)
	}
	// The direction still reads the entry of the year, at central.
	direction := login(t, r.AnyCentral().URL(), account(r, lyceeA, ent.Personnel))
	evs, err := searchAudit(t, r.AnyCentral().URL(), direction, url.Values{"login": {"purge.central"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ID != recentID {
		t.Errorf("central journal of purge.central after the purge = %+v, want the 300-day-old entry only", evs)
	}

	// The edge still holds its own copies until it purges them.
	inEdge := func(id string) bool {
		var ok bool
		e.Node.Store().View(func(rd record.Reader) error {
			_, ok, _ = rd.Get(trailA, id)
			return nil
		})
		return ok
	}
	for _, id := range edgeOld {
		if !inEdge(id) {
			t.Fatalf("edge lost old entry %s before its own purge", id)
		}
	}
	if n, err := e.PurgeAudit(now); err != nil || n != 2 {
		t.Fatalf("edge PurgeAudit(now) = %d, %v; want 2, nil", n, err)
	}
	for _, id := range edgeOld {
		if inEdge(id) {
			t.Errorf("edge still holds old entry %s after its purge", id)
		}
	}
	// The entries of the day (the direction's logins) stay at the edge.
	atSchool := login(t, e.URL(), account(r, lyceeA, ent.Personnel))
	evs, err = searchAudit(t, e.URL(), atSchool, url.Values{"type": {ent.AuditLoginSuccess}})
	if err != nil || len(evs) == 0 {
		t.Errorf("edge journal of logins after its purge = %+v, %v; want today's", evs, err)
	}
}

// BenchmarkAuditPurgeScan measures the purge of a lycée's trail of 500k
// entries: PurgeAudit removing its oldest 5000 (purge-5000-ms: a count,
// one command, a count), then what an audit.purge command costs the state
// machine when it has nothing to remove: the scan it runs
// newest first (no entry expired: the command removes nothing; ms per
// command in purge-cmd-ms), and the same scan through a read view (what
// PurgeAudit counts with before each command: view-scan-ms).
//
//	go test -run '^$' -bench BenchmarkAuditPurgeScan -benchtime 5x ./internal/regiontest/
func BenchmarkAuditPurgeScan(b *testing.B) {
	const n, batch = 500_000, 5000
	r := regiontest.Start(b, regiontest.Options{Centrals: 1, NoEdges: true})
	ctx := b.Context()
	c := r.Central(r.Leader())
	now := time.Now()
	// The first batch is past its retention, the others within the year.
	expired, start := now.Add(-400*24*time.Hour), now.Add(-300*24*time.Hour)
	for seq := 0; seq < n; seq += batch {
		cmds := make([]record.Command, 0, batch)
		for i := seq; i < seq+batch; i++ {
			at := start.Add(time.Duration(i) * 50 * time.Second)
			if seq == 0 {
				at = expired.Add(time.Duration(i) * time.Second)
			}
			cmd, _ := auditRecordCmd(b, lyceeA, fmt.Sprintf("eleve.%d", i%2000), at, i)
			cmd.Origin = record.OriginCentral
			cmds = append(cmds, cmd)
		}
		errs, err := c.Node.SubmitBatch(ctx, cmds)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range errs {
			if e != nil {
				b.Fatal(e)
			}
		}
	}
	trail := record.AuditPartition(lyceeA)
	cutoff := ent.AuditCutoff(now)
	args, _ := json.Marshal(ent.AuditPurgeArgs{Partition: trail, Before: cutoff.UnixMilli(), Limit: ent.MaxAuditPurge})
	purge := record.Command{Origin: record.OriginCentral, Op: ent.OpAuditPurge, Partition: trail, Args: args, Time: now.UnixMilli()}

	// A real purge first: one command removes the first batch.
	t0 := time.Now()
	if got, err := ent.PurgeAudit(ctx, c.Node, trail, now); err != nil || got != batch {
		b.Fatalf("PurgeAudit = %d, %v; want %d, nil", got, err, batch)
	}
	first := time.Since(t0)

	var apply, view time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := c.Node.Submit(ctx, purge); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if got, err := ent.PurgeAudit(ctx, c.Node, trail, now); err != nil || got != 0 {
			b.Fatalf("PurgeAudit = %d, %v; want 0, nil", got, err)
		}
		apply, view = apply+t1.Sub(t0), view+time.Since(t1)
	}
	b.ReportMetric(float64(n), "entries")
	b.ReportMetric(first.Seconds()*1000, "purge-5000-ms")
	b.ReportMetric(apply.Seconds()*1000/float64(b.N), "purge-cmd-ms")
	b.ReportMetric(view.Seconds()*1000/float64(b.N), "view-scan-ms")
}
