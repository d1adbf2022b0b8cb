package edge

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

func pending(t *testing.T, s *Store) []uint64 {
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
		name: "a notice of another epoch is not this store's",
		run: func(t *testing.T, s *Store) {
			submitBody(t, s, a, "new")
			n := refusal(s, 1, 1)
			n.Body = []byte(`{"user":"u1","op":"test.put","seq":1,"origin":"` + testUAI + `","epoch":1}`)
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
