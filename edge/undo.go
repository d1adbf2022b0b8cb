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
//     already made): nothing comes back for its records. AckOutbox notes
//     each acknowledged batch once, as a range of sequences with the time
//     and the lycée's feed checkpoint — one write per batch, not two per
//     command, and none when the feed has already settled the batch's
//     entries, as it mostly has; the entries of a range acknowledged for
//     undoRetention, once the checkpoint has moved past the one noted, are
//     dropped when the feed next applies changes of the lycée's partition.
//     Central writes a refusal notice in the same raft entry as it
//     acknowledges the command, so by then the notice would long have
//     been applied — unless the edge, cut off just after the
//     acknowledgement, comes back more than a day later and catches up on
//     more than one page of changes: the notice then arrives after its
//     entry is gone and the refused records stay (the problem this file
//     solves, in that rare case only).
//
// Only the lycée's partition is undone: its audit trail and usage counts
// are the edge's own record of what happened there, which central never
// sends back.
//
// Layout:
//
//	undo:         seq partition \0 id  -> item: flags (1 = had a previous record) | version written (3 uvarints) | previous bytes
//	undo.records: partition \0 id \0 seq -> nothing (the pending items of a record, oldest command first)
//	undo.acked:   ackedAt hwm          -> from | checkpoint (a batch acknowledged: the entries of sequences in (from, hwm])
//
// seq, hwm, from, checkpoint and ackedAt (unix ms) are big-endian uint64;
// an entry is its items (there is no entry without items). meta's
// undoAckedUpTo is the highest sequence AckOutbox has noted.
//
// Files written before the acknowledgements were noted by range (layout 1)
// also hold, and are read as they are until their entries go:
//
//	undo:         seq                  -> header: ackedAt (unix ms, 0 = not acknowledged) | checkpoint at the ack
//	undo.acked:   ackedAt seq          -> nothing (an entry acknowledged then)
//
// A layout-1 entry acknowledged before the upgrade keeps its header and
// its acked key until it goes; one acknowledged after it is covered by a
// range like any other (its sequence is above undoAckedUpTo).

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
	b := make([]byte, 1, 1+3*binary.MaxVarintLen64+len(it.prev))
	b[0] = flags
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

// legacyHeader is the header of a layout-1 entry (see Layout above).
type legacyHeader struct {
	ackedAt    int64  // unix ms; 0 if the entry was not acknowledged before the upgrade
	checkpoint uint64 // the lycée partition's checkpoint then
}

func decodeLegacyHeader(v []byte) (legacyHeader, error) {
	if len(v) != 16 {
		return legacyHeader{}, fmt.Errorf("%w: undo header", ErrCorrupt)
	}
	return legacyHeader{ackedAt: int64(binary.BigEndian.Uint64(v)), checkpoint: binary.BigEndian.Uint64(v[8:])}, nil
}

// ackedRange is a batch of commands acknowledged together: the entries of
// the sequences in (from, hwm], acknowledged at ackedAt when the lycée's
// feed stood at checkpoint.
type ackedRange struct {
	ackedAt    int64
	from, hwm  uint64
	checkpoint uint64
}

func (r ackedRange) key() []byte {
	return binary.BigEndian.AppendUint64(u64(uint64(r.ackedAt)), r.hwm)
}

func (r ackedRange) value() []byte {
	return binary.BigEndian.AppendUint64(u64(r.from), r.checkpoint)
}

// undoTx is the undo state in one write transaction.
type undoTx struct {
	undo, records, acked, meta *bolt.Bucket
	sealer                     *sealer // undo's values are sealed (seal.go's value, putValue)
}

func newUndoTx(tx *bolt.Tx, sl *sealer) undoTx {
	return undoTx{
		undo:    tx.Bucket(bucketUndo),
		records: tx.Bucket(bucketUndoRecords),
		acked:   tx.Bucket(bucketUndoAcked),
		meta:    tx.Bucket(bucketMeta),
		sealer:  sl,
	}
}

// empty reports whether no item is pending.
func (u undoTx) empty() bool {
	k, _ := u.records.Cursor().First()
	return k == nil
}

func itemKey(seq uint64, partition, id string) []byte {
	k := make([]byte, 8, 8+len(partition)+1+len(id))
	binary.BigEndian.PutUint64(k, seq)
	k = append(k, partition...)
	k = append(k, 0)
	return append(k, id...)
}

func recordItemKey(partition, id string, seq uint64) []byte {
	k := make([]byte, 0, len(partition)+len(id)+2+8)
	k = append(k, partition...)
	k = append(k, 0)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// keepUndo notes, before the command's put of partition/id, what it
// replaces and the version it writes, in the command's entry. A command
// that puts the same record twice keeps what was there before its first
// put.
func (t *localTx) keepUndo(partition, id string, wrote record.Version) error {
	if partition != t.uai {
		return nil
	}
	u := newUndoTx(t.records.Tx(), t.sealer)
	key := itemKey(t.cmd.Seq, partition, id)
	it := undoItem{wrote: wrote}
	v, err := u.value(key)
	if err != nil {
		return err
	}
	if v != nil {
		prev, err := decodeUndoItem(v)
		if err != nil {
			return err
		}
		it.hadPrev, it.prev = prev.hadPrev, prev.prev
	} else {
		if v, err = t.recordBytes(join(partition, id)); err != nil {
			return err
		}
		it.hadPrev, it.prev = v != nil, v // copied by encode
	}
	if err := u.putValue(key, it.encode()); err != nil {
		return err
	}
	return u.records.Put(recordItemKey(partition, id, t.cmd.Seq), nil)
}

// recordSeqs returns the sequences of the commands with a pending item of
// partition/id, oldest first.
func (u undoTx) recordSeqs(partition, id string) ([]uint64, error) {
	prefix := recordItemKey(partition, id, 0)
	prefix = prefix[:len(prefix)-8]
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

// dropItem drops one item, and what is left of its entry if it was the
// last: a layout-1 header.
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
	header := bytes.Equal(k, prefix)
	if header {
		k, _ = c.Next()
	}
	if k != nil && bytes.HasPrefix(k, prefix) {
		return nil // other items left
	}
	if header {
		return u.dropEntry(seq)
	}
	return nil
}

// entryItems returns the items of seq's entry by the record's partition
// and id (joined), and its layout-1 header if it has one.
func (u undoTx) entryItems(seq uint64) (*legacyHeader, [][]byte, []undoItem, error) {
	prefix := u64(seq)
	var h *legacyHeader
	var keys [][]byte
	var items []undoItem
	c := u.undo.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		v, err := u.sealer.open(bucketUndo, k, v)
		if err != nil {
			return nil, nil, nil, err
		}
		if len(k) == len(prefix) {
			lh, err := decodeLegacyHeader(v)
			if err != nil {
				return nil, nil, nil, err
			}
			h = &lh
			continue
		}
		it, err := decodeUndoItem(v)
		if err != nil {
			return nil, nil, nil, err
		}
		keys = append(keys, bytes.Clone(k[len(prefix):]))
		items = append(items, it)
	}
	return h, keys, items, nil
}

// dropEntry drops seq's entry: all its items, and its layout-1 header and
// acked key if it has them.
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
	if h == nil {
		return nil
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
	v, err := u.value(key) // seal.go
	if err != nil {
		return err
	}
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
	return u.putValue(key, it.encode())
}

// noticeSeq returns the outbox sequence of the command of this store that
// a feed record says central refused, or false.
func (s *Store) noticeSeq(r record.Record) (uint64, bool) {
	if r.Kind != record.KindNotice || r.Deleted || r.Partition != s.uai {
		return 0, false
	}
	var n record.Notice
	if json.Unmarshal(r.Body, &n) != nil || n.Origin != s.uai || n.Epoch == 0 || n.Epoch > s.epoch || n.Seq == 0 {
		return 0, false
	}
	return n.Seq, true
}

// markAcked notes that the commands up to hwm are acknowledged, at now
// and the lycée partition's checkpoint: one range for the whole batch,
// and none when no entry of the batch is left (the feed brought back
// central's versions of its records first, as it mostly does).
func (u undoTx) markAcked(tx *bolt.Tx, uai string, hwm uint64, now time.Time) error {
	from, _ := readU64(u.meta.Get(metaUndoAckedUpTo))
	if hwm <= from {
		return nil
	}
	if k, _ := u.undo.Cursor().Seek(u64(from + 1)); len(k) >= 8 && binary.BigEndian.Uint64(k) <= hwm {
		cp, _ := readU64(tx.Bucket(bucketCheckpoints).Get([]byte(uai)))
		r := ackedRange{ackedAt: now.UnixMilli(), from: from, hwm: hwm, checkpoint: cp}
		if err := u.acked.Put(r.key(), r.value()); err != nil {
			return err
		}
	}
	return u.meta.Put(metaUndoAckedUpTo, u64(hwm))
}

// sweep drops the entries acknowledged at least undoRetention before now
// whose noted checkpoint the lycée partition's feed has moved past.
func (u undoTx) sweep(checkpoint uint64, now time.Time) error {
	cutoff := now.Add(-undoRetention).UnixMilli()
	var old []uint64      // entries to drop
	var done []ackedRange // ranges whose entries go
	c := u.acked.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 16 || (len(v) != 0 && len(v) != 16) {
			return fmt.Errorf("%w: undo acked key %x", ErrCorrupt, k)
		}
		if int64(binary.BigEndian.Uint64(k)) > cutoff {
			break
		}
		if len(v) == 0 { // layout 1: one entry, its header holds the checkpoint
			seq := binary.BigEndian.Uint64(k[8:])
			hv, err := u.value(u64(seq)) // seal.go
			if err != nil {
				return err
			}
			h, err := decodeLegacyHeader(hv)
			if err != nil {
				return err
			}
			if checkpoint > h.checkpoint {
				old = append(old, seq)
			}
			continue
		}
		r := ackedRange{ackedAt: int64(binary.BigEndian.Uint64(k)), hwm: binary.BigEndian.Uint64(k[8:]),
			from: binary.BigEndian.Uint64(v), checkpoint: binary.BigEndian.Uint64(v[8:])}
		if checkpoint > r.checkpoint {
			done = append(done, r)
		}
	}
	for _, r := range done {
		uc := u.undo.Cursor()
		for k, _ := uc.Seek(u64(r.from + 1)); k != nil; {
			seq, ok := readU64(k[:min(len(k), 8)])
			if !ok {
				return fmt.Errorf("%w: undo key %x", ErrCorrupt, k)
			}
			if seq > r.hwm {
				break
			}
			old = append(old, seq)
			k, _ = uc.Seek(u64(seq + 1))
		}
		if err := u.acked.Delete(r.key()); err != nil {
			return err
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
		for k, _ := c.First(); k != nil; {
			seq, ok := readU64(k[:min(len(k), 8)])
			if !ok {
				return fmt.Errorf("%w: undo key %x", ErrCorrupt, k)
			}
			seqs = append(seqs, seq)
			k, _ = c.Seek(u64(seq + 1))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("edge: read undo entries: %w", err)
	}
	return seqs, nil
}
