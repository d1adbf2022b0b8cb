package edge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"atrium/record"
)

// Buckets of the edge's bbolt file. Keys join their parts with a NUL byte,
// which no partition, kind, key or id may contain.
var (
	bucketRecords     = []byte("records")     // partition \0 id -> encoded record
	bucketKinds       = []byte("kinds")       // partition \0 kind \0 id -> nothing (live records only)
	bucketKeys        = []byte("keys")        // kind \0 key (sealed: seal.go's indexKey) -> partition \0 id (live records only)
	bucketTerms       = []byte("terms")       // partition \0 kind \0 term \0 id -> nothing (index terms of live records)
	bucketOutbox      = []byte("outbox")      // big-endian seq -> encoded command
	bucketCheckpoints = []byte("checkpoints") // partition -> big-endian last applied feed seq
	bucketMeta        = []byte("meta")

	metaUAI        = []byte("uai")
	metaEpoch      = []byte("epoch")
	metaOutboxNext = []byte("outboxNext") // seq the next local command receives
	metaIndex      = []byte("index")      // layout and Indexer version of bucketTerms (indexStamp)
)

// maxGroup bounds how many Submits share one transaction.
const maxGroup = 256

// defaultOutboxLimit is what Outbox returns at most when asked for no limit.
const defaultOutboxLimit = 1000

// outboxBatchBytes bounds the encoded commands one Outbox call returns
// (at least one is always returned): chunks of files are large, and one
// push travels in one frame and one raft entry at central.
const outboxBatchBytes = 4 << 20

// Store is the durable copy of a lycée's data at its edge: the records of
// its partition and of the region's, and the outbox of local commands. It
// implements the ENT's store (View, Submit) and replication's Sink.
type Store struct {
	db    *bolt.DB
	uai   string
	exec  record.Executor
	idx   record.Indexer
	ixVer string
	epoch uint64
	now   func() time.Time // the clock of undo entries' acknowledgements (undo.go)
	// sealer seals the values that hold bodies and arguments (seal.go);
	// nil for a store kept in clear.
	sealer *sealer

	submits   chan *submission // unbuffered: a send succeeds only if the commit loop takes it
	closing   chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex
	outboxLen int
	outboxOps map[string]int // commands in the outbox by Op
	changed   chan struct{}

	ahead pagesAhead // pages of central's feed prepared before their transaction (prepare.go)
}

type submission struct {
	cmd  record.Command
	done chan error // buffered 1
}

// Options are the optional settings of a Store.
type Options struct {
	// Indexer gives the records' index terms (record.Reader.ScanTerm);
	// IndexVersion names it: when either differs from what made the
	// file's index, Open rebuilds the index from the records. nil: no
	// index, ScanTerm returns record.ErrNoIndex.
	Indexer      record.Indexer
	IndexVersion string
	// DataKey is the 32-byte key the store's values are sealed with
	// (seal.go; LoadDataKey finds it). nil: a new file is kept in clear,
	// and a sealed one is refused (ErrDataKeyRequired).
	DataKey []byte
	// Logger is told when a clear file is sealed in place; nil:
	// slog.Default().
	Logger *slog.Logger
}

// Open opens (creating it if needed) the edge store at path for the lycée
// uai; exec executes local commands. Every open mints a new epoch (unix
// milliseconds, above the file's last), under which the commands written
// from then on are sent: an edge reinstalled into a fresh file, or whose
// file was restored from a backup, is told apart from its former self by
// central, and nothing it writes is taken for a retransmission of what
// its former self sent. A file made for another lycée is refused. The store has no term index (OpenWith sets one).
func Open(path, uai string, exec record.Executor) (*Store, error) {
	return OpenWith(path, uai, exec, Options{})
}

// OpenWith is Open with options.
func OpenWith(path, uai string, exec record.Executor, opts Options) (*Store, error) {
	if err := checkName("uai", uai); err != nil {
		return nil, err
	}
	if uai == record.Region {
		return nil, fmt.Errorf("edge: uai %q is the region partition", uai)
	}
	if exec == nil {
		return nil, errors.New("edge: open store: Exec is required")
	}
	db, err := bolt.Open(path, 0o600, boltOptions())
	if err != nil {
		return nil, fmt.Errorf("edge: open %s: %w", path, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	db, sl, err := openSealer(db, path, uai, opts.DataKey, log.With("path", path)) // seal.go
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, fmt.Errorf("edge: open %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		sealer:   sl,
		uai:      uai,
		exec:     exec,
		idx:      opts.Indexer,
		ixVer:    opts.IndexVersion,
		now:      time.Now,
		submits:  make(chan *submission),
		closing:  make(chan struct{}),
		loopDone: make(chan struct{}),
		changed:  make(chan struct{}),
	}
	if err := db.Update(s.init); err != nil {
		db.Close()
		return nil, fmt.Errorf("edge: open %s: %w", path, err)
	}
	go s.commitLoop()
	return s, nil
}

// init creates the buckets of a new file or checks an existing one, and
// loads what the store keeps in memory.
func (s *Store) init(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketRecords, bucketKinds, bucketKeys, bucketTerms, bucketOutbox, bucketCheckpoints, bucketMeta,
		bucketUndo, bucketUndoRecords, bucketUndoAcked, bucketDigests, bucketStaging, bucketSnapshots} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if owner := meta.Get(metaUAI); owner == nil {
		s.epoch = uint64(time.Now().UnixMilli())
		for k, v := range map[string][]byte{
			string(metaUAI):        []byte(s.uai),
			string(metaEpoch):      u64(s.epoch),
			string(metaOutboxNext): u64(1),
		} {
			if err := meta.Put([]byte(k), v); err != nil {
				return err
			}
		}
	} else if string(owner) != s.uai {
		return fmt.Errorf("%w: file belongs to lycée %s, not %s", ErrForeignPartition, owner, s.uai)
	} else {
		epoch, ok := readU64(meta.Get(metaEpoch))
		if !ok {
			return fmt.Errorf("%w: epoch", ErrCorrupt)
		}
		// Every open starts a new epoch: a file restored from a backup
		// mints sequence numbers central already saw under the epoch of
		// the backup; under a new epoch they are new commands, not
		// retransmissions. The outbox keeps each command's own epoch.
		s.epoch = max(uint64(time.Now().UnixMilli()), epoch+1)
		if err := meta.Put(metaEpoch, u64(s.epoch)); err != nil {
			return err
		}
	}
	s.outboxLen = tx.Bucket(bucketOutbox).Stats().KeyN
	s.outboxOps = map[string]int{}
	if err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		v, err := s.sealer.open(bucketOutbox, k, v)
		if err != nil {
			return err
		}
		s.outboxOps[outboxOp(v)]++
		return nil
	}); err != nil {
		return err
	}
	if !bytes.Equal(meta.Get(metaIndex), s.indexStamp()) {
		if err := s.rebuildIndex(tx); err != nil {
			return fmt.Errorf("rebuild index: %w", err)
		}
	}
	if !bytes.Equal(meta.Get(metaDigest), []byte(digestFormat)) {
		if err := rebuildDigests(tx, s.sealer); err != nil { // digest.go
			return fmt.Errorf("rebuild digests: %w", err)
		}
	}
	return nil
}

// indexFormat is the layout of bucketTerms.
const indexFormat = "1"

// indexStamp is what meta holds for an index made by this store's Indexer.
func (s *Store) indexStamp() []byte {
	if s.idx == nil {
		return []byte(indexFormat + ":none")
	}
	return []byte(indexFormat + ":" + s.ixVer)
}

// rebuildIndex makes the term index afresh from every record: a file
// written before the index existed, or by another Indexer.
func (s *Store) rebuildIndex(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketTerms); err != nil {
		return err
	}
	terms, err := tx.CreateBucket(bucketTerms)
	if err != nil {
		return err
	}
	if s.idx != nil {
		err := tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			v, err := s.sealer.open(bucketRecords, k, v)
			if err != nil {
				return err
			}
			rec, err := record.DecodeRecord(v)
			if err != nil {
				return fmt.Errorf("%w: record %q: %w", ErrCorrupt, k, err)
			}
			for _, t := range record.Terms(s.idx, rec) {
				if err := terms.Put(termKey(rec.Partition, rec.Kind, t, rec.ID), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(metaIndex, s.indexStamp())
}

func termKey(partition, kind, term, id string) []byte {
	k := make([]byte, 0, len(partition)+len(kind)+len(term)+len(id)+3)
	k = append(k, partition...)
	k = append(k, 0)
	k = append(k, kind...)
	k = append(k, 0)
	k = append(k, term...)
	k = append(k, 0)
	return append(k, id...)
}

// Close stops accepting commands, waits for the transaction in progress
// and closes the file. Calling it again returns the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.loopDone
		s.ahead.drop()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// UAI returns the lycée this store belongs to.
func (s *Store) UAI() string { return s.uai }

// View runs fn with a consistent read-only view of the store. The Reader
// and the records' memory are valid only inside fn.
func (s *Store) View(fn func(record.Reader) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(newReader(tx, s.idx, s.sealer)) })
}

// Submit executes a command made at this edge and appends it to the
// outbox, in one durable transaction. It fills in the command's Origin,
// Epoch and Seq. The edge writes only its own lycée's partition: any other
// is refused with a *record.Rejection, as are the commands its executor
// refuses; a refused command writes nothing.
func (s *Store) Submit(ctx context.Context, cmd record.Command) error {
	if cmd.Partition != s.uai {
		return record.Reject("forbidden", "Cette modification ne peut pas être faite depuis l'établissement.")
	}
	cmd.Origin = s.uai
	cmd.Epoch = s.epoch
	sub := &submission{cmd: cmd, done: make(chan error, 1)}
	select {
	case s.submits <- sub:
	case <-s.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once taken, the command commits or fails within one transaction:
	// wait for the outcome rather than report a cancellation that may be
	// false.
	return <-sub.done
}

// commitLoop runs the local commands: every Submit waiting when a
// transaction starts joins it, so concurrent writers share one fsync.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	group := make([]*submission, 0, maxGroup)
	for {
		select {
		case <-s.closing:
			return
		case sub := <-s.submits:
			group = append(group[:0], sub)
		}
	more:
		for len(group) < maxGroup {
			select {
			case sub := <-s.submits:
				group = append(group, sub)
			default:
				break more
			}
		}
		s.commitGroup(group)
	}
}

// errAbort rolls back a group's transaction after one command failed.
var errAbort = errors.New("edge: abort group")

// commitGroup executes a group of commands in one transaction. When one
// fails, the transaction is rolled back and run again without it: the
// failed command is answered as if it ran after the others of its group,
// which is what it saw.
func (s *Store) commitGroup(group []*submission) {
	results := make([]error, len(group))
	live := make([]int, len(group))
	for i := range live {
		live[i] = i
	}
	for len(live) > 0 {
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			outbox := tx.Bucket(bucketOutbox)
			seq, ok := readU64(meta.Get(metaOutboxNext))
			if !ok {
				return fmt.Errorf("%w: outbox sequence", ErrCorrupt)
			}
			for _, i := range live {
				cmd := group[i].cmd
				cmd.Seq = seq
				if err := s.exec(newLocalTx(tx, s.uai, cmd, s.idx, s.sealer), cmd); err != nil {
					failed, results[i] = i, err
					return errAbort
				}
				if err := outbox.Put(u64(seq), s.sealer.seal(bucketOutbox, u64(seq), record.AppendCommand(nil, cmd))); err != nil {
					return fmt.Errorf("append to outbox: %w", err)
				}
				seq++
			}
			return meta.Put(metaOutboxNext, u64(seq))
		})
		if failed >= 0 {
			live = removeValue(live, failed)
			continue
		}
		if err != nil {
			for _, i := range live {
				results[i] = fmt.Errorf("edge: submit: %w", err)
			}
			break
		}
		ops := make([]string, len(live))
		for j, i := range live {
			ops[j] = group[i].cmd.Op
		}
		s.outboxAppended(ops)
		break
	}
	for i, sub := range group {
		sub.done <- results[i]
	}
}

func removeValue(s []int, v int) []int {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func (s *Store) outboxAppended(ops []string) {
	if len(ops) == 0 {
		return
	}
	s.mu.Lock()
	s.outboxLen += len(ops)
	for _, op := range ops {
		s.outboxOps[op]++
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// OutboxLen returns how many local commands central has not acknowledged.
func (s *Store) OutboxLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outboxLen
}

// outboxOp returns the Op of an encoded outbox command; "" for one that
// does not decode (Outbox reports it; the counts only need to agree with
// AckOutbox's).
func outboxOp(v []byte) string {
	cmd, err := record.DecodeCommand(v)
	if err != nil {
		return ""
	}
	return cmd.Op
}

// OutboxLenExcept returns how many local commands central has not
// acknowledged, leaving out those whose Op is one of ops. It reads counts
// kept in memory: the offline banner asks on every page.
func (s *Store) OutboxLenExcept(ops ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.outboxLen
	for _, op := range ops {
		n -= s.outboxOps[op]
	}
	return max(n, 0)
}

// Checkpoints returns the last applied feed sequence of each partition the
// edge holds (0 for none yet). A partition it cannot read is left out.
func (s *Store) Checkpoints() map[string]uint64 {
	out := make(map[string]uint64, 2)
	for _, p := range []string{s.uai, record.Region} {
		if cp, err := s.Checkpoint(p); err == nil {
			out[p] = cp
		}
	}
	return out
}

// reader implements record.Reader on a bbolt transaction.
type reader struct {
	records, kinds, keys, terms *bolt.Bucket
	digests                     *bolt.Bucket             // partition -> record.Digest (digest.go)
	digestBuf                   map[string]record.Digest // digests folded, not yet written (bufferDigests); nil: written at once
	idx                         record.Indexer           // nil: no term index
	sealer                      *sealer                  // nil: a store kept in clear (seal.go)
	writes                      int                      // bumped by every write, so Scan knows to re-seek its cursor
}

func newReader(tx *bolt.Tx, idx record.Indexer, sl *sealer) *reader {
	r := &reader{
		records: tx.Bucket(bucketRecords),
		kinds:   tx.Bucket(bucketKinds),
		keys:    tx.Bucket(bucketKeys),
		terms:   tx.Bucket(bucketTerms),
		digests: tx.Bucket(bucketDigests),
		idx:     idx,
		sealer:  sl,
	}
	if tx.Writable() {
		// Ids are UUIDv7: new records are appended at the end of these
		// buckets, so full pages (rather than bbolt's half-full splits)
		// halve what each transaction writes and fsyncs.
		r.records.FillPercent = appendFill
		r.kinds.FillPercent = appendFill
		r.terms.FillPercent = appendFill // ids grow within each term too
	}
	return r
}

// boltOptions are the options of every bbolt file of an edge's store.
// Another process holding the file is an error, not a hang. A new file
// gets pages of storePageSize (an existing one keeps its own). The file is
// mapped 1 GiB at a time from the start (address space, not memory): a
// growing file is remapped less often, and a remap copies every key and
// value the write transaction holds in memory (80 MB for a catch-up of
// 100k records, before) and waits for the portal's read transactions.
func boltOptions() *bolt.Options {
	return &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType, PageSize: storePageSize, InitialMmapSize: 1 << 30}
}

// storePageSize is the page size of a new store file. The edge writes
// central's feed in pages of thousands of records appended at the end of
// their buckets: pages of 16 KiB rather than the system's 4 KiB make a
// quarter of the B-tree pages to allocate, spill and write (bbolt writes
// each with a pwrite of its own), and catch-up ~12 % faster
// (BenchmarkCatchUpVsJetStream, docs/benchmarks.md).
const storePageSize = 16 << 10

// appendFill is the fill factor of the buckets keyed by time-ordered ids
// (after a prefix).
const appendFill = 0.95

func (r *reader) Get(partition, id string) (record.Record, bool, error) {
	v, err := r.recordBytes(join(partition, id)) // seal.go
	if err != nil {
		return record.Record{}, false, err
	}
	if v == nil {
		return record.Record{}, false, nil
	}
	rec, err := record.DecodeRecord(v)
	if err != nil {
		return record.Record{}, false, fmt.Errorf("get %s/%s: %w: %w", partition, id, ErrCorrupt, err)
	}
	return rec, true, nil
}

func (r *reader) ByKey(kind, key string) (record.Record, bool, error) {
	if key == "" {
		return record.Record{}, false, nil
	}
	v := r.keys.Get(r.keyOf(kind, key)) // seal.go
	if v == nil {
		return record.Record{}, false, nil
	}
	partition, id, ok := bytes.Cut(v, []byte{0})
	if !ok {
		return record.Record{}, false, fmt.Errorf("by key %s/%s: %w: index entry", kind, key, ErrCorrupt)
	}
	rec, found, err := r.Get(string(partition), string(id))
	if err != nil || !found || rec.Deleted {
		return record.Record{}, false, err
	}
	return rec, true, nil
}

func (r *reader) Scan(partition, kind string, fn func(record.Record) error) error {
	return r.scanIndex(r.kinds, append(join(partition, kind), 0), partition, fn)
}

func (r *reader) ScanTerm(partition, kind, term string, fn func(record.Record) error) error {
	if r.idx == nil {
		return record.ErrNoIndex
	}
	return r.scanIndex(r.terms, termKey(partition, kind, term, ""), partition, fn)
}

// scanIndex calls fn for the records of partition that index's keys
// under prefix name (prefix, then the id), newest id first.
func (r *reader) scanIndex(index *bolt.Bucket, prefix []byte, partition string, fn func(record.Record) error) error {
	c := index.Cursor()
	// Start after the last key of the prefix and walk backwards: ids are
	// UUIDv7, so byte order is creation order and this is newest first.
	end := append(bytes.Clone(prefix[:len(prefix)-1]), 1)
	k := seekBefore(c, end)
	for k != nil && bytes.HasPrefix(k, prefix) {
		id := string(k[len(prefix):])
		rec, ok, err := r.Get(partition, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("scan %q: %w: index names missing record %s", prefix, ErrCorrupt, id)
		}
		writes := r.writes
		if err := fn(rec); err != nil {
			if errors.Is(err, record.ErrStop) {
				return nil
			}
			return err
		}
		if r.writes != writes {
			// fn wrote (inside an executor): bbolt cursors do not survive
			// writes to their bucket, so find our place again.
			k = seekBefore(c, append(bytes.Clone(prefix), id...))
		} else {
			k, _ = c.Prev()
		}
	}
	return nil
}

// seekBefore positions c on the last key before key and returns it.
func seekBefore(c *bolt.Cursor, key []byte) []byte {
	if k, _ := c.Seek(key); k == nil {
		k, _ = c.Last()
		return k
	}
	k, _ := c.Prev()
	return k
}

// put writes rec as it is and maintains the indexes; old is the record it
// replaces, if any (with its body when the store has an Indexer).
func (r *reader) put(rec record.Record, old record.Record, hadOld bool) error {
	p := prepare(r.idx, r.sealer, rec, false)
	return r.write(rec, &p, old, hadOld, nil, false)
}

// write is put with what follows from rec alone already computed (p,
// prepare.go); oldEnc is old's clear encoding when known (encKnown), which
// spares the digest reading it again.
func (r *reader) write(rec record.Record, p *prepared, old record.Record, hadOld bool, oldEnc []byte, encKnown bool) error {
	r.writes++
	delTerms, addTerms := p.termChanges(r.idx, old, hadOld, rec)
	for _, k := range delTerms {
		if err := r.terms.Delete(k); err != nil {
			return err
		}
	}
	for _, k := range addTerms {
		if err := r.terms.Put(k, nil); err != nil {
			return err
		}
	}
	oldLive := hadOld && !old.Deleted
	if oldLive && (rec.Deleted || old.Kind != rec.Kind) {
		if err := r.kinds.Delete(join3(old.Partition, old.Kind, old.ID)); err != nil {
			return err
		}
	}
	if p.kindKey != nil {
		if err := r.kinds.Put(p.kindKey, nil); err != nil {
			return err
		}
	}
	if oldLive && old.Key != "" && (rec.Deleted || old.Key != rec.Key || old.Kind != rec.Kind) {
		// Another record may hold the key by now (central renamed this
		// one and gave the key away): remove only our own entry.
		k := r.keyOf(old.Kind, old.Key)
		if bytes.Equal(r.keys.Get(k), p.self) {
			if err := r.keys.Delete(k); err != nil {
				return err
			}
		}
	}
	if p.uniqueKey != nil {
		if err := r.keys.Put(p.uniqueKey, p.self); err != nil {
			return err
		}
	}
	if !encKnown {
		var err error
		if oldEnc, err = r.recordBytes(p.self); err != nil { // seal.go
			return err
		}
	}
	if err := r.foldDigest(rec.Partition, p.self, oldEnc, &p.digest); err != nil {
		return err
	}
	return r.records.Put(p.self, p.value)
}

// localTx is the transaction a local command runs in.
type localTx struct {
	*reader
	uai string
	cmd record.Command
	n   uint16 // puts so far: the logical part of their HLC stamps
}

func newLocalTx(tx *bolt.Tx, uai string, cmd record.Command, idx record.Indexer, sl *sealer) *localTx {
	return &localTx{reader: newReader(tx, idx, sl), uai: uai, cmd: cmd}
}

// Put writes a record of the edge's own partition, or of its lycée's audit
// trail (record.AuditPartition) or usage statistics (record.UsagePartition).
// Its version counts one
// more local change on top of what central last sent; its feed sequence
// stays central's until central commits the command and sends it back.
func (t *localTx) Put(r record.Record) error {
	if r.Partition != t.uai && r.Partition != record.AuditPartition(t.uai) && r.Partition != record.UsagePartition(t.uai) {
		return record.Reject("forbidden", "Cette modification ne peut pas être faite depuis l'établissement.")
	}
	if err := checkRecord(r); err != nil {
		return err
	}
	old, hadOld, err := t.Get(r.Partition, r.ID)
	if err != nil {
		return err
	}
	if !r.Deleted && r.Key != "" {
		if holder := t.keys.Get(t.keyOf(r.Kind, r.Key)); holder != nil && !bytes.Equal(holder, join(r.Partition, r.ID)) {
			return record.Reject("conflict", "Cet identifiant est déjà utilisé.")
		}
	}
	r.Version = record.Version{Central: old.Version.Central, Edge: old.Version.Edge + 1, HLC: record.Stamp(t.cmd.Time, t.n)}
	r.Seq = old.Seq
	t.n++
	if err := t.keepUndo(r.Partition, r.ID, r.Version); err != nil {
		return fmt.Errorf("keep undo of %s: %w", r.ID, err)
	}
	return t.put(r, old, hadOld)
}

// checkRecord refuses a record the store's keys cannot hold.
func checkRecord(r record.Record) error {
	for _, f := range []struct{ name, v string }{{"partition", r.Partition}, {"id", r.ID}, {"kind", r.Kind}} {
		if err := checkName(f.name, f.v); err != nil {
			return err
		}
	}
	if strings.IndexByte(r.Key, 0) >= 0 {
		return fmt.Errorf("edge: record %s: key contains a NUL byte", r.ID)
	}
	return nil
}

func checkName(what, v string) error {
	if v == "" {
		return fmt.Errorf("edge: %s is empty", what)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("edge: %s %q contains a NUL byte", what, v)
	}
	return nil
}

func join(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

func join3(a, b, c string) []byte {
	k := make([]byte, 0, len(a)+len(b)+len(c)+2)
	k = append(k, a...)
	k = append(k, 0)
	k = append(k, b...)
	k = append(k, 0)
	return append(k, c...)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func readU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// getIndexed returns the fields of the stored record id that the indexes
// depend on (not its body, unless the term index needs it: the feed
// replaces it without reading it).
func (r *reader) getIndexed(partition, id string) (record.Record, bool, error) {
	rec, _, ok, err := r.getIndexedEnc(join(partition, id))
	return rec, ok, err
}

// lastRecordKey returns the key of partition's last record in
// bucketRecords (live or tombstone), or join(partition, "") when it has
// none: every key of the partition's records is at most what it returns.
func (r *reader) lastRecordKey(partition string) []byte {
	prefix := join(partition, "")
	c := r.records.Cursor()
	k, _ := c.Seek(append(bytes.Clone(prefix[:len(prefix)-1]), 1))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return prefix
	}
	return bytes.Clone(k)
}

// getIndexedEnc is getIndexed of the record stored at self (partition \0
// id), with its clear encoding (nil if none).
func (r *reader) getIndexedEnc(self []byte) (record.Record, []byte, bool, error) {
	v, err := r.recordBytes(self) // seal.go
	if err != nil {
		return record.Record{}, nil, false, err
	}
	if v == nil {
		return record.Record{}, nil, false, nil
	}
	var rec record.Record
	if r.idx != nil {
		rec, err = record.DecodeRecord(v)
	} else {
		rec, err = record.DecodeRecordHead(v)
	}
	if err != nil {
		partition, id, _ := bytes.Cut(self, []byte{0})
		return record.Record{}, nil, false, fmt.Errorf("get %s/%s: %w: %w", partition, id, ErrCorrupt, err)
	}
	return rec, v, true, nil
}

// purgeChunk bounds how many records one PurgeLocal transaction deletes,
// so that local commands are not held up behind a large purge.
const purgeChunk = 1000

// PurgeLocal deletes for good the records of the lycée's own audit trail
// (record.AuditPartition of its UAI, the only partition the edge holds
// that central never sends) whose ids were minted before cutoff, except
// those keep keeps (nil keeps none), and returns how many went. The edge
// recorded these entries itself and central keeps its own copy, so the
// deletion is local: no command, nothing in the outbox. Records are walked
// oldest id first (UUIDv7) and the walk stops at the first id minted at or
// after cutoff; a record with another kind of id is judged by keep alone.
// Any other partition is refused with ErrForeignPartition: the lycée's
// records change only through commands and central's feed.
func (s *Store) PurgeLocal(partition string, cutoff time.Time, keep func(record.Record) bool) (int, error) {
	if partition != record.AuditPartition(s.uai) && partition != record.UsagePartition(s.uai) {
		return 0, fmt.Errorf("%w: purge %s: only the lycée's audit trail and usage statistics are purged locally", ErrForeignPartition, partition)
	}
	prefix := join(partition, "")
	var after []byte // the last key examined; nil before the first
	total := 0
	for {
		select {
		case <-s.closing:
			return total, ErrClosed
		default:
		}
		done, n := false, 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			r := newReader(tx, s.idx, s.sealer)
			c := r.records.Cursor()
			k, v := c.Seek(prefix)
			if after != nil {
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			var dead []record.Record
			for ; k != nil && bytes.HasPrefix(k, prefix) && len(dead) < purgeChunk; k, v = c.Next() {
				if t, ok := uuidV7Time(k[len(prefix):]); ok && !t.Before(cutoff) {
					done = true
					break
				}
				after = bytes.Clone(k)
				v, err := r.sealer.open(bucketRecords, k, v)
				if err != nil {
					return err
				}
				rec, err := record.DecodeRecord(v)
				if err != nil {
					return fmt.Errorf("%w: record %q: %w", ErrCorrupt, k, err)
				}
				if keep == nil || !keep(rec) {
					dead = append(dead, rec)
				}
			}
			if k == nil || !bytes.HasPrefix(k, prefix) {
				done = true
			}
			for _, rec := range dead {
				if err := r.remove(rec); err != nil {
					return err
				}
			}
			n = len(dead)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("edge: purge %s: %w", partition, err)
		}
		total += n
		if done {
			return total, nil
		}
	}
}

// remove deletes rec and its index entries.
func (r *reader) remove(rec record.Record) error {
	r.writes++
	self := join(rec.Partition, rec.ID)
	if !rec.Deleted {
		if err := r.kinds.Delete(join3(rec.Partition, rec.Kind, rec.ID)); err != nil {
			return err
		}
		for _, t := range record.Terms(r.idx, rec) {
			if err := r.terms.Delete(termKey(rec.Partition, rec.Kind, t, rec.ID)); err != nil {
				return err
			}
		}
		if k := r.keyOf(rec.Kind, rec.Key); rec.Key != "" && bytes.Equal(r.keys.Get(k), self) {
			if err := r.keys.Delete(k); err != nil {
				return err
			}
		}
	}
	old, err := r.recordBytes(self) // seal.go
	if err != nil {
		return err
	}
	if err := r.foldDigest(rec.Partition, self, old, nil); err != nil {
		return err
	}
	return r.records.Delete(self)
}

// uuidV7Time returns the creation time a UUIDv7 id carries, or ok=false
// for another kind of id.
func uuidV7Time(id []byte) (time.Time, bool) {
	u, err := uuid.ParseBytes(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	ms := int64(u[0])<<40 | int64(u[1])<<32 | int64(u[2])<<24 | int64(u[3])<<16 | int64(u[4])<<8 | int64(u[5])
	return time.UnixMilli(ms), true
}
