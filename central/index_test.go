package central

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/bbolt"

	"atrium/record"
)

// wordsIndex indexes a record by the words of its body.
var wordsIndex = termIndex{terms: func(r record.Record) []string { return strings.Fields(string(r.Body)) }, version: "w1"}

func newIndexedFSM(t *testing.T, ix termIndex) *fsm {
	t.Helper()
	f, err := openFSM(filepath.Join(t.TempDir(), "state.db"), testExec, ix, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	return f
}

// putRecords writes recs with the state machine's writer, in one
// transaction, as ApplyBatch would.
func putRecords(t *testing.T, f *fsm, recs ...record.Record) {
	t.Helper()
	putRecordsMade(t, f, func(int) bool { return false }, recs...)
}

// putRecordsMade is putRecords where fromEdge(i) tells that recs[i] is
// written by an edge's command (its version counts the edge's change).
func putRecordsMade(t *testing.T, f *fsm, fromEdge func(i int) bool, recs ...record.Record) {
	t.Helper()
	err := f.db.Update(func(tx *bbolt.Tx) error {
		st := newTxState(tx)
		st.idx = f.index.terms
		st.noBlobs = f.noBlobs
		for i, r := range recs {
			w := &writer{reader: reader{tx: tx, st: st}, cmd: record.Command{Time: 1000}, fromEdge: fromEdge(i)}
			if err := w.Put(r); err != nil {
				return err
			}
		}
		return st.flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	f.pend = nil // written outside ApplyBatch: the state machine reads keysnew again (keys.go)
}

func termIDs(t *testing.T, f *fsm, partition, kind, term string) []string {
	t.Helper()
	var ids []string
	err := f.view(func(r reader) error {
		return r.ScanTerm(partition, kind, term, func(rec record.Record) error {
			ids = append(ids, rec.ID)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("ScanTerm(%s, %s, %s) = %v", partition, kind, term, err)
	}
	return ids
}

func TestScanTerm(t *testing.T) {
	f := newIndexedFSM(t, wordsIndex)
	rec := func(p, id, kind, body string) record.Record {
		return record.Record{Partition: p, ID: id, Kind: kind, Body: []byte(body)}
	}
	putRecords(t, f,
		rec("P", "a", "msg", "u:1 u:2"),
		rec("P", "b", "msg", "u:2 u:2"),
		rec("P", "c", "msg", "u:1"),
		rec("P", "d", "other", "u:1"),
		rec("Q", "e", "msg", "u:1"),
	)
	type want struct {
		p, kind, term string
		ids           []string
	}
	check := func(step string, tests []want) {
		t.Helper()
		for _, tt := range tests {
			if got := termIDs(t, f, tt.p, tt.kind, tt.term); !cmp.Equal(got, tt.ids) {
				t.Errorf("%s: ScanTerm(%s, %s, %s) = %q, want %q", step, tt.p, tt.kind, tt.term, got, tt.ids)
			}
		}
	}
	check("written", []want{
		{"P", "msg", "u:1", []string{"c", "a"}},
		{"P", "msg", "u:2", []string{"b", "a"}},
		{"P", "other", "u:1", []string{"d"}},
		{"Q", "msg", "u:1", []string{"e"}},
		{"P", "msg", "u:", nil},
		{"R", "msg", "u:1", nil},
	})

	del := rec("P", "c", "msg", "u:1")
	del.Deleted = true
	putRecords(t, f,
		rec("P", "a", "msg", "u:2 u:4"), // terms change
		del,                             // tombstone
		rec("P", "d", "msg", "u:4"),     // kind change
	)
	check("updated", []want{
		{"P", "msg", "u:1", nil},
		{"P", "msg", "u:2", []string{"b", "a"}},
		{"P", "msg", "u:4", []string{"d", "a"}},
		{"P", "other", "u:1", nil},
	})

	var n int
	err := f.view(func(r reader) error {
		return r.ScanTerm("P", "msg", "u:2", func(record.Record) error { n++; return record.ErrStop })
	})
	if err != nil || n != 1 {
		t.Errorf("ScanTerm stopped = %v after %d records, want nil after 1", err, n)
	}
	boom := errors.New("boom")
	err = f.view(func(r reader) error {
		return r.ScanTerm("P", "msg", "u:2", func(record.Record) error { return boom })
	})
	if !errors.Is(err, boom) {
		t.Errorf("ScanTerm failing = %v, want %v", err, boom)
	}
	var entries int
	f.db.View(func(tx *bbolt.Tx) error {
		entries = tx.Bucket(bucketParts).Bucket([]byte("P")).Bucket(subTerms).Stats().KeyN
		return nil
	})
	if entries != 4 {
		t.Errorf("index entries of P = %d, want 4 (a: u:2 u:4, b: u:2, d: u:4)", entries)
	}
}

// TestIndexRebuiltOnRestore: a snapshot taken without the index (an older
// version) or by another Indexer is restored with the index rebuilt, and a
// state machine without an Indexer says so.
func TestIndexRebuiltOnRestore(t *testing.T) {
	old := newIndexedFSM(t, termIndex{})
	putRecords(t, old,
		record.Record{Partition: "P", ID: "a", Kind: "msg", Body: []byte("u:1 x")},
		record.Record{Partition: "P", ID: "b", Kind: "msg", Body: []byte("u:1")},
	)
	err := old.view(func(r reader) error {
		return r.ScanTerm("P", "msg", "u:1", func(record.Record) error { return nil })
	})
	if !errors.Is(err, record.ErrNoIndex) {
		t.Errorf("ScanTerm without an Indexer = %v, want ErrNoIndex", err)
	}
	f := newIndexedFSM(t, wordsIndex)
	if err := f.Restore(snapshotOf(t, old)); err != nil {
		t.Fatal(err)
	}
	if got, want := termIDs(t, f, "P", "msg", "u:1"), []string{"b", "a"}; !cmp.Equal(got, want) {
		t.Errorf("restored from a snapshot without the index: ScanTerm(u:1) = %q, want %q", got, want)
	}
	// Its snapshot carries the index: restored by the same Indexer as is.
	g := newIndexedFSM(t, wordsIndex)
	if err := g.Restore(snapshotOf(t, f)); err != nil {
		t.Fatal(err)
	}
	if got, want := termIDs(t, g, "P", "msg", "x"), []string{"a"}; !cmp.Equal(got, want) {
		t.Errorf("restored from an indexed snapshot: ScanTerm(x) = %q, want %q", got, want)
	}
	// Another Indexer version: rebuilt with its terms.
	upper := termIndex{terms: func(r record.Record) []string { return strings.Fields(strings.ToUpper(string(r.Body))) }, version: "w2"}
	h := newIndexedFSM(t, upper)
	if err := h.Restore(snapshotOf(t, f)); err != nil {
		t.Fatal(err)
	}
	if got := termIDs(t, h, "P", "msg", "x"); got != nil {
		t.Errorf("restored by another Indexer: ScanTerm(x) = %q, want none", got)
	}
	if got, want := termIDs(t, h, "P", "msg", "U:1"), []string{"b", "a"}; !cmp.Equal(got, want) {
		t.Errorf("restored by another Indexer: ScanTerm(U:1) = %q, want %q", got, want)
	}
}
