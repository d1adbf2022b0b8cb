package central

import (
	"testing"

	"go.etcd.io/bbolt"

	"atrium/record"
)

// TestWriterReadsItsWrites checks that the caches of a write transaction
// (decoded records, a Get that found nothing, the counters) never hide a
// Put from a later Get or Put of the same transaction.
func TestWriterReadsItsWrites(t *testing.T) {
	f := newTestFSM(t)
	err := f.db.Update(func(tx *bbolt.Tx) error {
		st := newTxState(tx)
		w := &writer{reader: reader{tx: tx, st: st}, cmd: record.Command{Time: 1000}}
		if _, ok, err := w.Get("P", "a"); ok || err != nil {
			t.Fatalf("Get(P, a) before any Put = ok %v, err %v", ok, err)
		}
		for i, body := range []string{"1", "2", "3"} {
			if err := w.Put(record.Record{Partition: "P", ID: "a", Kind: "item", Key: "k", Body: []byte(body)}); err != nil {
				t.Fatalf("Put %d: %v", i, err)
			}
			got, ok, err := w.Get("P", "a")
			if err != nil || !ok || string(got.Body) != body || got.Seq != uint64(i+1) || got.Version.Central != uint64(i+1) {
				t.Fatalf("Get after Put %d = %+v, %v, %v; want body %s, seq and version %d", i, got, ok, err, body, i+1)
			}
			got.Body[0] = 'x' // the caller's copy: must not change what the next Get sees
			if again, _, _ := w.Get("P", "a"); string(again.Body) != body {
				t.Fatalf("Get after changing a returned body = %q, want %q", again.Body, body)
			}
		}
		return st.flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := get(t, f, "P", "a")
	if !ok || string(rec.Body) != "3" || rec.Seq != 3 {
		t.Fatalf("after commit: Get(P, a) = %+v, %v; want body 3, seq 3", rec, ok)
	}
	var last uint64
	f.view(func(r reader) error { last = r.lastSeq("P"); return nil })
	if last != 3 {
		t.Errorf("last seq of P = %d, want 3", last)
	}
}
