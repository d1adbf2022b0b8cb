package replication

import (
	"errors"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"atrium/internal/metrictest"
	"atrium/record"
)

// horizonSource is a central whose feed holds only each record's latest
// change (as central's does) and purges tombstones: Floor is the highest
// sequence of a tombstone purged.
type horizonSource struct {
	*fakeSource
	hmu    sync.Mutex
	latest map[string]map[string]record.Record // partition -> id -> latest change
	floor  map[string]uint64
}

func newHorizonSource() *horizonSource {
	return &horizonSource{fakeSource: newFakeSource(), latest: map[string]map[string]record.Record{}, floor: map[string]uint64{}}
}

// write records a change of r (a new version, or a deletion).
func (s *horizonSource) write(r record.Record) record.Record {
	r = s.put(r)
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.latest[r.Partition] == nil {
		s.latest[r.Partition] = map[string]record.Record{}
	}
	s.latest[r.Partition][r.ID] = r
	return r
}

// purge drops partition's tombstones and raises its floor.
func (s *horizonSource) purge(partition string) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	for id, r := range s.latest[partition] {
		if r.Deleted {
			delete(s.latest[partition], id)
			s.floor[partition] = max(s.floor[partition], r.Seq)
		}
	}
}

func (s *horizonSource) Changes(partition string, since uint64, limit int) ([]record.Record, uint64, error) {
	s.mu.Lock()
	s.reads[partition] = append(s.reads[partition], since)
	head := s.seq[partition]
	s.mu.Unlock()
	s.hmu.Lock()
	var recs []record.Record
	for _, r := range s.latest[partition] {
		if r.Seq > since {
			recs = append(recs, r)
		}
	}
	s.hmu.Unlock()
	sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	if len(recs) > limit {
		recs = recs[:limit]
		return recs, recs[len(recs)-1].Seq, nil
	}
	return recs, max(head, since), nil
}

func (s *horizonSource) Floor(partition string) (uint64, error) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.floor[partition], nil
}

// live returns partition's live records at central, by id, with their
// sequence numbers.
func (s *horizonSource) live(partition string) map[string]uint64 {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	out := map[string]uint64{}
	for id, r := range s.latest[partition] {
		if !r.Deleted {
			out[id] = r.Seq
		}
	}
	return out
}

// snapSink is a fakeSink that takes snapshots; failStage makes the given
// StageSnapshot call (1 = the first) fail, as a cut link or a crash would.
type snapSink struct {
	*fakeSink
	smu       sync.Mutex
	staging   map[string]map[string]record.Record
	progress  map[string]SnapshotProgress
	stages    int
	failStage int
}

func newSnapSink(uai string) *snapSink {
	return &snapSink{fakeSink: newFakeSink(uai, 1000), staging: map[string]map[string]record.Record{}, progress: map[string]SnapshotProgress{}}
}

func (k *snapSink) SnapshotState(p string) (SnapshotProgress, bool, error) {
	k.smu.Lock()
	defer k.smu.Unlock()
	pr, ok := k.progress[p]
	return pr, ok, nil
}

func (k *snapSink) BeginSnapshot(p string, floor uint64) error {
	k.smu.Lock()
	defer k.smu.Unlock()
	k.staging[p] = map[string]record.Record{}
	k.progress[p] = SnapshotProgress{Floor: floor}
	return nil
}

func (k *snapSink) StageSnapshot(p string, recs []record.Record, staged uint64) (SnapshotProgress, error) {
	k.smu.Lock()
	defer k.smu.Unlock()
	k.stages++
	if k.stages == k.failStage {
		return SnapshotProgress{}, errors.New("disk unplugged")
	}
	pr, ok := k.progress[p]
	if !ok {
		return pr, errors.New("no snapshot in progress")
	}
	for _, r := range recs {
		if _, had := k.staging[p][r.ID]; !had {
			pr.Records++
		}
		k.staging[p][r.ID] = r
	}
	pr.Staged = staged
	k.progress[p] = pr
	return pr, nil
}

func (k *snapSink) SwapSnapshot(p string, cp uint64) (int, error) {
	k.smu.Lock()
	defer k.smu.Unlock()
	if _, ok := k.progress[p]; !ok {
		return 0, errors.New("no snapshot in progress")
	}
	k.mu.Lock()
	k.records[p] = maps.Clone(k.staging[p])
	k.checkpoints[p] = cp
	k.mu.Unlock()
	delete(k.progress, p)
	delete(k.staging, p)
	return 0, nil
}

// liveHeld returns the sink's live records of p by id, with sequences.
func (k *snapSink) liveHeld(p string) map[string]uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]uint64{}
	for id, r := range k.records[p] {
		if !r.Deleted {
			out[id] = r.Seq
		}
	}
	return out
}

// cutOff writes six records, has the sink hold them at checkpoint 6, then
// (the edge away) deletes two, changes one, adds three and purges the
// tombstones: the sink's checkpoint is below the floor.
func cutOff(t *testing.T, src *horizonSource, sink *snapSink) {
	t.Helper()
	var recs []record.Record
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		recs = append(recs, src.write(record.Record{Partition: uaiA, ID: id, Kind: "news", Body: []byte(`{"v":1}`)}))
	}
	if err := sink.ApplyChanges(uaiA, recs, 6); err != nil {
		t.Fatal(err)
	}
	src.write(record.Record{Partition: uaiA, ID: "b", Kind: "news", Deleted: true})
	src.write(record.Record{Partition: uaiA, ID: "e", Kind: "news", Deleted: true})
	src.write(record.Record{Partition: uaiA, ID: "c", Kind: "news", Body: []byte(`{"v":2}`)})
	for _, id := range []string{"g", "h", "i"} {
		src.write(record.Record{Partition: uaiA, ID: id, Kind: "news", Body: []byte(`{"v":1}`)})
	}
	src.purge(uaiA)
	if fl, _ := src.Floor(uaiA); fl != 8 {
		t.Fatalf("floor after the purge = %d, want 8", fl)
	}
}

func TestSnapshotAfterHorizon(t *testing.T) {
	pki := newPKI(t)
	src := newHorizonSource()
	sink := newSnapSink(uaiA)
	cutOff(t, src, sink)
	srv := startServer(t, pki, src)
	reg := prometheus.NewRegistry()
	c := startClient(t, ClientConfig{UAI: uaiA, Partitions: []string{uaiA}, Servers: []string{srv.Addr().String()},
		TLS: pki.edgeTLS(t, uaiA), Sink: sink, MinBackoff: 20 * time.Millisecond, PullLimit: 2, Registerer: reg})

	waitFor(t, "snapshot swapped in", 10*time.Second, func() bool { return c.Status().Snapshots[uaiA].Completed == 1 })
	if diff := cmp.Diff(src.live(uaiA), sink.liveHeld(uaiA)); diff != "" {
		t.Errorf("edge's records after the snapshot (-central +edge):\n%s", diff)
	}
	for _, id := range []string{"b", "e"} {
		if sink.has(uaiA, id) {
			t.Errorf("edge still holds %s, deleted at central while it was away", id)
		}
	}
	if cp, _ := sink.Checkpoint(uaiA); cp != 12 {
		t.Errorf("checkpoint after the snapshot = %d, want 12 (central's head)", cp)
	}
	st := c.Status().Snapshots[uaiA]
	if st.InProgress || st.ResumedFrom != 0 || st.Checkpoint != 12 || st.Records != 7 {
		t.Errorf("snapshot status = %+v, want done, from 0, checkpoint 12, 7 records staged", st)
	}
	if got := metrictest.Sum(t, reg, "atrium_edge_snapshots_total"); got != 1 {
		t.Errorf("atrium_edge_snapshots_total = %v, want 1", got)
	}
	// The pull from 6 was refused before any read; the snapshot pulled
	// from 0 in pages of 2 (of the latest changes only).
	if reads := src.readsOf(uaiA); len(reads) < 4 || !slices.Equal(reads[:4], []uint64{0, 4, 9, 11}) {
		t.Errorf("reads of %s's feed = %v, want 0, 4, 9, 11 (pages of 2) first", uaiA, reads)
	}
	// Later changes come by the feed as usual.
	later := src.write(record.Record{Partition: uaiA, ID: "j", Kind: "news"})
	waitFor(t, "live change after the snapshot", 10*time.Second, func() bool { return sink.has(uaiA, later.ID) })
	if n := c.Status().Snapshots[uaiA].Completed; n != 1 {
		t.Errorf("snapshots completed = %d, want 1", n)
	}
}

// An interrupted snapshot resumes from the sequence it staged, in the next
// session.
func TestSnapshotResumes(t *testing.T) {
	pki := newPKI(t)
	src := newHorizonSource()
	sink := newSnapSink(uaiA)
	cutOff(t, src, sink)
	sink.failStage = 3 // the third page fails: the session ends
	srv := startServer(t, pki, src)
	c := startClient(t, ClientConfig{UAI: uaiA, Partitions: []string{uaiA}, Servers: []string{srv.Addr().String()},
		TLS: pki.edgeTLS(t, uaiA), Sink: sink, MinBackoff: 20 * time.Millisecond, PullLimit: 2})

	waitFor(t, "snapshot swapped in", 10*time.Second, func() bool { return c.Status().Snapshots[uaiA].Completed == 1 })
	st := c.Status().Snapshots[uaiA]
	if st.ResumedFrom == 0 {
		t.Errorf("snapshot status = %+v, want it resumed from a sequence above 0", st)
	}
	// Two pulls from 0 would mean it started over.
	if n := count(src.readsOf(uaiA), 0); n != 1 {
		t.Errorf("pulls of %s from 0 = %d (%v), want 1", uaiA, n, src.readsOf(uaiA))
	}
	if diff := cmp.Diff(src.live(uaiA), sink.liveHeld(uaiA)); diff != "" {
		t.Errorf("edge's records after the resumed snapshot (-central +edge):\n%s", diff)
	}
}

// A snapshot whose staged sequence central's floor passed starts over.
func TestSnapshotRestartsPastFloor(t *testing.T) {
	pki := newPKI(t)
	src := newHorizonSource()
	sink := newSnapSink(uaiA)
	cutOff(t, src, sink)
	// An earlier run staged up to 4; since then a, staged, was deleted
	// and purged.
	if err := sink.BeginSnapshot(uaiA, 8); err != nil {
		t.Fatal(err)
	}
	recs, last, _ := src.Changes(uaiA, 0, 2)
	if _, err := sink.StageSnapshot(uaiA, recs, last); err != nil {
		t.Fatal(err)
	}
	src.write(record.Record{Partition: uaiA, ID: "a", Kind: "news", Deleted: true})
	src.purge(uaiA)

	srv := startServer(t, pki, src)
	c := startClient(t, ClientConfig{UAI: uaiA, Partitions: []string{uaiA}, Servers: []string{srv.Addr().String()},
		TLS: pki.edgeTLS(t, uaiA), Sink: sink, MinBackoff: 20 * time.Millisecond, PullLimit: 2})
	waitFor(t, "snapshot swapped in", 10*time.Second, func() bool { return c.Status().Snapshots[uaiA].Completed == 1 })
	if st := c.Status().Snapshots[uaiA]; st.Restarts != 1 {
		t.Errorf("snapshot status = %+v, want one restart from 0", st)
	}
	if sink.has(uaiA, "a") {
		t.Errorf("edge holds a, deleted and purged at central, after the snapshot")
	}
	if diff := cmp.Diff(src.live(uaiA), sink.liveHeld(uaiA)); diff != "" {
		t.Errorf("edge's records after the snapshot (-central +edge):\n%s", diff)
	}
}

// The server refuses a Pull below the floor, and serves one from 0 or at
// the floor.
func TestServerHorizon(t *testing.T) {
	src := newHorizonSource()
	sink := newSnapSink(uaiA)
	cutOff(t, src, sink)
	s := &Server{cfg: ServerConfig{Source: src}}
	for _, tc := range []struct {
		since    uint64
		snapshot bool
		floor    uint64 // the snapshot's
		code     string
	}{
		{0, false, 0, ""}, {3, false, 0, CodeHorizon}, {7, false, 0, CodeHorizon}, {8, false, 0, ""}, {12, false, 0, ""},
		{0, true, 8, ""}, {3, true, 8, ""}, // begun at the floor: every page is served
		{0, true, 2, CodeHorizon}, {3, true, 2, CodeHorizon}, // begun before the purge
		{9, true, 2, ""}, // the purged tombstone was already passed
	} {
		e := s.checkFloor(&Pull{Partition: uaiA, Since: tc.since, Snapshot: tc.snapshot, SnapshotFloor: tc.floor})
		got := ""
		if e != nil {
			got = e.Code
		}
		if got != tc.code {
			t.Errorf("checkFloor(since %d, snapshot %v at floor %d) = %q, want %q", tc.since, tc.snapshot, tc.floor, got, tc.code)
		}
		if e != nil && parseFloor(e.Message) != 8 {
			t.Errorf("horizon answer %q names floor %d, want 8", e.Message, parseFloor(e.Message))
		}
	}
}

func count(s []uint64, v uint64) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
