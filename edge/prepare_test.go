package edge

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"atrium/record"
)

// feedPages are pages of central's feed that exercise what a write
// depends on: new records with and without keys and terms, more records
// than a prepared chunk, then replacements of them (same body, other
// body, other kind, other key, tombstones), an id twice in one page, a
// tombstone of a record never seen and a record made live again.
func feedPages() [][]record.Record {
	at := time.UnixMilli(testTime)
	var first []record.Record
	seq := uint64(0)
	rec := func(i int, kind, key, body string) record.Record {
		seq++
		return record.Record{Partition: testUAI, ID: v7(at, i), Kind: kind, Key: key, Body: []byte(body),
			Seq: seq, Version: record.Version{Central: seq}}
	}
	for i := range 3*prepChunk + 5 {
		key := ""
		if i%7 == 0 {
			key = fmt.Sprintf("login%d", i)
		}
		first = append(first, rec(i, "msg", key, fmt.Sprintf("u:%d u:%d c:%d", i, i+1, i%3)))
	}
	gone := rec(10_000, "msg", "", "")
	gone.Deleted, gone.Body = true, nil
	second := []record.Record{
		rec(1, "msg", "", "u:1 u:2 c:1"),           // same body
		rec(2, "msg", "", "u:2 u:9"),               // other terms
		rec(3, "note", "", "u:3 u:4 c:0"),          // other kind, same body
		rec(7, "msg", "login7b", "u:7 u:8 c:1"),    // other key
		rec(14, "msg", "", "u:14 u:15 c:2"),        // key dropped
		rec(5, "msg", "", ""),                      // no terms left
		rec(6, "msg", "", "u:6 x:1"),               // an id twice in the page:
		rec(6, "user", "login6", "u:60 y:2"),       // the later wins
		gone,                                       // a tombstone of nothing
		rec(200, "msg", "login200", "u:200 c:2"),   // new
		rec(21, "msg", "login21", "u:21 u:22 c:0"), // unchanged key
	}
	for _, i := range []int{8, 9, 0} {
		r := rec(i, "msg", "", "")
		r.Deleted, r.Body = true, nil
		second = append(second, r)
	}
	third := []record.Record{
		rec(8, "msg", "", "u:8 again"), // live again
		rec(9, "msg", "", ""),
		rec(20_000, "msg", "login20000", "u:1 c:1"), // new, past the last record:
		rec(20_000, "msg", "", "u:2"),               // and again, the later wins
	}
	third[1].Deleted, third[1].Body = true, nil
	return [][]record.Record{first, second, third}
}

// applyOneByOne applies a page as applyChanges did before pages were
// prepared ahead: each record read and put in turn (putAsBefore).
func applyOneByOne(s *Store, partition string, recs []record.Record, checkpoint uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		rd := newReader(tx, s.idx, s.sealer)
		for _, r := range recs {
			old, hadOld, err := rd.getIndexed(r.Partition, r.ID)
			if err != nil {
				return err
			}
			if err := putAsBefore(rd, r, old, hadOld); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketCheckpoints).Put([]byte(partition), u64(checkpoint))
	})
}

// putAsBefore is reader.put as it was before records were prepared
// (prepare.go): the reference the prepared writes must match.
func putAsBefore(r *reader, rec record.Record, old record.Record, hadOld bool) error {
	delKind, delTerms, addKind, addTerms := record.TermChanges(r.idx, old, hadOld, rec)
	for _, t := range delTerms {
		if err := r.terms.Delete(termKey(rec.Partition, delKind, t, rec.ID)); err != nil {
			return err
		}
	}
	for _, t := range addTerms {
		if err := r.terms.Put(termKey(rec.Partition, addKind, t, rec.ID), nil); err != nil {
			return err
		}
	}
	oldLive := hadOld && !old.Deleted
	if oldLive && (rec.Deleted || old.Kind != rec.Kind) {
		if err := r.kinds.Delete(join3(old.Partition, old.Kind, old.ID)); err != nil {
			return err
		}
	}
	if !rec.Deleted {
		if err := r.kinds.Put(join3(rec.Partition, rec.Kind, rec.ID), nil); err != nil {
			return err
		}
	}
	self := join(rec.Partition, rec.ID)
	if oldLive && old.Key != "" && (rec.Deleted || old.Key != rec.Key || old.Kind != rec.Kind) {
		k := r.keyOf(old.Kind, old.Key)
		if bytes.Equal(r.keys.Get(k), self) {
			if err := r.keys.Delete(k); err != nil {
				return err
			}
		}
	}
	if !rec.Deleted && rec.Key != "" {
		if err := r.keys.Put(r.keyOf(rec.Kind, rec.Key), self); err != nil {
			return err
		}
	}
	d, err := record.DigestFromBytes(r.digests.Get([]byte(rec.Partition)))
	if err != nil {
		return err
	}
	prev, err := r.recordBytes(self)
	if err != nil {
		return err
	}
	if prev != nil {
		od, err := record.DigestOfEncoded(prev)
		if err != nil {
			return err
		}
		d.Xor(od)
	}
	d.Xor(record.DigestOf(rec))
	if err := r.digests.Put([]byte(rec.Partition), d[:]); err != nil {
		return err
	}
	return r.records.Put(self, r.sealer.seal(bucketRecords, self, record.AppendRecord(nil, rec)))
}

// storedValues returns every value of the store's buckets but meta (its
// epoch and key check differ from file to file), by bucket and key,
// sealed values opened.
func storedValues(t *testing.T, s *Store) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if bytes.Equal(name, bucketMeta) {
				return nil
			}
			sealed := slices.ContainsFunc(sealedBuckets, func(sb []byte) bool { return bytes.Equal(sb, name) })
			vals := map[string]string{}
			out[string(name)] = vals
			return b.ForEach(func(k, v []byte) error {
				if sealed {
					var err error
					if v, err = s.sealer.open(name, k, v); err != nil {
						return err
					}
				}
				vals[string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatalf("read the store's values: %v", err)
	}
	return out
}

// applyBothWays applies the i-th page of a feed to ahead with
// ApplyChanges (its records prepared as how says) and to oneByOne record
// by record, and checks that both stores then hold the same values.
func applyBothWays(t *testing.T, ahead, oneByOne *Store, i int, page []record.Record, how string) {
	t.Helper()
	cp := uint64(100 * (i + 1))
	if err := ahead.ApplyChanges(testUAI, page, cp); err != nil {
		t.Fatalf("ApplyChanges(page %d) = %v", i, err)
	}
	if err := applyOneByOne(oneByOne, testUAI, page, cp); err != nil {
		t.Fatalf("applyOneByOne(page %d) = %v", i, err)
	}
	if diff := cmp.Diff(storedValues(t, oneByOne), storedValues(t, ahead)); diff != "" {
		t.Errorf("after page %d, stored values (-one by one +%s):\n%s", i, how, diff)
	}
}

// TestApplyChangesPreparedAsOneByOne: pages applied with their records
// prepared ahead store the same values (once opened: nonces are random)
// and the same digest as records put one by one.
func TestApplyChangesPreparedAsOneByOne(t *testing.T) {
	for _, idx := range []struct {
		name string
		fn   record.Indexer
	}{{"no index", nil}, {"words", wordsIndexer}} {
		t.Run(idx.name, func(t *testing.T) {
			dir := t.TempDir()
			ahead := openIndexed(t, filepath.Join(dir, "ahead.db"), idx.fn, "w1")
			defer ahead.Close()
			oneByOne := openIndexed(t, filepath.Join(dir, "one.db"), idx.fn, "w1")
			defer oneByOne.Close()
			for i, page := range feedPages() {
				applyBothWays(t, ahead, oneByOne, i, page, "prepared ahead")
			}
			got, _, _, err := ahead.Digest(testUAI)
			if err != nil {
				t.Fatal(err)
			}
			want, _, _, err := oneByOne.Digest(testUAI)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Digest(prepared ahead) = %x, want %x (one by one)", got, want)
			}
			if re, err := ahead.RecomputeDigest(testUAI); err != nil || re != got {
				t.Errorf("RecomputeDigest = %x, %v, want %x (the stored digest)", re, err, got)
			}
			// The later of an id twice in one page wins.
			err = ahead.View(func(r record.Reader) error {
				rec, ok, err := r.ByKey("user", "login6")
				if err != nil || !ok || string(rec.Body) != "u:60 y:2" {
					t.Errorf("ByKey(user, login6) = %q, %v, %v, want the page's later version", rec.Body, ok, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestApplyChangesFailingMidPageWritesNothing: a record the store cannot
// read back in the middle of a page (a corrupt value) fails the page
// whole, while its records are being prepared ahead: nothing of it is
// written, and the page applies once the value is repaired.
func TestApplyChangesFailingMidPageWritesNothing(t *testing.T) {
	s := openIndexed(t, filepath.Join(t.TempDir(), "edge.db"), wordsIndexer, "w1")
	defer s.Close()
	pages := feedPages()
	page := pages[0]
	bad := page[2*prepChunk+1]
	if err := s.ApplyChanges(testUAI, []record.Record{bad}, 1); err != nil {
		t.Fatal(err)
	}
	key := join(bad.Partition, bad.ID)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).Put(key, []byte("not a sealed record, too short"))
	})
	if err != nil {
		t.Fatal(err)
	}
	before := storedValuesRaw(t, s)
	if err := s.ApplyChanges(testUAI, page, 2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ApplyChanges(page over a corrupt record) = %v, want ErrCorrupt", err)
	}
	if diff := cmp.Diff(before, storedValuesRaw(t, s)); diff != "" {
		t.Errorf("a failed page changed the store (-before +after):\n%s", diff)
	}
	if cp, err := s.Checkpoint(testUAI); err != nil || cp != 1 {
		t.Errorf("Checkpoint = %d, %v, want 1", cp, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).Delete(key)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyChanges(testUAI, page, 2); err != nil {
		t.Fatalf("ApplyChanges(page, repaired) = %v", err)
	}
	if got := termIDs(t, s, "msg", "c:0"); len(got) != (len(page)+2)/3 {
		t.Errorf("ScanTerm(msg, c:0) found %d records, want %d", len(got), (len(page)+2)/3)
	}
}

// storedValuesRaw returns every value of the store as stored.
func storedValuesRaw(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTermChangesAsRecord: prepared.termChanges finds the entries
// record.TermChanges names.
func TestTermChangesAsRecord(t *testing.T) {
	r := func(kind, body string, deleted bool) record.Record {
		return record.Record{Partition: testUAI, ID: "id1", Kind: kind, Body: []byte(body), Deleted: deleted}
	}
	cases := []struct {
		name     string
		old      record.Record
		had      bool
		new      record.Record
		nilIndex bool
	}{
		{"new", record.Record{}, false, r("msg", "a b", false), false},
		{"same body", r("msg", "a b", false), true, r("msg", "a b", false), false},
		{"other terms", r("msg", "a b c", false), true, r("msg", "b d", false), false},
		{"other kind", r("msg", "a b", false), true, r("note", "a b", false), false},
		{"deleted", r("msg", "a b", false), true, r("msg", "", true), false},
		{"live again", r("msg", "", true), true, r("msg", "a", false), false},
		{"unclean terms", r("msg", "b a a", false), true, r("msg", "c  a", false), false},
		{"no index", r("msg", "a", false), true, r("msg", "b", false), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idx := record.Indexer(wordsIndexer)
			if c.nilIndex {
				idx = nil
			}
			var want []string
			delKind, del, addKind, add := record.TermChanges(idx, c.old, c.had, c.new)
			for _, t := range del {
				want = append(want, "-"+string(termKey(c.new.Partition, delKind, t, c.new.ID)))
			}
			for _, t := range add {
				want = append(want, "+"+string(termKey(c.new.Partition, addKind, t, c.new.ID)))
			}
			for _, ahead := range []bool{false, true} {
				p := prepare(idx, nil, c.new, ahead)
				gotDel, gotAdd := p.termChanges(idx, c.old, c.had, c.new)
				var got []string
				for _, k := range gotDel {
					got = append(got, "-"+string(k))
				}
				for _, k := range gotAdd {
					got = append(got, "+"+string(k))
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("termChanges(terms prepared: %v) (-record.TermChanges +got):\n%s", ahead,
						strings.ReplaceAll(diff, "\x00", "\\0"))
				}
			}
		})
	}
}

// TestSealRecord: a record sealed in one buffer opens to its encoding,
// only for its own key, without the buffer growing on the way.
func TestSealRecord(t *testing.T) {
	sl, err := newSealer(newKey(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range feedPages()[1] {
		key := join(rec.Partition, rec.ID)
		v := sl.sealRecord(key, rec)
		got, err := sl.open(bucketRecords, key, v)
		if want := record.AppendRecord(nil, rec); err != nil || !bytes.Equal(got, want) {
			t.Errorf("open(sealRecord(%s)) = %q, %v, want %q", rec.ID, got, err, want)
		}
		if _, err := sl.open(bucketRecords, append(key, 'x'), v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("open(sealRecord(%s)) at another key = %v, want ErrCorrupt", rec.ID, err)
		}
		if allocs := testing.AllocsPerRun(10, func() { sl.sealRecord(key, rec) }); allocs > 2 {
			t.Errorf("sealRecord(%s) allocates %v times, want 2 (the value, the additional data)", rec.ID, allocs)
		}
	}
	if got, want := (*sealer)(nil).sealRecord([]byte("k"), feedPages()[0][0]), record.AppendRecord(nil, feedPages()[0][0]); !bytes.Equal(got, want) {
		t.Errorf("sealRecord in a clear store = %q, want the encoding %q", got, want)
	}
}

// TestPagesPreparedOnArrivalAsOneByOne: pages prepared as the sync client
// does (each page as it arrives, the next one while the page before is
// applied) store what records put one by one store; so do pages of which
// more were prepared than the store keeps, and a page never prepared.
func TestPagesPreparedOnArrivalAsOneByOne(t *testing.T) {
	dir := t.TempDir()
	ahead := openIndexed(t, filepath.Join(dir, "ahead.db"), wordsIndexer, "w1")
	oneByOne := openIndexed(t, filepath.Join(dir, "one.db"), wordsIndexer, "w1")
	defer oneByOne.Close()
	pages := feedPages()
	for _, p := range pages {
		ahead.Prepare(testUAI, p) // three pages: the first is dropped
	}
	// A page of the same length and other bodies, prepared last: not
	// taken for the first page, which is not the same slice.
	decoy := slices.Clone(pages[0])
	for i := range decoy {
		decoy[i].Body = []byte("u:decoy")
	}
	ahead.Prepare(testUAI, decoy)
	for i, page := range pages {
		if i+1 < len(pages) {
			ahead.Prepare(testUAI, pages[i+1])
		}
		applyBothWays(t, ahead, oneByOne, i, page, "prepared on arrival")
	}
	ahead.Prepare(testUAI, pages[0]) // never applied: Close drops it
	if err := ahead.Close(); err != nil {
		t.Fatalf("Close with a page prepared and not applied = %v", err)
	}
}
