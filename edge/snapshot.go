package edge

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"atrium/record"
	"atrium/replication"
)

// Snapshots (replication's snapshot.go): when the lycée's checkpoint is
// older than central's tombstone horizon, the client pulls the partition
// whole into the staging area (the repair's, digest.go), page by page,
// and the Store keeps, in the same transaction as each page, how far it
// got: a reconnection or a restart resumes from there.
//
// The swap replaces the partition's records by the staged ones in one
// transaction (records central did not send, deleted and purged there
// while the edge was away, are dropped). Local work is kept by this rule:
//
//   - the outbox is not touched: the commands central has not
//     acknowledged are still sent, and central decides on them;
//   - in the swap's transaction, every undo entry is dropped (central's
//     state at the snapshot's checkpoint settles the commands it
//     acknowledged: their records, or their refusal notices, are in it),
//     then the commands still in the outbox are applied again, oldest
//     first, over central's state, by the same rules as at first
//     (Store.Exec), with fresh undo entries: people keep seeing what they
//     wrote, and a refusal later takes back only what the command wrote
//     over the snapshot, never an older state. A command the rules now
//     refuse (its record was deleted at central meanwhile) writes nothing
//     locally; it is still sent, and central's verdict comes back as
//     usual. Only the swapped partition is written again: the lycée's
//     audit trail and usage counts are not swapped and keep their first
//     writes.
//
// So a lycée whose users keep writing on the LAN is never stuck: the swap
// does not wait for the outbox to drain.
//
// Layout:
//
//	snapshots: partition -> floor | staged seq | records | bytes (4 × 8 bytes BE); present while one is in progress
var bucketSnapshots = []byte("snapshots")

var _ replication.SnapshotSink = (*Store)(nil)

func encodeProgress(p replication.SnapshotProgress) []byte {
	b := binary.BigEndian.AppendUint64(nil, p.Floor)
	b = binary.BigEndian.AppendUint64(b, p.Staged)
	b = binary.BigEndian.AppendUint64(b, p.Records)
	return binary.BigEndian.AppendUint64(b, p.Bytes)
}

func decodeProgress(v []byte) (replication.SnapshotProgress, error) {
	if len(v) != 32 {
		return replication.SnapshotProgress{}, fmt.Errorf("%w: snapshot progress of %d bytes", ErrCorrupt, len(v))
	}
	return replication.SnapshotProgress{
		Floor:   binary.BigEndian.Uint64(v),
		Staged:  binary.BigEndian.Uint64(v[8:]),
		Records: binary.BigEndian.Uint64(v[16:]),
		Bytes:   binary.BigEndian.Uint64(v[24:]),
	}, nil
}

// SnapshotState returns the snapshot of partition in progress, if any.
func (s *Store) SnapshotState(partition string) (replication.SnapshotProgress, bool, error) {
	if !s.holds(partition) {
		return replication.SnapshotProgress{}, false, fmt.Errorf("edge: snapshot state: %w: %q", ErrForeignPartition, partition)
	}
	var p replication.SnapshotProgress
	var active bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSnapshots).Get([]byte(partition))
		if v == nil {
			return nil
		}
		active = true
		var err error
		p, err = decodeProgress(v)
		return err
	})
	if err != nil {
		return replication.SnapshotProgress{}, false, fmt.Errorf("edge: snapshot state of %s: %w", partition, err)
	}
	return p, active, nil
}

// BeginSnapshot empties partition's staging area and starts a snapshot of
// it from sequence 0, begun at central's floor.
func (s *Store) BeginSnapshot(partition string, floor uint64) error {
	if !s.holds(partition) {
		return fmt.Errorf("edge: begin snapshot: %w: %q", ErrForeignPartition, partition)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := clearStaging(tx.Bucket(bucketStaging), partition); err != nil {
			return err
		}
		return tx.Bucket(bucketSnapshots).Put([]byte(partition), encodeProgress(replication.SnapshotProgress{Floor: floor}))
	})
	if err != nil {
		return fmt.Errorf("edge: begin snapshot of %s: %w", partition, err)
	}
	return nil
}

// errNoSnapshot reports staging or swapping a snapshot never begun.
var errNoSnapshot = errors.New("no snapshot in progress")

// StageSnapshot adds records of central's full feed of partition to its
// staging area and records staged as the sequence reached, in one
// transaction.
func (s *Store) StageSnapshot(partition string, recs []record.Record, staged uint64) (replication.SnapshotProgress, error) {
	var p replication.SnapshotProgress
	if !s.holds(partition) {
		return p, fmt.Errorf("edge: stage snapshot: %w: %q", ErrForeignPartition, partition)
	}
	for _, r := range recs {
		if r.Partition != partition {
			return p, fmt.Errorf("edge: stage snapshot of %s: %w: record %s is in %q", partition, ErrForeignPartition, r.ID, r.Partition)
		}
		if err := checkRecord(r); err != nil {
			return p, fmt.Errorf("edge: stage snapshot of %s: %w", partition, err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		snaps := tx.Bucket(bucketSnapshots)
		v := snaps.Get([]byte(partition))
		if v == nil {
			return errNoSnapshot
		}
		var err error
		if p, err = decodeProgress(v); err != nil {
			return err
		}
		if staged < p.Staged {
			return fmt.Errorf("%w: staged sequence %d below %d", ErrCorrupt, staged, p.Staged)
		}
		b := tx.Bucket(bucketStaging)
		b.FillPercent = appendFill
		for _, r := range recs {
			k := join(r.Partition, r.ID)
			enc := record.AppendRecord(nil, r)
			if old := b.Get(k); old != nil {
				p.Bytes -= min(p.Bytes, uint64(s.sealer.clearLen(old)))
			} else {
				p.Records++
			}
			p.Bytes += uint64(len(enc))
			if err := b.Put(k, s.sealer.seal(bucketStaging, k, enc)); err != nil {
				return err
			}
		}
		p.Staged = staged
		return snaps.Put([]byte(partition), encodeProgress(p))
	})
	if err != nil {
		return replication.SnapshotProgress{}, fmt.Errorf("edge: stage snapshot of %s: %w", partition, err)
	}
	return p, nil
}

// SwapSnapshot replaces partition's records by the staged ones, sets its
// checkpoint, ends the snapshot and, for the lycée's partition, applies
// again the commands still in the outbox (see the top of this file), in
// one transaction. It returns how many commands it applied again.
func (s *Store) SwapSnapshot(partition string, checkpoint uint64) (int, error) {
	if !s.holds(partition) {
		return 0, fmt.Errorf("edge: swap snapshot: %w: %q", ErrForeignPartition, partition)
	}
	reapplied := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		reapplied = 0
		snaps := tx.Bucket(bucketSnapshots)
		if snaps.Get([]byte(partition)) == nil {
			return errNoSnapshot
		}
		own := partition == s.uai
		if own {
			if err := dropAllUndo(tx, s.sealer); err != nil {
				return fmt.Errorf("drop undo entries: %w", err)
			}
		}
		if err := swapStaged(tx, newReader(tx, s.idx, s.sealer), partition, checkpoint); err != nil {
			return err
		}
		if own {
			var err error
			if reapplied, err = s.reapplyOutbox(tx); err != nil {
				return err
			}
		}
		return snaps.Delete([]byte(partition))
	})
	if err != nil {
		return 0, fmt.Errorf("edge: swap snapshot of %s: %w", partition, err)
	}
	return reapplied, nil
}

// dropAllUndo drops every undo entry (undo.go's dropEntry, for each
// command that has one: undo's keys start with the command's sequence, as
// UndoPending reads them). Acknowledged ranges left without entries go at
// undo's next sweep.
func dropAllUndo(tx *bolt.Tx, sl *sealer) error {
	u := newUndoTx(tx, sl)
	var seqs []uint64
	c := tx.Bucket(bucketUndo).Cursor()
	for k, _ := c.First(); k != nil; {
		seq, ok := readU64(k[:min(len(k), 8)])
		if !ok {
			return fmt.Errorf("%w: undo key %x", ErrCorrupt, k)
		}
		seqs = append(seqs, seq)
		k, _ = c.Seek(u64(seq + 1))
	}
	for _, seq := range seqs {
		if err := u.dropEntry(seq); err != nil {
			return err
		}
	}
	return nil
}

// reapplyOutbox executes again, in tx, the commands of the outbox, oldest
// first, writing only the lycée's partition; it returns how many the rules
// accepted. A storage failure fails the transaction.
func (s *Store) reapplyOutbox(tx *bolt.Tx) (int, error) {
	var cmds []record.Command
	err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		v, err := s.sealer.open(bucketOutbox, k, v)
		if err != nil {
			return err
		}
		cmd, err := record.DecodeCommand(v)
		if err != nil {
			return fmt.Errorf("%w: outbox entry %x: %w", ErrCorrupt, k, err)
		}
		cmds = append(cmds, cmd)
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, cmd := range cmds {
		rt := &reapplyTx{localTx: newLocalTx(tx, s.uai, cmd, s.idx, s.sealer)}
		err := s.exec(rt, cmd)
		if rt.storeErr != nil {
			return n, fmt.Errorf("apply command %d again: %w", cmd.Seq, rt.storeErr)
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}

// reapplyTx is the transaction of a command applied again after a
// snapshot: it writes the lycée's partition only, and tells a refusal of
// the rules from a failure of the store.
type reapplyTx struct {
	*localTx
	storeErr error
}

func (t *reapplyTx) Put(r record.Record) error {
	if r.Partition != t.uai {
		return nil // the audit trail and usage counts keep their first writes
	}
	err := t.localTx.Put(r)
	if err != nil {
		if _, ok := record.AsRejection(err); !ok && t.storeErr == nil {
			t.storeErr = err
		}
	}
	return err
}
