package central

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"

	"atrium/record"
)

// Each partition keeps its convergence digest (record.Digest: the XOR of
// record.DigestOf over its records; a tombstone contributes nothing, so
// purging one past the horizon leaves the digest as it is: horizon.go)
// under "digest" in its bucket. Put folds the replaced version out and the new one in, in
// the transaction that writes the record; a state file whose digests were
// made by another format (or none: a snapshot taken before they existed)
// has them rebuilt when it is opened, as the term index is (index.go).
// The replication server sends an edge its partition's digest with a
// caught-up answer; the edge compares it with its own (replication's
// DESIGN.md, "Proof of convergence").

// digestFormat is the definition of the stored digests: a change rebuilds
// them. 1: tombstones included; 2: live records only.
const digestFormat = "2"

// foldDigest replaces the partition's digest of the record's previous
// version (if had) by that of r.
func (ps *partState) foldDigest(prev record.Digest, had bool, r record.Record) error {
	if !ps.digestLoaded {
		d, err := record.DigestFromBytes(ps.bucket.Get(keyDigest))
		if err != nil {
			return fmt.Errorf("digest of %s: %w", ps.name, err)
		}
		ps.digest, ps.digestLoaded = d, true
	}
	if had {
		ps.digest.Xor(prev)
	}
	ps.digest.Xor(record.DigestOf(r))
	ps.digestDirty = true
	return nil
}

// ensureDigests rebuilds every partition's digest in tx if they were not
// made by this digestFormat, and reports whether it did.
func ensureDigests(tx *bbolt.Tx) (bool, error) {
	meta := tx.Bucket(bucketMeta)
	if bytes.Equal(meta.Get(keyDigest), []byte(digestFormat)) {
		return false, nil
	}
	parts := tx.Bucket(bucketParts)
	names, err := partitionNames(parts)
	if err != nil {
		return false, err
	}
	for _, name := range names {
		p := parts.Bucket(name)
		d, err := digestRecords(p)
		if err != nil {
			return false, fmt.Errorf("rebuild digest of %s: %w", name, err)
		}
		if err := p.Put(keyDigest, d[:]); err != nil {
			return false, fmt.Errorf("rebuild digest of %s: %w", name, err)
		}
	}
	return true, meta.Put(keyDigest, []byte(digestFormat))
}

// digestRecords computes a partition's digest from its records.
func digestRecords(p *bbolt.Bucket) (record.Digest, error) {
	var d record.Digest
	recs := p.Bucket(subRecords)
	if recs == nil {
		return d, fmt.Errorf("no records bucket: %w", ErrCorrupt)
	}
	err := recs.ForEach(func(k, v []byte) error {
		e, err := digestOfStored(recs.Tx(), v) // whole or a blob reference (blobs.go)
		if err != nil {
			return fmt.Errorf("record %q: %w", k, err)
		}
		d.Xor(e)
		return nil
	})
	return d, err
}

// digest returns the partition's stored digest and its last sequence
// number, read together.
func (r reader) digest(partition string) (record.Digest, uint64, error) {
	p := r.part(partition)
	if p == nil {
		return record.Digest{}, 0, nil
	}
	d, err := record.DigestFromBytes(p.Get(keyDigest))
	if err != nil {
		return record.Digest{}, 0, fmt.Errorf("digest of %s: %w", partition, err)
	}
	return d, u64(p.Get(keyLast)), nil
}

// Digest returns the convergence digest of partition as this node holds
// it, and the partition's last sequence number it covers (read in one
// transaction). It implements replication's Digester.
func (n *Node) Digest(partition string) (record.Digest, uint64, error) {
	var d record.Digest
	var seq uint64
	err := n.fsm.view(func(r reader) error {
		var err error
		d, seq, err = r.digest(partition)
		return err
	})
	return d, seq, err
}

// RecomputeDigest computes partition's digest afresh from its records,
// for tests and diagnostics: it equals Digest's unless the stored digest
// is wrong.
func (n *Node) RecomputeDigest(partition string) (record.Digest, error) {
	var d record.Digest
	err := n.fsm.view(func(r reader) error {
		p := r.part(partition)
		if p == nil {
			return nil
		}
		var err error
		d, err = digestRecords(p)
		return err
	})
	return d, err
}
