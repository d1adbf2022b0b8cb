package edge

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"atrium/record"
	"atrium/replication"
)

// A snapshot staged in two pages across a restart of the store replaces
// the lycée's records by central's, drops what central deleted while the
// edge was away, and keeps the edge's own work: the commands central has
// not acknowledged stay in the outbox and are applied again over central's
// state; the audit trail is left as it was.
func TestSnapshotSwap(t *testing.T) {
	s, path := newTestStore(t)
	news := func(id, body string, seq uint64) record.Record {
		return record.Record{Partition: testUAI, ID: id, Kind: "news", Body: []byte(body), Seq: seq, Version: record.Version{Central: seq}}
	}
	a, b, c := news("a", `"a1"`, 1), news("b", `"b1"`, 2), news("c", `"c1"`, 3)
	b.Key = "kb"
	if err := s.ApplyChanges(testUAI, []record.Record{a, b, c}, 3); err != nil {
		t.Fatal(err)
	}
	// While cut off: the edge edits a (acknowledged, then the link drops),
	// writes n and an audit entry (not acknowledged).
	localA := a
	localA.Body = []byte(`"a-local"`)
	n := news("n", `"n-local"`, 0)
	audit := record.Record{Partition: record.AuditPartition(testUAI), ID: "log-1", Kind: "audit", Body: []byte(`{}`)}
	for _, r := range []record.Record{localA, n, audit} {
		cmd := putCmd(t, opPut, r)
		cmd.Partition = testUAI
		if err := s.Submit(t.Context(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AckOutbox(s.Epoch(), 1); err != nil {
		t.Fatal(err)
	}
	auditBefore, _ := get(t, s, audit.Partition, audit.ID)

	// Central meanwhile: applied the edit of a (seq 5), deleted b (its
	// tombstone purged), changed c (6), added d (7).
	centralA := news("a", `"a-local"`, 5)
	centralC, d := news("c", `"c2"`, 6), news("d", `"d1"`, 7)

	if err := s.BeginSnapshot(testUAI, 4); err != nil {
		t.Fatal(err)
	}
	p, err := s.StageSnapshot(testUAI, []record.Record{centralA}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := (replication.SnapshotProgress{Floor: 4, Staged: 5, Records: 1, Bytes: uint64(len(record.AppendRecord(nil, centralA)))}); p != want {
		t.Errorf("StageSnapshot = %+v, want %+v", p, want)
	}
	// Nothing is visible before the swap.
	if r, _ := get(t, s, testUAI, "a"); string(r.Body) != `"a-local"` || r.Seq != 1 {
		t.Errorf("a before the swap = %s at seq %d, want the local edit at seq 1", r.Body, r.Seq)
	}

	// The edge restarts mid-snapshot: the progress survives.
	s.Close()
	s = openTest(t, path)
	got, active, err := s.SnapshotState(testUAI)
	if err != nil || !active || got != p {
		t.Fatalf("SnapshotState after a restart = %+v, %v, %v; want %+v in progress", got, active, err, p)
	}
	if _, err := s.StageSnapshot(testUAI, []record.Record{centralC, d}, 7); err != nil {
		t.Fatal(err)
	}
	reapplied, err := s.SwapSnapshot(testUAI, 7)
	if err != nil {
		t.Fatal(err)
	}
	if reapplied != 2 {
		t.Errorf("SwapSnapshot applied %d commands again, want 2 (n and the audit entry's)", reapplied)
	}

	if _, ok := get(t, s, testUAI, "b"); ok {
		t.Errorf("b, deleted at central, is back after the snapshot")
	}
	if _, ok := byKey(t, s, "news", "kb"); ok {
		t.Errorf("b's key still resolves after the snapshot")
	}
	for _, want := range []record.Record{centralA, centralC, d} {
		if r, ok := get(t, s, testUAI, want.ID); !ok || string(r.Body) != string(want.Body) || r.Seq != want.Seq {
			t.Errorf("%s after the snapshot = %s at seq %d (found %v), want central's %s at seq %d", want.ID, r.Body, r.Seq, ok, want.Body, want.Seq)
		}
	}
	if r, ok := get(t, s, testUAI, "n"); !ok || string(r.Body) != `"n-local"` {
		t.Errorf("n, written at the edge and not acknowledged, = %s (found %v), want it kept", r.Body, ok)
	}
	if r, _ := get(t, s, audit.Partition, audit.ID); r.Version != auditBefore.Version {
		t.Errorf("audit entry version after the snapshot = %+v, want %+v (not written again)", r.Version, auditBefore.Version)
	}
	if cmds, _ := s.Outbox(0, 0); len(cmds) != 2 || cmds[0].Seq != 2 || cmds[1].Seq != 3 {
		t.Errorf("outbox after the snapshot = %+v, want commands 2 and 3, still to send", cmds)
	}
	if pending, _ := s.UndoPending(); !slices.Equal(pending, []uint64{2}) {
		t.Errorf("undo entries after the snapshot = %v, want [2] (n's, fresh)", pending)
	}
	if _, active, _ := s.SnapshotState(testUAI); active {
		t.Errorf("snapshot still in progress after the swap")
	}
	if _, cp, settled := storeDigest(t, s, testUAI); cp != 7 || settled {
		t.Errorf("Digest after the snapshot = checkpoint %d, settled %v; want 7, not settled (n in flight)", cp, settled)
	}

	// Central accepts n: the edge then holds exactly central's records.
	centralN := news("n", `"n-local"`, 8)
	if err := s.ApplyChanges(testUAI, []record.Record{centralN}, 8); err != nil {
		t.Fatal(err)
	}
	if err := s.AckOutbox(s.Epoch(), 3); err != nil {
		t.Fatal(err)
	}
	dg, cp, settled := storeDigest(t, s, testUAI)
	if want := digestOf(centralA, centralC, d, centralN); dg != want || cp != 8 || !settled {
		t.Errorf("Digest = %v at %d (settled %v), want central's %v at 8, settled", dg, cp, settled, want)
	}
}

func TestSnapshotRequiresBegin(t *testing.T) {
	s, _ := newTestStore(t)
	if _, err := s.StageSnapshot(testUAI, nil, 3); err == nil {
		t.Errorf("StageSnapshot without BeginSnapshot = nil error, want one")
	}
	if _, err := s.SwapSnapshot(testUAI, 3); err == nil {
		t.Errorf("SwapSnapshot without BeginSnapshot = nil error, want one")
	}
	if err := s.BeginSnapshot(otherUAI, 0); err == nil {
		t.Errorf("BeginSnapshot(another lycée) = nil error, want one")
	}
	// The region partition swaps too, with nothing to apply again.
	r1 := record.Record{Partition: record.Region, ID: "r1", Kind: "news", Seq: 1}
	r2 := record.Record{Partition: record.Region, ID: "r2", Kind: "news", Seq: 2}
	if err := s.ApplyChanges(record.Region, []record.Record{r1, r2}, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginSnapshot(record.Region, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StageSnapshot(record.Region, []record.Record{r2}, 9); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SwapSnapshot(record.Region, 9); err != nil || n != 0 {
		t.Fatalf("SwapSnapshot(region) = %d, %v; want 0, nil", n, err)
	}
	var ids []string
	for _, id := range []string{"r1", "r2"} {
		if _, ok := get(t, s, record.Region, id); ok {
			ids = append(ids, id)
		}
	}
	if diff := cmp.Diff([]string{"r2"}, ids); diff != "" {
		t.Errorf("region records after the snapshot (-want +got):\n%s", diff)
	}
}
