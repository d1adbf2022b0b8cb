package record

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"atrium/internal/binenc"
)

// DigestSize is the length of a Digest: SHA-256 truncated to 128 bits,
// ample to tell two partitions apart by accident (the digest proves the
// replication logic, it is not a defence against a forger).
const DigestSize = 16

// Digest is the convergence digest of a set of records: the XOR of
// DigestOf over them. XOR makes it independent of order and incremental:
// replacing a record old by new is d.Xor(DigestOf(old)) then
// d.Xor(DigestOf(new)). The zero Digest is the empty set's.
//
// Only live records count: a tombstone's DigestOf is the zero Digest, so
// "deleted" and "absent" digest alike, as they read alike. Central purges
// tombstones older than its horizon, and an edge may keep or drop its
// copies of them, without either digest changing.
type Digest [DigestSize]byte

// DigestOf returns the digest of one record: SHA-256 over its partition,
// id, kind, key, feed sequence number and body, each length-prefixed,
// truncated to DigestSize; the zero Digest for a tombstone (it contributes
// nothing to a set's digest). The version is left out on purpose: an
// edge's copy of a record that central accepted without a change keeps its
// local version stamp but holds central's content and sequence number.
func DigestOf(r Record) Digest {
	return digestOf(r.Partition, r.ID, r.Kind, r.Key, r.Deleted, r.Seq, r.Body)
}

// DigestOfEncoded returns DigestOf of a record encoded by AppendRecord
// without copying its body (b may be bbolt's memory).
func DigestOfEncoded(b []byte) (Digest, error) {
	d := binenc.NewDecoder(b)
	if f := d.Byte(); f != recordFormat && d.Err() == nil {
		d.Fail("unknown record format %d", f)
	}
	partition := d.Raw(binenc.NoLimit)
	id := d.Raw(binenc.NoLimit)
	kind := d.Raw(binenc.NoLimit)
	key := d.Raw(binenc.NoLimit)
	d.Uvarint() // version: not digested
	d.Uvarint()
	d.Uvarint()
	seq := d.Uvarint()
	flags := d.Byte()
	if flags&^recordFlags != 0 {
		d.Fail("unknown record flags %#x", flags)
	}
	body := d.Raw(binenc.NoLimit)
	if err := d.End(); err != nil {
		return Digest{}, fmt.Errorf("digest record: %w: %w", ErrCorrupt, err)
	}
	return digestOf(partition, id, kind, key, flags&flagDeleted != 0, seq, body), nil
}

func digestOf[S string | []byte](partition, id, kind, key S, deleted bool, seq uint64, body []byte) Digest {
	if deleted {
		return Digest{}
	}
	h := sha256.New()
	b := make([]byte, 0, 128)
	for _, f := range [...]S{partition, id, kind, key} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = append(b, 0) // the tombstone flag of format 1, kept so that live records digest as before
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(len(body)))
	h.Write(b)
	h.Write(body)
	var sum [sha256.Size]byte
	var d Digest
	copy(d[:], h.Sum(sum[:0]))
	return d
}

// Xor folds e into d: in if it was out, out if it was in.
func (d *Digest) Xor(e Digest) {
	for i := range d {
		d[i] ^= e[i]
	}
}

// DigestFromBytes returns the Digest stored in b; a missing value (nil) is
// the empty set's. Any other length is an error.
func DigestFromBytes(b []byte) (Digest, error) {
	var d Digest
	if b == nil {
		return d, nil
	}
	if len(b) != DigestSize {
		return d, fmt.Errorf("digest of %d bytes: %w", len(b), ErrCorrupt)
	}
	copy(d[:], b)
	return d, nil
}

// String is the digest in hexadecimal, for logs and the status API.
func (d Digest) String() string { return fmt.Sprintf("%x", d[:]) }
