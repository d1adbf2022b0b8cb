package edge

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"atrium/record"
	"atrium/replication"
)

// The methods in this file make the Store the replication client's Sink.

// Epoch returns the store's epoch, minted when its file was created.
func (s *Store) Epoch() uint64 { return s.epoch }

// Checkpoint returns the last feed sequence applied for partition (0 for
// none yet). It reads the file, so it never runs ahead of or behind the
// records applied with it.
func (s *Store) Checkpoint(partition string) (uint64, error) {
	if !s.holds(partition) {
		return 0, fmt.Errorf("%w: %q", ErrForeignPartition, partition)
	}
	var cp uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCheckpoints).Get([]byte(partition))
		if v == nil {
			return nil
		}
		var ok bool
		if cp, ok = readU64(v); !ok {
			return fmt.Errorf("%w: checkpoint of %s", ErrCorrupt, partition)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("edge: read checkpoint: %w", err)
	}
	return cp, nil
}

func (s *Store) holds(partition string) bool {
	return partition == s.uai || partition == record.Region
}

// ApplyChanges stores records from central's feed of partition exactly as
// received (central is authoritative: they replace any local version) and
// the partition's new checkpoint, in one transaction. Records of another
// partition, or of a partition this edge does not hold, are refused and
// nothing is written.
func (s *Store) ApplyChanges(partition string, recs []record.Record, checkpoint uint64) error {
	_, err := s.applyChanges(partition, recs, nil, checkpoint)
	return err
}

var _ replication.StubSink = (*Store)(nil)

// ApplyStubbed is ApplyChanges for a page in which stubs[i] marks recs[i]
// as a stub: a record of the lycée's partition that central sent without
// its body because this edge wrote it (a chunk of a file uploaded here:
// content-addressed, so its body follows from its id). The body is taken
// from the store's own live record of the same id and kind, in the same
// transaction, which makes the stored record central's byte for byte. If
// some stub has no such record here (a store restored from a backup,
// reinstalled), nothing is written and ApplyStubbed returns how many
// lacked one: the client pulls the page again, whole.
func (s *Store) ApplyStubbed(partition string, recs []record.Record, stubs []bool, checkpoint uint64) (missing int, err error) {
	return s.applyChanges(partition, recs, stubs, checkpoint)
}

// errStubsMissing rolls back a page whose stubs the store cannot complete.
var errStubsMissing = errors.New("stubs without a local record")

func (s *Store) applyChanges(partition string, recs []record.Record, stubs []bool, checkpoint uint64) (missing int, err error) {
	if !s.holds(partition) {
		return 0, fmt.Errorf("edge: apply changes: %w: %q", ErrForeignPartition, partition)
	}
	isStub := func(i int) bool { return i < len(stubs) && stubs[i] }
	for i, r := range recs {
		if r.Partition != partition {
			return 0, fmt.Errorf("edge: apply changes of %s: %w: record %s is in %q", partition, ErrForeignPartition, r.ID, r.Partition)
		}
		if isStub(i) && (partition != s.uai || r.Deleted) {
			return 0, fmt.Errorf("edge: apply changes of %s: %w: stub %s outside the lycée's live records", partition, ErrForeignPartition, r.ID)
		}
		if err := checkRecord(r); err != nil {
			return 0, fmt.Errorf("edge: apply changes of %s: %w", partition, err)
		}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		rd := newReader(tx, s.idx, s.sealer)
		bodies, n, err := stubBodies(rd, recs, stubs)
		if err != nil {
			return err
		}
		if missing = n; missing > 0 {
			return errStubsMissing
		}
		// What follows from each record alone is computed on another
		// goroutine, ahead of this loop (prepare.go).
		var stubBody func(int) ([]byte, bool)
		if bodies != nil {
			stubBody = func(i int) ([]byte, bool) { return bodies[i], isStub(i) }
		}
		pp := s.ahead.take(recs) // prepared when the page arrived
		if pp == nil || stubBody != nil {
			if pp != nil {
				pp.stop() // prepared without the stubs' bodies
			}
			pp = startPrepare(s.idx, s.sealer, recs, stubBody)
		}
		defer pp.stop()
		rd.bufferDigests()              // written once, after the page (digest.go)
		undo := newUndoTx(tx, s.sealer) // undo.go: central's versions settle local commands
		pending := partition == s.uai && !undo.empty()
		// A record whose key comes after the partition's last one is new:
		// no lookup. Ids are time-ordered, so most of a catch-up's records
		// are past the end.
		tail := rd.lastRecordKey(partition)
		for i, r := range recs {
			if isStub(i) {
				r.Body = bodies[i]
			}
			p := pp.nextItem()
			var old record.Record
			var oldEnc []byte
			hadOld, past := false, bytes.Compare(p.self, tail) > 0
			if !past {
				if old, oldEnc, hadOld, err = rd.getIndexedEnc(p.self); err != nil {
					return err
				}
			}
			if err := rd.write(r, p, old, hadOld, oldEnc, true); err != nil {
				return fmt.Errorf("put %s: %w", r.ID, err)
			}
			if past {
				tail = p.self
			}
			if !pending {
				continue
			}
			if err := undo.dropRecord(r.Partition, r.ID); err != nil {
				return fmt.Errorf("undo of %s: %w", r.ID, err)
			}
			if seq, ok := s.noticeSeq(r); ok {
				if err := undo.revert(rd, seq); err != nil {
					return fmt.Errorf("revert command %d: %w", seq, err)
				}
				tail = rd.lastRecordKey(partition) // reverting writes records of its own
			}
		}
		if err := rd.flushDigests(); err != nil {
			return err
		}
		if partition == s.uai {
			if err := undo.sweep(checkpoint, s.now()); err != nil {
				return fmt.Errorf("sweep undo entries: %w", err)
			}
		}
		return tx.Bucket(bucketCheckpoints).Put([]byte(partition), u64(checkpoint))
	})
	if errors.Is(err, errStubsMissing) {
		return missing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("edge: apply changes of %s: %w", partition, err)
	}
	return 0, nil
}

// stubBodies reads, before anything of the page is written, the body of
// the store's live record of the same partition, id and kind for each
// stub of recs (bodies[i] for recs[i]), and counts the stubs that have
// none.
func stubBodies(rd *reader, recs []record.Record, stubs []bool) (bodies [][]byte, missing int, err error) {
	for i, stub := range stubs {
		if !stub || i >= len(recs) {
			continue
		}
		if bodies == nil {
			bodies = make([][]byte, len(recs))
		}
		r := recs[i]
		old, ok, err := rd.Get(r.Partition, r.ID)
		if err != nil {
			return nil, 0, fmt.Errorf("stub %s: %w", r.ID, err)
		}
		if !ok || old.Deleted || old.Kind != r.Kind {
			missing++
			continue
		}
		bodies[i] = old.Body
	}
	return bodies, missing, nil
}

// Outbox returns up to limit commands not yet acknowledged by central whose
// sequence is above after, oldest first (limit <= 0 means 1000). The sync
// client passes the last sequence it has in flight.
func (s *Store) Outbox(after uint64, limit int) ([]record.Command, error) {
	if limit <= 0 {
		limit = defaultOutboxLimit
	}
	var cmds []record.Command
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		size := 0
		for k, v := c.Seek(u64(after + 1)); k != nil && len(cmds) < limit && size < outboxBatchBytes; k, v = c.Next() {
			v, err := s.sealer.open(bucketOutbox, k, v)
			if err != nil {
				return err
			}
			cmd, err := record.DecodeCommand(v)
			if err != nil {
				return fmt.Errorf("outbox entry %x: %w: %w", k, ErrCorrupt, err)
			}
			if len(cmds) > 0 && cmd.Epoch != cmds[0].Epoch {
				break // one epoch per batch: central keeps a high-water mark per epoch
			}
			cmds = append(cmds, cmd)
			size += len(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("edge: read outbox: %w", err)
	}
	return cmds, nil
}

// AckOutbox deletes the commands of epoch up to and including hwm, which
// central has applied (or refused, visibly) for good. Commands of other
// epochs stay, whatever their sequence numbers: in a file restored from a
// backup, the commands written since carry the sequence numbers of
// commands the appliance had sent before, under another epoch.
func (s *Store) AckOutbox(epoch, hwm uint64) error {
	if epoch == 0 || epoch > s.epoch {
		return fmt.Errorf("edge: ack outbox: %w: %d, store is at %d", ErrWrongEpoch, epoch, s.epoch)
	}
	deleted := 0
	var ops map[string]int
	err := s.db.Update(func(tx *bolt.Tx) error {
		deleted, ops = 0, map[string]int{}
		// Collect, then delete: First after each Delete walks again over
		// every leaf emptied so far (quadratic in a 1000-command batch).
		outbox := tx.Bucket(bucketOutbox)
		var acked []uint64
		c := outbox.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, ok := readU64(k)
			if !ok {
				return fmt.Errorf("%w: outbox key %x", ErrCorrupt, k)
			}
			if seq > hwm {
				break
			}
			v, err := s.sealer.open(bucketOutbox, k, v)
			if err != nil {
				return err
			}
			op := "" // for an entry that does not decode, as outboxOp says
			if cmd, err := record.DecodeCommand(v); err == nil {
				if cmd.Epoch != epoch {
					continue
				}
				op = cmd.Op
			}
			ops[op]++
			acked = append(acked, seq)
		}
		for _, seq := range acked {
			if err := outbox.Delete(u64(seq)); err != nil {
				return err
			}
		}
		deleted = len(acked)
		return newUndoTx(tx, s.sealer).markAcked(tx, s.uai, hwm, s.now())
	})
	if err != nil {
		return fmt.Errorf("edge: ack outbox: %w", err)
	}
	s.mu.Lock()
	s.outboxLen -= deleted
	for op, n := range ops {
		if s.outboxOps[op] -= n; s.outboxOps[op] <= 0 {
			delete(s.outboxOps, op)
		}
	}
	s.mu.Unlock()
	return nil
}

// OutboxChanged returns a channel closed when a command is next appended
// to the outbox.
func (s *Store) OutboxChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}
