package central

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"atrium/record"
)

// Layout of the state machine's bbolt file:
//
//	meta                     "applied" -> last raft index applied (8 bytes BE)
//	                         "hlc"     -> last HLC stamp assigned
//	                         "secrets" -> encoded Secrets
//	parts/<partition>/       "last"    -> last sequence number of the partition
//	parts/<partition>/r      id -> encoded record (tombstones included)
//	parts/<partition>/s      seq (8 bytes BE) -> id; only each record's latest change
//	parts/<partition>/k      kind 0x00 id -> "" for live records (Scan, newest id first)
//	keys                     kind 0x00 key -> partition 0x00 id, live records with a Key
//	hwm                      uai 0x00 epoch (8 bytes BE) -> high-water mark (8 bytes BE)
//	tokens                   token hash -> encoded enrolment token
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

	subRecords = []byte("r")
	subSeq     = []byte("s")
	subKinds   = []byte("k")
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

func split(k []byte) (string, string, bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

func initBuckets(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketParts, bucketKeys, bucketHWM, bucketTokens} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// reader implements record.Reader on a bbolt transaction.
type reader struct{ tx *bbolt.Tx }

var _ record.Reader = reader{}

func (r reader) part(partition string) *bbolt.Bucket {
	return r.tx.Bucket(bucketParts).Bucket([]byte(partition))
}

func (r reader) Get(partition, id string) (record.Record, bool, error) {
	p := r.part(partition)
	if p == nil {
		return record.Record{}, false, nil
	}
	v := p.Bucket(subRecords).Get([]byte(id))
	if v == nil {
		return record.Record{}, false, nil
	}
	rec, err := decodeRecord(v)
	if err != nil {
		return record.Record{}, false, fmt.Errorf("get %s/%s: %w", partition, id, err)
	}
	return rec, true, nil
}

func (r reader) ByKey(kind, key string) (record.Record, bool, error) {
	v := r.tx.Bucket(bucketKeys).Get(join(kind, key))
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
		rec, err := decodeRecord(v)
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

// changes returns up to limit records of partition changed after since, in
// sequence order, and the checkpoint reached: the last record's sequence
// number, or the partition's last sequence number when the read reached it.
func (r reader) changes(partition string, since uint64, limit int) ([]record.Record, uint64, error) {
	p := r.part(partition)
	if p == nil {
		return nil, since, nil
	}
	head := u64(p.Get(keyLast))
	if since >= head {
		return nil, since, nil
	}
	recs := p.Bucket(subRecords)
	var out []record.Record
	c := p.Bucket(subSeq).Cursor()
	for k, id := c.Seek(be(since + 1)); k != nil; k, id = c.Next() {
		if len(out) == limit {
			return out, out[len(out)-1].Seq, nil
		}
		v := recs.Get(id)
		if v == nil {
			return nil, 0, fmt.Errorf("changes %s: seq %d names missing record %q: %w", partition, u64(k), id, ErrCorrupt)
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return nil, 0, fmt.Errorf("changes %s: %w", partition, err)
		}
		out = append(out, rec)
	}
	return out, head, nil
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
	// storeErr is set when bbolt itself fails; the state machine cannot
	// continue after that (other nodes did not fail the same way).
	storeErr error
}

var _ record.Tx = (*writer)(nil)

func (w *writer) nextHLC() uint64 {
	meta := w.tx.Bucket(bucketMeta)
	last := u64(meta.Get(keyHLC))
	s := record.Stamp(w.cmd.Time, 0)
	if s <= last {
		s = last + 1
	}
	w.put(meta, keyHLC, be(s))
	return s
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
	case r.Partition == "" || len(r.Partition) > maxNameLen || bytes.IndexByte([]byte(r.Partition), 0) >= 0:
		return fmt.Errorf("%w: partition %q", ErrInvalidRecord, r.Partition)
	case r.ID == "" || len(r.ID) > maxIDLen:
		return fmt.Errorf("%w: id %q", ErrInvalidRecord, r.ID)
	case r.Kind == "" || len(r.Kind) > maxNameLen || bytes.IndexByte([]byte(r.Kind), 0) >= 0:
		return fmt.Errorf("%w: kind %q", ErrInvalidRecord, r.Kind)
	case len(r.Key) > maxKeyLen:
		return fmt.Errorf("%w: key of %d bytes", ErrInvalidRecord, len(r.Key))
	}
	return nil
}

func (w *writer) Put(r record.Record) error {
	if w.storeErr != nil {
		return w.storeErr
	}
	if err := validRecord(r); err != nil {
		return err
	}
	prev, had, err := w.Get(r.Partition, r.ID)
	if err != nil {
		return err
	}
	keys := w.tx.Bucket(bucketKeys)
	newKey := join(r.Kind, r.Key)
	if r.Key != "" && !r.Deleted {
		if v := keys.Get(newKey); v != nil && !bytes.Equal(v, join(r.Partition, r.ID)) {
			return fmt.Errorf("%w: %s %q", ErrKeyTaken, r.Kind, r.Key)
		}
	}
	parts := w.tx.Bucket(bucketParts)
	p, err := parts.CreateBucketIfNotExists([]byte(r.Partition))
	if err != nil {
		w.storeErr = err
		return err
	}
	recs, err1 := p.CreateBucketIfNotExists(subRecords)
	seqs, err2 := p.CreateBucketIfNotExists(subSeq)
	kinds, err3 := p.CreateBucketIfNotExists(subKinds)
	for _, e := range []error{err1, err2, err3} {
		if e != nil {
			w.storeErr = e
			return e
		}
	}

	r.Version = record.Version{Central: prev.Version.Central + 1, Edge: prev.Version.Edge, HLC: w.nextHLC()}
	if w.fromEdge {
		r.Version.Edge++
	}
	r.Seq = u64(p.Get(keyLast)) + 1
	w.put(p, keyLast, be(r.Seq))

	if had {
		w.del(seqs, be(prev.Seq))
		if prev.Key != "" && (prev.Key != r.Key || prev.Kind != r.Kind || r.Deleted) {
			old := join(prev.Kind, prev.Key)
			if bytes.Equal(keys.Get(old), join(prev.Partition, prev.ID)) {
				w.del(keys, old)
			}
		}
		if !prev.Deleted && (prev.Kind != r.Kind || r.Deleted) {
			w.del(kinds, join(prev.Kind, prev.ID))
		}
	}
	w.put(recs, []byte(r.ID), appendRecord(nil, r))
	w.put(seqs, be(r.Seq), []byte(r.ID))
	if !r.Deleted {
		w.put(kinds, join(r.Kind, r.ID), []byte{})
		if r.Key != "" {
			w.put(keys, newKey, join(r.Partition, r.ID))
		}
	}
	return w.storeErr
}
