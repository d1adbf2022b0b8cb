package edge

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"atrium/record"
)

// wordsIndexer indexes a record by the words of its body.
func wordsIndexer(r record.Record) []string { return strings.Fields(string(r.Body)) }

// upperIndexer is another Indexer (another version): words in upper case.
func upperIndexer(r record.Record) []string { return strings.Fields(strings.ToUpper(string(r.Body))) }

func openIndexed(t *testing.T, path string, idx record.Indexer, version string) *Store {
	t.Helper()
	s, err := OpenWith(path, testUAI, testExec, Options{Indexer: idx, IndexVersion: version})
	if err != nil {
		t.Fatalf("OpenWith(%s) = %v", path, err)
	}
	return s
}

// termIDs returns the ids ScanTerm finds, in its order.
func termIDs(t *testing.T, s *Store, kind, term string) []string {
	t.Helper()
	var ids []string
	err := s.View(func(r record.Reader) error {
		return r.ScanTerm(testUAI, kind, term, func(rec record.Record) error {
			ids = append(ids, rec.ID)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("ScanTerm(%s, %s) = %v", kind, term, err)
	}
	return ids
}

func TestScanTerm(t *testing.T) {
	s := openIndexed(t, filepath.Join(t.TempDir(), "edge.db"), wordsIndexer, "w1")
	defer s.Close()
	ctx := t.Context()
	at := time.UnixMilli(testTime)
	a, b, c, d := v7(at, 1), v7(at, 2), v7(at, 3), v7(at, 4)
	submit := func(r record.Record) {
		t.Helper()
		r.Partition = testUAI
		if err := s.Submit(ctx, putCmd(t, opPut, r)); err != nil {
			t.Fatalf("Submit(%s) = %v", r.ID, err)
		}
	}
	submit(record.Record{ID: a, Kind: "msg", Body: []byte("u:1 u:2")})
	submit(record.Record{ID: b, Kind: "msg", Body: []byte("u:2 u:2")}) // a duplicate term counts once
	submit(record.Record{ID: c, Kind: "msg", Body: []byte("u:1")})
	submit(record.Record{ID: d, Kind: "other", Body: []byte("u:1")})
	// From central's feed: the id the feed names, with its own terms.
	if err := s.ApplyChanges(testUAI, []record.Record{{Partition: testUAI, ID: v7(at, 5), Kind: "msg", Body: []byte("u:3 u:1"), Seq: 1}}, 1); err != nil {
		t.Fatal(err)
	}
	e := v7(at, 5)
	tests := []struct {
		name, kind, term string
		want             []string
	}{
		{"newest first", "msg", "u:1", []string{e, c, a}},
		{"duplicate term once", "msg", "u:2", []string{b, a}},
		{"other kind apart", "other", "u:1", []string{d}},
		{"unknown term", "msg", "u:9", nil},
		{"prefix of a term is not the term", "msg", "u:", nil},
	}
	check := func(step string) {
		t.Helper()
		for _, tt := range tests {
			if got := termIDs(t, s, tt.kind, tt.term); !cmp.Equal(got, tt.want) {
				t.Errorf("%s: ScanTerm(%s, %s) [%s] = %q, want %q", step, tt.kind, tt.term, tt.name, got, tt.want)
			}
		}
	}
	check("written")

	// An update that changes the terms moves the record; a tombstone
	// removes it; the feed's version replaces the local one's terms.
	submit(record.Record{ID: a, Kind: "msg", Body: []byte("u:2 u:4")})
	submit(record.Record{ID: c, Kind: "msg", Body: []byte("u:1"), Deleted: true})
	if err := s.ApplyChanges(testUAI, []record.Record{{Partition: testUAI, ID: e, Kind: "msg", Body: []byte("u:3"), Seq: 2}}, 2); err != nil {
		t.Fatal(err)
	}
	submit(record.Record{ID: d, Kind: "msg", Body: []byte("u:4")}) // a kind change
	tests = []struct {
		name, kind, term string
		want             []string
	}{
		{"terms changed", "msg", "u:1", nil},
		{"terms added", "msg", "u:4", []string{d, a}},
		{"terms kept", "msg", "u:2", []string{b, a}},
		{"feed changed", "msg", "u:3", []string{e}},
		{"old kind gone", "other", "u:1", nil},
	}
	check("updated")

	// ErrStop ends the scan without error; another error is returned.
	var n int
	err := s.View(func(r record.Reader) error {
		return r.ScanTerm(testUAI, "msg", "u:2", func(record.Record) error { n++; return record.ErrStop })
	})
	if err != nil || n != 1 {
		t.Errorf("ScanTerm stopped = %v after %d records, want nil after 1", err, n)
	}
	boom := errors.New("boom")
	err = s.View(func(r record.Reader) error {
		return r.ScanTerm(testUAI, "msg", "u:2", func(record.Record) error { return boom })
	})
	if !errors.Is(err, boom) {
		t.Errorf("ScanTerm failing = %v, want %v", err, boom)
	}
	// No stale entry stays behind.
	if got := countKeys(t, s, bucketTerms, testUAI+"\x00"); got != 5 {
		t.Errorf("index entries = %d, want 5 (a: u:2 u:4, b: u:2, d: u:4, e: u:3)", got)
	}
}

// TestIndexRebuiltAtOpen: a file written without the index (or by another
// Indexer) has it rebuilt when opened with one, and a store without an
// Indexer says so.
func TestIndexRebuiltAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	at := time.UnixMilli(testTime)
	a, b := v7(at, 1), v7(at, 2)
	s, err := Open(path, testUAI, testExec)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, s, []record.Record{
		{Partition: testUAI, ID: a, Kind: "msg", Body: []byte("u:1 x")},
		{Partition: testUAI, ID: b, Kind: "msg", Body: []byte("u:1")},
	})
	err = s.View(func(r record.Reader) error {
		return r.ScanTerm(testUAI, "msg", "u:1", func(record.Record) error { return nil })
	})
	if !errors.Is(err, record.ErrNoIndex) {
		t.Errorf("ScanTerm without an Indexer = %v, want ErrNoIndex", err)
	}
	s.Close()

	s = openIndexed(t, path, wordsIndexer, "w1")
	if got, want := termIDs(t, s, "msg", "u:1"), []string{b, a}; !cmp.Equal(got, want) {
		t.Errorf("after reopening with an Indexer: ScanTerm(u:1) = %q, want %q", got, want)
	}
	s.Close()

	s = openIndexed(t, path, upperIndexer, "w2")
	if got := termIDs(t, s, "msg", "u:1"); got != nil {
		t.Errorf("after reopening with another Indexer: ScanTerm(u:1) = %q, want none", got)
	}
	if got, want := termIDs(t, s, "msg", "X"), []string{a}; !cmp.Equal(got, want) {
		t.Errorf("after reopening with another Indexer: ScanTerm(X) = %q, want %q", got, want)
	}
	s.Close()

	// Back to a store without an Indexer, then with one again: the index
	// written meanwhile would be stale, so it is rebuilt once more.
	s = openTest(t, path)
	seed(t, s, []record.Record{{Partition: testUAI, ID: a, Kind: "msg", Body: []byte("u:7")}})
	s.Close()
	s = openIndexed(t, path, wordsIndexer, "w1")
	defer s.Close()
	if got, want := termIDs(t, s, "msg", "u:1"), []string{b}; !cmp.Equal(got, want) {
		t.Errorf("after a write without the index: ScanTerm(u:1) = %q, want %q", got, want)
	}
	if got, want := termIDs(t, s, "msg", "u:7"), []string{a}; !cmp.Equal(got, want) {
		t.Errorf("after a write without the index: ScanTerm(u:7) = %q, want %q", got, want)
	}
}

// TestPurgeLocalRemovesTerms: records purged for good leave no index
// entry behind.
func TestPurgeLocalRemovesTerms(t *testing.T) {
	s := openIndexed(t, filepath.Join(t.TempDir(), "edge.db"), wordsIndexer, "w1")
	defer s.Close()
	audit := record.AuditPartition(testUAI)
	old := time.UnixMilli(testTime)
	seed(t, s, []record.Record{
		{Partition: audit, ID: v7(old, 1), Kind: "audit", Body: []byte("u:1")},
		{Partition: audit, ID: v7(old, 2), Kind: "audit", Body: []byte("u:1 u:2")},
	})
	if got := countKeys(t, s, bucketTerms, audit+"\x00"); got != 3 {
		t.Fatalf("index entries before the purge = %d, want 3", got)
	}
	n, err := s.PurgeLocal(audit, old.Add(time.Hour), nil)
	if err != nil || n != 2 {
		t.Fatalf("PurgeLocal = %d, %v; want 2, nil", n, err)
	}
	if got := countKeys(t, s, bucketTerms, audit+"\x00"); got != 0 {
		t.Errorf("index entries after the purge = %d, want 0", got)
	}
}
