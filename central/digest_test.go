package central

import (
	"log/slog"
	"testing"

	"go.etcd.io/bbolt"

	"atrium/record"
)

// storedDigest reads the digest Put maintains, and computes it afresh.
func storedDigest(t *testing.T, f *fsm, partition string) (stored, fresh record.Digest) {
	t.Helper()
	err := f.view(func(r reader) error {
		var err error
		if stored, _, err = r.digest(partition); err != nil {
			return err
		}
		if p := r.part(partition); p != nil {
			fresh, err = digestRecords(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return stored, fresh
}

func TestDigestIncremental(t *testing.T) {
	f := newIndexedFSM(t, termIndex{})
	rec := func(id, body string, deleted bool) record.Record {
		return record.Record{Partition: "P", ID: id, Kind: "item", Body: []byte(body), Deleted: deleted}
	}
	putRecords(t, f, rec("a", "1", false), rec("b", "2", false), rec("c", "3", false))
	before, _ := storedDigest(t, f, "P")
	putRecords(t, f, rec("b", "2bis", false)) // an update
	putRecords(t, f, rec("c", "", true))      // a tombstone
	putRecords(t, f, record.Record{Partition: "Q", ID: "z", Kind: "item"})

	stored, fresh := storedDigest(t, f, "P")
	if stored != fresh {
		t.Errorf("incremental digest of P = %v, recomputed = %v", stored, fresh)
	}
	if stored == before {
		t.Errorf("digest of P unchanged by an update and a tombstone")
	}
	// The same records written in another order (hence other sequence
	// numbers) give another digest: the sequence is part of what an edge
	// must hold. Written in the same order, the same one.
	g := newIndexedFSM(t, termIndex{})
	putRecords(t, g, rec("a", "1", false), rec("b", "2", false), rec("c", "3", false))
	putRecords(t, g, rec("b", "2bis", false))
	putRecords(t, g, rec("c", "", true))
	if d, _ := storedDigest(t, g, "P"); d != stored {
		t.Errorf("digest of the same history = %v, want %v", d, stored)
	}
	if d, _ := storedDigest(t, f, "Q"); d != record.DigestOf(record.Record{Partition: "Q", ID: "z", Kind: "item", Seq: 1}) {
		t.Errorf("digest of Q = %v, want its one record's", d)
	}
}

func TestDigestRebuiltAtOpen(t *testing.T) {
	f := newIndexedFSM(t, termIndex{})
	for i := range 50 {
		putRecords(t, f, record.Record{Partition: "P", ID: string(rune('a' + i%26)), Kind: "item", Body: []byte{byte(i)}})
	}
	want, _ := storedDigest(t, f, "P")
	// A state file from before the digests: no stamp, no digests (or
	// stale ones).
	err := f.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Delete(keyDigest); err != nil {
			return err
		}
		return tx.Bucket(bucketParts).Bucket([]byte("P")).Put(keyDigest, make([]byte, record.DigestSize))
	})
	if err != nil {
		t.Fatal(err)
	}
	path := f.path
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	db, err := openBolt(path, termIndex{})
	if err != nil {
		t.Fatal(err)
	}
	g := &fsm{path: path, db: db, log: slog.New(slog.DiscardHandler), notify: make(chan struct{})}
	t.Cleanup(func() { g.close() })
	if got, _ := storedDigest(t, g, "P"); got != want {
		t.Errorf("digest rebuilt at open = %v, want the incremental %v", got, want)
	}
}
