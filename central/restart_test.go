package central

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"atrium/internal/metrictest"
	"atrium/record"
)

// stopAbruptly stops a node the way kill -9 leaves it for the next start:
// raft and the state file closed, but the file not marked clean (state.boot
// still says "open", with this boot's id). It returns the node's config,
// ready for a restart that joins the others.
func (c *cluster) stopAbruptly(name string) Config {
	c.t.Helper()
	tn := c.nodes[name]
	tn.fsm.boot = "" // close skips the clean mark
	c.kill(name)
	return c.restartConfig(tn.cfg)
}

// stopCleanly closes a node (its state file marked clean) and returns its
// config for a restart.
func (c *cluster) stopCleanly(name string) Config {
	c.t.Helper()
	cfg := c.nodes[name].cfg
	c.kill(name)
	return c.restartConfig(cfg)
}

func (c *cluster) restartConfig(cfg Config) Config {
	for _, n := range c.nodes {
		cfg.Bootstrap, cfg.Join = false, []string{n.cfg.SerfAddr}
		break
	}
	return cfg
}

func bootRecordOf(t testing.TB, cfg Config) bootRecord {
	t.Helper()
	r, err := readBootRecord(filepath.Join(cfg.DataDir, "state.boot"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// editBootRecord changes the node's state.boot as a reboot, a crash or
// another version would leave it.
func editBootRecord(t testing.TB, cfg Config, edit func(*bootRecord)) {
	t.Helper()
	r := bootRecordOf(t, cfg)
	edit(&r)
	if err := writeBootRecord(filepath.Join(cfg.DataDir, "state.boot"), r); err != nil {
		t.Fatal(err)
	}
}

// waitCaughtUp waits until every node applied the leader's commit index.
func (c *cluster) waitCaughtUp() {
	c.t.Helper()
	commit := c.leader().CommitIndex()
	waitFor(c.t, 30*time.Second, fmt.Sprintf("every node applied index %d", commit), func() bool {
		for _, n := range c.nodes {
			if n.AppliedIndex() < commit {
				return false
			}
		}
		return true
	})
}

// nodeState is what a node holds, as the edges and the ENT see it.
type nodeState struct {
	Partitions []string
	Digests    map[string]record.Digest
	LastSeq    map[string]uint64
	Records    map[string][]record.Record // each partition's feed, from 0
}

func stateOf(t testing.TB, n *tnode) nodeState {
	t.Helper()
	parts, err := n.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	s := nodeState{Partitions: parts, Digests: map[string]record.Digest{}, LastSeq: map[string]uint64{}, Records: map[string][]record.Record{}}
	for _, p := range parts {
		d, seq, err := n.Digest(p)
		if err != nil {
			t.Fatal(err)
		}
		s.Digests[p], s.LastSeq[p] = d, seq
		for since := uint64(0); ; {
			recs, last, err := n.Changes(p, since, 10000)
			if err != nil {
				t.Fatal(err)
			}
			s.Records[p] = append(s.Records[p], recs...)
			if last == since || last == seq {
				break
			}
			since = last
		}
	}
	return s
}

// checkSameState checks that every node holds what the leader holds.
func (c *cluster) checkSameState() {
	c.t.Helper()
	c.waitCaughtUp()
	l := c.leader()
	want := stateOf(c.t, l)
	for _, n := range c.nodes {
		if n == l {
			continue
		}
		if diff := cmp.Diff(want, stateOf(c.t, n)); diff != "" {
			c.t.Errorf("state of %s differs from the leader %s's (-leader +%s):\n%s", n.cfg.Name, l.cfg.Name, n.cfg.Name, diff)
		}
	}
}

// writeSome submits n commands through node: new records and new versions
// of earlier ones (applied twice, those would show a different version).
func writeSome(t testing.TB, n *tnode, prefix string, count int) {
	t.Helper()
	ctx := ctxTimeout(t, 30*time.Second)
	for i := range count {
		id := fmt.Sprintf("%s-%d", prefix, i%max(1, count/2))
		if err := n.Submit(ctx, putCmd("central", "P", id, "", fmt.Sprintf("v%d", i), time.Now().UnixMilli())); err != nil {
			t.Fatalf("Submit(%s) on %s: %v", id, n.cfg.Name, err)
		}
	}
}

func TestRestartKeepsStateFile(t *testing.T) {
	c := newCluster(t)
	for _, n := range c.nodes {
		if s := n.StateOpen(); s.Reused {
			t.Errorf("%s.StateOpen() at first start = %+v, want rebuilt", n.cfg.Name, s)
		}
	}
	l := c.leader()
	writeSome(t, l, "a", 40)
	f := c.follower()
	c.waitCaughtUp()
	// A snapshot below the file's applied index: at restart raft replays
	// the log from it, and the entries after it up to the file's applied
	// index must not be applied twice.
	if err := f.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	writeSome(t, l, "b", 40)
	c.waitCaughtUp()

	cfg := c.stopAbruptly(f.cfg.Name)
	if r := bootRecordOf(t, cfg); r.Phase != phaseOpen || r.Boot != readBootID() {
		t.Fatalf("state.boot after an abrupt stop = %+v, want phase open, boot %q", r, readBootID())
	}
	writeSome(t, c.leader(), "c", 30) // committed while it is down
	r := c.start(cfg)
	if s := r.StateOpen(); !s.Reused || !strings.Contains(s.Reason, "this boot") || s.Applied == 0 {
		t.Errorf("StateOpen() after an abrupt stop = %+v, want kept, written during this boot", s)
	}
	if !r.CaughtUp() {
		// It holds what it served before it stopped: ready without
		// waiting for the leader.
		t.Errorf("CaughtUp() right after a restart that kept the state file = false, want true")
	}
	if got := metrictest.Value(t, r.reg, "atrium_central_state_reused"); got != 1 {
		t.Errorf("atrium_central_state_reused = %v, want 1", got)
	}
	c.checkSameState()
	if v, ok := readValue(t, r, "P", "c-14"); !ok || v != "v29" {
		t.Errorf("restarted node: Get(c-14) = %q %v, want the write made while it was down, v29", v, ok)
	}
	writeSome(t, r, "d", 10) // and it goes on applying
	c.checkSameState()
}

func TestRestartRebuildsStateFile(t *testing.T) {
	c := newCluster(t)
	l := c.leader()
	writeSome(t, l, "a", 20)
	c.waitCaughtUp()

	tests := []struct {
		name   string
		stop   func(name string) Config
		edit   func(cfg Config)
		reused bool
		reason string
	}{
		{
			name: "machine restarted after an abrupt stop",
			stop: c.stopAbruptly,
			edit: func(cfg Config) {
				editBootRecord(t, cfg, func(r *bootRecord) { r.Boot = "another-boot" })
			},
			reason: "machine restarted",
		},
		{
			name: "machine restarted after a clean close",
			stop: c.stopCleanly,
			edit: func(cfg Config) {
				editBootRecord(t, cfg, func(r *bootRecord) { r.Boot = "another-boot" })
			},
			reused: true,
			reason: "closed cleanly",
		},
		{
			name: "died while opening",
			stop: c.stopCleanly,
			edit: func(cfg Config) {
				editBootRecord(t, cfg, func(r *bootRecord) { r.Phase = phaseOpening })
			},
			reason: "while opening",
		},
		{
			name: "stopped on a storage failure",
			stop: c.stopAbruptly,
			edit: func(cfg Config) {
				editBootRecord(t, cfg, func(r *bootRecord) { r.Phase = phaseFailed })
			},
			reason: "storage failure",
		},
		{
			// A version before state.go rebuilt the file without updating
			// state.boot (a downgrade, then an upgrade).
			name: "another file than state.boot's",
			stop: c.stopCleanly,
			edit: func(cfg Config) {
				editBootRecord(t, cfg, func(r *bootRecord) { r.File = "0123456789abcdef" })
			},
			reason: "not the state file",
		},
		{
			name:   "no record",
			stop:   c.stopAbruptly,
			edit:   func(cfg Config) { os.Remove(filepath.Join(cfg.DataDir, "state.boot")) },
			reason: "no record",
		},
		{
			name: "state file of another raft log",
			stop: c.stopAbruptly,
			edit: func(cfg Config) {
				// The applied entry's term no longer matches the log's.
				db, err := openBolt(filepath.Join(cfg.DataDir, "state.db"), termIndex{})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyAppliedTerm, be(99)) }); err != nil {
					t.Fatal(err)
				}
			},
			reason: "99 in the state file",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := c.follower()
			cfg := tt.stop(f.cfg.Name)
			tt.edit(cfg)
			writeSome(t, c.leader(), fmt.Sprintf("w%d", i), 10)
			r := c.start(cfg)
			if s := r.StateOpen(); s.Reused != tt.reused || !strings.Contains(s.Reason, tt.reason) {
				t.Errorf("StateOpen() = %+v, want reused %v, reason with %q", s, tt.reused, tt.reason)
			}
			want := 0.0
			if tt.reused {
				want = 1
			}
			if got := metrictest.Value(t, r.reg, "atrium_central_state_reused"); got != want {
				t.Errorf("atrium_central_state_reused = %v, want %v", got, want)
			}
			c.checkSameState()
		})
	}
}

// A kept state file behind the latest snapshot (the node died while
// restoring a snapshot the leader sent) is rebuilt from that snapshot.
func TestRestartStateBehindSnapshot(t *testing.T) {
	c := newCluster(t)
	writeSome(t, c.leader(), "a", 20)
	c.waitCaughtUp()
	f := c.follower()
	name := f.cfg.Name
	cfg := c.stopAbruptly(name)
	old, err := os.ReadFile(filepath.Join(cfg.DataDir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	f = c.start(cfg)
	writeSome(t, c.leader(), "b", 40)
	c.waitCaughtUp()
	if err := f.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	cfg = c.stopAbruptly(name)
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "state.db"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	r := c.start(cfg)
	if s := r.StateOpen(); s.Reused || !strings.Contains(s.Reason, "behind the latest snapshot") {
		t.Errorf("StateOpen() = %+v, want rebuilt, behind the latest snapshot", s)
	}
	c.checkSameState()
	if v, ok := readValue(t, r, "P", "b-19"); !ok || v != "v39" {
		t.Errorf("Get(b-19) = %q %v, want v39", v, ok)
	}
}

func TestTrustBoot(t *testing.T) {
	const boot = "9f1c2c3e-0000-4000-8000-000000000001"
	tests := []struct {
		rec  bootRecord
		err  error
		boot string
		want bool
	}{
		{bootRecord{Boot: boot, Phase: phaseOpen}, nil, boot, true},
		{bootRecord{Boot: boot, Phase: phaseOpen}, nil, "other", false},
		{bootRecord{Boot: "", Phase: phaseOpen}, nil, "", false}, // boot id unknown
		{bootRecord{Boot: "other", Phase: phaseClean}, nil, boot, true},
		{bootRecord{Boot: "", Phase: phaseClean}, nil, "", true},
		{bootRecord{Boot: boot, Phase: phaseOpening}, nil, boot, false},
		{bootRecord{Boot: boot, Phase: phaseFailed}, nil, boot, false},
		{bootRecord{Boot: boot, Phase: "later"}, nil, boot, false},
		{bootRecord{}, os.ErrNotExist, boot, false},
		{bootRecord{}, fmt.Errorf("decode state.boot: bad"), boot, false},
	}
	for _, tt := range tests {
		if got, why := trustBoot(tt.rec, tt.err, tt.boot); got != tt.want {
			t.Errorf("trustBoot(%+v, %v, %q) = %v (%s), want %v", tt.rec, tt.err, tt.boot, got, why, tt.want)
		}
	}
}

func TestStateFits(t *testing.T) {
	// A log holding entries 90..120 of term 3, a snapshot at 100 (term 3).
	p := raftPosition{lastIndex: 120, snapIndex: 100, snapTerm: 3, term: func(i uint64) (uint64, bool) { return 3, i >= 90 && i <= 120 }}
	tests := []struct {
		applied, term uint64
		want          bool
	}{
		{110, 3, true},
		{100, 3, true},
		{120, 3, true},
		{110, 2, false}, // another log's entry
		{121, 3, false}, // beyond the log
		{99, 3, false},  // behind the snapshot
		{0, 0, false},   // nothing applied
		{110, 0, false}, // term unknown: an older version's file
	}
	for _, tt := range tests {
		if got, why := stateFits(tt.applied, tt.term, p); got != tt.want {
			t.Errorf("stateFits(%d, %d) = %v (%s), want %v", tt.applied, tt.term, got, why, tt.want)
		}
	}
	none := raftPosition{term: func(uint64) (uint64, bool) { return 0, false }}
	if ok, _ := stateFits(5, 1, none); ok {
		t.Errorf("stateFits(5, 1) with no raft state = true, want false")
	}
}

// BenchmarkNodeRestart measures how long a restarted central node takes to
// serve again, with a state of 200k records and a log tail of 1000 entries
// after its latest snapshot: from New to its state machine having applied
// the leader's commit index (ns/op; ms/open is New alone). "rebuild" is
// the behaviour before state.go (the file deleted, rebuilt from the
// snapshot and the log); "reuse" keeps the file of a node stopped
// cleanly; "reuse-abrupt" the file of a node stopped as kill -9 leaves it.
//
//	go test -run '^$' -bench BenchmarkNodeRestart -benchtime 5x ./central/
func BenchmarkNodeRestart(b *testing.B) {
	const records, perEntry, tail = 200_000, 1000, 1000
	c := newCluster(b)
	l := c.leader()
	ctx := ctxTimeout(b, 10*time.Minute)
	value := strings.Repeat("Bonjour, ceci est un message de charge. ", 5) // ~200 bytes, as a message
	now := time.Now().UnixMilli()
	for i := 0; i < records; i += perEntry {
		cmds := make([]record.Command, perEntry)
		for j := range cmds {
			cmds[j] = putCmd("central", "0130040Y", fmt.Sprintf("m%07d", i+j), "", value, now)
		}
		if _, err := l.SubmitBatch(ctx, cmds); err != nil {
			b.Fatal(err)
		}
	}
	c.waitCaughtUp()
	f := c.follower()
	name := f.cfg.Name
	if err := f.raft.Snapshot().Error(); err != nil {
		b.Fatalf("snapshot: %v", err)
	}
	for i := range tail {
		cmds := make([]record.Command, 10)
		for j := range cmds {
			cmds[j] = putCmd("central", "0130040Y", fmt.Sprintf("t%07d", i*10+j), "", value, now)
		}
		if _, err := l.SubmitBatch(ctx, cmds); err != nil {
			b.Fatal(err)
		}
	}
	c.waitCaughtUp()
	parent := c.t
	for _, v := range []struct {
		name    string
		stop    func(string) Config
		rebuild bool
	}{
		{"rebuild", c.stopCleanly, true},
		{"reuse", c.stopCleanly, false},
		{"reuse-abrupt", c.stopAbruptly, false},
	} {
		b.Run(v.name, func(b *testing.B) {
			c.t = b
			defer func() { c.t = parent }()
			var open time.Duration
			b.StopTimer()
			for range b.N {
				cfg := v.stop(name)
				if v.rebuild {
					os.Remove(filepath.Join(cfg.DataDir, "state.boot"))
				}
				b.StartTimer()
				start := time.Now()
				r := c.start(cfg)
				open += time.Since(start)
				commit := c.leader().CommitIndex()
				deadline := time.After(2 * time.Minute)
				for {
					ch := r.Changed()
					if r.AppliedIndex() >= commit {
						break
					}
					select {
					case <-ch:
					case <-deadline:
						b.Fatalf("%s applied %d after 2 min, want %d", name, r.AppliedIndex(), commit)
					}
				}
				b.StopTimer()
				if s := r.StateOpen(); s.Reused == v.rebuild {
					b.Fatalf("StateOpen() = %+v, want reused %v", s, !v.rebuild)
				}
			}
			b.ReportMetric(float64(open.Milliseconds())/float64(b.N), "ms/open")
		})
	}
}

// TestApplyFormat fails when an entry type is added without a new
// applyFormat: a state file written by a version that skipped the new
// type must be rebuilt, not kept (state.go).
func TestApplyFormat(t *testing.T) {
	highest := 0
	for typ := 1; typ < 256; typ++ {
		if _, err := decodeEntry([]byte{byte(typ), entryFormat}); !errors.Is(err, errUnknownEntry) {
			highest = typ
		}
	}
	if want := fmt.Sprintf("%d:%d", entryFormat, highest); applyFormat != want {
		t.Errorf("applyFormat = %q, want %q (entry format : highest entry type decoded)", applyFormat, want)
	}
}
