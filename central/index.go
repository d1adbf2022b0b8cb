package central

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"

	"atrium/record"
)

// The term index (parts/<partition>/t) is derived from the records by the
// ENT's Indexer: Put keeps it in step, and a state file whose index was
// made by another layout or another version of the Indexer (a snapshot
// taken before it existed, say) has it rebuilt when it is opened.

// indexFormat is the layout of the term index.
const indexFormat = "1"

// termIndex is the state machine's term index configuration.
type termIndex struct {
	terms   record.Indexer // nil: no index; ScanTerm returns record.ErrNoIndex
	version string         // the Indexer's version: a change rebuilds the index
}

// stamp is what meta "index" holds for an index made by ix.
func (ix termIndex) stamp() []byte {
	if ix.terms == nil {
		return []byte(indexFormat + ":none")
	}
	return []byte(indexFormat + ":" + ix.version)
}

// ensureIndex rebuilds the term index in tx if it was not made by ix, and
// reports whether it did.
func ensureIndex(tx *bbolt.Tx, ix termIndex) (bool, error) {
	meta := tx.Bucket(bucketMeta)
	if bytes.Equal(meta.Get(keyIndex), ix.stamp()) {
		return false, nil
	}
	parts := tx.Bucket(bucketParts)
	names, err := partitionNames(parts)
	if err != nil {
		return false, err
	}
	for _, name := range names {
		p := parts.Bucket(name)
		if p.Bucket(subTerms) != nil {
			if err := p.DeleteBucket(subTerms); err != nil {
				return false, fmt.Errorf("rebuild index of %s: %w", name, err)
			}
		}
		terms, err := p.CreateBucket(subTerms)
		if err != nil {
			return false, fmt.Errorf("rebuild index of %s: %w", name, err)
		}
		if ix.terms == nil {
			continue
		}
		recs := p.Bucket(subRecords)
		if recs == nil {
			return false, fmt.Errorf("partition %s lacks its records: %w", name, ErrCorrupt)
		}
		err = recs.ForEach(func(k, v []byte) error {
			rec, err := decodeStored(tx, v) // whole or a blob reference (blobs.go)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", name, k, err)
			}
			for _, t := range record.Terms(ix.terms, rec) {
				if err := terms.Put(join3(rec.Kind, t, rec.ID), []byte{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("rebuild index: %w", err)
		}
	}
	return true, meta.Put(keyIndex, ix.stamp())
}

// partitionNames lists the partitions' bucket names, copied so that the
// caller may write to the buckets while it goes through them.
func partitionNames(parts *bbolt.Bucket) ([][]byte, error) {
	var names [][]byte
	err := parts.ForEachBucket(func(k []byte) error {
		names = append(names, bytes.Clone(k))
		return nil
	})
	return names, err
}
