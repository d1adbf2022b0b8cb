package edge

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"atrium/record"
)

// undoID is the id of the n-th record of these tests (UUIDv7-shaped).
func undoID(n int) string { return fmt.Sprintf("0189c5a0-0000-7000-8000-%012x", n) }

// undoStore opens a store with a term index (the words of a body).
func undoStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openIndexed(t, path, wordsIndexer, "w1")
	t.Cleanup(func() { s.Close() })
	return s, path
}

// submitBody makes a local command that puts record id with body.
func submitBody(t *testing.T, s *Store, id, body string) {
	t.Helper()
	r := record.Record{Partition: testUAI, ID: id, Kind: "msg", Key: "k-" + id, Body: []byte(body)}
	if err := s.Submit(t.Context(), putCmd(t, opPut, r)); err != nil {
		t.Fatalf("Submit(%s %q) = %v", id, body, err)
	}
}

// central is a record of the lycée as central's feed sends it.
func central(id, body string, seq uint64) record.Record {
	return record.Record{Partition: testUAI, ID: id, Kind: "msg", Key: "k-" + id,
		Version: record.Version{Central: seq}, Seq: seq, Body: []byte(body)}
}

// refusal is central's notice that it refused the command of s's outbox
// at seq.
func refusal(s *Store, seq, feedSeq uint64) record.Record {
	body, _ := json.Marshal(record.Notice{User: "u1", Op: opPut, Code: "conflict", Message: "Refusé.",
		Seq: seq, Origin: s.UAI(), Epoch: s.Epoch()})
	return record.Record{Partition: testUAI, ID: undoID(1000 + int(feedSeq)), Kind: record.KindNotice,
		Version: record.Version{Central: feedSeq}, Seq: feedSeq, Body: body}
}

func apply(t *testing.T, s *Store, cp uint64, recs ...record.Record) {
	t.Helper()
	if err := s.ApplyChanges(testUAI, recs, cp); err != nil {
		t.Fatalf("ApplyChanges(%d records, %d) = %v", len(recs), cp, err)
	}
}

// seen is what the store shows of record id: its body by Get, whether
// ByKey, Scan and ScanTerm (its first word) find it; "absent" if Get does
// not.
func seen(t *testing.T, s *Store, id string) string {
	t.Helper()
	r, ok := get(t, s, testUAI, id)
	if !ok {
		if _, found := byKey(t, s, "msg", "k-"+id); found {
			return "absent, but ByKey finds it"
		}
		return "absent"
	}
	out := string(r.Body)
	if _, found := byKey(t, s, "msg", "k-"+id); !found {
		out += " (not by key)"
	}
	var scanned []string
	err := s.View(func(rd record.Reader) error {
		return rd.Scan(testUAI, "msg", func(rec record.Record) error {
			scanned = append(scanned, rec.ID)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(scanned, id) {
		out += " (not scanned)"
	}
	for _, w := range []string{"old", "new", "newer", "central"} {
		if slices.Contains(termIDs(t, s, "msg", w), id) {
			out += " [" + w + "]"
		}
	}
	return out
}

func pending(t testing.TB, s *Store) []uint64 {
	t.Helper()
	seqs, err := s.UndoPending()
	if err != nil {
		t.Fatalf("UndoPending = %v", err)
	}
	return seqs
}

func TestUndoRefusedCommands(t *testing.T) {
	a := undoID(1)
	tests := []struct {
		name string
		run  func(t *testing.T, s *Store)
		want string // what the store shows of a
	}{{
		name: "a refused new record disappears",
		run: func(t *testing.T, s *Store) {
			submitBody(t, s, a, "new")
			apply(t, s, 1, refusal(s, 1, 1))
		},
		want: "absent",
	}, {
		name: "a refused update restores central's value",
		run: func(t *testing.T, s *Store) {
			apply(t, s, 1, central(a, "old", 1))
			submitBody(t, s, a, "new")
			apply(t, s, 2, refusal(s, 1, 2))
		},
		want: "old [old]",
	}, {
		name: "a record central overwrote meanwhile is left alone",
		run: func(t *testing.T, s *Store) {
			submitBody(t, s, a, "new")
			apply(t, s, 1, central(a, "central", 1))
			apply(t, s, 2, refusal(s, 1, 2))
		},
		want: "central [central]",
	}, {
		name: "a later local change is left to its own command",
		run: func(t *testing.T, s *Store) {
			apply(t, s, 1, central(a, "old", 1))
			submitBody(t, s, a, "new")
			submitBody(t, s, a, "newer")
			apply(t, s, 2, refusal(s, 1, 2))
		},
		want: "newer [newer]",
	}, {
		name: "both local changes refused: central's value again",
		run: func(t *testing.T, s *Store) {
			apply(t, s, 1, central(a, "old", 1))
			submitBody(t, s, a, "new")
			submitBody(t, s, a, "newer")
			apply(t, s, 2, refusal(s, 1, 2))
			apply(t, s, 3, refusal(s, 2, 3))
		},
		want: "old [old]",
	}, {
		name: "both local changes of a new record refused, in one batch",
		run: func(t *testing.T, s *Store) {
			submitBody(t, s, a, "new")
			submitBody(t, s, a, "newer")
			apply(t, s, 2, refusal(s, 1, 1), refusal(s, 2, 2))
		},
		want: "absent",
	}, {
		name: "the first refused, the second accepted",
		run: func(t *testing.T, s *Store) {
			submitBody(t, s, a, "new")
			submitBody(t, s, a, "newer")
			apply(t, s, 2, refusal(s, 1, 1), central(a, "newer", 2))
		},
		want: "newer [newer]",
	}, {
		name: "a notice of a later epoch is not this store's",
		run: func(t *testing.T, s *Store) {
			submitBody(t, s, a, "new")
			n := refusal(s, 1, 1)
			n.Body = fmt.Appendf(nil, `{"user":"u1","op":"test.put","seq":1,"origin":"%s","epoch":%d}`, testUAI, s.Epoch()+1)
			apply(t, s, 1, n)
		},
		want: "new [new]",
	}, {
		name: "an older notice, without origin, reverts nothing",
		run: func(t *testing.T, s *Store) {
			submitBody(t, s, a, "new")
			n := refusal(s, 1, 1)
			n.Body = []byte(`{"user":"u1","op":"test.put","seq":1}`)
			apply(t, s, 1, n)
		},
		want: "new [new]",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := undoStore(t)
			tt.run(t, s)
			if got := seen(t, s, a); got != tt.want {
				t.Errorf("record after the feed = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUndoEntriesGoWhenSettled(t *testing.T) {
	s, _ := undoStore(t)
	a, b, c := undoID(1), undoID(2), undoID(3)
	submitBody(t, s, a, "new")
	submitBody(t, s, b, "new")
	// A command that writes the audit trail only keeps no entry.
	audit := record.Record{Partition: record.AuditPartition(testUAI), ID: c, Kind: "audit", Body: []byte("x")}
	cmd := putCmd(t, opPut, audit)
	cmd.Partition = testUAI
	if err := s.Submit(t.Context(), cmd); err != nil {
		t.Fatal(err)
	}
	if got, want := pending(t, s), []uint64{1, 2}; !slices.Equal(got, want) {
		t.Fatalf("UndoPending after three commands = %v, want %v", got, want)
	}
	// Accepted: central's version of a comes back.
	apply(t, s, 1, central(a, "new", 1))
	if got, want := pending(t, s), []uint64{2}; !slices.Equal(got, want) {
		t.Errorf("UndoPending after a came back = %v, want %v", got, want)
	}
	// Refused: b's notice.
	apply(t, s, 2, refusal(s, 2, 2))
	if got := pending(t, s); len(got) != 0 {
		t.Errorf("UndoPending after b's refusal = %v, want none", got)
	}
	if got := seen(t, s, a); got != "new [new]" {
		t.Errorf("accepted record = %q, want it as central sent it", got)
	}
}

func TestUndoAcknowledgedEntriesExpire(t *testing.T) {
	s, _ := undoStore(t)
	now := time.UnixMilli(testTime)
	s.now = func() time.Time { return now }
	a, b := undoID(1), undoID(2)
	apply(t, s, 5, central(undoID(9), "x", 5))
	submitBody(t, s, a, "new") // central takes it as a no-op: nothing comes back
	submitBody(t, s, b, "new") // not acknowledged yet
	if err := s.AckOutbox(s.Epoch(), 1); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		after time.Duration
		cp    uint64
		want  []uint64
	}{
		{time.Hour, 6, []uint64{1, 2}},                   // too early
		{undoRetention + time.Minute, 5, []uint64{1, 2}}, // the feed has not moved since the ack
		{undoRetention + 2*time.Minute, 7, []uint64{2}},  // gone; 2 was never acknowledged
		{10 * undoRetention, 8, []uint64{2}},             // never without an ack
	}
	for _, st := range steps {
		now = time.UnixMilli(testTime).Add(st.after)
		apply(t, s, st.cp)
		if got := pending(t, s); !slices.Equal(got, st.want) {
			t.Errorf("UndoPending %v after the ack, checkpoint %d = %v, want %v", st.after, st.cp, got, st.want)
		}
	}
	if got := seen(t, s, a); got != "new [new]" {
		t.Errorf("expired entry's record = %q, want it untouched", got)
	}
	// A notice arriving after its entry expired changes nothing.
	apply(t, s, 9, refusal(s, 1, 9))
	if got := seen(t, s, a); got != "new [new]" {
		t.Errorf("record after a late notice = %q, want it untouched", got)
	}
}

// Undo entries are written with the command, in its transaction: a store
// closed (or crashed) before central answers still reverts after reopening.
func TestUndoSurvivesReopen(t *testing.T) {
	s, path := undoStore(t)
	a, b := undoID(1), undoID(2)
	apply(t, s, 1, central(a, "old", 1))
	submitBody(t, s, a, "new")
	submitBody(t, s, b, "new")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openIndexed(t, path, wordsIndexer, "w1")
	defer s.Close()
	if got, want := pending(t, s), []uint64{1, 2}; !slices.Equal(got, want) {
		t.Fatalf("UndoPending after reopening = %v, want %v", got, want)
	}
	apply(t, s, 3, refusal(s, 1, 2), refusal(s, 2, 3))
	got := map[string]string{"a": seen(t, s, a), "b": seen(t, s, b)}
	if diff := cmp.Diff(map[string]string{"a": "old [old]", "b": "absent"}, got); diff != "" {
		t.Errorf("records after the refusals (-want +got):\n%s", diff)
	}
	// The term index agrees: nothing left under the refused body's word.
	if ids := termIDs(t, s, "msg", "new"); len(ids) != 0 {
		t.Errorf("ScanTerm(new) after the refusals = %v, want none", ids)
	}
	if got := pending(t, s); len(got) != 0 {
		t.Errorf("UndoPending after the refusals = %v, want none", got)
	}
}

// A failed command's undo entry is rolled back with it.
func TestUndoOfAFailedCommandIsRolledBack(t *testing.T) {
	s, _ := undoStore(t)
	r := record.Record{Partition: testUAI, ID: undoID(1), Kind: "msg", Body: []byte("new")}
	if err := s.Submit(t.Context(), putCmd(t, opBadTail, r)); err == nil {
		t.Fatal("Submit of a failing command = nil, want its error")
	}
	if got := pending(t, s); len(got) != 0 {
		t.Errorf("UndoPending after a failed command = %v, want none", got)
	}
}

// seqRange returns the sequences from..to.
func seqRange(from, to uint64) []uint64 {
	var seqs []uint64
	for seq := from; seq <= to; seq++ {
		seqs = append(seqs, seq)
	}
	return seqs
}

// Acknowledgements are noted once per batch, and the entries of a batch
// expire a day after its acknowledgement, across a restart.
func TestUndoAcknowledgedInBatches(t *testing.T) {
	s, path := undoStore(t)
	at := time.UnixMilli(testTime)
	now := at
	clock := func() time.Time { return now }
	s.now = clock
	apply(t, s, 5, central(undoID(99), "x", 5))
	for i := 1; i <= 30; i++ {
		submitBody(t, s, undoID(i), "new")
	}
	// Central's versions of 1–10 come back before their acknowledgement,
	// as they mostly do.
	var back []record.Record
	for i := 1; i <= 10; i++ {
		back = append(back, central(undoID(i), "new", uint64(5+i)))
	}
	apply(t, s, 15, back...)
	acks := []struct {
		after time.Duration
		hwm   uint64
	}{{0, 10}, {time.Hour, 20}, {2 * time.Hour, 25}} // 26–30 are never acknowledged
	for _, a := range acks {
		now = at.Add(a.after)
		if err := s.AckOutbox(s.Epoch(), a.hwm); err != nil {
			t.Fatalf("AckOutbox(%d) = %v", a.hwm, err)
		}
	}
	// One key per batch that had entries left (the first had none), not
	// two writes per command.
	if got := countKeys(t, s, bucketUndoAcked, ""); got != 2 {
		t.Errorf("keys of %s after three acknowledgements = %d, want 2", bucketUndoAcked, got)
	}
	if got, want := pending(t, s), seqRange(11, 30); !slices.Equal(got, want) {
		t.Fatalf("UndoPending after the acknowledgements = %v, want %v", got, want)
	}

	// A restart between the acknowledgements and their expiry.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openIndexed(t, path, wordsIndexer, "w1")
	defer s.Close()
	s.now = clock

	steps := []struct {
		name  string
		after time.Duration
		recs  []record.Record
		cp    uint64
		want  []uint64
	}{
		{"a day after the first batch", undoRetention + 30*time.Minute, nil, 16, seqRange(11, 30)},
		{"a day after the second batch", undoRetention + time.Hour + time.Minute, nil, 17, seqRange(21, 30)},
		{"the third batch's 22 refused", undoRetention + time.Hour + 2*time.Minute, []record.Record{refusal(s, 22, 18)}, 18,
			append([]uint64{21}, seqRange(23, 30)...)},
		{"a day after the third batch", undoRetention + 2*time.Hour + time.Minute, nil, 19, seqRange(26, 30)},
		{"ten days later", 10 * undoRetention, nil, 20, seqRange(26, 30)},
	}
	for _, st := range steps {
		now = at.Add(st.after)
		apply(t, s, st.cp, st.recs...)
		if got := pending(t, s); !slices.Equal(got, st.want) {
			t.Errorf("%s: UndoPending = %v, want %v", st.name, got, st.want)
		}
	}
	want := map[string]string{"11": "new [new]", "21": "new [new]", "22": "absent", "26": "new [new]"}
	got := map[string]string{}
	for _, n := range []int{11, 21, 22, 26} {
		got[fmt.Sprint(n)] = seen(t, s, undoID(n))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records after the expiries (-want +got):\n%s", diff)
	}
	if got := countKeys(t, s, bucketUndoAcked, ""); got != 0 {
		t.Errorf("keys of %s once every batch expired = %d, want 0", bucketUndoAcked, got)
	}
}

// A file whose entries were written with a header each and acknowledged
// one by one (layout 1) opens, and its entries settle, revert and expire
// as before, beside the ranges acknowledged after the upgrade.
func TestUndoReadsLayout1(t *testing.T) {
	s, path := undoStore(t)
	at := time.UnixMilli(testTime)
	apply(t, s, 5, central(undoID(99), "x", 5))
	for i := 1; i <= 4; i++ {
		submitBody(t, s, undoID(i), "new")
	}
	// Rewrite the entries as layout 1 had them: 1 and 2 acknowledged at
	// checkpoint 5, 3 and 4 not yet.
	err := s.db.Update(func(tx *bolt.Tx) error {
		undo, acked := tx.Bucket(bucketUndo), tx.Bucket(bucketUndoAcked)
		for seq := uint64(1); seq <= 4; seq++ {
			header := make([]byte, 16)
			if seq <= 2 {
				binary.BigEndian.PutUint64(header, uint64(at.UnixMilli()))
				binary.BigEndian.PutUint64(header[8:], 5)
				if err := acked.Put(append(u64(uint64(at.UnixMilli())), u64(seq)...), nil); err != nil {
					return err
				}
			}
			if err := undo.Put(u64(seq), s.sealer.seal(bucketUndo, u64(seq), header)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaUndoAckedUpTo, u64(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openIndexed(t, path, wordsIndexer, "w1")
	defer s.Close()
	now := at
	s.now = func() time.Time { return now }
	if got, want := pending(t, s), seqRange(1, 4); !slices.Equal(got, want) {
		t.Fatalf("UndoPending after reopening = %v, want %v", got, want)
	}
	steps := []struct {
		name  string
		after time.Duration
		ack   uint64 // AckOutbox(ack) before applying, if not 0
		recs  []record.Record
		cp    uint64
		want  []uint64
	}{
		{"1 comes back", 0, 0, []record.Record{central(undoID(1), "new", 6)}, 6, []uint64{2, 3, 4}},
		{"3 refused after its acknowledgement", time.Hour, 4, []record.Record{refusal(s, 3, 7)}, 7, []uint64{2, 4}},
		{"a day after 2's acknowledgement", undoRetention + time.Minute, 0, nil, 8, []uint64{4}},
		{"a day after 4's", undoRetention + time.Hour + time.Minute, 0, nil, 9, nil},
	}
	for _, st := range steps {
		now = at.Add(st.after)
		if st.ack != 0 {
			if err := s.AckOutbox(s.Epoch(), st.ack); err != nil {
				t.Fatalf("%s: AckOutbox(%d) = %v", st.name, st.ack, err)
			}
		}
		apply(t, s, st.cp, st.recs...)
		if got := pending(t, s); !slices.Equal(got, st.want) {
			t.Errorf("%s: UndoPending = %v, want %v", st.name, got, st.want)
		}
	}
	got := map[string]string{"1": seen(t, s, undoID(1)), "2": seen(t, s, undoID(2)), "3": seen(t, s, undoID(3))}
	if diff := cmp.Diff(map[string]string{"1": "new [new]", "2": "new [new]", "3": "absent"}, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	// Nothing of either layout is left behind.
	for _, b := range [][]byte{bucketUndo, bucketUndoRecords, bucketUndoAcked} {
		if n := countKeys(t, s, b, ""); n != 0 {
			t.Errorf("keys of %s at the end = %d, want 0", b, n)
		}
	}
}

// BenchmarkUndoSettle measures what an edge does with its undo entries
// while its outbox drains: central's versions of its records come back in
// pages and its commands are acknowledged in batches of 1000 (the feed
// first, as it mostly comes, or the acknowledgement first).
//
//	go test -run '^$' -bench BenchmarkUndoSettle ./edge/
func BenchmarkUndoSettle(b *testing.B) {
	const batch = 1000
	for _, order := range []string{"feed-then-ack", "ack-then-feed"} {
		b.Run(order, func(b *testing.B) {
			s, err := OpenWith(filepath.Join(b.TempDir(), "edge.db"), testUAI, testExec, Options{Indexer: wordsIndexer, IndexVersion: "w1"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			n := b.N * batch
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Go(func() {
					for i := w; i < n; i += 16 {
						r := record.Record{Partition: testUAI, ID: undoID(i + 1), Kind: "msg", Body: []byte("bonjour new")}
						if err := s.Submit(b.Context(), putCmd(b, opPut, r)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			// The outbox's sequences in the order Submit gave them.
			ids := make(map[uint64]string, n)
			for after := uint64(0); len(ids) < n; {
				cmds, err := s.Outbox(after, 0)
				if err != nil || len(cmds) == 0 {
					b.Fatalf("Outbox(%d) = %d commands, %v", after, len(cmds), err)
				}
				for _, c := range cmds {
					var r record.Record
					if err := json.Unmarshal(c.Args, &r); err != nil {
						b.Fatal(err)
					}
					ids[c.Seq], after = r.ID, c.Seq
				}
			}
			b.ResetTimer()
			for i := range b.N {
				recs := make([]record.Record, 0, batch)
				for seq := uint64(i*batch + 1); seq <= uint64((i+1)*batch); seq++ {
					recs = append(recs, central(ids[seq], "bonjour new", seq))
				}
				hwm := uint64((i + 1) * batch)
				if order == "ack-then-feed" {
					if err := s.AckOutbox(s.Epoch(), hwm); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.ApplyChanges(testUAI, recs, hwm); err != nil {
					b.Fatal(err)
				}
				if order == "feed-then-ack" {
					if err := s.AckOutbox(s.Epoch(), hwm); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			if got := pending(b, s); len(got) != 0 {
				b.Fatalf("UndoPending after the drain = %d entries, want none", len(got))
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/command")
		})
	}
}
