package central

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"atrium/record"
)

func newTestFSM(t *testing.T) *fsm {
	t.Helper()
	f, err := openFSM(filepath.Join(t.TempDir(), "state.db"), testExec, termIndex{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	return f
}

// applyAll applies entries as one batch at consecutive indexes.
func applyAll(t *testing.T, f *fsm, ens ...entry) []*result {
	t.Helper()
	start := f.applied.Load() + 1
	logs := make([]*raft.Log, len(ens))
	for i, en := range ens {
		logs[i] = &raft.Log{Index: start + uint64(i), Type: raft.LogCommand, Data: encodeEntry(en)}
	}
	out := make([]*result, len(ens))
	for i, r := range f.ApplyBatch(logs) {
		out[i] = r.(*result)
	}
	return out
}

func exec(cmds ...record.Command) entry { return entry{Type: entryExecCommands, Commands: cmds} }

func get(t *testing.T, f *fsm, partition, id string) (record.Record, bool) {
	t.Helper()
	var rec record.Record
	var ok bool
	if err := f.view(func(r reader) error {
		var err error
		rec, ok, err = r.Get(partition, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rec, ok
}

func TestPutVersionsAndFeed(t *testing.T) {
	f := newTestFSM(t)
	res := applyAll(t, f,
		exec(putCmd("central", "P", "a", "ka", "1", 1000)),
		exec(putCmd("central", "P", "b", "", "1", 1000), putCmd("central", "P", "a", "ka", "2", 1000)),
	)
	for i, r := range res {
		for j, e := range r.Errs {
			if e != nil {
				t.Fatalf("entry %d command %d: %v", i, j, e.err())
			}
		}
	}
	a, _ := get(t, f, "P", "a")
	if want := (record.Version{Central: 2, Edge: 0, HLC: record.Stamp(1000, 0) + 2}); a.Version != want || a.Seq != 3 {
		t.Errorf("a = version %+v seq %d, want %+v seq 3", a.Version, a.Seq, want)
	}
	// An edge's command bumps the edge counter.
	applyAll(t, f, exec(putCmd("0130040Y", "P", "a", "ka", "3", 2000)))
	a, _ = get(t, f, "P", "a")
	if a.Version.Central != 3 || a.Version.Edge != 1 || a.Version.HLC != record.Stamp(2000, 0) {
		t.Errorf("a.Version after edge command = %+v, want {3 1 %d}", a.Version, record.Stamp(2000, 0))
	}
	var feed []string
	var last uint64
	f.view(func(r reader) error {
		recs, l, _, err := r.changes("P", 0, 10, nil)
		for _, rec := range recs {
			feed = append(feed, rec.ID)
		}
		last = l
		return err
	})
	if diff := cmp.Diff([]string{"b", "a"}, feed); diff != "" || last != 4 {
		t.Errorf("changes(P, 0) = %v last %d, want [b a] last 4 (-want +got):\n%s", feed, last, diff)
	}
	f.view(func(r reader) error {
		recs, l, _, _ := r.changes("P", 0, 1, nil)
		if len(recs) != 1 || l != 2 {
			t.Errorf("changes(P, 0, limit 1) = %d records last %d, want 1 record last 2", len(recs), l)
		}
		recs, l, _, _ = r.changes("P", 4, 10, nil)
		if len(recs) != 0 || l != 4 {
			t.Errorf("changes(P, 4) = %d records last %d, want none, last 4", len(recs), l)
		}
		return nil
	})
}

func TestKeyIndexAndScan(t *testing.T) {
	f := newTestFSM(t)
	ids := []string{"01900000-0000-7000-8000-000000000001", "01900000-0000-7000-8000-000000000002", "01900000-0000-7000-8000-000000000003"}
	for i, id := range ids {
		applyAll(t, f, exec(putCmd("central", "P", id, "k"+id[len(id)-1:], "v", int64(i))))
	}
	res := applyAll(t, f, exec(putCmd("central", "P", "x", "k1", "v", 5)))
	if e := res[0].Errs[0].err(); e == nil {
		t.Errorf("put with a taken key = nil, want a rejection")
	}
	var got []string
	f.view(func(r reader) error {
		return r.Scan("P", "item", func(rec record.Record) error { got = append(got, rec.ID); return nil })
	})
	want := []string{ids[2], ids[1], ids[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Scan newest first (-want +got):\n%s", diff)
	}
	// Delete the middle one: gone from Scan and ByKey, kept as tombstone.
	del := putCmd("central", "P", ids[1], "k2", "", 9)
	del.Args = []byte(`{"ID":"` + ids[1] + `","Key":"k2","Deleted":true}`)
	applyAll(t, f, exec(del))
	got = nil
	f.view(func(r reader) error {
		if _, ok, _ := r.ByKey("item", "k2"); ok {
			t.Errorf("ByKey(item, k2) found a deleted record")
		}
		if rec, ok, _ := r.ByKey("item", "k3"); !ok || rec.ID != ids[2] {
			t.Errorf("ByKey(item, k3) = %v %v, want %s", rec.ID, ok, ids[2])
		}
		return r.Scan("P", "item", func(rec record.Record) error {
			got = append(got, rec.ID)
			return record.ErrStop
		})
	})
	if diff := cmp.Diff([]string{ids[2]}, got); diff != "" {
		t.Errorf("Scan with ErrStop (-want +got):\n%s", diff)
	}
	if rec, ok := get(t, f, "P", ids[1]); !ok || !rec.Deleted {
		t.Errorf("Get(deleted) = %+v %v, want a tombstone", rec, ok)
	}
}

func TestOutboxAppliedOnce(t *testing.T) {
	f := newTestFSM(t)
	const uai = "0130040Y"
	cmd := func(seq uint64, id string) record.Command {
		c := putCmd(uai, uai, id, "", "v"+id, 1000+int64(seq))
		c.Epoch, c.Seq = 7, seq
		return c
	}
	rej := record.Command{Origin: uai, Epoch: 7, Seq: 3, User: "u1", Op: "test.reject", Partition: uai, Time: 1003}
	batch := entry{Type: entryEdgeOutbox, UAI: uai, Epoch: 7, Commands: []record.Command{cmd(1, "a"), cmd(2, "b"), rej}}
	res := applyAll(t, f, batch)
	if res[0].HWM != 3 {
		t.Fatalf("hwm = %d, want 3", res[0].HWM)
	}
	// Retransmission with one new command: only seq 4 applies.
	batch.Commands = append(batch.Commands, cmd(4, "c"))
	res = applyAll(t, f, batch)
	if res[0].HWM != 4 {
		t.Fatalf("hwm after retransmission = %d, want 4", res[0].HWM)
	}
	if a, _ := get(t, f, uai, "a"); a.Version.Central != 1 {
		t.Errorf("a applied %d times, want once", a.Version.Central)
	}
	var notices []string
	f.view(func(r reader) error {
		if got := r.highWater(uai, 7); got != 4 {
			t.Errorf("highWater = %d, want 4", got)
		}
		return r.Scan(uai, KindNotice, func(rec record.Record) error {
			notices = append(notices, string(rec.Body))
			return nil
		})
	})
	want := []string{`{"user":"u1","op":"test.reject","code":"forbidden","message":"Action interdite.","seq":3,"origin":"0130040Y","epoch":7}`}
	if diff := cmp.Diff(want, notices); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
}

// TestOutboxGapRefused: once (uai, epoch) has a high-water mark, a batch
// whose first new command is not hwm+1 (it overtook an earlier push) is
// refused whole, so that no command is skipped; the edge resumes from the
// answer's high-water mark.
func TestOutboxGapRefused(t *testing.T) {
	f := newTestFSM(t)
	const uai, epoch = "0130040Y", 2
	batch := func(from, to uint64) entry {
		en := entry{Type: entryEdgeOutbox, UAI: uai, Epoch: epoch}
		for seq := from; seq <= to; seq++ {
			c := putCmd(uai, uai, fmt.Sprintf("c%d", seq), "", "v", 1000+int64(seq))
			c.Epoch, c.Seq = epoch, seq
			en.Commands = append(en.Commands, c)
		}
		return en
	}
	state := func() (hwm, last uint64) {
		f.view(func(r reader) error {
			hwm, last = r.highWater(uai, epoch), r.lastSeq(uai)
			return nil
		})
		return hwm, last
	}

	if res := applyAll(t, f, batch(1, 10)); res[0].HWM != 10 || res[0].Err != nil {
		t.Fatalf("batch 1..10: hwm %d err %v, want 10, nil", res[0].HWM, res[0].Err.err())
	}
	res := applyAll(t, f, batch(15, 20))
	if res[0].HWM != 10 || res[0].Err != nil {
		t.Errorf("batch 15..20 after hwm 10: hwm %d err %v, want 10, nil (refused)", res[0].HWM, res[0].Err.err())
	}
	if hwm, last := state(); hwm != 10 || last != 10 {
		t.Errorf("after refused batch 15..20: highWater %d, partition last seq %d; want 10 and 10 (nothing applied)", hwm, last)
	}
	for seq := 15; seq <= 20; seq++ {
		if rec, ok := get(t, f, uai, fmt.Sprintf("c%d", seq)); ok {
			t.Errorf("after refused batch 15..20: Get(c%d) = %+v, want absent", seq, rec)
		}
	}

	if res := applyAll(t, f, batch(11, 20)); res[0].HWM != 20 || res[0].Err != nil {
		t.Fatalf("batch 11..20: hwm %d err %v, want 20, nil", res[0].HWM, res[0].Err.err())
	}
	if hwm, last := state(); hwm != 20 || last != 20 {
		t.Errorf("after batch 11..20: highWater %d, partition last seq %d; want 20 and 20", hwm, last)
	}
	for seq := 1; seq <= 20; seq++ {
		if rec, ok := get(t, f, uai, fmt.Sprintf("c%d", seq)); !ok || rec.Version.Central != 1 {
			t.Errorf("Get(c%d) = %+v %v, want applied once", seq, rec.Version, ok)
		}
	}
}

func TestEnrolTokens(t *testing.T) {
	f := newTestFSM(t)
	res := applyAll(t, f,
		entry{Type: entryAddEnrolToken, TokenHash: "h1", UAI: "0130040Y", Time: 5000},
		entry{Type: entryAddEnrolToken, TokenHash: "h1", UAI: "0060001A", Time: 5000},
		entry{Type: entryConsumeEnrolToken, TokenHash: "h1", Time: 4000},
		entry{Type: entryConsumeEnrolToken, TokenHash: "h1", Time: 4001},
		entry{Type: entryAddEnrolToken, TokenHash: "h2", UAI: "0130040Y", Time: 5000},
		entry{Type: entryConsumeEnrolToken, TokenHash: "h2", Time: 5000},
		entry{Type: entryConsumeEnrolToken, TokenHash: "nope", Time: 1},
	)
	wantErrs := []error{nil, ErrTokenExists, nil, ErrTokenUsed, nil, ErrTokenExpired, ErrTokenUnknown}
	for i, want := range wantErrs {
		if got := res[i].Err.err(); !errors.Is(got, want) || (want == nil && got != nil) {
			t.Errorf("entry %d: err = %v, want %v", i, got, want)
		}
	}
	if res[2].UAI != "0130040Y" {
		t.Errorf("consume uai = %q, want 0130040Y", res[2].UAI)
	}
}

func TestUnknownEntrySkipped(t *testing.T) {
	f := newTestFSM(t)
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogCommand, Data: []byte{200, 1, 2}},
		{Index: 2, Type: raft.LogCommand, Data: encodeEntry(exec(putCmd("central", "P", "a", "", "1", 1)))},
	}
	out := f.ApplyBatch(logs)
	if r := out[0].(*result); r.Err == nil {
		t.Errorf("unknown entry result = %+v, want an error", r)
	}
	if _, ok := get(t, f, "P", "a"); !ok || f.applied.Load() != 2 {
		t.Errorf("entry after unknown one not applied (applied=%d)", f.applied.Load())
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "test" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestSnapshotRestore(t *testing.T) {
	f := newTestFSM(t)
	applyAll(t, f, exec(putCmd("central", "P", "a", "ka", "1", 1)))
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot began are not in it.
	applyAll(t, f, exec(putCmd("central", "P", "b", "", "1", 2)))
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	g := newTestFSM(t)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, g, "P", "a"); !ok {
		t.Errorf("restored state lacks a")
	}
	if _, ok := get(t, g, "P", "b"); ok {
		t.Errorf("restored state has b, written after the snapshot")
	}
	if g.applied.Load() != 1 {
		t.Errorf("applied after restore = %d, want 1", g.applied.Load())
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader([]byte("not a bbolt file")))); err == nil {
		t.Errorf("Restore(garbage) = nil, want an error")
	}
	if _, ok := get(t, g, "P", "a"); !ok {
		t.Errorf("failed restore lost the state")
	}
}

func TestClampTimes(t *testing.T) {
	now := time.UnixMilli(1767600000000)
	in := []record.Command{
		{Seq: 1, Time: now.Add(-21 * 24 * time.Hour).UnixMilli()}, // written during the holidays: kept
		{Seq: 2, Time: now.Add(time.Minute).UnixMilli()},          // a clock a little ahead: kept
		{Seq: 3, Time: now.Add(24 * 365 * time.Hour).UnixMilli()}, // a clock lost: now
		{Seq: 4, Time: 0},  // not stamped: now
		{Seq: 5, Time: -7}, // nonsense: now
	}
	orig := slices.Clone(in)
	got := clampTimes(in, now)
	want := []int64{in[0].Time, in[1].Time, now.UnixMilli(), now.UnixMilli(), now.UnixMilli()}
	for i, c := range got {
		if c.Time != want[i] {
			t.Errorf("command %d: time %d, want %d", c.Seq, c.Time, want[i])
		}
	}
	if !cmp.Equal(in, orig) {
		t.Errorf("clampTimes changed the caller's commands")
	}
}

// TestChangesBoundedInBytes: records holding chunks of files are large; a
// read of the feed returns a few megabytes at most (at least one record)
// and its checkpoint lets the next read go on from there.
func TestChangesBoundedInBytes(t *testing.T) {
	f := newTestFSM(t)
	big := strings.Repeat("x", 1<<20)
	for i := range 10 {
		applyAll(t, f, exec(putCmd("central", "P", fmt.Sprintf("r%02d", i), "", big, 1000)))
	}
	var since uint64
	var pages []int
	for since < 10 {
		f.view(func(r reader) error {
			recs, last, _, err := r.changes("P", since, 1000, nil)
			if err != nil || len(recs) == 0 {
				t.Fatalf("changes(P, %d) = %d records, %v; want more", since, len(recs), err)
			}
			pages = append(pages, len(recs))
			since = last
			return nil
		})
	}
	if len(pages) < 3 || pages[0] > 5 {
		t.Fatalf("pages of 1 MB records = %v, want several of at most ~4 MB", pages)
	}
}

// TestChangesInSequenceOrder: the feed gives the records in the order of
// their last change, whatever the order of their ids (the reader follows
// the records bucket when the next change is the next id, and seeks
// otherwise): ids made in order, out of order, changed again, deleted.
func TestChangesInSequenceOrder(t *testing.T) {
	f := newTestFSM(t)
	var cmds []record.Command
	for i := range 20 {
		cmds = append(cmds, putCmd("central", "P", fmt.Sprintf("r%02d", i), "", fmt.Sprintf("v%d", i), 1000))
	}
	for _, i := range []int{31, 25, 38, 22} { // out of id order
		cmds = append(cmds, putCmd("central", "P", fmt.Sprintf("r%02d", i), "", fmt.Sprintf("v%d", i), 1000))
	}
	cmds = append(cmds,
		putCmd("central", "P", "r03", "", "v3 again", 1000),
		delCmd("P", "r07", 1000),
		putCmd("central", "P", "r04", "", "v4 again", 1000),
		putCmd("central", "P", "r05", "", "v5 again", 1000),
	)
	for _, c := range cmds {
		applyAll(t, f, exec(c))
	}
	want := []string{"r00", "r01", "r02", "r06", "r08", "r09", "r10", "r11", "r12", "r13", "r14", "r15",
		"r16", "r17", "r18", "r19", "r31", "r25", "r38", "r22", "r03", "r07", "r04", "r05"}
	for _, limit := range []int{1, 3, 7, 1000} {
		var got []string
		var since uint64
		for {
			var recs []record.Record
			var last uint64
			f.view(func(r reader) error {
				var err error
				recs, last, _, err = r.changes("P", since, limit, nil)
				if err != nil {
					t.Fatalf("changes(P, %d, %d) = %v", since, limit, err)
				}
				return nil
			})
			if len(recs) == 0 {
				break
			}
			for _, rec := range recs {
				got = append(got, rec.ID)
				if rec.ID == "r07" != rec.Deleted {
					t.Errorf("record %s deleted = %v", rec.ID, rec.Deleted)
				}
				if rec.ID == "r04" && valueOf(t, rec) != "v4 again" {
					t.Errorf("record r04 = %q, want its last value", valueOf(t, rec))
				}
			}
			since = last
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: feed %v, want %v", limit, got, want)
		}
	}
}
