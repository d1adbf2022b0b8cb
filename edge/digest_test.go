package edge

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"atrium/appliance"
	"atrium/internal/metrictest"
	"atrium/record"
	"atrium/replication"
)

// storeDigest returns the store's digest of partition, checking that it
// equals the one computed afresh from the records.
func storeDigest(t *testing.T, s *Store, partition string) (record.Digest, uint64, bool) {
	t.Helper()
	d, cp, settled, err := s.Digest(partition)
	if err != nil {
		t.Fatalf("Digest(%s) = %v", partition, err)
	}
	fresh, err := s.RecomputeDigest(partition)
	if err != nil {
		t.Fatalf("RecomputeDigest(%s) = %v", partition, err)
	}
	if d != fresh {
		t.Errorf("incremental digest of %s = %v, recomputed from the records = %v", partition, d, fresh)
	}
	return d, cp, settled
}

func digestOf(recs ...record.Record) record.Digest {
	var d record.Digest
	for _, r := range recs {
		d.Xor(record.DigestOf(r))
	}
	return d
}

func TestDigestFollowsWrites(t *testing.T) {
	s, path := newTestStore(t)
	a := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: 1, Body: []byte(`{"v":1}`)}
	b := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: "jdupont", Seq: 2, Body: []byte(`{}`)}
	if err := s.ApplyChanges(testUAI, []record.Record{a, b}, 2); err != nil {
		t.Fatal(err)
	}
	if d, cp, settled := storeDigest(t, s, testUAI); d != digestOf(a, b) || cp != 2 || !settled {
		t.Errorf("Digest after the feed = %v, %d, %v; want %v, 2, true", d, cp, settled, digestOf(a, b))
	}

	// A local write changes the digest and is not settled until central's
	// version of the record comes back.
	local := b
	local.Body = []byte(`{"photo":"x"}`)
	if err := s.Submit(t.Context(), putCmd(t, opPut, local)); err != nil {
		t.Fatal(err)
	}
	if _, _, settled := storeDigest(t, s, testUAI); settled {
		t.Errorf("Digest settled = true with a local write in flight")
	}
	b2 := local
	b2.Seq = 3
	a2 := a
	a2.Deleted, a2.Body, a2.Seq = true, nil, 4 // a tombstone
	if err := s.ApplyChanges(testUAI, []record.Record{b2, a2}, 4); err != nil {
		t.Fatal(err)
	}
	want := digestOf(a2, b2)
	if d, cp, settled := storeDigest(t, s, testUAI); d != want || cp != 4 || !settled {
		t.Errorf("Digest after central's versions = %v, %d, %v; want %v, 4, true", d, cp, settled, want)
	}
	// The audit trail, written locally only, is another partition.
	audit := record.Record{Partition: record.AuditPartition(testUAI), ID: record.NewID(), Kind: "audit", Body: []byte(`{}`)}
	cmd := putCmd(t, opPut, audit)
	cmd.Partition = testUAI // the lycée's command writes its audit trail
	if err := s.Submit(t.Context(), cmd); err != nil {
		t.Fatal(err)
	}
	if d, _, settled := storeDigest(t, s, testUAI); d != want || !settled {
		t.Errorf("Digest after an audit entry = %v, %v; want %v, true (the outbox is not the lycée's partition)", d, settled, want)
	}

	// A file from before the digests (no stamp, stale values) has them
	// rebuilt at open, equal to the incremental ones.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Delete(metaDigest); err != nil {
			return err
		}
		return tx.Bucket(bucketDigests).Put([]byte(testUAI), make([]byte, record.DigestSize))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openTest(t, path)
	if d, _, _ := storeDigest(t, s2, testUAI); d != want {
		t.Errorf("Digest rebuilt at open = %v, want %v", d, want)
	}
}

func TestSwapStaged(t *testing.T) {
	s, _ := newTestStore(t)
	keep := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: "jdupont", Seq: 1, Body: []byte(`{}`)}
	changed := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: 2, Body: []byte(`{"v":1}`)}
	gone := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: 3, Body: []byte(`{}`)}
	if err := s.ApplyChanges(testUAI, []record.Record{keep, changed, gone}, 3); err != nil {
		t.Fatal(err)
	}
	// Central holds keep, changed in another version, and a tombstone of
	// a fourth record; not gone.
	changed2 := changed
	changed2.Body, changed2.Seq = []byte(`{"v":2}`), 5
	dead := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: 4, Deleted: true}
	if err := s.BeginRepair(testUAI); err != nil {
		t.Fatal(err)
	}
	for _, page := range [][]record.Record{{keep, dead}, {changed2}} {
		if err := s.StageChanges(testUAI, page); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.SwapStaged(testUAI, 5); !ok || err != nil {
		t.Fatalf("SwapStaged = %v, %v; want true, nil", ok, err)
	}
	if d, cp, _ := storeDigest(t, s, testUAI); d != digestOf(keep, changed2, dead) || cp != 5 {
		t.Errorf("Digest after the swap = %v, %d; want central's %v, 5", d, cp, digestOf(keep, changed2, dead))
	}
	if _, ok := get(t, s, testUAI, gone.ID); ok {
		t.Errorf("record central does not hold survived the swap")
	}
	if r, ok := get(t, s, testUAI, changed.ID); !ok || string(r.Body) != `{"v":2}` {
		t.Errorf("changed record after the swap = %s, %v; want central's body", r.Body, ok)
	}
	if r, ok := byKey(t, s, "user", "jdupont"); !ok || r.ID != keep.ID {
		t.Errorf("ByKey(jdupont) after the swap = %v, %v; want %s", r.ID, ok, keep.ID)
	}
	var scanned []string
	s.View(func(r record.Reader) error {
		return r.Scan(testUAI, "news", func(rec record.Record) error { scanned = append(scanned, rec.ID); return nil })
	})
	if len(scanned) != 1 || scanned[0] != changed.ID {
		t.Errorf("Scan(news) after the swap = %v, want [%s] (no tombstone, nothing dropped)", scanned, changed.ID)
	}

	// With a local write in flight, nothing is swapped.
	local := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{}`)}
	if err := s.Submit(t.Context(), putCmd(t, opPut, local)); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginRepair(testUAI); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SwapStaged(testUAI, 6); ok || err != nil {
		t.Errorf("SwapStaged with a local write in flight = %v, %v; want false, nil", ok, err)
	}
	if _, ok := get(t, s, testUAI, local.ID); !ok {
		t.Errorf("a refused swap dropped the local write")
	}
}

// digestCentral is fakeCentral with the digests central keeps: of the
// latest version of each record of a partition.
type digestCentral struct{ *fakeCentral }

func (c digestCentral) Digest(partition string) (record.Digest, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	latest := map[string]record.Record{}
	feed := c.feeds[partition]
	for _, r := range feed {
		latest[r.ID] = r
	}
	var d record.Digest
	for _, r := range latest {
		d.Xor(record.DigestOf(r))
	}
	return d, uint64(len(feed)), nil
}

var _ replication.Digester = digestCentral{}

// TestCorruptedEdgeRepaired corrupts an edge's copy of its partition as a
// bug in its store would (a record central never wrote, a body changed,
// both through the store's own write path): the next sync detects it,
// counts it, repairs it from a full pull, and the digests agree again.
func TestCorruptedEdgeRepaired(t *testing.T) {
	central := digestCentral{newFakeCentral()}
	user := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: "jdupont", Body: []byte(`{"nom":"Dupont"}`)}
	news := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{"titre":"Rentrée"}`)}
	central.put(user)
	central.put(news)

	serverTLS, edgeTLS := testTLS(t, testUAI)
	srv, err := replication.NewServer(replication.ServerConfig{
		Addr: "127.0.0.1:0", TLS: serverTLS, Source: central, UAIOf: appliance.EdgeUAI,
		Visible: func(uai string, r record.Record) bool { return r.Partition == uai },
	})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, "server", srv.Serve)
	reg := prometheus.NewRegistry()
	node, err := New(Config{DataDir: t.TempDir(), UAI: testUAI, Exec: testExec, Servers: []string{srv.Addr().String()}, TLS: edgeTLS, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, "node", node.Serve)
	store := node.Store()

	waitFor(t, "digest verified at seq 2", func() bool { return node.Status().Digest.VerifiedSeq == 2 })
	if got := metrictest.Value(t, reg, "atrium_edge_digest_verified_seq"); got != 2 {
		t.Errorf("atrium_edge_digest_verified_seq = %v, want 2", got)
	}

	// The corruption: a record central never wrote, and another body for
	// one it did.
	bogus := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: 2, Body: []byte(`{"titre":"Fantôme"}`)}
	err = store.db.Update(func(tx *bolt.Tx) error {
		rd := newReader(tx, store.idx, store.sealer)
		if err := rd.put(bogus, record.Record{}, false); err != nil {
			return err
		}
		old, _, _ := rd.getIndexed(testUAI, user.ID)
		bad := old
		bad.Body = []byte(`{"nom":"Durand"}`)
		return rd.put(bad, old, true)
	})
	if err != nil {
		t.Fatal(err)
	}

	// The next change at central wakes the long-poll: its answer carries
	// central's digest, which differs.
	central.put(record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{}`)})
	waitFor(t, "partition repaired and verified at seq 3", func() bool {
		st := node.Status().Digest
		return st.Repairs == 1 && st.VerifiedSeq == 3
	})
	st := node.Status().Digest
	if st.Mismatches != 1 {
		t.Errorf("Status().Digest.Mismatches = %d, want 1", st.Mismatches)
	}
	if mismatches, repairs := metrictest.Sum(t, reg, "atrium_edge_digest_mismatch_total"), metrictest.Sum(t, reg, "atrium_edge_digest_repairs_total"); mismatches != 1 || repairs != 1 {
		t.Errorf("mismatch, repairs counters = %v, %v; want 1, 1", mismatches, repairs)
	}
	if _, ok := get(t, store, testUAI, bogus.ID); ok {
		t.Errorf("the bogus record survived the repair")
	}
	if r, ok := get(t, store, testUAI, user.ID); !ok || string(r.Body) != `{"nom":"Dupont"}` {
		t.Errorf("user after the repair = %s, %v; want central's body", r.Body, ok)
	}
	want, _, _ := central.Digest(testUAI)
	if d, cp, _ := storeDigest(t, store, testUAI); d != want || cp != 3 {
		t.Errorf("edge digest after the repair = %v at %d, want central's %v at 3", d, cp, want)
	}
}
