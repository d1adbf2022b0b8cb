package central

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"atrium/internal/metrictest"
	"atrium/record"
)

func delCmd(partition, id string, ms int64) record.Command {
	args, _ := json.Marshal(map[string]any{"ID": id, "Deleted": true})
	return record.Command{Origin: record.OriginCentral, Op: "test.put", Partition: partition, Args: args, Time: ms}
}

func purge(cutoff int64, limit uint64) entry {
	return entry{Type: entryPurgeTombstones, Time: cutoff, Limit: limit}
}

// feed returns the partition's whole feed (ids with their sequence and
// tombstone flag), its floor and its stored digest.
func feedState(t *testing.T, f *fsm, partition string) (ids []string, floor uint64, d record.Digest) {
	t.Helper()
	err := f.view(func(r reader) error {
		recs, _, _, err := r.changes(partition, 0, 1<<20, nil)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			ids = append(ids, fmt.Sprintf("%s@%d deleted=%v", rec.ID, rec.Seq, rec.Deleted))
		}
		floor = r.floor(partition)
		d, _, err = r.digest(partition)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, floor, d
}

// history writes q in partition Q at t=900 and deletes it at t=950; then,
// in partition P: a, b, c, d at t=1000; deletes b at t=2000 and c at
// t=5000; updates a at t=6000.
func history(t *testing.T, f *fsm) {
	t.Helper()
	for _, r := range applyAll(t, f,
		exec(putCmd("central", "Q", "q", "", "1", 900)),
		exec(delCmd("Q", "q", 950)),
		exec(putCmd("central", "P", "a", "", "1", 1000), putCmd("central", "P", "b", "kb", "1", 1000),
			putCmd("central", "P", "c", "", "1", 1000), putCmd("central", "P", "d", "", "1", 1000)),
		exec(delCmd("P", "b", 2000)),
		exec(delCmd("P", "c", 5000)),
		exec(putCmd("central", "P", "a", "", "2", 6000)),
	) {
		for _, e := range r.Errs {
			if e != nil {
				t.Fatalf("history: %v", e.err())
			}
		}
	}
}

func TestPurgeTombstones(t *testing.T) {
	f := newTestFSM(t)
	history(t, f)
	_, _, before := feedState(t, f, "P")

	res := applyAll(t, f, purge(3000, 0))[0]
	if res.Err != nil || res.Purged != 2 || res.More {
		t.Fatalf("purge(cutoff 3000) = %+v, want 2 purged (b in P, q in Q), no more", res)
	}
	ids, floor, after := feedState(t, f, "P")
	// P's feed: a@7 (updated), b@5 gone, c@6 kept (deleted after the cutoff), d@4.
	want := []string{"d@4 deleted=false", "c@6 deleted=true", "a@7 deleted=false"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("feed of P after the purge (-want +got):\n%s", diff)
	}
	if floor != 5 {
		t.Errorf("floor(P) = %d, want 5 (b's tombstone)", floor)
	}
	if _, ok := get(t, f, "P", "b"); ok {
		t.Errorf("Get(P, b) found the purged tombstone")
	}
	if after != before {
		t.Errorf("digest of P changed by the purge: %v, was %v", after, before)
	}
	if stored, fresh := storedDigest(t, f, "P"); stored != fresh {
		t.Errorf("stored digest of P = %v, recomputed %v", stored, fresh)
	}
	if _, floorQ, _ := feedState(t, f, "Q"); floorQ != 2 {
		t.Errorf("floor(Q) = %d, want 2", floorQ)
	}
	// b's key is free again, and a later purge takes c.
	applyAll(t, f, exec(putCmd("central", "P", "e", "kb", "1", 7000)))
	if res := applyAll(t, f, purge(5500, 0))[0]; res.Purged != 1 {
		t.Errorf("purge(cutoff 5500) = %+v, want 1 purged", res)
	}
	if _, floor, _ := feedState(t, f, "P"); floor != 6 {
		t.Errorf("floor(P) = %d, want 6 (c's tombstone)", floor)
	}
	// Nothing left before the cutoff: a purge changes nothing.
	if res := applyAll(t, f, purge(5500, 0))[0]; res.Purged != 0 || res.More {
		t.Errorf("purge again = %+v, want nothing", res)
	}
	if n := f.purged.Load(); n != 3 {
		t.Errorf("purged counter = %d, want 3", n)
	}
}

// Every node applies the same entries to the same state: the purge
// removes the same tombstones and leaves the same floors and digests.
func TestPurgeDeterministic(t *testing.T) {
	var states [2][3]any
	for i := range states {
		f := newTestFSM(t)
		history(t, f)
		applyAll(t, f, purge(3000, 1), purge(3000, 1), purge(3000, 1))
		ids, floor, d := feedState(t, f, "P")
		states[i] = [3]any{ids, floor, d}
	}
	if diff := cmp.Diff(states[0], states[1]); diff != "" {
		t.Errorf("two nodes differ after the same purges (-first +second):\n%s", diff)
	}
}

func TestPurgeLimit(t *testing.T) {
	f := newTestFSM(t)
	var cmds []record.Command
	for i := range 10 {
		cmds = append(cmds, putCmd("central", "P", fmt.Sprintf("r%02d", i), "", "1", 1000))
	}
	applyAll(t, f, exec(cmds...))
	var dels []record.Command
	for i := range 10 {
		dels = append(dels, delCmd("P", fmt.Sprintf("r%02d", i), 2000))
	}
	applyAll(t, f, exec(dels...))
	_, _, before := feedState(t, f, "P")

	var total uint64
	for round := 1; ; round++ {
		res := applyAll(t, f, purge(3000, 3))[0]
		if res.Purged > 3 {
			t.Fatalf("round %d: purge(limit 3) removed %d", round, res.Purged)
		}
		total += res.Purged
		_, floor, d := feedState(t, f, "P")
		if d != before {
			t.Fatalf("round %d: digest changed: %v, was %v", round, d, before)
		}
		if want := uint64(10 + total); total > 0 && floor != want {
			t.Errorf("round %d: floor = %d, want %d", round, floor, want)
		}
		if !res.More {
			break
		}
		if round > 10 {
			t.Fatalf("purge(limit 3) still has more after %d rounds", round)
		}
	}
	if total != 10 {
		t.Errorf("purged %d tombstones in all, want 10", total)
	}
	if ids, _, _ := feedState(t, f, "P"); len(ids) != 0 {
		t.Errorf("feed after the purges = %v, want empty", ids)
	}
}

// In a cluster, the leader's purge loop removes tombstones past the horizon
// and every node ends with the same floor and the same digest, equal to
// the one recomputed from its records.
func TestPurgeLoopCluster(t *testing.T) {
	c := &cluster{t: t, nodes: map[string]*tnode{}}
	t.Cleanup(func() { c.logMu.Lock(); c.done = true; c.logMu.Unlock() })
	t.Cleanup(c.closeAll)
	horizon := func(cfg Config) Config {
		cfg.TombstoneHorizon, cfg.PurgeEvery = 300*time.Millisecond, 100*time.Millisecond
		return cfg
	}
	first := c.start(horizon(c.config("n1", true, nil)))
	c.start(horizon(c.config("n2", false, []string{first.cfg.SerfAddr})))
	c.start(horizon(c.config("n3", false, []string{first.cfg.SerfAddr})))
	c.waitVoters(3)

	ctx := ctxTimeout(t, 20*time.Second)
	leader := c.leader()
	now := time.Now().UnixMilli()
	for i := range 5 {
		cmd := putCmd("central", "P", fmt.Sprintf("r%d", i), "", "1", now)
		if err := leader.Submit(ctx, cmd); err != nil {
			t.Fatalf("Submit put: %v", err)
		}
	}
	for i := range 3 {
		if err := leader.Submit(ctx, delCmd("P", fmt.Sprintf("r%d", i), now)); err != nil {
			t.Fatalf("Submit delete: %v", err)
		}
	}
	waitFor(t, 10*time.Second, "every node purged the three tombstones", func() bool {
		for _, n := range c.nodes {
			if fl, err := n.Floor("P"); err != nil || fl != 8 {
				return false
			}
		}
		return true
	})
	var digests []record.Digest
	for name, n := range c.nodes {
		d, seq, err := n.Digest("P")
		if err != nil || seq != 8 {
			t.Fatalf("%s: Digest(P) = seq %d, %v; want seq 8", name, seq, err)
		}
		if fresh, err := n.RecomputeDigest("P"); err != nil || fresh != d {
			t.Errorf("%s: stored digest %v, recomputed %v (%v)", name, d, fresh, err)
		}
		recs, _, err := n.Changes("P", 0, 100)
		if err != nil || len(recs) != 2 {
			t.Errorf("%s: feed of P = %d records, %v; want the 2 live ones", name, len(recs), err)
		}
		if got := metrictest.Value(t, n.reg, "atrium_central_tombstones_purged_total"); got != 3 {
			t.Errorf("%s: atrium_central_tombstones_purged_total = %v, want 3", name, got)
		}
		digests = append(digests, d)
	}
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Errorf("nodes' digests of P differ: %v", digests)
		}
	}
}

// BenchmarkPurge measures one PurgeTombstones entry walking a partition of
// 20000 feed entries (10000 live records, then 10000 tombstones) and
// removing the tombstones.
func BenchmarkPurge(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		f, err := openFSM(b.TempDir()+"/state.db", testExec, termIndex{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		var puts, dels []record.Command
		for i := range 20000 {
			puts = append(puts, putCmd("central", "P", fmt.Sprintf("r%05d", i), "", "1", 1000))
			if i%2 == 0 {
				dels = append(dels, delCmd("P", fmt.Sprintf("r%05d", i), 2000))
			}
		}
		applyBench(b, f, exec(puts...), exec(dels...))
		b.StartTimer()
		res := applyBench(b, f, purge(3000, 20000))[0]
		b.StopTimer()
		if res.Purged != 10000 {
			b.Fatalf("purge = %+v, want 10000 purged", res)
		}
		f.close()
		b.StartTimer()
	}
}

func applyBench(b *testing.B, f *fsm, ens ...entry) []*result {
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
