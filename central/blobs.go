package central

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"atrium/record"
)

// Blobs: the chunks of files stored once at central (DESIGN.md, "Blobs").
//
// The ENT stores a file as chunks, each a record of kind file.chunk in its
// partition whose id is derived from the SHA-256 of its bytes and whose
// body is {"data":"<base64>"} (ent/files.go). The same file used by forty
// lycées would be forty copies in the state file, on every node and in
// every raft snapshot. So the state machine keeps each chunk's bytes once,
// keyed by their SHA-256, and the partitions' records refer to them:
//
//	blobs               "count" -> number of blobs (8 bytes BE)
//	                    "bytes" -> their total size in bytes (8 bytes BE)
//	blobs/d/<sha256>    0x00 -> the chunk's bytes (its body's data, decoded)
//	blobs/n             sha256 -> number of live records referring to it (8 bytes BE)
//
// A live record of kind file.chunk whose body is exactly what the ENT
// writes ({"data":"..."} with canonical standard base64, nothing else) and
// whose id is the ChunkID of its bytes' SHA-256 is stored in its
// partition's r as a reference:
//
//	0x80, sha256 (32 bytes), record.AppendRecord of the record with an empty body
//
// (0x80 is no record format, so a reader that does not expect a reference
// fails with ErrCorrupt rather than return an empty body). Every read
// (Get, ByKey, Scan, ScanTerm, the changes feed, digests, the term index's
// rebuild) rebuilds the body from the blob: the record read is the record
// written, byte for byte, so digests and what edges receive do not change.
// Any other record — a tombstone, another kind, a chunk whose bytes do not
// hash to its id or whose body is written another way — is stored whole,
// as before: one lycée's bytes never stand for another's. A state file
// made before blobs existed (an older snapshot) holds its chunks whole and
// gets an empty blobs bucket when opened; both forms are read.
//
// Each blob is a bucket of its own, keyed by its SHA-256 (32 bytes): bbolt
// rewrites a whole leaf when it inserts into it, and a leaf holds at least
// a few values, so blobs side by side in one bucket would have every new
// blob rewrite its neighbours' 256 KiB and leave them as free pages (a
// quarter more state file and snapshot for one 20 MB file).
//
// A blob's count is the number of live records referring to it: +1 when a
// record becomes a reference (new, replacing a tombstone or a record stored
// whole), −1 when a reference is replaced by anything else (a tombstone,
// stored whole: purging it past the horizon changes no count); at zero
// the blob is deleted. Counts change in the order of the
// Puts, inside the state machine's transaction: every node holds the same.

// blobRefFormat is the first byte of a record stored as a reference.
const blobRefFormat byte = 0x80

// blobHashLen is the length of a blob's key, a SHA-256.
const blobHashLen = sha256.Size

// chunkKind is ent.KindFileChunk (central does not import ent; a test
// checks they agree).
const chunkKind = "file.chunk"

var (
	bucketBlobs  = []byte("blobs")
	subBlobData  = []byte("d")
	subBlobRefs  = []byte("n")
	keyBlobCount = []byte("count")
	keyBlobBytes = []byte("bytes")
	keyBlobData  = []byte{0}

	chunkPrefix = []byte(`{"data":"`)
	chunkSuffix = []byte(`"}`)
)

// initBlobs creates the blobs bucket and its sub-buckets if absent.
func initBlobs(tx *bbolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(bucketBlobs)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketBlobs, err)
	}
	for _, name := range [][]byte{subBlobData, subBlobRefs} {
		if _, err := b.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s/%s: %w", bucketBlobs, name, err)
		}
	}
	return nil
}

// chunkID is ent.ChunkID of a SHA-256: a UUID (version 8) made of the
// hash's first bytes.
func chunkID(sum [blobHashLen]byte) string {
	var u [16]byte
	copy(u[:], sum[:])
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// chunkBody returns the body the ENT writes for a chunk of data.
func chunkBody(data []byte) []byte {
	b := make([]byte, 0, len(chunkPrefix)+base64.StdEncoding.EncodedLen(len(data))+len(chunkSuffix))
	b = append(b, chunkPrefix...)
	b = base64.StdEncoding.AppendEncode(b, data)
	return append(b, chunkSuffix...)
}

// shareable reports whether r may be stored as a reference to a blob, with
// the SHA-256 and the bytes of its chunk: a live file.chunk whose body is
// exactly chunkBody(data) and whose id is chunkID(SHA-256(data)). Every
// Put asks: for another kind it allocates nothing.
func shareable(r record.Record) (hash, data []byte, ok bool) {
	b := r.Body
	if r.Kind != chunkKind || r.Deleted || len(b) < len(chunkPrefix)+len(chunkSuffix) ||
		!bytes.HasPrefix(b, chunkPrefix) || !bytes.HasSuffix(b, chunkSuffix) {
		return nil, nil, false
	}
	enc := b[len(chunkPrefix) : len(b)-len(chunkSuffix)]
	// Strict refuses non-zero padding bits; the length check refuses the
	// line breaks any base64 decoder skips: what is left has one encoding,
	// so chunkBody(data) gives back b.
	data, err := base64.StdEncoding.Strict().AppendDecode(nil, enc)
	if err != nil || base64.StdEncoding.EncodedLen(len(data)) != len(enc) {
		return nil, nil, false
	}
	sum := sha256.Sum256(data)
	if chunkID(sum) != r.ID {
		return nil, nil, false
	}
	return sum[:], data, true
}

// isBlobRef reports whether a stored value is a reference to a blob.
func isBlobRef(v []byte) bool { return len(v) > 0 && v[0] == blobRefFormat }

// splitBlobRef returns the blob's hash and the record's encoding (with an
// empty body) of a stored reference.
func splitBlobRef(v []byte) (hash, head []byte, err error) {
	if len(v) < 1+blobHashLen+1 {
		return nil, nil, fmt.Errorf("blob reference of %d bytes: %w", len(v), ErrCorrupt)
	}
	return v[1 : 1+blobHashLen], v[1+blobHashLen:], nil
}

// appendBlobRef appends the stored reference of r to the blob hash.
func appendBlobRef(b []byte, hash []byte, r record.Record) []byte {
	b = append(b, blobRefFormat)
	b = append(b, hash...)
	r.Body = nil
	return record.AppendRecord(b, r)
}

// blobData returns the bytes of the blob hash (bbolt's memory: valid only
// in tx, read only).
func blobData(tx *bbolt.Tx, hash []byte) ([]byte, error) {
	var data []byte
	if b := tx.Bucket(bucketBlobs); b != nil {
		if d := b.Bucket(subBlobData); d != nil {
			if blob := d.Bucket(hash); blob != nil {
				data = blob.Get(keyBlobData)
			}
		}
	}
	if data == nil {
		return nil, fmt.Errorf("blob %x is missing: %w", hash, ErrCorrupt)
	}
	return data, nil
}

// decodeStored decodes a record as stored in a partition's r, whole or as
// a reference to a blob of tx.
func decodeStored(tx *bbolt.Tx, v []byte) (record.Record, error) {
	rec, _, _, err := decodeStoredOrHead(tx, v, nil)
	return rec, err
}

// chunkBodyLen is len(chunkBody(data)) for data of n bytes.
func chunkBodyLen(n int) int {
	return len(chunkPrefix) + base64.StdEncoding.EncodedLen(n) + len(chunkSuffix)
}

// decodeStoredOrHead is decodeStored, except that a reference to a blob
// whose head bodiless (when not nil) accepts is returned without its body
// (nil), with the length that body has (and headOnly): the blob's bytes are
// neither encoded nor copied. A record stored whole is decoded whole.
func decodeStoredOrHead(tx *bbolt.Tx, v []byte, bodiless func(record.Record) bool) (rec record.Record, bodyLen int, headOnly bool, err error) {
	if !isBlobRef(v) {
		rec, err = decodeRecord(v)
		return rec, 0, false, err
	}
	hash, head, err := splitBlobRef(v)
	if err != nil {
		return record.Record{}, 0, false, err
	}
	if rec, err = decodeRecordHead(head); err != nil {
		return record.Record{}, 0, false, err
	}
	data, err := blobData(tx, hash)
	if err != nil {
		return record.Record{}, 0, false, err
	}
	if bodiless != nil && bodiless(rec) {
		return rec, chunkBodyLen(len(data)), true, nil
	}
	rec.Body = chunkBody(data)
	return rec, 0, false, nil
}

// decodeStoredHead is decodeStored without the body (decodeRecordHead).
func decodeStoredHead(v []byte) (record.Record, error) {
	if !isBlobRef(v) {
		return decodeRecordHead(v)
	}
	_, head, err := splitBlobRef(v)
	if err != nil {
		return record.Record{}, err
	}
	return decodeRecordHead(head)
}

// digestOfStored is record.DigestOfEncoded of a stored record, whole or a
// reference (whose body is read from its blob).
func digestOfStored(tx *bbolt.Tx, v []byte) (record.Digest, error) {
	if !isBlobRef(v) {
		return record.DigestOfEncoded(v)
	}
	rec, err := decodeStored(tx, v)
	if err != nil {
		return record.Digest{}, err
	}
	return record.DigestOf(rec), nil
}

// wholeSize is the size of the record's whole encoding, stored as v
// (decoded as rec): the changes feed bounds its answers by it.
func wholeSize(v []byte, rec record.Record) int {
	if !isBlobRef(v) {
		return len(v)
	}
	// The reference's encoding ends with an empty body (one length byte).
	var n [binary.MaxVarintLen64]byte
	return len(v) - 1 - blobHashLen - 1 + binary.PutUvarint(n[:], uint64(len(rec.Body))) + len(rec.Body)
}

// blobBuckets returns the blobs bucket and its sub-buckets, creating them
// in a state file opened without them.
func (st *txState) blobBuckets() (root, data, refs *bbolt.Bucket, err error) {
	if st.blobs == nil {
		if err := initBlobs(st.tx); err != nil {
			return nil, nil, nil, err
		}
		st.blobs = st.tx.Bucket(bucketBlobs)
	}
	return st.blobs, st.blobs.Bucket(subBlobData), st.blobs.Bucket(subBlobRefs), nil
}

// storedValue returns what Put writes in r for record r, whose previous
// version referred to the blob prevRef (nil: none, or stored whole), and
// counts the references: +1 on the blob r now refers to, −1 on the one it
// no longer does.
func (st *txState) storedValue(r record.Record, prevRef []byte) ([]byte, error) {
	var ref []byte
	if !st.noBlobs {
		if hash, data, ok := shareable(r); ok {
			ref = hash
			if !bytes.Equal(ref, prevRef) {
				if err := st.acquireBlob(ref, data); err != nil {
					return nil, err
				}
			}
		}
	}
	if prevRef != nil && !bytes.Equal(prevRef, ref) {
		if err := st.releaseBlob(prevRef); err != nil {
			return nil, err
		}
	}
	if ref == nil {
		return record.AppendRecord(nil, r), nil
	}
	return appendBlobRef(make([]byte, 0, 1+blobHashLen+len(r.Partition)+len(r.ID)+len(r.Kind)+len(r.Key)+64), ref, r), nil
}

// acquireBlob counts one more reference to the blob hash, storing data as
// the blob when it is the first. hash and data must stay unchanged until
// the transaction ends (bbolt keeps them).
func (st *txState) acquireBlob(hash, data []byte) error {
	root, blobs, refs, err := st.blobBuckets()
	if err != nil {
		return err
	}
	n := u64(refs.Get(hash))
	if n == 0 {
		blob, err := blobs.CreateBucket(hash)
		if err == nil {
			err = blob.Put(keyBlobData, data)
		}
		if err != nil {
			return fmt.Errorf("store blob: %w", err)
		}
		if err := addBlobStats(root, 1, int64(len(data))); err != nil {
			return err
		}
	}
	return refs.Put(hash, be(n+1))
}

// releaseBlob counts one reference less to the blob hash, deleting it at
// zero. hash must not be bbolt's memory (writes may remap it).
func (st *txState) releaseBlob(hash []byte) error {
	root, blobs, refs, err := st.blobBuckets()
	if err != nil {
		return err
	}
	n := u64(refs.Get(hash))
	if n == 0 {
		return fmt.Errorf("release blob %x: no reference counted: %w", hash, ErrCorrupt)
	}
	if n > 1 {
		return refs.Put(hash, be(n-1))
	}
	var size int64
	if blob := blobs.Bucket(hash); blob != nil {
		size = int64(len(blob.Get(keyBlobData)))
	}
	if err := blobs.DeleteBucket(hash); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := refs.Delete(hash); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	return addBlobStats(root, -1, -size)
}

func addBlobStats(root *bbolt.Bucket, blobs, size int64) error {
	count := int64(u64(root.Get(keyBlobCount))) + blobs
	total := int64(u64(root.Get(keyBlobBytes))) + size
	if count < 0 || total < 0 {
		return fmt.Errorf("blob stats below zero (%d blobs, %d bytes): %w", count, total, ErrCorrupt)
	}
	if err := root.Put(keyBlobCount, be(uint64(count))); err != nil {
		return err
	}
	return root.Put(keyBlobBytes, be(uint64(total)))
}

// blobStats returns the number of blobs and their total size.
func (r reader) blobStats() (blobs int, size int64) {
	root := r.tx.Bucket(bucketBlobs)
	if root == nil {
		return 0, 0
	}
	return int(u64(root.Get(keyBlobCount))), int64(u64(root.Get(keyBlobBytes)))
}

// blobRefs returns the number of records referring to the blob hash.
func (r reader) blobRefs(hash []byte) uint64 {
	root := r.tx.Bucket(bucketBlobs)
	if root == nil {
		return 0
	}
	return u64(root.Bucket(subBlobRefs).Get(hash))
}

// BlobStats returns how many chunks of files this node's state file holds
// once for every partition that stores them, and their total size in
// bytes (DESIGN.md, "Blobs"). Chunks stored whole (by an older version, or
// whose bytes do not match their id) are not counted.
func (n *Node) BlobStats() (blobs int, bytes int64, err error) {
	err = n.fsm.view(func(r reader) error {
		blobs, bytes = r.blobStats()
		return nil
	})
	return blobs, bytes, err
}
