package edge

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"atrium/record"
)

// Convergence digests (replication's DESIGN.md, "Proof of convergence").
//
// The Store keeps, per partition, record.Digest of the records it holds,
// folded in reader.put and reader.remove: every write of a record, from
// the feed, from a local command, from an undo or a purge, replaces the
// old version's digest by the new one's, in the same transaction. So the
// digest is always that of the records as stored. It equals central's
// digest of the partition at the same sequence exactly when the edge holds
// central's records: true once no local write to the lycée's partition
// awaits central's verdict, i.e. when no undo item is pending (undo.go:
// every record a local command wrote keeps one until central's version
// of that record, or the command's refusal, settles it). Digest reports
// that condition as settled; the replication client compares only then.
// The outbox need not be empty: a queued command whose records central
// already overwrote (its items dropped) shows central's state, and the
// lycée's audit trail and usage counts are other partitions.
//
// A mismatch is repaired from a full pull of the partition: the client
// stages central's records (BeginRepair, StageChanges) and SwapStaged
// replaces the partition's records by them in one transaction.
//
// Layout:
//
//	digests: partition -> record.Digest (16 bytes)
//	staging: partition \0 id -> encoded record (a repair or a snapshot in progress)
//	meta "digest" -> digestFormat; the digests are rebuilt at open when it differs
var (
	bucketDigests = []byte("digests")
	bucketStaging = []byte("staging")

	metaDigest = []byte("digest")
)

// digestFormat is the definition of the stored digests: a change rebuilds
// them at open. 1: tombstones included; 2: live records only (a
// tombstone's record.DigestOf is zero).
const digestFormat = "2"

// foldDigest replaces, in partition's digest, the record stored at self,
// whose clear encoding is old (nil: none), by the digest add of the one
// written in its place (nil: the record is removed).
func (r *reader) foldDigest(partition string, self, old []byte, add *record.Digest) error {
	d, ok := r.digestBuf[partition]
	if !ok {
		var err error
		if d, err = record.DigestFromBytes(r.digests.Get([]byte(partition))); err != nil {
			return fmt.Errorf("%w: digest of %s: %w", ErrCorrupt, partition, err)
		}
	}
	if old != nil {
		od, err := record.DigestOfEncoded(old)
		if err != nil {
			return fmt.Errorf("%w: record %q: %w", ErrCorrupt, self, err)
		}
		d.Xor(od)
	}
	if add != nil {
		d.Xor(*add)
	}
	if r.digestBuf != nil {
		r.digestBuf[partition] = d
		return nil
	}
	return r.digests.Put([]byte(partition), d[:])
}

// bufferDigests makes the reader keep the digests it folds in memory
// until flushDigests writes them: one write per partition for a page of
// records instead of one per record.
func (r *reader) bufferDigests() {
	if r.digestBuf == nil {
		r.digestBuf = map[string]record.Digest{}
	}
}

// flushDigests writes the digests bufferDigests kept and stops keeping
// them.
func (r *reader) flushDigests() error {
	for p, d := range r.digestBuf {
		if err := r.digests.Put([]byte(p), d[:]); err != nil {
			return err
		}
	}
	r.digestBuf = nil
	return nil
}

// rebuildDigests computes every partition's digest from the records: a
// file written before the digests existed, or by another digestFormat.
func rebuildDigests(tx *bolt.Tx, sl *sealer) error {
	ds := map[string]record.Digest{}
	err := tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
		v, err := sl.open(bucketRecords, k, v)
		if err != nil {
			return err
		}
		partition, _, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("%w: record key %q", ErrCorrupt, k)
		}
		e, err := record.DigestOfEncoded(v)
		if err != nil {
			return fmt.Errorf("%w: record %q: %w", ErrCorrupt, k, err)
		}
		d := ds[string(partition)]
		d.Xor(e)
		ds[string(partition)] = d
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bucketDigests); err != nil {
		return err
	}
	b, err := tx.CreateBucket(bucketDigests)
	if err != nil {
		return err
	}
	for p, d := range ds {
		if err := b.Put([]byte(p), d[:]); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(metaDigest, []byte(digestFormat))
}

// Digest returns the digest of partition's records as the store holds
// them, the partition's checkpoint, and whether they can be compared with
// central's digest at that checkpoint: settled is false while a local
// write to the lycée's partition awaits central's verdict. All three are
// read in one transaction. It implements replication's DigestSink.
func (s *Store) Digest(partition string) (record.Digest, uint64, bool, error) {
	if !s.holds(partition) {
		return record.Digest{}, 0, false, fmt.Errorf("edge: digest: %w: %q", ErrForeignPartition, partition)
	}
	var d record.Digest
	var cp uint64
	var settled bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if d, err = record.DigestFromBytes(tx.Bucket(bucketDigests).Get([]byte(partition))); err != nil {
			return fmt.Errorf("%w: digest of %s: %w", ErrCorrupt, partition, err)
		}
		if v := tx.Bucket(bucketCheckpoints).Get([]byte(partition)); v != nil {
			var ok bool
			if cp, ok = readU64(v); !ok {
				return fmt.Errorf("%w: checkpoint of %s", ErrCorrupt, partition)
			}
		}
		settled = partition != s.uai || newUndoTx(tx, s.sealer).empty()
		return nil
	})
	if err != nil {
		return record.Digest{}, 0, false, fmt.Errorf("edge: digest: %w", err)
	}
	return d, cp, settled, nil
}

// RecomputeDigest computes partition's digest afresh from its records
// (for tests and diagnostics): it equals Digest's unless the stored digest
// went wrong.
func (s *Store) RecomputeDigest(partition string) (record.Digest, error) {
	var d record.Digest
	prefix := join(partition, "")
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			v, err := s.sealer.open(bucketRecords, k, v)
			if err != nil {
				return err
			}
			e, err := record.DigestOfEncoded(v)
			if err != nil {
				return fmt.Errorf("%w: record %q: %w", ErrCorrupt, k, err)
			}
			d.Xor(e)
		}
		return nil
	})
	return d, err
}

// BeginRepair starts a repair of partition: it empties its staging area.
func (s *Store) BeginRepair(partition string) error {
	if !s.holds(partition) {
		return fmt.Errorf("edge: begin repair: %w: %q", ErrForeignPartition, partition)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return clearStaging(tx.Bucket(bucketStaging), partition)
	})
	if err != nil {
		return fmt.Errorf("edge: begin repair of %s: %w", partition, err)
	}
	return nil
}

// StageChanges adds records of central's full feed of partition to its
// staging area, as received.
func (s *Store) StageChanges(partition string, recs []record.Record) error {
	if !s.holds(partition) {
		return fmt.Errorf("edge: stage changes: %w: %q", ErrForeignPartition, partition)
	}
	for _, r := range recs {
		if r.Partition != partition {
			return fmt.Errorf("edge: stage changes of %s: %w: record %s is in %q", partition, ErrForeignPartition, r.ID, r.Partition)
		}
		if err := checkRecord(r); err != nil {
			return fmt.Errorf("edge: stage changes of %s: %w", partition, err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStaging)
		b.FillPercent = appendFill
		for _, r := range recs {
			k := join(r.Partition, r.ID)
			if err := b.Put(k, s.sealer.seal(bucketStaging, k, record.AppendRecord(nil, r))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("edge: stage changes of %s: %w", partition, err)
	}
	return nil
}

// SwapStaged replaces partition's records by those staged since
// BeginRepair, sets its checkpoint and empties the staging area, in one
// transaction: records the store holds that were not staged are dropped,
// staged ones that differ from the stored ones are written (indexes and
// digest follow). When a local write to the partition awaits central's
// verdict, it changes nothing but the staging area and returns false: the
// repair is for another time.
func (s *Store) SwapStaged(partition string, checkpoint uint64) (bool, error) {
	if !s.holds(partition) {
		return false, fmt.Errorf("edge: swap staged: %w: %q", ErrForeignPartition, partition)
	}
	swapped := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		swapped = false
		staging := tx.Bucket(bucketStaging)
		if partition == s.uai && !newUndoTx(tx, s.sealer).empty() {
			return clearStaging(staging, partition)
		}
		if err := swapStaged(tx, newReader(tx, s.idx, s.sealer), partition, checkpoint); err != nil {
			return err
		}
		swapped = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("edge: swap staged records of %s: %w", partition, err)
	}
	return swapped, nil
}

// swapStaged replaces partition's records by the staged ones, sets its
// checkpoint and empties its staging area, in tx.
func swapStaged(tx *bolt.Tx, rd *reader, partition string, checkpoint uint64) error {
	staging := tx.Bucket(bucketStaging)
	prefix := join(partition, "")
	var drop []record.Record
	c := rd.records.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if staging.Get(k) != nil {
			continue
		}
		v, err := rd.sealer.open(bucketRecords, k, v)
		if err != nil {
			return err
		}
		rec, err := record.DecodeRecord(v)
		if err != nil {
			return fmt.Errorf("%w: record %q: %w", ErrCorrupt, k, err)
		}
		drop = append(drop, rec)
	}
	for _, rec := range drop {
		if err := rd.remove(rec); err != nil {
			return fmt.Errorf("drop %s: %w", rec.ID, err)
		}
	}
	sc := staging.Cursor()
	for k, v := sc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = sc.Next() {
		v, err := rd.sealer.open(bucketStaging, k, v)
		if err != nil {
			return err
		}
		cur, err := rd.recordBytes(k) // seal.go: sealed values differ by their nonces
		if err != nil {
			return err
		}
		if bytes.Equal(cur, v) {
			continue
		}
		rec, err := record.DecodeRecord(v)
		if err != nil {
			return fmt.Errorf("%w: staged record %q: %w", ErrCorrupt, k, err)
		}
		old, hadOld, err := rd.getIndexed(rec.Partition, rec.ID)
		if err != nil {
			return err
		}
		if err := rd.put(rec, old, hadOld); err != nil {
			return fmt.Errorf("put %s: %w", rec.ID, err)
		}
	}
	if err := clearStaging(staging, partition); err != nil {
		return err
	}
	return tx.Bucket(bucketCheckpoints).Put([]byte(partition), u64(checkpoint))
}

// clearStaging deletes partition's staged records.
func clearStaging(b *bolt.Bucket, partition string) error {
	prefix := join(partition, "")
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
