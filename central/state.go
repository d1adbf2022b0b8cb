package central

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"

	"atrium/internal/durable"
	"atrium/record"
)

// The state file (state.db) is written without fsync; the raft log and the
// snapshots are the durable copy. A node keeps the file across a restart
// when it can trust it, and otherwise rebuilds it from the latest snapshot
// and the log (DESIGN.md, "State file and the raft log"):
//
//   - bbolt commits are atomic against a process crash: a commit writes its
//     pages, then the meta page, all into the page cache; a process killed
//     in between leaves the previous meta page, so the file is consistent
//     as of its last commit, NoSync or not. Only a machine crash (power,
//     kernel) can lose NoSync writes, in any order: a torn file.
//   - So the file is trusted when every write it holds was made during the
//     machine's current boot, or when it was closed cleanly: synced, then
//     marked clean durably, and not opened for writing since.
//
// What the node knows about the file lives beside it, in state.boot (a
// small JSON document written with fsync and rename), not inside it: after
// a machine crash the bbolt file may be torn, and opening a torn bbolt file
// can crash the process (bbolt rebuilds its freelist on a goroutine that
// panics on a bad page), at every start. The decision is made before
// bbolt touches the file.
//
// state.boot holds the machine's boot id, the id of the file it is about
// (meta "file", drawn when the file is made: a file another version
// rebuilt is not that one) and a phase:
//
//	opening  written (durably) before the file is opened for writing; a
//	         start that finds it means the previous open died (or the file
//	         made bbolt crash): rebuild.
//	open     written once the file opened and passed its checks: its writes
//	         are those of boot Boot.
//	clean    written (durably) by a clean close, after the file was synced
//	         and closed: trusted whatever the boot.
//	failed   written when a commit failed and the node stops (ApplyBatch
//	         panics): the file would fail the same way again: rebuild.
//
// A kept file must also agree with the raft log (stateFits): its applied
// index and that entry's term (meta "appliedTerm") must be in the log or be
// the latest snapshot's, and it must not be behind the latest snapshot
// (raft would replay the log from the snapshot's index onto it). It must
// have been written by a state machine that applies the log as this one
// does (meta "apply", applyFormat).

// applyFormat names how this version applies the raft log: the entry
// types and formats it knows. An older version skips an entry type it
// does not know (logged, same on every node); a file it wrote lacks that
// entry's effects, so a version that knows more rebuilds the file from
// snapshot and log (applying the tail afresh) rather than keep it.
// Change it whenever an entry type or an entry format is added, or an
// entry's effect on the state changes.
const applyFormat = "1:7" // entryFormat : highest entry type known

// Meta keys of the state file (store.go lists the others).
var (
	keyAppliedTerm = []byte("appliedTerm") // raft term of the entry at "applied"
	keyApply       = []byte("apply")       // applyFormat of the state machine that wrote it
	keyFileID      = []byte("file")        // random id drawn when the file was made, also in state.boot
)

// bootIDPath is where Linux gives the machine's boot id, a random UUID
// drawn at every boot.
var bootIDPath = "/proc/sys/kernel/random/boot_id"

// readBootID returns the machine's boot id, "" when unknown (then only a
// cleanly closed file is ever kept).
func readBootID() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Phases of state.boot.
const (
	phaseOpening = "opening"
	phaseOpen    = "open"
	phaseClean   = "clean"
	phaseFailed  = "failed"
)

// bootRecord is state.boot: what the node knows about state.db.
type bootRecord struct {
	Boot  string `json:"boot"`  // boot id of the machine when the file was opened
	Phase string `json:"phase"` // opening, open, clean, failed
	File  string `json:"file"`  // the file's id (meta "file"): this record is about that file
}

func bootPath(state string) string { return strings.TrimSuffix(state, ".db") + ".boot" }

func readBootRecord(path string) (bootRecord, error) {
	var r bootRecord
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	return r, nil
}

// writeBootRecord replaces state.boot: a temporary file renamed over it.
// The phases a machine crash must not lose, opening and clean, are written
// durably (fsync of the file, then of the directory); losing open or
// failed is harmless: after a reboot neither is trusted, and the record
// before them is opening.
func writeBootRecord(path string, r bootRecord) error {
	mustSync := r.Phase == phaseOpening || r.Phase == phaseClean
	b, _ := json.Marshal(r)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil && mustSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil && mustSync {
		err = durable.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// trustBoot decides from state.boot alone whether state.db may be kept,
// and says why.
func trustBoot(r bootRecord, err error, boot string) (bool, string) {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, "no record of the state file (first start, or a version that rebuilt it at every start)"
	case err != nil:
		return false, "record of the state file unreadable: " + err.Error()
	case r.Phase == phaseClean:
		return true, "closed cleanly"
	case r.Phase == phaseOpening:
		return false, "the previous start died while opening it"
	case r.Phase == phaseFailed:
		return false, "the previous run stopped on a storage failure"
	case r.Phase != phaseOpen:
		return false, fmt.Sprintf("unknown phase %q", r.Phase)
	case boot == "":
		return false, "boot id unknown: the machine may have restarted since its last write"
	case r.Boot != boot:
		return false, "the machine restarted since its last write"
	}
	return true, "written during this boot (the process stopped, the machine did not)"
}

// raftPosition is what the raft log and snapshot store hold, against which
// a kept state file is checked.
type raftPosition struct {
	lastIndex           uint64                            // last index in the log (0: empty)
	term                func(index uint64) (uint64, bool) // the log's term at index, if it holds it
	snapIndex, snapTerm uint64                            // the latest snapshot's (0: none)
}

func readRaftPosition(logs raft.LogStore, snaps raft.SnapshotStore) (raftPosition, error) {
	var p raftPosition
	var err error
	if p.lastIndex, err = logs.LastIndex(); err != nil {
		return p, fmt.Errorf("read raft log: %w", err)
	}
	p.term = func(index uint64) (uint64, bool) {
		var l raft.Log
		if logs.GetLog(index, &l) != nil {
			return 0, false
		}
		return l.Term, true
	}
	list, err := snaps.List()
	if err != nil {
		return p, fmt.Errorf("list snapshots: %w", err)
	}
	if len(list) > 0 { // newest first, the one raft starts from
		p.snapIndex, p.snapTerm = list[0].Index, list[0].Term
	}
	return p, nil
}

// stateFits checks a kept file's position (its applied index and that
// entry's term) against raft's, and says why not when it does not fit.
func stateFits(applied, term uint64, p raftPosition) (bool, string) {
	switch {
	case applied == 0:
		return false, "nothing applied yet"
	case term == 0:
		return false, "applied term unknown (a file written by an older version)"
	case applied < p.snapIndex:
		// Raft would replay the log from the snapshot's index onto a file
		// that lacks the entries before it (a snapshot installed by the
		// leader whose Restore did not finish).
		return false, fmt.Sprintf("applied index %d is behind the latest snapshot's %d", applied, p.snapIndex)
	case applied == p.snapIndex && term == p.snapTerm:
		return true, ""
	}
	if t, ok := p.term(applied); ok {
		if t != term {
			return false, fmt.Sprintf("entry %d has term %d in the raft log, %d in the state file", applied, t, term)
		}
		return true, ""
	}
	return false, fmt.Sprintf("applied index %d is not in the raft log (last %d, snapshot %d)", applied, p.lastIndex, p.snapIndex)
}

// StateOpen tells how a node's state file was opened at start.
type StateOpen struct {
	Reused  bool   // kept from the previous run; false: rebuilt from snapshot and log
	Reason  string // why, for operators
	Applied uint64 // the raft index it held at open
}

// openState opens the node's state file, keeping it when it can be
// trusted (see above) and fits the raft log at p; otherwise it is
// rebuilt as openFSM does.
func openState(path string, exec record.Executor, index termIndex, log *slog.Logger, p raftPosition) (*fsm, StateOpen, error) {
	if log == nil {
		log = slog.Default()
	}
	bp := bootPath(path)
	boot := readBootID()
	rec, rerr := readBootRecord(bp)
	keep, reason := trustBoot(rec, rerr, boot)
	if keep {
		if _, err := os.Stat(path); err != nil {
			keep, reason = false, "no state file"
		}
	}
	if !keep {
		if err := removeState(path); err != nil {
			return nil, StateOpen{}, err
		}
	}
	// From here the file may hold writes of this boot and is no longer
	// clean: say so durably before bbolt writes to it.
	if err := writeBootRecord(bp, bootRecord{Boot: boot, Phase: phaseOpening, File: rec.File}); err != nil {
		return nil, StateOpen{}, err
	}
	var f *fsm
	st := StateOpen{Reason: reason}
	if keep {
		var why string
		var err error
		f, st.Applied, why, err = reopenFSM(path, exec, index, log, p, rec.File)
		switch {
		case err != nil:
			return nil, StateOpen{}, err
		case f != nil:
			st.Reused = true
		default:
			st.Reason = why
		}
	}
	if f == nil {
		var err error
		if f, err = openFSM(path, exec, index, log); err != nil {
			return nil, StateOpen{}, err
		}
		f.fileID = newFileID()
		if err := f.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFileID, []byte(f.fileID)) }); err != nil {
			f.db.Close()
			return nil, StateOpen{}, fmt.Errorf("stamp state file: %w", err)
		}
	}
	if err := writeBootRecord(bp, bootRecord{Boot: boot, Phase: phaseOpen, File: f.fileID}); err != nil {
		f.db.Close()
		return nil, StateOpen{}, err
	}
	f.boot, f.bootID = bp, boot
	if st.Reused {
		log.Info("state file kept", "reason", st.Reason, "applied", st.Applied)
	} else {
		log.Info("state file rebuilt from snapshot and log", "reason", st.Reason, "snapshot", p.snapIndex, "lastIndex", p.lastIndex)
	}
	return f, st, nil
}

// reopenFSM opens a trusted state file and checks that it is the one
// state.boot describes (file) and fits the raft log. When it is not to be
// kept, it returns a nil fsm and why, the file deleted.
func reopenFSM(path string, exec record.Executor, index termIndex, log *slog.Logger, p raftPosition, file string) (*fsm, uint64, string, error) {
	db, err := bbolt.Open(path, 0o600, boltOptions())
	if err != nil {
		return nil, 0, "state file does not open: " + err.Error(), removeState(path)
	}
	var applied uint64
	why := "no bucket meta"
	db.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketParts, bucketKeys, bucketHWM, bucketTokens} {
			if tx.Bucket(name) == nil {
				why = fmt.Sprintf("bucket %s missing", name)
				return nil
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch {
		case file == "" || string(meta.Get(keyFileID)) != file:
			// Another file than the one state.boot describes: one an
			// older version made (it does not keep state.boot up to date).
			why = "not the state file state.boot describes"
		case !bytes.Equal(meta.Get(keyApply), []byte(applyFormat)):
			why = fmt.Sprintf("written by a state machine that applies the log as %q, this one as %q", meta.Get(keyApply), applyFormat)
		case len(meta.Get(keyApplied)) != 8 || len(meta.Get(keyAppliedTerm)) != 8:
			why = "applied index or term unreadable"
		default:
			applied = u64(meta.Get(keyApplied))
			var ok bool
			ok, why = stateFits(applied, u64(meta.Get(keyAppliedTerm)), p)
			if ok {
				why = ""
			}
		}
		return nil
	})
	if why != "" {
		db.Close()
		return nil, 0, why, removeState(path)
	}
	// The term index and the digests are derived from the records: a file
	// of another index or digest format has them rebuilt in place, as a
	// restored snapshot does.
	if err := prepareBolt(db, index); err != nil {
		db.Close()
		return nil, 0, "", err
	}
	f := &fsm{path: path, exec: exec, index: index, log: log, db: db, notify: make(chan struct{}), fileID: file}
	f.applied.Store(applied)
	return f, applied, "", nil
}

// newFileID names a state file made afresh.
func newFileID() string {
	return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, mrand.Uint64()))
}

// removeState deletes the state file and what a snapshot or a restore left
// beside it.
func removeState(path string) error {
	for _, p := range []string{path, path + ".restore", path + ".snapshot"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove stale state file: %w", err)
		}
	}
	return nil
}

// distrust records, before the node stops on a storage failure, that its
// state file is to be rebuilt. Best effort: the node is going down.
func (f *fsm) distrust() {
	if f.boot == "" {
		return
	}
	if err := writeBootRecord(f.boot, bootRecord{Boot: f.bootID, Phase: phaseFailed, File: f.fileID}); err != nil {
		f.log.Error("cannot mark the state file for a rebuild", "err", err)
	}
}

// markClean ends a clean close: the file is synced and closed, then
// state.boot says so durably, so that the file is kept even if the
// machine restarts before the node does.
func (f *fsm) markClean() error {
	if _, err := os.Stat(f.path); errors.Is(err, os.ErrNotExist) {
		return nil // removed under the node (a test's directory): nothing to keep
	}
	return writeBootRecord(f.boot, bootRecord{Boot: f.bootID, Phase: phaseClean, File: f.fileID})
}
