package edge

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"atrium/record"
)

// v7 returns a UUIDv7 minted at t, told apart by n.
func v7(t time.Time, n int) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%08x-%04x-7000-8000-%012x", ms>>16, ms&0xffff, n)
}

// seed writes recs as local commands would, in one transaction.
func seed(t *testing.T, s *Store, recs []record.Record) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		ltx := newLocalTx(tx, s.uai, record.Command{Time: testTime}, s.idx, s.sealer)
		for _, r := range recs {
			if err := ltx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// scanIDs lists the live records of kind in partition, oldest first.
func scanIDs(t *testing.T, s *Store, partition, kind string) []string {
	t.Helper()
	var ids []string
	err := s.View(func(r record.Reader) error {
		return r.Scan(partition, kind, func(rec record.Record) error {
			ids = append([]string{rec.ID}, ids...)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// countKeys counts the keys of bucket that start with prefix.
func countKeys(t *testing.T, s *Store, bucket []byte, prefix string) int {
	t.Helper()
	n := 0
	s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == prefix; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n
}

func TestPurgeLocal(t *testing.T) {
	s, _ := newTestStore(t)
	trail := record.AuditPartition(testUAI)
	now := time.UnixMilli(testTime)
	cutoff := now.Add(-365 * 24 * time.Hour)
	old := cutoff.Add(-30 * 24 * time.Hour)

	// More old entries than one transaction deletes, one of them kept by
	// the caller, and the entries of the year.
	var recs []record.Record
	n := 2*purgeChunk + 10
	for i := range n {
		body := `{"n":1}`
		if i == 7 {
			body = `"keep"`
		}
		recs = append(recs, record.Record{Partition: trail, ID: v7(old.Add(time.Duration(i)*time.Second), i), Kind: "audit", Body: []byte(body)})
	}
	kept := recs[7].ID
	young := []string{v7(cutoff, n), v7(now, n+1)}
	for _, id := range young {
		recs = append(recs, record.Record{Partition: trail, ID: id, Kind: "audit", Body: []byte(`{}`)})
	}
	// The lycée's own records, as old: never purged this way.
	lycee := record.Record{Partition: testUAI, ID: v7(old, 0), Kind: "news", Key: "old-news", Body: []byte(`{}`)}
	recs = append(recs, lycee)
	seed(t, s, recs)

	got, err := s.PurgeLocal(trail, cutoff, func(r record.Record) bool { return string(r.Body) == `"keep"` })
	if err != nil || got != n-1 {
		t.Fatalf("PurgeLocal(%s) = %d, %v, want %d, nil", trail, got, err, n-1)
	}
	if diff := cmp.Diff(append([]string{kept}, young...), scanIDs(t, s, trail, "audit")); diff != "" {
		t.Errorf("audit entries left (-want +got):\n%s", diff)
	}
	if _, ok := get(t, s, trail, recs[0].ID); ok {
		t.Errorf("Get(%s) after the purge found it, want it gone for good", recs[0].ID)
	}
	if got, want := countKeys(t, s, bucketRecords, trail+"\x00"), 3; got != want {
		t.Errorf("records of %s = %d, want %d", trail, got, want)
	}
	if got, want := countKeys(t, s, bucketKinds, trail+"\x00"), 3; got != want {
		t.Errorf("kind index entries of %s = %d, want %d", trail, got, want)
	}
	if _, ok := byKey(t, s, "news", "old-news"); !ok {
		t.Errorf("the lycée's record %s is gone after purging the audit trail", lycee.ID)
	}

	// Again: nothing left but the kept entry, which goes when nothing is kept.
	keepMarked := func(r record.Record) bool { return string(r.Body) == `"keep"` }
	if got, err := s.PurgeLocal(trail, cutoff, keepMarked); err != nil || got != 0 {
		t.Errorf("PurgeLocal(again) = %d, %v, want 0, nil", got, err)
	}
	if got, err := s.PurgeLocal(trail, cutoff, nil); err != nil || got != 1 {
		t.Errorf("PurgeLocal(keep nothing) = %d, %v, want 1, nil", got, err)
	}
	if diff := cmp.Diff(young, scanIDs(t, s, trail, "audit")); diff != "" {
		t.Errorf("audit entries left after keeping nothing (-want +got):\n%s", diff)
	}

	// The lycée's usage statistics are purged the same way (their ids
	// carry their day).
	usage := record.UsagePartition(testUAI)
	seed(t, s, []record.Record{
		{Partition: usage, ID: v7(old, 0), Kind: "usage", Body: []byte(`{}`)},
		{Partition: usage, ID: v7(now, 1), Kind: "usage", Body: []byte(`{}`)},
	})
	if got, err := s.PurgeLocal(usage, cutoff, nil); err != nil || got != 1 {
		t.Errorf("PurgeLocal(%s) = %d, %v, want 1, nil", usage, got, err)
	}
	if diff := cmp.Diff([]string{v7(now, 1)}, scanIDs(t, s, usage, "usage")); diff != "" {
		t.Errorf("usage records left (-want +got):\n%s", diff)
	}

	for _, p := range []string{testUAI, record.Region, record.AuditPartition(otherUAI), record.UsagePartition(otherUAI)} {
		if got, err := s.PurgeLocal(p, now, nil); !errors.Is(err, ErrForeignPartition) || got != 0 {
			t.Errorf("PurgeLocal(%s) = %d, %v, want 0, ErrForeignPartition", p, got, err)
		}
	}
	if ids := scanIDs(t, s, testUAI, "news"); len(ids) != 1 {
		t.Errorf("the lycée's news after refused purges = %v, want [%s]", ids, lycee.ID)
	}
	s.Close()
	if _, err := s.PurgeLocal(trail, now, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("PurgeLocal after Close error = %v, want ErrClosed", err)
	}
}
