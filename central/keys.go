package central

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"
)

// The key index (bucket keys: kind 0x00 key -> partition 0x00 id) names
// the record that holds each unique key of the region, a login for one.
// It is one B-tree for the whole region, and a lycée's accounts have
// logins all over the alphabet: written straight into it, each new
// account of a directory import dirtied a leaf of its own (a transaction
// of 250 accounts, 250 of the tree's ~10k leaves), and those pages were
// about a third of the import's CPU (docs/benchmarks.md, "The login index
// written in pieces").
//
// So a new key is first appended to keysnew, in the bucket of its piece
// (its kind and the first byte of the key), under the piece's next number:
//
//	keysnew/<kind 0x00 first byte of key>   seq (8 bytes BE) -> uvarint(len(k)) k value
//
// where k is the key as keys holds it. A transaction of 250 accounts
// then writes at a few dozen places, the ends of the pieces. When a
// piece holds keysPieceMax entries, they are merged into keys, sorted,
// and the piece's bucket is dropped: one write of each leaf of that
// piece's part of the tree for thousands of keys. A key is in keys or in
// keysnew, never in both: a key already in keys is changed there, and a
// deleted key is removed where it is.
//
// The state machine finds keysnew's entries through pendingKeys, an
// in-memory map rebuilt from the bucket when the file is opened or
// restored. Readers, whose transaction may be older than that map, scan
// the key's piece in their own snapshot instead: at most keysPieceMax
// entries, when the key is not in keys.
var bucketKeysNew = []byte("keysnew")

// keysPieceMax is how many new keys a piece of keysnew gathers before
// they are merged into keys. A merge writes each leaf of the piece's range
// of keys once; a reader looking a key up scans up to this many entries.
const keysPieceMax = 4096

// keyPiece returns the piece of keysnew a key of the index belongs to:
// its kind, 0x00 and the key's first byte. Kinds hold no 0x00 and keys
// are not empty (validRecord, Put).
func keyPiece(k []byte) []byte {
	i := bytes.IndexByte(k, 0)
	if i < 0 || i+2 > len(k) {
		return k
	}
	return k[:i+2]
}

func encodePending(k, v []byte) []byte {
	b := make([]byte, 0, binary.MaxVarintLen32+len(k)+len(v))
	b = binary.AppendUvarint(b, uint64(len(k)))
	return append(append(b, k...), v...)
}

func decodePending(b []byte) (k, v []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}

// pendingKeys is the state machine's index of keysnew, by piece.
type pendingKeys struct {
	pieces map[string]*pendingPiece
}

type pendingPiece struct {
	seq  map[string]uint64 // key (as keys holds it) -> its number in the piece
	next uint64            // number of the piece's next entry
}

// loadPendingKeys reads keysnew.
func loadPendingKeys(tx *bbolt.Tx) (*pendingKeys, error) {
	p := &pendingKeys{pieces: map[string]*pendingPiece{}}
	root := tx.Bucket(bucketKeysNew)
	if root == nil {
		return nil, fmt.Errorf("bucket %s missing: %w", bucketKeysNew, ErrCorrupt)
	}
	err := root.ForEachBucket(func(piece []byte) error {
		pp := &pendingPiece{seq: map[string]uint64{}}
		err := root.Bucket(piece).ForEach(func(n, val []byte) error {
			k, _, ok := decodePending(val)
			if !ok || len(n) != 8 || !bytes.Equal(keyPiece(k), piece) {
				return fmt.Errorf("key index entry %q/%x: %w", piece, n, ErrCorrupt)
			}
			seq := binary.BigEndian.Uint64(n)
			pp.seq[string(k)] = seq
			pp.next = max(pp.next, seq+1)
			return nil
		})
		if len(pp.seq) > 0 {
			p.pieces[string(piece)] = pp
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// pending returns the transaction's pendingKeys, read from keysnew when
// the state machine had none (a file just opened or restored; tests).
func (st *txState) pending() (*pendingKeys, error) {
	if st.pend == nil {
		p, err := loadPendingKeys(st.tx)
		if err != nil {
			return nil, err
		}
		st.pend = p
	}
	return st.pend, nil
}

// pieceBucket returns the bucket of a piece of keysnew, creating it when
// create is set (nil otherwise if it does not exist).
func (st *txState) pieceBucket(piece []byte, create bool) (*bbolt.Bucket, error) {
	if b := st.pieceBuckets[string(piece)]; b != nil {
		return b, nil
	}
	root := st.tx.Bucket(bucketKeysNew)
	b := root.Bucket(piece)
	if b == nil && create {
		var err error
		if b, err = root.CreateBucket(piece); err != nil {
			return nil, err
		}
	}
	if b == nil {
		return nil, nil
	}
	b.FillPercent = 1 // appended only
	if st.pieceBuckets == nil {
		st.pieceBuckets = map[string]*bbolt.Bucket{}
	}
	st.pieceBuckets[string(piece)] = b
	return b, nil
}

// pendingRef is where a key stands in keysnew: its piece, the piece's
// state (nil while it has no key) and, when found, the key's number there
// and the piece's bucket.
type pendingRef struct {
	piece []byte
	pp    *pendingPiece
	seq   uint64
	b     *bbolt.Bucket
	found bool
}

// findPending looks key k up among keysnew's keys.
func (st *txState) findPending(k []byte) (pendingRef, error) {
	pend, err := st.pending()
	if err != nil {
		return pendingRef{}, err
	}
	ref := pendingRef{piece: keyPiece(k)}
	ref.pp = pend.pieces[string(ref.piece)]
	if ref.pp == nil {
		return ref, nil
	}
	if ref.seq, ref.found = ref.pp.seq[string(k)]; !ref.found {
		return ref, nil
	}
	if ref.b, err = st.pieceBucket(ref.piece, false); err != nil || ref.b == nil {
		return pendingRef{}, fmt.Errorf("key index piece %q: %w", ref.piece, ErrCorrupt)
	}
	return ref, nil
}

// keyGet returns the value of key k of the index, nil if absent. The
// answer for the last key looked up is kept until the index changes: an
// executor checks that a key is free, then Put checks again.
func (st *txState) keyGet(k []byte) ([]byte, error) {
	if st.lastKeyKnown && bytes.Equal(st.lastKey, k) {
		return st.lastKeyValue, nil
	}
	ref, err := st.findPending(k)
	if err != nil {
		return nil, err
	}
	var v []byte
	if ref.found {
		_, v, _ = decodePending(ref.b.Get(be(ref.seq)))
	} else {
		v = st.keys.Get(k)
	}
	st.lastKey, st.lastKeyValue, st.lastKeyKnown = k, v, true
	return v, nil
}

// keyPut sets key k of the index to v, cur being its value now (keyGet's
// answer). v must stay unchanged until the transaction commits, as for
// bbolt's Put.
func (st *txState) keyPut(k, v, cur []byte) error {
	if cur != nil && bytes.Equal(cur, v) {
		return nil
	}
	st.lastKeyKnown = false
	ref, err := st.findPending(k)
	switch {
	case err != nil:
		return err
	case ref.found:
		return ref.b.Put(be(ref.seq), encodePending(k, v))
	case cur != nil:
		return st.keys.Put(k, v)
	}
	b, err := st.pieceBucket(ref.piece, true)
	if err != nil {
		return err
	}
	pp := ref.pp
	if pp == nil {
		pp = &pendingPiece{seq: map[string]uint64{}}
		st.pend.pieces[string(ref.piece)] = pp
	}
	if err := b.Put(be(pp.next), encodePending(k, v)); err != nil {
		return err
	}
	pp.seq[string(k)] = pp.next
	pp.next++
	if len(pp.seq) >= keysPieceMax {
		return st.mergePiece(ref.piece, b)
	}
	return nil
}

// keyDel removes key k from the index.
func (st *txState) keyDel(k []byte) error {
	st.lastKeyKnown = false
	ref, err := st.findPending(k)
	if err != nil {
		return err
	}
	if !ref.found {
		return st.keys.Delete(k)
	}
	if err := ref.b.Delete(be(ref.seq)); err != nil {
		return err
	}
	delete(ref.pp.seq, string(k))
	return nil
}

// mergePiece moves a piece of keysnew (its bucket b) into keys, in key
// order, and drops the piece's bucket.
func (st *txState) mergePiece(piece []byte, b *bbolt.Bucket) error {
	type entry struct{ k, v []byte }
	es := make([]entry, 0, keysPieceMax)
	err := b.ForEach(func(n, val []byte) error {
		k, v, ok := decodePending(val)
		if !ok {
			return fmt.Errorf("key index entry %q/%x: %w", piece, n, ErrCorrupt)
		}
		es = append(es, entry{bytes.Clone(k), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(es, func(a, b entry) int { return bytes.Compare(a.k, b.k) })
	for _, e := range es {
		if err := st.keys.Put(e.k, e.v); err != nil {
			return err
		}
	}
	delete(st.pieceBuckets, string(piece))
	delete(st.pend.pieces, string(piece))
	return st.tx.Bucket(bucketKeysNew).DeleteBucket(piece)
}

// lookupKey is keyGet for a reader: keys, then a scan of the key's piece
// of keysnew as the reader's transaction sees it.
func lookupKey(tx *bbolt.Tx, k []byte) []byte {
	if v := tx.Bucket(bucketKeys).Get(k); v != nil {
		return v
	}
	root := tx.Bucket(bucketKeysNew)
	if root == nil {
		return nil
	}
	b := root.Bucket(keyPiece(k))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for n, val := c.First(); n != nil; n, val = c.Next() {
		if kk, v, ok := decodePending(val); ok && bytes.Equal(kk, k) {
			return v
		}
	}
	return nil
}
