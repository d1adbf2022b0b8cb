package central

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"

	"atrium/record"
)

// Layout of the state machine's bbolt file:
//
//	meta                     "applied" -> last raft index applied (8 bytes BE)
//	                         "hlc"     -> last HLC stamp assigned
//	                         "secrets" -> encoded Secrets
//	                         "index"   -> format of the term index (indexFormat); the
//	                                      index is rebuilt at open when it differs
//	                         "digest"  -> format of the partitions' digests (digestFormat);
//	                                      they are rebuilt at open when it differs
//	                         "appliedTerm", "apply", "file" -> what a restart checks
//	                                      before it keeps the file (state.go)
//	parts/<partition>/       "last"    -> last sequence number of the partition
//	                         "digest"  -> record.Digest of its live records (digest.go)
//	                         "floor"   -> highest sequence number whose change may be
//	                                      missing from the feed: the last tombstone
//	                                      purged past the horizon (horizon.go); absent: 0
//	                         "purged"  -> sequence up to which the purge has walked s
//	parts/<partition>/r      id -> encoded record (tombstones included, until purged)
//	parts/<partition>/s      seq (8 bytes BE) -> id; only each record's latest change
//	parts/<partition>/k      kind 0x00 id -> "" for live records (Scan, newest id first)
//	parts/<partition>/t      kind 0x00 term 0x00 id -> "" for each index term of a live
//	                         record (ScanTerm); derived from the records by the Indexer
//	keys                     kind 0x00 key -> partition 0x00 id, live records with a Key
//	keysnew/<piece>          seq (8 bytes BE) -> uvarint(len) kind 0x00 key, partition 0x00 id:
//	                         keys not merged into keys yet, by piece (kind 0x00 first
//	                         byte of the key); a key is in one of the two (keys.go)
//	hwm                      uai 0x00 epoch (8 bytes BE) -> high-water mark (8 bytes BE)
//	tokens                   token hash -> encoded enrolment token
//	blobs                    the chunks of files, once for every partition (blobs.go)
var (
	bucketMeta   = []byte("meta")
	bucketParts  = []byte("parts")
	bucketKeys   = []byte("keys")
	bucketHWM    = []byte("hwm")
	bucketTokens = []byte("tokens")

	keyApplied = []byte("applied")
	keyHLC     = []byte("hlc")
	keySecrets = []byte("secrets")
	keyLast    = []byte("last")
	keyIndex   = []byte("index")
	keyDigest  = []byte("digest")

	subRecords = []byte("r")
	subSeq     = []byte("s")
	subKinds   = []byte("k")
	subTerms   = []byte("t")
)

// Limits on the identifying fields of a record: they become bbolt keys.
const (
	maxNameLen = 128  // partition, kind
	maxIDLen   = 256  // id
	maxKeyLen  = 1024 // unique key
)

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func be(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

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

func split(k []byte) (string, string, bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

func initBuckets(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketParts, bucketKeys, bucketKeysNew, bucketHWM, bucketTokens} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return initBlobs(tx)
}

// txState caches, for one write transaction of the state machine, what
// every Put touches: the partitions' buckets (with a cursor reused for
// lookups, sparing bbolt a cursor per Get) and the counters Put advances,
// the last HLC stamp and each partition's last sequence number. The
// counters are read once and written back by flush, before the
// transaction commits; nothing else reads them inside a write
// transaction. A txState is used by one goroutine.
type txState struct {
	tx                *bbolt.Tx
	parts, keys, meta *bbolt.Bucket
	// pend: the key index's entries not merged yet (keys.go), nil until
	// the first use of the index when the state machine had none to give;
	// pieceBuckets their buckets opened in this transaction; lastKey the
	// key keyGet looked up last and its value, while lastKeyKnown.
	pend                  *pendingKeys
	pieceBuckets          map[string]*bbolt.Bucket
	lastKey, lastKeyValue []byte
	lastKeyKnown          bool

	idx record.Indexer // nil: no term index

	hlc                 uint64 // last HLC stamp assigned
	hlcLoaded, hlcDirty bool

	byName map[string]*partState

	// got holds records Get decoded in this transaction (the users every
	// command of a batch looks up, for one), until Put changes them.
	got map[recordKey]record.Record

	blobs   *bbolt.Bucket // nil until the first blob counted (blobs.go)
	noBlobs bool          // store every chunk whole (the measurements' "before")
}

type recordKey struct{ partition, id string }

// maxGot bounds txState.got; it starts afresh when full.
const maxGot = 256

// partState is the cached state of one partition in a txState.
type partState struct {
	name                      []byte
	bucket                    *bbolt.Bucket
	recs, seqs, kinds         *bbolt.Bucket
	terms                     *bbolt.Bucket // nil until the first write of a partition made without it
	recsCursor                *bbolt.Cursor
	last                      uint64 // last sequence number
	lastLoaded, lastDirty     bool
	digest                    record.Digest // of the partition's records (digest.go)
	digestLoaded, digestDirty bool
}

func newTxState(tx *bbolt.Tx) *txState {
	return &txState{
		tx:     tx,
		parts:  tx.Bucket(bucketParts),
		keys:   tx.Bucket(bucketKeys),
		meta:   tx.Bucket(bucketMeta),
		byName: make(map[string]*partState),
	}
}

// part returns the partition's state, creating its buckets when create is
// set; otherwise it returns nil for a partition that does not exist yet.
func (st *txState) part(partition string, create bool) (*partState, error) {
	if ps := st.byName[partition]; ps != nil {
		if create && ps.terms == nil {
			// Read before its first write in this transaction.
			t, err := ps.bucket.CreateBucketIfNotExists(subTerms)
			if err != nil {
				return nil, err
			}
			ps.terms = t
			t.FillPercent = appendFill
		}
		return ps, nil
	}
	name := []byte(partition)
	ps := &partState{name: name}
	if !create {
		if ps.bucket = st.parts.Bucket(name); ps.bucket == nil {
			return nil, nil
		}
		ps.recs, ps.seqs, ps.kinds = ps.bucket.Bucket(subRecords), ps.bucket.Bucket(subSeq), ps.bucket.Bucket(subKinds)
		ps.terms = ps.bucket.Bucket(subTerms)
	} else {
		var err, err1, err2, err3, err4 error
		if ps.bucket, err = st.parts.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
		ps.recs, err1 = ps.bucket.CreateBucketIfNotExists(subRecords)
		ps.seqs, err2 = ps.bucket.CreateBucketIfNotExists(subSeq)
		ps.kinds, err3 = ps.bucket.CreateBucketIfNotExists(subKinds)
		ps.terms, err4 = ps.bucket.CreateBucketIfNotExists(subTerms)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return nil, err
		}
	}
	if ps.recs == nil || ps.seqs == nil || ps.kinds == nil {
		return nil, fmt.Errorf("partition %s lacks a sub-bucket: %w", partition, ErrCorrupt)
	}
	// Record ids are time-ordered (UUIDv7) and sequence numbers grow, so
	// new keys are appended: fill split pages (bbolt's default leaves them
	// half empty, doubling what each commit writes).
	ps.recs.FillPercent, ps.seqs.FillPercent, ps.kinds.FillPercent = appendFill, appendFill, appendFill
	if ps.terms != nil {
		ps.terms.FillPercent = appendFill // ids grow within each term too
	}
	ps.recsCursor = ps.recs.Cursor()
	st.byName[partition] = ps
	return ps, nil
}

// appendFill is the fill factor of the buckets whose keys are mostly
// appended.
const appendFill = 0.95

// nextHLC returns the next HLC stamp for a command stamped at ms.
func (st *txState) nextHLC(ms int64) uint64 {
	if !st.hlcLoaded {
		st.hlc, st.hlcLoaded = u64(st.meta.Get(keyHLC)), true
	}
	s := record.Stamp(ms, 0)
	if s <= st.hlc {
		s = st.hlc + 1
	}
	st.hlc, st.hlcDirty = s, true
	return s
}

// nextSeq returns the partition's next sequence number.
func (ps *partState) nextSeq() uint64 {
	if !ps.lastLoaded {
		ps.last, ps.lastLoaded = u64(ps.bucket.Get(keyLast)), true
	}
	ps.last++
	ps.lastDirty = true
	return ps.last
}

// flush writes the counters back.
func (st *txState) flush() error {
	if st.hlcDirty {
		if err := st.meta.Put(keyHLC, be(st.hlc)); err != nil {
			return err
		}
		st.hlcDirty = false
	}
	for _, ps := range st.byName {
		if ps.digestDirty {
			if err := ps.bucket.Put(keyDigest, ps.digest[:]); err != nil {
				return err
			}
			ps.digestDirty = false
		}
		if ps.lastDirty {
			if err := ps.bucket.Put(keyLast, be(ps.last)); err != nil {
				return err
			}
			ps.lastDirty = false
		}
	}
	return nil
}

// reader implements record.Reader on a bbolt transaction; st is set inside
// the state machine's write transaction, idx outside it.
type reader struct {
	tx  *bbolt.Tx
	st  *txState
	idx record.Indexer
}

func (r reader) indexer() record.Indexer {
	if r.st != nil {
		return r.st.idx
	}
	return r.idx
}

var _ record.Reader = reader{}

func (r reader) part(partition string) *bbolt.Bucket {
	return r.tx.Bucket(bucketParts).Bucket([]byte(partition))
}

// recordValue returns the stored encoding of a record, nil if absent. It
// belongs to bbolt: valid only in the transaction and read only.
func (r reader) recordValue(partition, id string) ([]byte, error) {
	if r.st == nil {
		p := r.part(partition)
		if p == nil {
			return nil, nil
		}
		return p.Bucket(subRecords).Get([]byte(id)), nil
	}
	ps, err := r.st.part(partition, false)
	if ps == nil || err != nil {
		return nil, err
	}
	key := []byte(id)
	k, v := ps.recsCursor.Seek(key)
	if !bytes.Equal(k, key) {
		return nil, nil
	}
	return v, nil
}

func (r reader) Get(partition, id string) (record.Record, bool, error) {
	if r.st == nil {
		return r.get(partition, id)
	}
	if rec, ok := r.st.got[recordKey{partition, id}]; ok {
		rec.Body = bytes.Clone(rec.Body) // the caller's own, as decodeRecord's
		return rec, true, nil
	}
	rec, ok, err := r.get(partition, id)
	if ok {
		if r.st.got == nil || len(r.st.got) >= maxGot {
			r.st.got = make(map[recordKey]record.Record)
		}
		cached := rec
		cached.Body = bytes.Clone(rec.Body)
		r.st.got[recordKey{partition, id}] = cached
	}
	return rec, ok, err
}

func (r reader) get(partition, id string) (record.Record, bool, error) {
	v, err := r.recordValue(partition, id)
	if err != nil {
		return record.Record{}, false, fmt.Errorf("get %s/%s: %w", partition, id, err)
	}
	if v == nil {
		return record.Record{}, false, nil
	}
	rec, err := decodeStored(r.tx, v)
	if err != nil {
		return record.Record{}, false, fmt.Errorf("get %s/%s: %w", partition, id, err)
	}
	return rec, true, nil
}

func (r reader) ByKey(kind, key string) (record.Record, bool, error) {
	var v []byte
	if r.st != nil {
		var err error
		if v, err = r.st.keyGet(join(kind, key)); err != nil {
			return record.Record{}, false, err
		}
	} else {
		v = lookupKey(r.tx, join(kind, key))
	}
	if v == nil {
		return record.Record{}, false, nil
	}
	partition, id, ok := split(v)
	if !ok {
		return record.Record{}, false, fmt.Errorf("key index %s/%s: %w", kind, key, ErrCorrupt)
	}
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted {
		return record.Record{}, false, err
	}
	return rec, true, nil
}

func (r reader) Scan(partition, kind string, fn func(record.Record) error) error {
	p := r.part(partition)
	if p == nil {
		return nil
	}
	recs := p.Bucket(subRecords)
	prefix := join(kind, "")
	c := p.Bucket(subKinds).Cursor()
	// Position after the last key of the kind, then walk backwards.
	k, _ := c.Seek(append([]byte(kind), 1))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		v := recs.Get(k[len(prefix):])
		if v == nil {
			return fmt.Errorf("scan %s/%s: index names missing record %q: %w", partition, kind, k[len(prefix):], ErrCorrupt)
		}
		rec, err := decodeStored(r.tx, v)
		if err != nil {
			return fmt.Errorf("scan %s/%s: %w", partition, kind, err)
		}
		if err := fn(rec); err != nil {
			if err == record.ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

func (r reader) ScanTerm(partition, kind, term string, fn func(record.Record) error) error {
	if r.indexer() == nil {
		return record.ErrNoIndex
	}
	p := r.part(partition)
	if p == nil {
		return nil
	}
	terms := p.Bucket(subTerms)
	if terms == nil {
		return nil
	}
	recs := p.Bucket(subRecords)
	prefix := join3(kind, term, "")
	end := bytes.Clone(prefix)
	end[len(end)-1] = 1
	c := terms.Cursor()
	// Position after the last key of the term, then walk backwards.
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		v := recs.Get(k[len(prefix):])
		if v == nil {
			return fmt.Errorf("scan %s/%s/%s: index names missing record %q: %w", partition, kind, term, k[len(prefix):], ErrCorrupt)
		}
		rec, err := decodeStored(r.tx, v)
		if err != nil {
			return fmt.Errorf("scan %s/%s/%s: %w", partition, kind, term, err)
		}
		if err := fn(rec); err != nil {
			if err == record.ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

// changesBytes bounds the encoded records one changes read returns (at
// least one): chunks of files are large, and a pull answers in one frame.
const changesBytes = 4 << 20

// changes returns up to limit records of partition changed after since, in
// sequence order, and the checkpoint reached: the last record's sequence
// number, or the partition's last sequence number when the read reached it.
// With bodiless, a chunk stored as a reference to a blob whose head it
// accepts comes without its body (the sync server sends it as a stub): its
// blob is not read, and the page's size counts its head only. left[i] is
// then the length of the body left out of out[i] (left is nil when none
// was).
func (r reader) changes(partition string, since uint64, limit int, bodiless func(record.Record) bool) (out []record.Record, last uint64, left []int, err error) {
	p := r.part(partition)
	if p == nil {
		return nil, since, nil, nil
	}
	head := u64(p.Get(keyLast))
	if since >= head {
		return nil, since, nil, nil
	}
	// Records made one after the other are next to each other in the
	// records too (ids are UUIDv7): the record after the one just read is
	// tried before a seek from the root.
	recs := p.Bucket(subRecords).Cursor()
	var rk []byte
	size := 0
	if limit > 0 {
		out = make([]record.Record, 0, min(uint64(limit), head-since))
	}
	c := p.Bucket(subSeq).Cursor()
	for k, id := c.Seek(be(since + 1)); k != nil; k, id = c.Next() {
		if len(out) == limit || size >= changesBytes {
			return out, out[len(out)-1].Seq, left, nil
		}
		var v []byte
		if rk != nil {
			rk, v = recs.Next()
		}
		if rk == nil || !bytes.Equal(rk, id) {
			rk, v = recs.Seek(id)
		}
		if !bytes.Equal(rk, id) {
			v = nil
		}
		if v == nil {
			return nil, 0, nil, fmt.Errorf("changes %s: seq %d names missing record %q: %w", partition, u64(k), id, ErrCorrupt)
		}
		rec, n, headOnly, err := decodeStoredOrHead(r.tx, v, bodiless)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("changes %s: %w", partition, err)
		}
		if headOnly {
			if left == nil {
				left = make([]int, len(out), limit)
			}
			size += len(v)
		} else {
			size += wholeSize(v, rec)
		}
		if left != nil {
			left = append(left, n)
		}
		out = append(out, rec)
	}
	return out, head, left, nil
}

func (r reader) lastSeq(partition string) uint64 {
	p := r.part(partition)
	if p == nil {
		return 0
	}
	return u64(p.Get(keyLast))
}

func (r reader) highWater(uai string, epoch uint64) uint64 {
	return u64(r.tx.Bucket(bucketHWM).Get(hwmKey(uai, epoch)))
}

func hwmKey(uai string, epoch uint64) []byte {
	return binary.BigEndian.AppendUint64(join(uai, ""), epoch)
}

// writer implements record.Tx for one command inside the state machine's
// write transaction. Put assigns versions and sequence numbers as central
// does: Central+1 on every change, Edge+1 when the command came from an
// edge, a monotonic HLC stamp from the command's time, and the partition's
// next sequence number (the record's previous sequence entry is dropped, so
// the feed holds only its latest change).
type writer struct {
	reader
	cmd      record.Command
	fromEdge bool
	// missPartition and missID name the last record Get found absent, so
	// that Put of that record (an executor checks that an id is free, then
	// writes it) need not look it up again. Put clears them.
	missPartition, missID string
	// storeErr is set when bbolt itself fails; the state machine cannot
	// continue after that (other nodes did not fail the same way).
	storeErr error
}

var _ record.Tx = (*writer)(nil)

func (w *writer) Get(partition, id string) (record.Record, bool, error) {
	rec, ok, err := w.reader.Get(partition, id)
	if err == nil && !ok {
		w.missPartition, w.missID = partition, id
	}
	return rec, ok, err
}

func (w *writer) put(b *bbolt.Bucket, k, v []byte) {
	if err := b.Put(k, v); err != nil && w.storeErr == nil {
		w.storeErr = err
	}
}

func (w *writer) del(b *bbolt.Bucket, k []byte) {
	if err := b.Delete(k); err != nil && w.storeErr == nil {
		w.storeErr = err
	}
}

func validRecord(r record.Record) error {
	switch {
	case r.Partition == "" || len(r.Partition) > maxNameLen || strings.IndexByte(r.Partition, 0) >= 0:
		return fmt.Errorf("%w: partition %q", ErrInvalidRecord, r.Partition)
	case r.ID == "" || len(r.ID) > maxIDLen:
		return fmt.Errorf("%w: id %q", ErrInvalidRecord, r.ID)
	case r.Kind == "" || len(r.Kind) > maxNameLen || strings.IndexByte(r.Kind, 0) >= 0:
		return fmt.Errorf("%w: kind %q", ErrInvalidRecord, r.Kind)
	case len(r.Key) > maxKeyLen:
		return fmt.Errorf("%w: key of %d bytes", ErrInvalidRecord, len(r.Key))
	}
	return nil
}

// previous returns the indexed fields of the record Put replaces (its body
// only when the term index needs it), its digest and, when it is stored as
// a reference to a blob, the blob's hash (a copy).
func (w *writer) previous(r record.Record) (prev record.Record, dig record.Digest, ref []byte, had bool, err error) {
	if r.Partition == w.missPartition && r.ID == w.missID {
		return record.Record{}, record.Digest{}, nil, false, nil
	}
	v, err := w.recordValue(r.Partition, r.ID)
	if v == nil || err != nil {
		return record.Record{}, record.Digest{}, nil, false, err
	}
	dig, err = digestOfStored(w.tx, v)
	if err != nil {
		return record.Record{}, record.Digest{}, nil, false, fmt.Errorf("get %s/%s: %w", r.Partition, r.ID, err)
	}
	if w.st.idx != nil {
		prev, err = decodeStored(w.tx, v)
	} else {
		prev, err = decodeStoredHead(v)
	}
	if err != nil {
		return record.Record{}, record.Digest{}, nil, false, fmt.Errorf("get %s/%s: %w", r.Partition, r.ID, err)
	}
	if isBlobRef(v) {
		ref = bytes.Clone(v[1 : 1+blobHashLen]) // checked by decodeStored(Head)
	}
	return prev, dig, ref, true, nil
}

func (w *writer) Put(r record.Record) error {
	if w.storeErr != nil {
		return w.storeErr
	}
	if err := validRecord(r); err != nil {
		return err
	}
	prev, prevDigest, prevRef, had, err := w.previous(r)
	if err != nil {
		return err
	}
	st := w.st
	self := join(r.Partition, r.ID)
	var newKey, curKey []byte
	if r.Key != "" && !r.Deleted {
		newKey = join(r.Kind, r.Key)
		if curKey, err = st.keyGet(newKey); err != nil {
			w.storeErr = err
			return err
		}
		if curKey != nil && !bytes.Equal(curKey, self) {
			return fmt.Errorf("%w: %s %q", ErrKeyTaken, r.Kind, r.Key)
		}
	}
	p, err := st.part(r.Partition, true)
	if err != nil {
		w.storeErr = err
		return err
	}
	w.missPartition, w.missID = "", ""
	delete(st.got, recordKey{r.Partition, r.ID})

	r.Version = record.Version{Central: prev.Version.Central + 1, Edge: prev.Version.Edge, HLC: st.nextHLC(w.cmd.Time)}
	if w.fromEdge {
		r.Version.Edge++
	}
	r.Seq = p.nextSeq()
	if err := p.foldDigest(prevDigest, had, r); err != nil {
		w.storeErr = err
		return err
	}

	if had {
		w.del(p.seqs, be(prev.Seq))
		if prev.Key != "" && (prev.Key != r.Key || prev.Kind != r.Kind || r.Deleted) {
			old := join(prev.Kind, prev.Key)
			v, err := st.keyGet(old)
			if err == nil && bytes.Equal(v, join(prev.Partition, prev.ID)) {
				err = st.keyDel(old)
			}
			if err != nil && w.storeErr == nil {
				w.storeErr = err
			}
		}
		if !prev.Deleted && (prev.Kind != r.Kind || r.Deleted) {
			w.del(p.kinds, join(prev.Kind, prev.ID))
		}
	}
	delKind, delTerms, addKind, addTerms := record.TermChanges(st.idx, prev, had, r)
	for _, t := range delTerms {
		w.del(p.terms, join3(delKind, t, r.ID))
	}
	for _, t := range addTerms {
		w.put(p.terms, join3(addKind, t, r.ID), []byte{})
	}
	value, err := st.storedValue(r, prevRef) // blobs.go
	if err != nil {
		w.storeErr = err
		return err
	}
	id := self[len(r.Partition)+1:]
	w.put(p.recs, id, value)
	w.put(p.seqs, be(r.Seq), id)
	if !r.Deleted {
		w.put(p.kinds, join(r.Kind, r.ID), []byte{})
		if newKey != nil {
			if err := st.keyPut(newKey, self, curKey); err != nil && w.storeErr == nil {
				w.storeErr = err
			}
		}
	}
	return w.storeErr
}
