package central

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"

	"atrium/record"
)

// Raft log entry types. The first byte of every entry names its type. The
// numbers are part of the log's format: only ever append, never renumber.
// An entry of an unknown type (written by a newer version) is logged and
// skipped, identically on every node.
const (
	entryExecCommands      byte = 1 // user commands made at central
	entryEdgeOutbox        byte = 2 // an edge's outbox batch and its new high-water mark
	entrySetSecrets        byte = 3 // cluster secrets, applied only if absent
	entryAddEnrolToken     byte = 4 // a one-time enrolment token
	entryConsumeEnrolToken byte = 5 // use an enrolment token, at a time stamped by the proposer
	// 6 is entryRevokeEdge (revoke.go).
	entryPurgeTombstones byte = 7 // drop tombstones deleted before a cutoff stamped by the proposer (horizon.go)
)

// KindNotice is the kind of the record that tells the author of a command
// made at an edge that central refused it (record.KindNotice).
const KindNotice = record.KindNotice

// entry is a decoded raft log entry.
type entry struct {
	Type      byte
	Commands  []record.Command // ExecCommands, EdgeOutbox
	UAI       string           // EdgeOutbox, AddEnrolToken
	Epoch     uint64           // EdgeOutbox
	Secrets   Secrets          // SetSecrets
	TokenHash string           // tokens
	Time      int64            // AddEnrolToken: expiry; ConsumeEnrolToken, RevokeEdge: now; PurgeTombstones: cutoff (unix ms)
	Reason    string           // RevokeEdge
	Limit     uint64           // PurgeTombstones: feed entries examined at most
}

// wireError is an error as the state machine returns it and as it crosses
// the forwarding boundary: a Rejection of the ENT's rules, one of this
// package's sentinels (by code), or any other error (by message).
type wireError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Rejection bool   `json:"rejection,omitempty"`
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	if r, ok := record.AsRejection(err); ok {
		return &wireError{Code: r.Code, Message: r.Message, Rejection: true}
	}
	// In a fixed order: an error wrapping two sentinels gets the same code
	// on every node.
	for _, code := range sentinelCodes {
		if errors.Is(err, sentinels[code]) {
			return &wireError{Code: code, Message: err.Error()}
		}
	}
	return &wireError{Code: "error", Message: err.Error()}
}

func (w *wireError) err() error {
	if w == nil {
		return nil
	}
	if w.Rejection {
		return &record.Rejection{Code: w.Code, Message: w.Message}
	}
	if s, ok := sentinels[w.Code]; ok {
		if w.Message == s.Error() {
			return s
		}
		return &explained{s, w.Message}
	}
	return errors.New(w.Message)
}

// result is the state machine's response to one entry.
type result struct {
	Errs []*wireError `json:"errs,omitempty"` // per command (ExecCommands); nil when applied
	HWM  uint64       `json:"hwm,omitempty"`  // EdgeOutbox
	UAI  string       `json:"uai,omitempty"`  // ConsumeEnrolToken
	Err  *wireError   `json:"err,omitempty"`  // the entry as a whole
	// PurgeTombstones: tombstones removed, and whether the limit stopped
	// the walk before the cutoff (the leader proposes again).
	Purged uint64 `json:"purged,omitempty"`
	More   bool   `json:"more,omitempty"`
}

// fsm is the bbolt state machine. Raft calls ApplyBatch, Snapshot and
// Restore from one goroutine; View runs concurrently from any goroutine.
type fsm struct {
	path  string
	exec  record.Executor
	index termIndex
	log   *slog.Logger

	mu sync.RWMutex // guards db against Restore swapping the file
	db *bbolt.DB

	noBlobs bool // store chunks whole, as before blobs.go: the measurements' "before"

	// boot is the path of state.boot (state.go), "" for a state machine
	// opened by openFSM alone (tests); bootID the machine's boot id.
	// fileID is the file's id (state.go), "" in tests.
	boot, bootID, fileID string

	// pend is the key index's entries not merged yet (keys.go), as of the
	// last batch applied; nil after an open or a restore. Used by the
	// goroutine that applies.
	pend *pendingKeys

	applied atomic.Uint64
	purged  atomic.Uint64 // tombstones removed past the horizon (horizon.go)
	nmu     sync.Mutex
	notify  chan struct{} // closed and replaced after each applied batch
}

var _ raft.BatchingFSM = (*fsm)(nil)

// openFSM creates the state machine's file afresh, to be rebuilt from the
// latest snapshot and the raft log; it is written without fsync. A node
// opens its file with openState (state.go), which keeps it across a
// restart when it can be trusted.
func openFSM(path string, exec record.Executor, index termIndex, log *slog.Logger) (*fsm, error) {
	if err := removeState(path); err != nil {
		return nil, err
	}
	db, err := openBolt(path, index)
	if err != nil {
		return nil, err
	}
	return &fsm{path: path, exec: exec, index: index, log: log, db: db, notify: make(chan struct{})}, nil
}

// openBolt opens a state file, creating its buckets, and rebuilds its
// term index if another layout or Indexer made it (a snapshot of an
// older version).
func openBolt(path string, index termIndex) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, boltOptions())
	if err != nil {
		return nil, fmt.Errorf("open state file: %w", err)
	}
	if err := prepareBolt(db, index); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// boltOptions: the state file is written without fsync (NoSync; rebuilt
// from snapshot and log after a crash, state.go), its growth too: bbolt
// would otherwise fsync the whole file each time it grows it, every
// write made since with it (about 1 s of the state machine's goroutine in
// a region's directory import).
func boltOptions() *bbolt.Options {
	return &bbolt.Options{NoSync: true, NoGrowSync: true, NoFreelistSync: true, InitialMmapSize: 64 << 20}
}

// prepareBolt creates the buckets, rebuilds the term index and the digests
// when another format made them, and stamps the file with applyFormat
// (state.go): from now on this state machine writes it.
func prepareBolt(db *bbolt.DB, index termIndex) error {
	return db.Update(func(tx *bbolt.Tx) error {
		if err := initBuckets(tx); err != nil {
			return err
		}
		if _, err := ensureIndex(tx, index); err != nil {
			return err
		}
		if _, err := ensureDigests(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyApply, []byte(applyFormat))
	})
}

// close syncs and closes the state file and marks it clean (state.go): it
// is kept at the next start even if the machine restarts meanwhile. Raft
// has stopped: nothing applies any more.
func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.boot == "" {
		// Without state.boot (openFSM alone, in tests; a stop as kill -9
		// leaves the file, in restart_test.go): nothing to mark.
		return f.db.Close()
	}
	if err := closeBolt(f.db, true); err != nil {
		return err
	}
	return f.markClean()
}

// closeBolt closes a state file after one last commit that writes bbolt's
// freelist (not written by the state machine's commits, NoFreelistSync),
// so that the next open reads it instead of walking every page of the
// file (about 300 ms for 80 MB). With sync, that commit is also synced:
// every earlier NoSync commit reaches the disk before its meta page does.
func closeBolt(db *bbolt.DB, sync bool) error {
	db.NoFreelistSync = false
	if sync {
		db.NoSync = false
	}
	if err := db.Update(func(*bbolt.Tx) error { return nil }); err != nil {
		return errors.Join(fmt.Errorf("sync state file: %w", err), db.Close())
	}
	return db.Close()
}

// view runs fn in a read transaction.
func (f *fsm) view(fn func(reader) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.View(func(tx *bbolt.Tx) error { return fn(reader{tx: tx, idx: f.index.terms}) })
}

// changed returns a channel closed at the next applied batch.
func (f *fsm) changed() <-chan struct{} {
	f.nmu.Lock()
	defer f.nmu.Unlock()
	return f.notify
}

func (f *fsm) broadcast() {
	f.nmu.Lock()
	close(f.notify)
	f.notify = make(chan struct{})
	f.nmu.Unlock()
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies a batch of committed entries in one bbolt write
// transaction, with the index of the last one.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	resps := make([]any, len(logs))
	if len(logs) == 0 {
		return resps
	}
	last := logs[len(logs)-1]
	// A state file kept across a restart (state.go) holds the entries up
	// to its applied index; raft replays the log from its latest
	// snapshot's index.
	skip, done := 0, f.applied.Load()
	for skip < len(logs) && logs[skip].Index <= done {
		skip++
	}
	if skip == len(logs) {
		return resps
	}
	f.mu.RLock()
	err := f.db.Update(func(tx *bbolt.Tx) error {
		st := newTxState(tx)
		st.pend = f.pend
		st.idx = f.index.terms
		st.noBlobs = f.noBlobs
		for i, l := range logs[skip:] {
			if l.Type != raft.LogCommand {
				continue
			}
			res, err := f.applyEntry(st, l)
			if err != nil {
				return fmt.Errorf("apply entry %d: %w", l.Index, err)
			}
			resps[skip+i] = res
		}
		if err := st.flush(); err != nil {
			return err
		}
		if err := st.meta.Put(keyAppliedTerm, be(last.Term)); err != nil {
			return err
		}
		if err := st.meta.Put(keyApplied, be(last.Index)); err != nil {
			return err
		}
		f.pend = st.pend
		return nil
	})
	f.mu.RUnlock()
	if err != nil {
		// The state file failed under us: this node's state would diverge
		// from its peers'. Stop rather than serve it; the file is rebuilt
		// from snapshot and log at restart (state.boot says so: a file
		// kept would fail the same way again).
		f.distrust()
		panic(fmt.Sprintf("central: state machine storage failed: %v", err))
	}
	f.applied.Store(last.Index)
	f.broadcast()
	return resps
}

// applyEntry applies one entry. A returned error is a storage failure; the
// entry's own outcome is in the result.
func (f *fsm) applyEntry(st *txState, l *raft.Log) (*result, error) {
	tx := st.tx
	en, err := decodeEntry(l.Data)
	if err != nil {
		f.log.Error("skip undecodable raft entry", "index", l.Index, "err", err)
		return &result{Err: toWire(fmt.Errorf("%w: %v", ErrCorrupt, err))}, nil
	}
	switch en.Type {
	case entryExecCommands:
		res := &result{Errs: make([]*wireError, len(en.Commands))}
		for i, c := range en.Commands {
			e, err := f.execute(st, c)
			if err != nil {
				return nil, err
			}
			res.Errs[i] = toWire(e)
		}
		return res, nil
	case entryEdgeOutbox:
		return f.applyOutbox(st, en)
	case entrySetSecrets:
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keySecrets) == nil {
			if err := meta.Put(keySecrets, encodeSecrets(en.Secrets)); err != nil {
				return nil, err
			}
		}
		return &result{}, nil
	case entryAddEnrolToken:
		return addToken(tx, en)
	case entryConsumeEnrolToken:
		return consumeToken(tx, en)
	case entryRevokeEdge:
		return applyRevoke(tx, en)
	case entryPurgeTombstones:
		return f.applyPurge(st, en) // horizon.go
	}
	return nil, fmt.Errorf("entry type %d decoded but not applied", en.Type)
}

// execute runs one command. It returns the command's outcome, or a storage
// failure as its second value.
func (f *fsm) execute(st *txState, c record.Command) (outcome, storeErr error) {
	w := &writer{reader: reader{tx: st.tx, st: st}, cmd: c, fromEdge: c.Origin != record.OriginCentral}
	err := f.exec(w, c)
	if w.storeErr != nil {
		return nil, w.storeErr
	}
	return err, nil
}

func (f *fsm) applyOutbox(st *txState, en entry) (*result, error) {
	hb := st.tx.Bucket(bucketHWM)
	key := hwmKey(en.UAI, en.Epoch)
	known := hb.Get(key) != nil
	hwm := u64(hb.Get(key))
	if revokedEpoch(st.tx, en.UAI, en.Epoch) {
		return &result{HWM: hwm, Err: toWire(ErrRevoked)}, nil // revoke.go
	}
	first := true // the batch's first command not applied before
	for _, c := range en.Commands {
		if c.Seq <= hwm {
			continue // retransmitted: applied before
		}
		if first && known && c.Seq != hwm+1 {
			// An edge pipelines its pushes; a batch that overtook an
			// earlier one is refused whole (the answer's high-water mark
			// says where to resume) so that no command is skipped.
			break
		}
		first = false
		hwm = c.Seq
		outcome, err := f.execute(st, c)
		if err != nil {
			return nil, err
		}
		if outcome == nil {
			continue
		}
		if err := f.notice(st, c, outcome); err != nil {
			return nil, err
		}
	}
	if err := hb.Put(key, be(hwm)); err != nil {
		return nil, err
	}
	return &result{HWM: hwm}, nil
}

// notice records, in the command's partition, that central refused a
// command made at an edge, so that its author sees it.
func (f *fsm) notice(st *txState, c record.Command, outcome error) error {
	code, msg := "error", "La modification n'a pas pu être appliquée."
	if r, ok := record.AsRejection(outcome); ok {
		code, msg = r.Code, r.Message
	}
	n := record.Notice{User: c.User, Op: c.Op, Code: code, Message: msg, Seq: c.Seq, Origin: c.Origin, Epoch: c.Epoch}
	if len(c.Args) <= maxNoticeArgs && json.Valid(c.Args) {
		// What the author asked for, to name it in the notice (a refused
		// booking does not exist at central). Left out: a malformed
		// command's (they would not encode) and large ones (a chunk of a
		// file, a long message).
		n.Args = c.Args
	}
	body, _ := json.Marshal(n)
	partition := c.Partition
	if partition == "" {
		partition = c.Origin
	}
	id := noticeID(c)
	w := &writer{reader: reader{tx: st.tx, st: st}, cmd: c}
	err := w.Put(record.Record{Partition: partition, ID: id, Kind: KindNotice, Body: body})
	if err == nil && c.User != "" {
		err = indexNotice(w, partition, c.User, id)
	}
	if w.storeErr != nil {
		return w.storeErr
	}
	if err != nil {
		f.log.Error("cannot record refusal notice", "origin", c.Origin, "seq", c.Seq, "err", err)
	}
	return nil
}

// maxNoticeArgs bounds the arguments a notice keeps of its command.
const maxNoticeArgs = 2 << 10

// indexNotice adds notice id to the index of user's notices in partition
// (record.NoticeIndex), which the ENT reads by id on every page.
func indexNotice(w *writer, partition, user, id string) error {
	var idx record.NoticeIndex
	ix := record.NoticeIndexID(partition, user)
	prev, ok, err := w.Get(partition, ix)
	if err != nil {
		return err
	}
	if ok && !prev.Deleted {
		if err := json.Unmarshal(prev.Body, &idx); err != nil {
			return fmt.Errorf("decode notice index %s: %w", ix, err)
		}
	}
	if slices.Contains(idx.Notices, id) {
		return nil
	}
	idx.Notices = append(idx.Notices, id)
	body, _ := json.Marshal(idx)
	return w.Put(record.Record{Partition: partition, ID: ix, Kind: record.KindNoticeIndex, Body: body})
}

// noticeID derives a UUIDv7-shaped id from the command, so that every node
// mints the same one: the command's time in the top 48 bits, a hash of its
// origin, epoch and sequence number in the rest.
func noticeID(c record.Command) string {
	h := sha256.New()
	h.Write([]byte(c.Origin))
	h.Write(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, c.Epoch), c.Seq))
	var u [16]byte
	copy(u[6:], h.Sum(nil))
	ms := uint64(c.Time)
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// enrolToken is an enrolment token as stored (by the hash of its secret).
type enrolToken struct {
	UAI     string
	Expires int64 // unix ms
	Used    bool
}

func addToken(tx *bbolt.Tx, en entry) (*result, error) {
	b := tx.Bucket(bucketTokens)
	if en.TokenHash == "" || en.UAI == "" {
		return &result{Err: toWire(fmt.Errorf("%w: token hash and uai are required", ErrInvalidRecord))}, nil
	}
	if b.Get([]byte(en.TokenHash)) != nil {
		return &result{Err: toWire(ErrTokenExists)}, nil
	}
	return &result{}, b.Put([]byte(en.TokenHash), encodeToken(enrolToken{UAI: en.UAI, Expires: en.Time}))
}

func consumeToken(tx *bbolt.Tx, en entry) (*result, error) {
	b := tx.Bucket(bucketTokens)
	v := b.Get([]byte(en.TokenHash))
	if v == nil {
		return &result{Err: toWire(ErrTokenUnknown)}, nil
	}
	t, err := decodeToken(v)
	if err != nil {
		return &result{Err: toWire(err)}, nil
	}
	switch {
	case t.Used:
		return &result{Err: toWire(ErrTokenUsed)}, nil
	case en.Time >= t.Expires:
		return &result{Err: toWire(ErrTokenExpired)}, nil
	}
	t.Used = true
	return &result{UAI: t.UAI}, b.Put([]byte(en.TokenHash), encodeToken(t))
}

// Secrets are the cluster's shared secrets, created once by the first
// leader and kept in the replicated state.
type Secrets struct {
	CACertPEM  []byte // the internal CA that signs edge and server certificates
	CAKeyPEM   []byte
	SessionKey []byte // HMAC key of portal session tokens (32 bytes)
	ClusterKey []byte // authenticates calls between central nodes (32 bytes)
}
