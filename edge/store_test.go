package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"atrium/record"
)

const (
	testUAI   = "0130040Y"
	otherUAI  = "0060001A"
	testTime  = int64(1_700_000_000_000)
	opPut     = "test.put"      // args: a record.Record, written as is
	opReject  = "test.reject"   // refused before writing
	opBadTail = "test.put-fail" // writes, then fails: the store must roll back
)

// testExec is a tiny executor: enough rules to exercise the store.
func testExec(tx record.Tx, cmd record.Command) error {
	switch cmd.Op {
	case opPut, opBadTail:
		var r record.Record
		if err := json.Unmarshal(cmd.Args, &r); err != nil {
			return record.Reject("invalid", "Arguments invalides.")
		}
		if err := tx.Put(r); err != nil {
			return err
		}
		if cmd.Op == opBadTail {
			return errors.New("disk on fire")
		}
		return nil
	case opReject:
		return record.Reject("forbidden", "Interdit.")
	}
	return record.Reject("invalid", "Opération inconnue.")
}

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, testUAI, testExec)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge.db")
	return openTest(t, path), path
}

func putCmd(t testing.TB, op string, r record.Record) record.Command {
	t.Helper()
	args, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return record.Command{User: "u1", Op: op, Partition: r.Partition, Args: args, Time: testTime}
}

func get(t *testing.T, s *Store, partition, id string) (record.Record, bool) {
	t.Helper()
	var r record.Record
	var ok bool
	err := s.View(func(rd record.Reader) error {
		var err error
		r, ok, err = rd.Get(partition, id)
		return err
	})
	if err != nil {
		t.Fatalf("Get(%s, %s) = %v", partition, id, err)
	}
	return r, ok
}

func byKey(t *testing.T, s *Store, kind, key string) (record.Record, bool) {
	t.Helper()
	var r record.Record
	var ok bool
	err := s.View(func(rd record.Reader) error {
		var err error
		r, ok, err = rd.ByKey(kind, key)
		return err
	})
	if err != nil {
		t.Fatalf("ByKey(%s, %s) = %v", kind, key, err)
	}
	return r, ok
}

// outbox returns the whole outbox, every epoch's batches one after the
// other, as the push loop reads it.
func outbox(t *testing.T, s *Store) []record.Command {
	t.Helper()
	var all []record.Command
	for {
		var after uint64
		if len(all) > 0 {
			after = all[len(all)-1].Seq
		}
		cmds, err := s.Outbox(after, 0)
		if err != nil {
			t.Fatalf("Outbox = %v", err)
		}
		if len(cmds) == 0 {
			return all
		}
		all = append(all, cmds...)
	}
}

func TestSubmitWritesRecordAndOutbox(t *testing.T) {
	s, path := newTestStore(t)
	r := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{"title":"Bonjour"}`)}
	cmd := putCmd(t, opPut, r)
	if err := s.Submit(t.Context(), cmd); err != nil {
		t.Fatalf("Submit = %v", err)
	}
	got, ok := get(t, s, testUAI, r.ID)
	want := r
	want.Version = record.Version{Edge: 1, HLC: record.Stamp(testTime, 0)}
	if !ok || !cmp.Equal(got, want) {
		t.Fatalf("Get after Submit = %+v, %v; want %+v (diff %s)", got, ok, want, cmp.Diff(want, got))
	}
	wantCmd := cmd
	wantCmd.Origin, wantCmd.Epoch, wantCmd.Seq = testUAI, s.Epoch(), 1
	if diff := cmp.Diff([]record.Command{wantCmd}, outbox(t, s)); diff != "" {
		t.Errorf("Outbox after Submit (-want +got):\n%s", diff)
	}
	if n := s.OutboxLen(); n != 1 {
		t.Errorf("OutboxLen = %d, want 1", n)
	}

	// Durable: a reopened store has both, a new epoch (the first command
	// keeps its own), and numbers the next command after the first.
	epoch := s.Epoch()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	if s.Epoch() <= epoch {
		t.Errorf("Epoch after reopen = %d, want more than %d", s.Epoch(), epoch)
	}
	if _, ok := get(t, s, testUAI, r.ID); !ok {
		t.Errorf("record lost after reopen")
	}
	if n := s.OutboxLen(); n != 1 {
		t.Errorf("OutboxLen after reopen = %d, want 1", n)
	}
	r2 := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{}`)}
	if err := s.Submit(t.Context(), putCmd(t, opPut, r2)); err != nil {
		t.Fatal(err)
	}
	cmds := outbox(t, s)
	if len(cmds) != 2 || cmds[1].Seq != 2 || cmds[0].Epoch != epoch || cmds[1].Epoch != s.Epoch() {
		t.Errorf("outbox after reopen = seqs %v, epochs %d and %d; want [1 2], epochs %d and %d", seqs(cmds), cmds[0].Epoch, cmds[len(cmds)-1].Epoch, epoch, s.Epoch())
	}
	// One epoch per batch: central keeps a high-water mark per epoch.
	if first, err := s.Outbox(0, 0); err != nil || len(first) != 1 {
		t.Errorf("Outbox(0) after reopen = %d commands, %v; want the first epoch's one", len(first), err)
	}
}

func seqs(cmds []record.Command) []uint64 {
	var out []uint64
	for _, c := range cmds {
		out = append(out, c.Seq)
	}
	return out
}

func TestSubmitRefusedWritesNothing(t *testing.T) {
	s, _ := newTestStore(t)
	r := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{}`)}
	for _, tc := range []struct {
		name      string
		cmd       record.Command
		rejection string // "" for a plain error
	}{
		{"rejected", putCmd(t, opReject, r), "forbidden"},
		{"failedAfterWriting", putCmd(t, opBadTail, r), ""},
		{"regionPartition", putCmd(t, opPut, record.Record{Partition: record.Region, ID: r.ID, Kind: "news"}), "forbidden"},
		{"otherLycee", putCmd(t, opPut, record.Record{Partition: otherUAI, ID: r.ID, Kind: "news"}), "forbidden"},
		{"putOutsidePartition", func() record.Command {
			c := putCmd(t, opPut, record.Record{Partition: record.Region, ID: r.ID, Kind: "news"})
			c.Partition = testUAI
			return c
		}(), "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Submit(t.Context(), tc.cmd)
			if err == nil {
				t.Fatalf("Submit = nil, want an error")
			}
			rej, isRej := record.AsRejection(err)
			if tc.rejection != "" && (!isRej || rej.Code != tc.rejection) {
				t.Errorf("Submit = %v, want rejection %q", err, tc.rejection)
			}
			for _, p := range []string{testUAI, record.Region, otherUAI} {
				if got, ok := get(t, s, p, r.ID); ok {
					t.Errorf("refused command left record %+v", got)
				}
			}
			if cmds := outbox(t, s); len(cmds) != 0 || s.OutboxLen() != 0 {
				t.Errorf("refused command left outbox %v (len %d)", cmds, s.OutboxLen())
			}
		})
	}
}

func TestConcurrentSubmitsShareOutboxOrder(t *testing.T) {
	s, _ := newTestStore(t)
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = record.NewID()
		op := opPut
		if i%5 == 0 {
			op = opReject
		}
		cmd := putCmd(t, op, record.Record{Partition: testUAI, ID: ids[i], Kind: "message", Body: []byte(`{}`)})
		wg.Go(func() { errs[i] = s.Submit(context.Background(), cmd) })
	}
	wg.Wait()
	accepted := 0
	for i, err := range errs {
		_, found := get(t, s, testUAI, ids[i])
		if i%5 == 0 {
			if _, ok := record.AsRejection(err); !ok || found {
				t.Errorf("command %d: Submit = %v, record stored %v; want rejection, nothing stored", i, err, found)
			}
			continue
		}
		accepted++
		if err != nil || !found {
			t.Errorf("command %d: Submit = %v, record stored %v; want nil, stored", i, err, found)
		}
	}
	cmds := outbox(t, s)
	if len(cmds) != accepted || s.OutboxLen() != accepted {
		t.Fatalf("outbox holds %d (OutboxLen %d), want %d", len(cmds), s.OutboxLen(), accepted)
	}
	for i, c := range cmds {
		if c.Seq != uint64(i+1) {
			t.Fatalf("outbox seqs = %v, want 1..%d without gaps", seqs(cmds), accepted)
		}
	}
}

func TestApplyChangesSurvivesReopen(t *testing.T) {
	s, path := newTestStore(t)
	lycee := []record.Record{
		{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: "jdupont", Version: record.Version{Central: 1, HLC: 5}, Seq: 1, Body: []byte(`{"name":"Jeanne"}`)},
		{Partition: testUAI, ID: record.NewID(), Kind: "news", Version: record.Version{Central: 2, Edge: 3, HLC: 6}, Seq: 2, Body: []byte(`{}`)},
	}
	region := []record.Record{{Partition: record.Region, ID: record.NewID(), Kind: "news", Version: record.Version{Central: 9}, Seq: 40, Body: []byte(`{}`)}}
	if err := s.ApplyChanges(testUAI, lycee, 2); err != nil {
		t.Fatalf("ApplyChanges(lycée) = %v", err)
	}
	if err := s.ApplyChanges(record.Region, region, 40); err != nil {
		t.Fatalf("ApplyChanges(region) = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	for p, want := range map[string]uint64{testUAI: 2, record.Region: 40} {
		if got, err := s.Checkpoint(p); err != nil || got != want {
			t.Errorf("Checkpoint(%s) after reopen = %d, %v; want %d", p, got, err, want)
		}
	}
	if diff := cmp.Diff(map[string]uint64{testUAI: 2, record.Region: 40}, s.Checkpoints()); diff != "" {
		t.Errorf("Checkpoints (-want +got):\n%s", diff)
	}
	for _, want := range append(lycee, region...) {
		got, ok := get(t, s, want.Partition, want.ID)
		if !ok || !cmp.Equal(got, want) {
			t.Errorf("Get(%s) after reopen = %+v, %v; want as received %+v", want.ID, got, ok, want)
		}
	}
}

func TestApplyChangesRefusesForeignRecords(t *testing.T) {
	s, _ := newTestStore(t)
	good := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: 1, Body: []byte(`{}`)}
	foreign := record.Record{Partition: otherUAI, ID: record.NewID(), Kind: "news", Seq: 2, Body: []byte(`{}`)}
	for _, tc := range []struct {
		name      string
		partition string
		recs      []record.Record
	}{
		{"otherLycee", otherUAI, []record.Record{foreign}},
		{"mixedBatch", testUAI, []record.Record{good, foreign}},
		{"regionLabelOnLycee", record.Region, []record.Record{good}},
		{"emptyID", testUAI, []record.Record{{Partition: testUAI, Kind: "news"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.ApplyChanges(tc.partition, tc.recs, 99); err == nil {
				t.Fatalf("ApplyChanges(%s) = nil, want an error", tc.partition)
			}
			for _, r := range tc.recs {
				if _, ok := get(t, s, r.Partition, r.ID); ok {
					t.Errorf("refused batch stored %s/%s", r.Partition, r.ID)
				}
			}
			if cp, _ := s.Checkpoint(testUAI); cp != 0 {
				t.Errorf("refused batch moved checkpoint to %d", cp)
			}
		})
	}
	if _, err := s.Checkpoint(otherUAI); !errors.Is(err, ErrForeignPartition) {
		t.Errorf("Checkpoint(other lycée) = %v, want ErrForeignPartition", err)
	}
}

func TestAckOutboxRemovesAcknowledgedOnly(t *testing.T) {
	s, _ := newTestStore(t)
	for range 5 {
		r := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "message", Body: []byte(`{}`)}
		if err := s.Submit(t.Context(), putCmd(t, opPut, r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AckOutbox(s.Epoch()+1, 5); !errors.Is(err, ErrWrongEpoch) {
		t.Errorf("AckOutbox(other epoch) = %v, want ErrWrongEpoch", err)
	}
	if err := s.AckOutbox(s.Epoch(), 3); err != nil {
		t.Fatalf("AckOutbox = %v", err)
	}
	if got := seqs(outbox(t, s)); !cmp.Equal(got, []uint64{4, 5}) {
		t.Errorf("outbox after ack of 3 = %v, want [4 5]", got)
	}
	if n := s.OutboxLen(); n != 2 {
		t.Errorf("OutboxLen = %d, want 2", n)
	}
	// A retransmitted acknowledgement changes nothing.
	if err := s.AckOutbox(s.Epoch(), 3); err != nil || s.OutboxLen() != 2 {
		t.Errorf("repeated AckOutbox = %v, OutboxLen %d; want nil, 2", err, s.OutboxLen())
	}
	if cmds, err := s.Outbox(0, 1); err != nil || len(cmds) != 1 || cmds[0].Seq != 4 {
		t.Errorf("Outbox(1) = %v, %v; want the oldest, seq 4", seqs(cmds), err)
	}
}

func TestScanNewestFirst(t *testing.T) {
	s, _ := newTestStore(t)
	var recs []record.Record
	for i := range 5 {
		recs = append(recs, record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: uint64(i + 1), Body: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	recs[2].Deleted = true
	noise := []record.Record{
		{Partition: testUAI, ID: record.NewID(), Kind: "message", Seq: 6, Body: []byte(`{}`)},
		{Partition: testUAI, ID: record.NewID(), Kind: "newsletter", Seq: 7, Body: []byte(`{}`)},
	}
	if err := s.ApplyChanges(testUAI, append(recs, noise...), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyChanges(record.Region, []record.Record{{Partition: record.Region, ID: record.NewID(), Kind: "news", Seq: 1}}, 1); err != nil {
		t.Fatal(err)
	}
	scan := func(limit int) []string {
		var ids []string
		err := s.View(func(rd record.Reader) error {
			return rd.Scan(testUAI, "news", func(r record.Record) error {
				if len(ids) == limit {
					return record.ErrStop
				}
				ids = append(ids, r.ID)
				return nil
			})
		})
		if err != nil {
			t.Fatalf("Scan = %v", err)
		}
		return ids
	}
	want := []string{recs[4].ID, recs[3].ID, recs[1].ID, recs[0].ID}
	if diff := cmp.Diff(want, scan(100)); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:2], scan(2)); diff != "" {
		t.Errorf("Scan stopped after 2 (-want +got):\n%s", diff)
	}
	boom := errors.New("boom")
	err := s.View(func(rd record.Reader) error {
		return rd.Scan(testUAI, "news", func(record.Record) error { return boom })
	})
	if !errors.Is(err, boom) {
		t.Errorf("Scan with failing callback = %v, want %v", err, boom)
	}
}

func TestScanWhileWriting(t *testing.T) {
	// An executor may write while it scans (e.g. mark every item read).
	var ids []string
	exec := func(tx record.Tx, cmd record.Command) error {
		return tx.Scan(testUAI, "message", func(r record.Record) error {
			ids = append(ids, r.ID)
			r.Body = []byte(`{"read":true}`)
			return tx.Put(r)
		})
	}
	s, err := Open(filepath.Join(t.TempDir(), "edge.db"), testUAI, exec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []string
	var recs []record.Record
	for i := range 50 {
		r := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "message", Seq: uint64(i + 1), Body: []byte(`{}`)}
		recs = append(recs, r)
		want = append([]string{r.ID}, want...)
	}
	if err := s.ApplyChanges(testUAI, recs, 50); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(t.Context(), record.Command{Op: "mark", Partition: testUAI, Time: testTime}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("ids visited while writing (-want +got):\n%s", diff)
	}
}

func TestByKey(t *testing.T) {
	s, _ := newTestStore(t)
	user := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: "jdupont", Seq: 1, Body: []byte(`{"login":"jdupont"}`)}
	if err := s.ApplyChanges(testUAI, []record.Record{user}, 1); err != nil {
		t.Fatal(err)
	}
	if got, ok := byKey(t, s, "user", "jdupont"); !ok || got.ID != user.ID {
		t.Fatalf("ByKey(user, jdupont) = %+v, %v; want %s", got, ok, user.ID)
	}
	if _, ok := byKey(t, s, "news", "jdupont"); ok {
		t.Errorf("ByKey(news, jdupont) found a user")
	}

	// Renamed: the old login is forgotten.
	renamed := user
	renamed.Key, renamed.Seq = "jdupont2", 2
	if err := s.ApplyChanges(testUAI, []record.Record{renamed}, 2); err != nil {
		t.Fatal(err)
	}
	if _, ok := byKey(t, s, "user", "jdupont"); ok {
		t.Errorf("ByKey(old login) still finds the renamed user")
	}
	if got, ok := byKey(t, s, "user", "jdupont2"); !ok || got.ID != user.ID {
		t.Errorf("ByKey(new login) = %+v, %v; want %s", got, ok, user.ID)
	}

	// Another user takes the old login, then the first is deleted: the
	// newcomer keeps it.
	other := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: "jdupont", Seq: 3, Body: []byte(`{}`)}
	tomb := renamed
	tomb.Deleted, tomb.Seq = true, 4
	if err := s.ApplyChanges(testUAI, []record.Record{other, tomb}, 4); err != nil {
		t.Fatal(err)
	}
	if _, ok := byKey(t, s, "user", "jdupont2"); ok {
		t.Errorf("ByKey finds a deleted user")
	}
	if got, ok := byKey(t, s, "user", "jdupont"); !ok || got.ID != other.ID {
		t.Errorf("ByKey(jdupont) = %+v, %v; want %s", got, ok, other.ID)
	}
	if got, ok := get(t, s, testUAI, user.ID); !ok || !got.Deleted {
		t.Errorf("Get(deleted user) = %+v, %v; want the tombstone", got, ok)
	}

	// A local command cannot take a login someone holds.
	clash := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: "jdupont", Body: []byte(`{}`)}
	if err := s.Submit(t.Context(), putCmd(t, opPut, clash)); err == nil {
		t.Errorf("Submit of a user with a taken login = nil, want a rejection")
	}
}

func TestLocalPutOnCentralRecord(t *testing.T) {
	s, _ := newTestStore(t)
	r := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Version: record.Version{Central: 3, Edge: 1, HLC: 12}, Seq: 7, Body: []byte(`{}`)}
	if err := s.ApplyChanges(testUAI, []record.Record{r}, 7); err != nil {
		t.Fatal(err)
	}
	edited := r
	edited.Body = []byte(`{"title":"modifié"}`)
	if err := s.Submit(t.Context(), putCmd(t, opPut, edited)); err != nil {
		t.Fatal(err)
	}
	got, _ := get(t, s, testUAI, r.ID)
	want := record.Version{Central: 3, Edge: 2, HLC: record.Stamp(testTime, 0)}
	if got.Version != want || got.Seq != 7 || string(got.Body) != string(edited.Body) {
		t.Errorf("after local edit: version %+v seq %d body %s; want %+v, seq 7, %s", got.Version, got.Seq, got.Body, want, edited.Body)
	}
}

func TestOutboxChangedFires(t *testing.T) {
	s, _ := newTestStore(t)
	ch := s.OutboxChanged()
	select {
	case <-ch:
		t.Fatal("OutboxChanged closed before any append")
	default:
	}
	if err := s.Submit(t.Context(), putCmd(t, opReject, record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news"})); err == nil {
		t.Fatal("rejected Submit = nil")
	}
	select {
	case <-ch:
		t.Fatal("OutboxChanged fired for a rejected command")
	default:
	}
	if err := s.Submit(t.Context(), putCmd(t, opPut, record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news"})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("OutboxChanged not closed after an append")
	}
	select {
	case <-s.OutboxChanged():
		t.Fatal("the next OutboxChanged channel is already closed")
	default:
	}
}

func TestOpenRefusesOtherLyceesFile(t *testing.T) {
	s, path := newTestStore(t)
	s.Close()
	if s2, err := Open(path, otherUAI, testExec); err == nil {
		s2.Close()
		t.Fatalf("Open(file of %s, %s) = nil, want an error", testUAI, otherUAI)
	}
	for _, uai := range []string{"", record.Region, "a\x00b"} {
		if s2, err := Open(filepath.Join(t.TempDir(), "x.db"), uai, testExec); err == nil {
			s2.Close()
			t.Errorf("Open(uai %q) = nil, want an error", uai)
		}
	}
}

func TestSubmitAfterClose(t *testing.T) {
	s, _ := newTestStore(t)
	s.Close()
	err := s.Submit(t.Context(), putCmd(t, opPut, record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news"}))
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
}

var _ = cmpopts.EquateEmpty

// TestCorruptValuesRefused checks that a stored record or outbox command
// that does not decode reads as ErrCorrupt, never as a value.
func TestCorruptValuesRefused(t *testing.T) {
	s, _ := newTestStore(t)
	r := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{}`)}
	if err := s.Submit(t.Context(), putCmd(t, opPut, r)); err != nil {
		t.Fatalf("Submit = %v", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketRecords).Put(join(r.Partition, r.ID), []byte{9}); err != nil {
			return err
		}
		return tx.Bucket(bucketOutbox).Put(u64(1), []byte{9})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(func(rd record.Reader) error { _, _, err := rd.Get(r.Partition, r.ID); return err })
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, record.ErrCorrupt) {
		t.Errorf("Get of a corrupt record = %v, want ErrCorrupt and record.ErrCorrupt", err)
	}
	if _, err := s.Outbox(0, 10); !errors.Is(err, ErrCorrupt) || !errors.Is(err, record.ErrCorrupt) {
		t.Errorf("Outbox with a corrupt command = %v, want ErrCorrupt and record.ErrCorrupt", err)
	}
}

// TestOutboxBatchesAreBoundedInBytes: commands carrying chunks of files
// are large; one Outbox read returns at most a few megabytes (and at least
// one command), and successive reads return them all, in order.
func TestOutboxBatchesAreBoundedInBytes(t *testing.T) {
	s, _ := newTestStore(t)
	const n, size = 12, 1 << 20
	for range n {
		r := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "file.chunk",
			Body: []byte(`{"data":"` + strings.Repeat("A", size) + `"}`)}
		if err := s.Submit(t.Context(), putCmd(t, opPut, r)); err != nil {
			t.Fatal(err)
		}
	}
	var after uint64
	var batches []int
	for after < n {
		cmds, err := s.Outbox(after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cmds) == 0 || cmds[0].Seq != after+1 {
			t.Fatalf("Outbox(%d) returned %d commands, first seq %v; want the next ones", after, len(cmds), cmds)
		}
		batches = append(batches, len(cmds))
		after = cmds[len(cmds)-1].Seq
	}
	if len(batches) < 3 || batches[0] > 5 {
		t.Fatalf("batches of 1 MB commands = %v, want several of at most ~4 MB each", batches)
	}
}

// A store restored from a backup numbers its next command as its former
// self numbered one it already sent: central's acknowledgement of the
// backup's epoch must not take the new command with it.
func TestAckOutboxKeepsOtherEpochs(t *testing.T) {
	s, path := newTestStore(t)
	news := func() record.Command {
		return putCmd(t, opPut, record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{}`)})
	}
	if err := s.Submit(t.Context(), news()); err != nil { // seq 1
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(backup, 0o600) }); err != nil {
		t.Fatal(err)
	}
	old := s.Epoch()
	if err := s.Submit(t.Context(), news()); err != nil { // seq 2, sent and acknowledged
		t.Fatal(err)
	}
	if err := s.AckOutbox(old, 2); err != nil {
		t.Fatal(err)
	}
	s.Close()

	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	if err := s.Submit(t.Context(), news()); err != nil { // seq 2 again, a new epoch
		t.Fatal(err)
	}
	// Central answers the backup's command with its epoch's mark, 2.
	if err := s.AckOutbox(old, 2); err != nil {
		t.Fatal(err)
	}
	cmds := outbox(t, s)
	if len(cmds) != 1 || cmds[0].Seq != 2 || cmds[0].Epoch != s.Epoch() || s.Epoch() <= old {
		t.Fatalf("outbox after the backup's acknowledgement = %+v, want the command written since the restore (seq 2, epoch %d > %d)", cmds, s.Epoch(), old)
	}
	if err := s.AckOutbox(s.Epoch()+1, 9); err == nil {
		t.Errorf("AckOutbox(an epoch the store never had) = nil, want an error")
	}
}
