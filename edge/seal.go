package edge

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"atrium/internal/durable"
	"atrium/record"
)

// Encryption at rest (doc.go, "Data at rest", and docs/appliances.md).
//
// A stolen appliance, or its disk, must not give away the minors' messages,
// grades and absences its file holds. So every value that holds a record's
// body or a command's arguments is sealed with AES-256-GCM under the
// store's 32-byte data key: the values of records, outbox, undo and
// staging. A sealed value is a random 12-byte nonce followed by the
// ciphertext and its 16-byte tag; the additional data is the bucket's name
// and the value's key, so a value moved to another key, or another bucket,
// does not open. The unique keys' index (bucketKeys) is keyed by an HMAC
// of each kind and key (indexKey), since logins are unique keys; lookups
// there are exact. The keys of the other buckets stay in clear, as do the
// values of the buckets not sealed: partitions, kinds, ids, index terms
// (user ids, class names), sequences, checkpoints and digests, which the
// store seeks and compares without the key; never a body. Digests are
// computed on the clear encodings.
//
// meta "seal" holds the key check: the format byte and a constant sealed
// under the key. A file with a key check is opened only with that key
// (ErrWrongDataKey, ErrDataKeyRequired); a file without one (written
// before encryption, or opened without a key) is kept in clear, unless a
// key is given: then it is sealed in place at open, a batch of values per
// transaction, meta "sealing" naming where it got to, so that a power cut
// resumes the work at the next open; then the unique keys' index is
// rekeyed in one transaction, and the file is compacted into a fresh copy
// (the clear values stay in the old file's free pages otherwise).
//
// Nonces are random (crypto/rand, 96 bits): a store writes far fewer than
// the 2^32 values under one key past which collisions become a concern.
//
// Layout:
//
//	meta "seal"    -> sealFormat | nonce | GCM(sealCheck)
//	meta "sealing" -> step | last key sealed (present while sealing in place;
//	                  step: an index in sealedBuckets, sealStepKeys or sealStepCompact)
var (
	metaSeal    = []byte("seal")
	metaSealing = []byte("sealing")

	// sealedBuckets are the buckets whose values are sealed, in the order
	// sealInPlace walks them (meta "sealing" names one by its index).
	sealedBuckets = [][]byte{bucketRecords, bucketOutbox, bucketUndo, bucketStaging}
)

const (
	sealFormat = 1
	sealCheck  = "atrium edge data key check"
	// sealBatch bounds the values one sealInPlace transaction seals.
	sealBatch = 10_000
	// DataKeySize is the size of a data key: AES-256.
	DataKeySize = 32
	// DataKeyCredential is the name of the systemd credential that holds
	// the data key on an appliance (LoadCredentialEncrypted=, sealed with
	// the machine's TPM): LoadDataKey reads it from $CREDENTIALS_DIRECTORY.
	DataKeyCredential = "atrium-data-key"
	// DataKeyFile is the name of the key file in the edge's identity
	// directory when no credential and no other path is given.
	DataKeyFile = "data.key"
)

// testDataKey is the data key of the stores this package's tests open
// without one (seal_test.go's TestMain): they run sealed, as on an
// appliance. Always nil outside tests.
var testDataKey []byte

// sealer seals and opens the values of sealedBuckets. A nil *sealer is a
// store kept in clear: seal and open return the value as it is.
type sealer struct {
	aead   cipher.AEAD
	macKey []byte // the unique keys' index (indexKey), derived from the data key
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != DataKeySize {
		return nil, fmt.Errorf("edge: data key of %d bytes, want %d", len(key), DataKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("edge: data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("edge: data key: %w", err)
	}
	macKey, err := hkdf.Key(sha256.New, key, nil, "atrium edge unique keys index", sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("edge: data key: %w", err)
	}
	return &sealer{aead: aead, macKey: macKey}, nil
}

// sealAAD is the additional data of the value at key in bucket.
func sealAAD(bucket, key []byte) []byte {
	aad := make([]byte, 0, len(bucket)+1+len(key))
	aad = append(aad, bucket...)
	aad = append(aad, 0)
	return append(aad, key...)
}

// seal returns v sealed for key in bucket (a fresh slice), or v itself in
// a clear store.
func (s *sealer) seal(bucket, key, v []byte) []byte {
	if s == nil {
		return v
	}
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(v)+s.aead.Overhead())
	rand.Read(out) // never fails (crypto/rand)
	return s.aead.Seal(out, out[:ns], v, sealAAD(bucket, key))
}

// sealRecord returns the encoding of rec (record.AppendRecord) sealed for
// key in bucketRecords: seal's value, encoded and sealed in one buffer.
func (s *sealer) sealRecord(key []byte, rec record.Record) []byte {
	if s == nil {
		return record.AppendRecord(nil, rec)
	}
	ns := s.aead.NonceSize()
	// Room for the encoding (what AppendRecord grows by, and more) and
	// the tag: neither appending reallocates.
	size := 2 + len(rec.Partition) + len(rec.ID) + len(rec.Kind) + len(rec.Key) + len(rec.Body) + 12*binary.MaxVarintLen64
	b := make([]byte, ns, ns+size+s.aead.Overhead())
	rand.Read(b) // never fails (crypto/rand)
	b = record.AppendRecord(b, rec)
	// Sealed in place: the ciphertext overwrites the encoding exactly.
	return s.aead.Seal(b[:ns], b[:ns], b[ns:], sealAAD(bucketRecords, key))
}

// open returns the clear value of v, stored at key in bucket: nil for
// nil, v itself in a clear store, a fresh slice otherwise (valid after the
// transaction). A value that does not open is ErrCorrupt.
func (s *sealer) open(bucket, key, v []byte) ([]byte, error) {
	if s == nil || v == nil {
		return v, nil
	}
	ns := s.aead.NonceSize()
	if len(v) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed value %q of %s is %d bytes: %w", ErrCorrupt, key, bucket, len(v), record.ErrCorrupt)
	}
	clear, err := s.aead.Open(make([]byte, 0, len(v)-ns-s.aead.Overhead()), v[:ns], v[ns:], sealAAD(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed value %q of %s does not open: %w", ErrCorrupt, key, bucket, record.ErrCorrupt)
	}
	return clear, nil
}

// clearLen is the length of v's clear value.
func (s *sealer) clearLen(v []byte) int {
	if s == nil {
		return len(v)
	}
	return max(len(v)-s.aead.NonceSize()-s.aead.Overhead(), 0)
}

// check is the key check meta "seal" holds.
func (s *sealer) check() []byte {
	return append([]byte{sealFormat}, s.seal(bucketMeta, metaSeal, []byte(sealCheck))...)
}

// verify reports whether check was made with this sealer's key.
func (s *sealer) verify(check []byte) error {
	if len(check) == 0 || check[0] != sealFormat {
		return fmt.Errorf("%w: key check of format %x", ErrCorrupt, check[:min(len(check), 1)])
	}
	v, err := s.open(bucketMeta, metaSeal, check[1:])
	if err != nil || string(v) != sealCheck {
		return ErrWrongDataKey
	}
	return nil
}

// openSealer returns the sealer of the store in db (the file at path) for
// the lycée uai, given its data key (nil: none), and the database to use:
// nil for a store kept in clear. It writes the key check of a new file; it
// seals an existing clear file in place (sealInPlace), logging it, and
// then compacts the file, which reopens it. A file that fails the key
// check is left as it is; on any error the caller closes the returned
// database.
func openSealer(db *bolt.DB, path, uai string, key []byte, log *slog.Logger) (*bolt.DB, *sealer, error) {
	if key == nil {
		key = testDataKey
	}
	var check, marker, owner []byte
	err := db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			check = bytes.Clone(meta.Get(metaSeal))
			marker = bytes.Clone(meta.Get(metaSealing))
			owner = bytes.Clone(meta.Get(metaUAI))
		}
		return nil
	})
	if err != nil {
		return db, nil, err
	}
	if key == nil {
		if check != nil {
			return db, nil, ErrDataKeyRequired
		}
		return db, nil, nil
	}
	s, err := newSealer(key)
	if err != nil {
		return db, nil, err
	}
	switch {
	case check != nil:
		if err := s.verify(check); err != nil {
			return db, nil, err
		}
		if marker == nil {
			return db, s, nil
		}
		log.Warn("edge store: resuming its sealing in place, stopped before its end")
	case owner == nil: // a new file: sealed from its first value
		return db, s, db.Update(func(tx *bolt.Tx) error {
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return meta.Put(metaSeal, s.check())
		})
	case string(owner) != uai:
		// init refuses it: leave it as it is.
		return db, nil, fmt.Errorf("%w: file belongs to lycée %s, not %s", ErrForeignPartition, owner, uai)
	default:
		log.Info("edge store: sealing its values in place with the data key (a file written before encryption at rest)")
		marker = []byte{0}
		err := db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if err := meta.Put(metaSeal, s.check()); err != nil {
				return err
			}
			return meta.Put(metaSealing, marker)
		})
		if err != nil {
			return db, nil, err
		}
	}
	n, err := s.sealInPlace(db, marker)
	if err != nil {
		return db, nil, fmt.Errorf("seal in place: %w", err)
	}
	if db, err = compactSealed(db, path); err != nil {
		return db, nil, fmt.Errorf("seal in place: compact: %w", err)
	}
	log.Info("edge store sealed in place", "values", n)
	return db, s, nil
}

// Steps of sealInPlace after the value buckets, as meta "sealing" names
// them.
var (
	sealStepKeys    = byte(len(sealedBuckets))     // the unique keys' index is rekeyed (keyOf)
	sealStepCompact = byte(len(sealedBuckets) + 1) // the file is compacted (compactSealed)
)

// sealInPlace seals the clear values of sealedBuckets from marker (meta
// "sealing") on, sealBatch values per transaction, moving the marker in
// each, then rekeys the unique keys' index in one transaction, leaving the
// marker at sealStepCompact. It returns how many values it sealed.
func (s *sealer) sealInPlace(db *bolt.DB, marker []byte) (int, error) {
	if len(marker) == 0 || marker[0] > sealStepCompact {
		return 0, fmt.Errorf("%w: sealing marker %x", ErrCorrupt, marker)
	}
	i, after := int(marker[0]), bytes.Clone(marker[1:])
	total := 0
	for i < len(sealedBuckets) {
		err := db.Update(func(tx *bolt.Tx) error {
			name := sealedBuckets[i]
			type kv struct{ k, v []byte }
			var batch []kv
			if b := tx.Bucket(name); b != nil {
				c := b.Cursor()
				k, v := c.First()
				if len(after) > 0 {
					if k, v = c.Seek(after); bytes.Equal(k, after) {
						k, v = c.Next()
					}
				}
				for ; k != nil && len(batch) < sealBatch; k, v = c.Next() {
					batch = append(batch, kv{bytes.Clone(k), s.seal(name, k, v)})
				}
				for _, e := range batch {
					if err := b.Put(e.k, e.v); err != nil {
						return err
					}
				}
			}
			total += len(batch)
			if len(batch) < sealBatch {
				i, after = i+1, nil
			} else {
				after = batch[len(batch)-1].k
			}
			return tx.Bucket(bucketMeta).Put(metaSealing, append([]byte{byte(i)}, after...))
		})
		if err != nil {
			return total, err
		}
	}
	if i == int(sealStepKeys) {
		err := db.Update(func(tx *bolt.Tx) error {
			if err := s.rekeyKeys(tx); err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(metaSealing, []byte{sealStepCompact})
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// rekeyKeys replaces the clear keys of the unique keys' index (kind \0
// key) by keyOf's.
func (s *sealer) rekeyKeys(tx *bolt.Tx) error {
	b := tx.Bucket(bucketKeys)
	if b == nil {
		return nil
	}
	type kv struct{ k, v []byte }
	var all []kv
	err := b.ForEach(func(k, v []byte) error {
		kind, key, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("%w: key index entry %q", ErrCorrupt, k)
		}
		all = append(all, kv{s.indexKey(string(kind), string(key)), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bucketKeys); err != nil {
		return err
	}
	if b, err = tx.CreateBucket(bucketKeys); err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// compactSealed copies the store, just sealed in place, into a fresh file
// that replaces it, and deletes meta "sealing" there: the clear values
// the sealing replaced stay in the free pages of a file until they are
// reused, never in the copy. A power cut before the rename leaves the
// sealed file and its marker: the next open compacts again. It returns
// the database to use (the copy, or db if nothing changed).
func compactSealed(db *bolt.DB, path string) (*bolt.DB, error) {
	tmp := path + ".sealing"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return db, err
	}
	dst, err := bolt.Open(tmp, 0o600, boltOptions())
	if err != nil {
		return db, err
	}
	err = bolt.Compact(dst, db, 64<<20)
	if err == nil {
		err = dst.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaSealing) })
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return db, err
	}
	if err := db.Close(); err != nil {
		return db, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	if err := durable.SyncDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return bolt.Open(path, 0o600, boltOptions())
}

// indexKey is the key of bucketKeys for a record's unique key in a sealed
// store: kind \0 HMAC-SHA256(kind \0 key) under a key derived from the
// data key, so that the unique keys (the users' logins among them) are
// not in clear. Lookups are exact: nothing scans that bucket.
func (s *sealer) indexKey(kind, key string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write(join(kind, key))
	return m.Sum(append([]byte(kind), 0))
}

// keyOf is the key of bucketKeys for kind and key: join(kind, key) in a
// clear store, indexKey in a sealed one.
func (r *reader) keyOf(kind, key string) []byte { return keyOf(r.sealer, kind, key) }

// keyOf is reader.keyOf for the store whose sealer is sl.
func keyOf(sl *sealer, kind, key string) []byte {
	if sl == nil {
		return join(kind, key)
	}
	return sl.indexKey(kind, key)
}

// DefaultDataKeyPath is the key file of the edge whose data directory is
// dataDir, when no other is given: in its identity directory.
func DefaultDataKeyPath(dataDir string) string {
	return filepath.Join(dataDir, "identity", DataKeyFile)
}

// LoadDataKey returns the data key of an edge store and where it came
// from: the systemd credential DataKeyCredential when
// $CREDENTIALS_DIRECTORY is set and holds it; else keyFile, created (mode
// 0600, from crypto/rand, synced) if it does not exist. A key is 32 raw
// bytes or 64 hexadecimal digits.
func LoadDataKey(keyFile string) (key []byte, from string, err error) {
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		path := filepath.Join(dir, DataKeyCredential)
		key, err := ReadDataKey(path)
		if err == nil {
			return key, "credential " + path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
	}
	if keyFile == "" {
		return nil, "", errors.New("edge: load data key: no key file")
	}
	key, err = ReadDataKey(keyFile)
	if err == nil {
		return key, "file " + keyFile, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if key, err = createDataKey(keyFile); err != nil {
		return nil, "", err
	}
	return key, "file " + keyFile + " (created)", nil
}

// ReadDataKey reads the data key at path (32 raw bytes or 64 hexadecimal
// digits), without creating it: for the tools that open a store.
func ReadDataKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("edge: read data key: %w", err)
	}
	if len(b) == DataKeySize {
		return b, nil
	}
	if h := bytes.TrimSpace(b); len(h) == 2*DataKeySize {
		if key, err := hex.DecodeString(string(h)); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("edge: read data key %s: %d bytes, want %d raw bytes or %d hexadecimal digits", path, len(b), DataKeySize, 2*DataKeySize)
}

// createDataKey writes a new random key at path, never over an existing
// file, and syncs it and its directory: a key lost to a power cut would
// make the store unreadable.
func createDataKey(path string) ([]byte, error) {
	key := make([]byte, DataKeySize)
	rand.Read(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("edge: create data key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("edge: create data key: %w", err)
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("edge: create data key: %w", err)
	}
	return key, nil
}

// ShredDataKey destroys the key file at path: its bytes are overwritten
// with zeros and synced, then the file is removed. Without the key the
// sealed store is unreadable, whatever is left of its blocks on the disk
// (crypto-shredding). A missing file is not an error.
func ShredDataKey(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("edge: shred data key: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.WriteAt(make([]byte, max(st.Size(), DataKeySize)), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("edge: shred data key: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("edge: shred data key: %w", err)
	}
	return durable.SyncDir(filepath.Dir(path))
}

// recordBytes returns the clear encoding of the record stored at k
// (partition \0 id), nil if none.
func (r *reader) recordBytes(k []byte) ([]byte, error) {
	return r.sealer.open(bucketRecords, k, r.records.Get(k))
}

// value returns the clear value stored at key in undo, nil if none.
func (u undoTx) value(key []byte) ([]byte, error) {
	return u.sealer.open(bucketUndo, key, u.undo.Get(key))
}

// putValue stores v at key in undo, sealed.
func (u undoTx) putValue(key, v []byte) error {
	return u.undo.Put(key, u.sealer.seal(bucketUndo, key, v))
}
