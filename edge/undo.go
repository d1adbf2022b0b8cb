package edge

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"atrium/record"
)

// Undo entries: taking back what a local command wrote once central
// refused it.
//
// A command made at the edge writes its records at once (Submit). When
// central refuses it (a slot booked meanwhile at home, a grade changed on
// both sides), central writes none of them, so its feed never overwrites
// the edge's copies: without more, the edge would keep showing what exists
// nowhere else. So, in the transaction that executes a local command, the
// Store keeps an undo entry under its outbox sequence: for each record of
// the lycée's partition it put, the bytes stored before (or none) and the
// version it wrote. Then:
//
//   - Central's version of a record arriving in the feed (ApplyChanges)
//     drops every pending item of that record, whatever command made it:
//     central's state now stands. This is how the entries of accepted
//     commands go away.
//   - A refusal notice (record.KindNotice) for one of this store's commands
//     (its Origin and Epoch are this store's) reverts what is left of that
//     command's entry, in the ApplyChanges transaction: a record still as
//     the command wrote it (same version) gets its previous bytes back, or
//     is deleted if it did not exist; a record a later local command wrote
//     again is left to that command, whose item inherits the previous bytes
//     (its own refusal, or central's version, settles the record); a record
//     with any other version is left alone. Then the entry is dropped.
//   - Central may accept a command as a no-op (a retransmission, a change
//     already made): nothing comes back for its records. AckOutbox stamps
//     the entries it acknowledges with the time and the lycée's feed
//     checkpoint; an entry acknowledged for undoRetention, once the
//     checkpoint has moved past the one stamped, is dropped when the feed
//     next applies changes of the lycée's partition. Central writes a
//     refusal notice in the same raft entry as it acknowledges the command,
//     so by then the notice would long have been applied — unless the
//     edge, cut off just after the acknowledgement, comes back more than a
//     day later and catches up on more than one page of changes: the
//     notice then arrives after its entry is gone and the refused records
//     stay (the problem this file solves, in that rare case only).
//
// Only the lycée's partition is undone: its audit trail and usage counts
// are the edge's own record of what happened there, which central never
// sends back.
//
// Layout:
//
//	undo:         seq                  -> header: ackedAt (unix ms, 0 = not acknowledged) | checkpoint at the ack
//	              seq partition \0 id  -> item: flags (1 = had a previous record) | version written (3 uvarints) | previous bytes
//	undo.records: partition \0 id \0 seq -> nothing (the pending items of a record, oldest command first)
//	undo.acked:   ackedAt seq          -> nothing (acknowledged entries, oldest acknowledgement first)
//
// seq and ackedAt are big-endian uint64; meta's undoAckedUpTo is the
// highest sequence AckOutbox has stamped.

var (
	bucketUndo        = []byte("undo")
	bucketUndoRecords = []byte("undo.records")
	bucketUndoAcked   = []byte("undo.acked")

	metaUndoAckedUpTo = []byte("undoAckedUpTo")
)

// undoRetention is how long an acknowledged entry waits for its records
// or its refusal notice before it is dropped.
const undoRetention = 24 * time.Hour

// undoItem is what a command's entry keeps of one record.
type undoItem struct {
	hadPrev bool
	wrote   record.Version
	prev    []byte // the encoded record stored before the command; nil if none
}

func (it undoItem) encode() []byte {
	flags := byte(0)
	if it.hadPrev {
		flags = 1
	}
	b := []byte{flags}
	b = binary.AppendUvarint(b, it.wrote.Central)
	b = binary.AppendUvarint(b, it.wrote.Edge)
	b = binary.AppendUvarint(b, it.wrote.HLC)
	return append(b, it.prev...)
}

func decodeUndoItem(v []byte) (undoItem, error) {
	if len(v) == 0 || v[0] > 1 {
		return undoItem{}, fmt.Errorf("%w: undo item", ErrCorrupt)
	}
	it := undoItem{hadPrev: v[0] == 1}
	rest := v[1:]
	for _, f := range []*uint64{&it.wrote.Central, &it.wrote.Edge, &it.wrote.HLC} {
		x, n := binary.Uvarint(rest)
		if n <= 0 {
			return undoItem{}, fmt.Errorf("%w: undo item version", ErrCorrupt)
		}
		*f, rest = x, rest[n:]
	}
	if it.hadPrev {
		it.prev = bytes.Clone(rest)
	}
	return it, nil
}

// undoHeader is the header of a command's entry.
type undoHeader struct {
	ackedAt    int64  // unix ms; 0 until AckOutbox acknowledges the command
	checkpoint uint64 // the lycée partition's checkpoint then
}

func (h undoHeader) encode() []byte {
	return binary.BigEndian.AppendUint64(u64(uint64(h.ackedAt)), h.checkpoint)
}

func decodeUndoHeader(v []byte) (undoHeader, error) {
	if len(v) != 16 {
		return undoHeader{}, fmt.Errorf("%w: undo header", ErrCorrupt)
	}
	return undoHeader{ackedAt: int64(binary.BigEndian.Uint64(v)), checkpoint: binary.BigEndian.Uint64(v[8:])}, nil
}

// undoTx is the undo state in one write transaction.
type undoTx struct {
	undo, records, acked, meta *bolt.Bucket
}

func newUndoTx(tx *bolt.Tx) undoTx {
	return undoTx{
		undo:    tx.Bucket(bucketUndo),
		records: tx.Bucket(bucketUndoRecords),
		acked:   tx.Bucket(bucketUndoAcked),
		meta:    tx.Bucket(bucketMeta),
	}
}

// empty reports whether no item is pending.
func (u undoTx) empty() bool {
	k, _ := u.records.Cursor().First()
	return k == nil
}

func itemKey(seq uint64, partition, id string) []byte {
	return append(u64(seq), join(partition, id)...)
}

func recordItemKey(partition, id string, seq uint64) []byte {
	return append(append(join(partition, id), 0), u64(seq)...)
}

// keepUndo notes, before the command's put of partition/id, what it
// replaces and the version it writes, in the command's entry. A command
// that puts the same record twice keeps what was there before its first
// put.
func (t *localTx) keepUndo(partition, id string, wrote record.Version) error {
	if partition != t.uai {
		return nil
	}
	u := newUndoTx(t.records.Tx())
	key := itemKey(t.cmd.Seq, partition, id)
	it := undoItem{wrote: wrote}
	if v := u.undo.Get(key); v != nil {
		prev, err := decodeUndoItem(v)
		if err != nil {
			return err
		}
		it.hadPrev, it.prev = prev.hadPrev, prev.prev
	} else if v := t.records.Get(join(partition, id)); v != nil {
		it.hadPrev, it.prev = true, bytes.Clone(v)
	}
	if u.undo.Get(u64(t.cmd.Seq)) == nil {
		if err := u.undo.Put(u64(t.cmd.Seq), undoHeader{}.encode()); err != nil {
			return err
		}
	}
	if err := u.undo.Put(key, it.encode()); err != nil {
		return err
	}
	return u.records.Put(recordItemKey(partition, id, t.cmd.Seq), nil)
}

// recordSeqs returns the sequences of the commands with a pending item of
// partition/id, oldest first.
func (u undoTx) recordSeqs(partition, id string) ([]uint64, error) {
	prefix := append(join(partition, id), 0)
	var seqs []uint64
	c := u.records.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		seq, ok := readU64(k[len(prefix):])
		if !ok {
			return nil, fmt.Errorf("%w: undo record key %q", ErrCorrupt, k)
		}
		seqs = append(seqs, seq)
	}
	return seqs, nil
}

// dropRecord drops every pending item of partition/id: central's version
// of the record has just been stored.
func (u undoTx) dropRecord(partition, id string) error {
	seqs, err := u.recordSeqs(partition, id)
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		if err := u.dropItem(seq, partition, id); err != nil {
			return err
		}
	}
	return nil
}

// dropItem drops one item, and its entry if it was the last.
func (u undoTx) dropItem(seq uint64, partition, id string) error {
	if err := u.undo.Delete(itemKey(seq, partition, id)); err != nil {
		return err
	}
	if err := u.records.Delete(recordItemKey(partition, id, seq)); err != nil {
		return err
	}
	prefix := u64(seq)
	c := u.undo.Cursor()
	k, _ := c.Seek(prefix)
	if bytes.Equal(k, prefix) {
		k, _ = c.Next()
	}
	if k != nil && bytes.HasPrefix(k, prefix) {
		return nil // other items left
	}
	return u.dropEntry(seq)
}

// entryItems returns the items of seq's entry by the record's partition
// and id (joined), and its header.
func (u undoTx) entryItems(seq uint64) (undoHeader, [][]byte, []undoItem, error) {
	prefix := u64(seq)
	var h undoHeader
	var keys [][]byte
	var items []undoItem
	c := u.undo.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == len(prefix) {
			var err error
			if h, err = decodeUndoHeader(v); err != nil {
				return h, nil, nil, err
			}
			continue
		}
		it, err := decodeUndoItem(v)
		if err != nil {
			return h, nil, nil, err
		}
		keys = append(keys, bytes.Clone(k[len(prefix):]))
		items = append(items, it)
	}
	return h, keys, items, nil
}

// dropEntry drops seq's entry and all its items.
func (u undoTx) dropEntry(seq uint64) error {
	h, keys, _, err := u.entryItems(seq)
	if err != nil {
		return err
	}
	for _, k := range keys {
		partition, id, _ := bytes.Cut(k, []byte{0})
		if err := u.records.Delete(recordItemKey(string(partition), string(id), seq)); err != nil {
			return err
		}
		if err := u.undo.Delete(append(u64(seq), k...)); err != nil {
			return err
		}
	}
	if h.ackedAt != 0 {
		if err := u.acked.Delete(append(u64(uint64(h.ackedAt)), u64(seq)...)); err != nil {
			return err
		}
	}
	return u.undo.Delete(u64(seq))
}

// revert takes back what is left of command seq's writes (see the top of
// this file) and drops its entry.
func (u undoTx) revert(rd *reader, seq uint64) error {
	_, keys, items, err := u.entryItems(seq)
	if err != nil {
		return err
	}
	for i, k := range keys {
		p, id, _ := bytes.Cut(k, []byte{0})
		partition, it := string(p), items[i]
		later, err := u.recordSeqs(partition, string(id))
		if err != nil {
			return err
		}
		if next := firstAfter(later, seq); next != 0 {
			// A later local command wrote the record again: it inherits
			// what was there before this one.
			if err := u.handDown(next, partition, string(id), it); err != nil {
				return err
			}
			continue
		}
		cur, ok, err := rd.Get(partition, string(id))
		if err != nil {
			return err
		}
		if !ok || cur.Version != it.wrote {
			continue // something newer: leave it
		}
		if !it.hadPrev {
			if err := rd.remove(cur); err != nil {
				return err
			}
			continue
		}
		prev, err := record.DecodeRecord(it.prev)
		if err != nil {
			return fmt.Errorf("%w: undo of %s: %w", ErrCorrupt, id, err)
		}
		if err := rd.put(prev, cur, true); err != nil {
			return err
		}
	}
	return u.dropEntry(seq)
}

// firstAfter returns the first of seqs above seq, 0 if none.
func firstAfter(seqs []uint64, seq uint64) uint64 {
	for _, s := range seqs {
		if s > seq {
			return s
		}
	}
	return 0
}

// handDown gives command next's item of partition/id the previous record
// of a reverted item, when next wrote over what the reverted command
// wrote.
func (u undoTx) handDown(next uint64, partition, id string, reverted undoItem) error {
	key := itemKey(next, partition, id)
	v := u.undo.Get(key)
	if v == nil {
		return fmt.Errorf("%w: undo index names missing item %d %s", ErrCorrupt, next, id)
	}
	it, err := decodeUndoItem(v)
	if err != nil {
		return err
	}
	if !it.hadPrev {
		return nil
	}
	over, err := record.DecodeRecordHead(it.prev)
	if err != nil || over.Version != reverted.wrote {
		return nil // not written over the reverted command's version: keep
	}
	it.hadPrev, it.prev = reverted.hadPrev, reverted.prev
	return u.undo.Put(key, it.encode())
}

// noticeSeq returns the outbox sequence of the command of this store that
// a feed record says central refused, or false.
func (s *Store) noticeSeq(r record.Record) (uint64, bool) {
	if r.Kind != record.KindNotice || r.Deleted || r.Partition != s.uai {
		return 0, false
	}
	var n record.Notice
	if json.Unmarshal(r.Body, &n) != nil || n.Origin != s.uai || n.Epoch != s.epoch || n.Seq == 0 {
		return 0, false
	}
	return n.Seq, true
}

// markAcked stamps the entries of the commands acknowledged up to hwm with
// now and the lycée partition's checkpoint.
func (u undoTx) markAcked(tx *bolt.Tx, uai string, hwm uint64, now time.Time) error {
	from, _ := readU64(u.meta.Get(metaUndoAckedUpTo))
	if hwm <= from {
		return nil
	}
	cp, _ := readU64(tx.Bucket(bucketCheckpoints).Get([]byte(uai)))
	h := undoHeader{ackedAt: now.UnixMilli(), checkpoint: cp}
	var seqs []uint64
	c := u.undo.Cursor()
	for k, _ := c.Seek(u64(from + 1)); k != nil; k, _ = c.Next() {
		if len(k) != 8 {
			continue
		}
		seq, _ := readU64(k)
		if seq > hwm {
			break
		}
		seqs = append(seqs, seq)
	}
	for _, seq := range seqs {
		if err := u.undo.Put(u64(seq), h.encode()); err != nil {
			return err
		}
		if err := u.acked.Put(append(u64(uint64(h.ackedAt)), u64(seq)...), nil); err != nil {
			return err
		}
	}
	return u.meta.Put(metaUndoAckedUpTo, u64(hwm))
}

// sweep drops the entries acknowledged at least undoRetention before now
// whose stamped checkpoint the lycée partition's feed has moved past.
func (u undoTx) sweep(checkpoint uint64, now time.Time) error {
	cutoff := now.Add(-undoRetention).UnixMilli()
	var old []uint64
	c := u.acked.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != 16 {
			return fmt.Errorf("%w: undo acked key %x", ErrCorrupt, k)
		}
		if int64(binary.BigEndian.Uint64(k)) > cutoff {
			break
		}
		seq := binary.BigEndian.Uint64(k[8:])
		h, err := decodeUndoHeader(u.undo.Get(u64(seq)))
		if err != nil {
			return err
		}
		if checkpoint > h.checkpoint {
			old = append(old, seq)
		}
	}
	for _, seq := range old {
		if err := u.dropEntry(seq); err != nil {
			return err
		}
	}
	return nil
}

// UndoPending returns the outbox sequences of the local commands whose
// undo entries are still kept, oldest first (for tests and diagnostics).
func (s *Store) UndoPending() ([]uint64, error) {
	var seqs []uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUndo).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) == 8 {
				seq, _ := readU64(k)
				seqs = append(seqs, seq)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("edge: read undo entries: %w", err)
	}
	return seqs, nil
}
