package edge

import (
	"path/filepath"
	"testing"

	"atrium/record"
)

// TestOutboxLenExcept: the counts by operation follow Submit and
// AckOutbox, and survive a reopen.
func TestOutboxLenExcept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	accept := func(record.Tx, record.Command) error { return nil }
	s, err := Open(path, testUAI, accept)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"audit", "msg", "audit", "usage", "msg", "audit"} {
		if err := s.Submit(t.Context(), record.Command{Op: op, Partition: testUAI, Time: testTime}); err != nil {
			t.Fatalf("Submit(%s) = %v", op, err)
		}
	}
	check := func(step string, want, wantAll int) {
		t.Helper()
		if got := s.OutboxLenExcept("audit", "usage"); got != want {
			t.Errorf("%s: OutboxLenExcept(audit, usage) = %d, want %d", step, got, want)
		}
		if got := s.OutboxLenExcept(); got != wantAll {
			t.Errorf("%s: OutboxLenExcept() = %d, want %d", step, got, wantAll)
		}
	}
	check("submitted", 2, 6)
	if err := s.AckOutbox(s.Epoch(), 2); err != nil { // audit, msg
		t.Fatal(err)
	}
	check("acknowledged up to 2", 1, 4)
	epoch := s.Epoch() // the commands keep it; the reopened store has a new one
	s.Close()
	if s, err = Open(path, testUAI, accept); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("reopened", 1, 4)
	if err := s.AckOutbox(epoch, 6); err != nil {
		t.Fatal(err)
	}
	check("all acknowledged", 0, 0)
}
