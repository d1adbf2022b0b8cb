package central

import (
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// A snapshot is a copy of the state file made in one read transaction
// (bbolt's consistent copy). The copy is taken on the raft goroutine, into
// a file beside the state file, so that it is exactly the state at the
// last applied index and no read transaction stays open while applies go
// on (an open one would block bbolt from growing its map). Persist then
// streams the copy to raft's snapshot store. Restore writes a snapshot
// beside the live file, checks it opens, and swaps it in. The copy holds
// the term index; opening it rebuilds the index when another layout or
// Indexer made it (a snapshot taken by an older version).
//
// The copy also holds the applied index and its term (meta "applied",
// "appliedTerm") of the node that took it, which may be past the
// snapshot's raft index (a snapshot taken while a kept state file was
// being caught up to: state.go); ApplyBatch skips the entries up to it.
// A restore happens within the node's current boot: state.boot need not
// change, and a node killed right after one keeps the restored file.

type fsmSnapshot struct{ path string }

var _ raft.FSMSnapshot = (*fsmSnapshot)(nil)

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	path := f.path + ".snapshot"
	f.mu.RLock()
	defer f.mu.RUnlock()
	err := f.db.View(func(tx *bbolt.Tx) error { return tx.CopyFile(path, 0o600) })
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("copy state for snapshot: %w", err)
	}
	return &fsmSnapshot{path: path}, nil
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	in, err := os.Open(s.path)
	if err == nil {
		_, err = io.Copy(sink, in)
		in.Close()
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { os.Remove(s.path) }

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.path + ".restore"
	if err := writeFile(tmp, rc); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	// Check the copy before the live file is touched.
	check, err := openBolt(tmp, f.index)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	var applied uint64
	check.View(func(tx *bbolt.Tx) error {
		applied = u64(tx.Bucket(bucketMeta).Get(keyApplied))
		return nil
	})
	// With its freelist written, the file opens again without a walk of
	// every page.
	if err := closeBolt(check, false); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore snapshot: %w", err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("restore snapshot: close state file: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	db, err := openBolt(f.path, f.index)
	if err == nil && f.fileID != "" {
		// The copy carries the id of the file it was taken from: it is
		// this node's state file now (state.go).
		if err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFileID, []byte(f.fileID)) }); err != nil {
			db.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.db = db
	f.pend = nil // the restored file's own (keys.go)
	f.applied.Store(applied)
	f.broadcast()
	return nil
}

func writeFile(path string, r io.Reader) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		os.Remove(path)
		return err
	}
	return out.Close()
}
