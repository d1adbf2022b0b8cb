package record

import (
	"encoding/binary"
	"fmt"
	"slices"

	"atrium/internal/binenc"
)

// Records and commands are stored in a small binary encoding, shared by
// central (its state file, its raft log) and the edges (their replica,
// their outbox): catch-up after an outage applies hundreds of thousands of
// records and decoding must not dominate it. Each value starts with its
// format version byte; fields follow in a fixed order as uvarints, a
// zig-zag varint (command time), a flags byte and uvarint-length-prefixed
// strings and bytes (internal/binenc). Decoders are strict: a format or a
// flag they do not know, a truncated or non-minimal field and trailing
// bytes are ErrCorrupt, so every value has exactly one encoding. Changing
// a layout needs a new format version, and old versions keep decoding
// (testdata/ pins them).
//
// Record, format 1: partition, id, kind, key (strings), version central,
// edge, hlc, seq (uvarints), flags (bit 0: deleted), body (bytes).
//
// Command, format 1: origin (string), epoch, seq (uvarints), user, op,
// partition (strings), args (bytes), base central, edge, hlc (uvarints),
// time (varint).
const (
	recordFormat  = 1
	commandFormat = 1
)

const (
	flagDeleted  = 1 << 0
	recordFlags  = flagDeleted
	maxFieldsLen = 10 * binary.MaxVarintLen64 // length prefixes and integers of one value, or more
)

// AppendRecord appends the encoding of r to b.
func AppendRecord(b []byte, r Record) []byte {
	b = slices.Grow(b, 2+len(r.Partition)+len(r.ID)+len(r.Kind)+len(r.Key)+len(r.Body)+maxFieldsLen)
	b = append(b, recordFormat)
	b = binenc.AppendString(b, r.Partition)
	b = binenc.AppendString(b, r.ID)
	b = binenc.AppendString(b, r.Kind)
	b = binenc.AppendString(b, r.Key)
	b = binenc.AppendUvarint(b, r.Version.Central)
	b = binenc.AppendUvarint(b, r.Version.Edge)
	b = binenc.AppendUvarint(b, r.Version.HLC)
	b = binenc.AppendUvarint(b, r.Seq)
	var flags byte
	if r.Deleted {
		flags |= flagDeleted
	}
	b = append(b, flags)
	return binenc.AppendBytes(b, r.Body)
}

// DecodeRecord decodes a value written by AppendRecord. The record owns its
// memory: nothing aliases b, which may belong to bbolt's memory map.
func DecodeRecord(b []byte) (Record, error) { return decodeRecord(b, true) }

// DecodeRecordHead decodes a value written by AppendRecord but leaves Body
// nil, sparing its copy where only the indexed fields, the version and the
// sequence number matter (index maintenance). It checks the whole value as
// DecodeRecord does.
func DecodeRecordHead(b []byte) (Record, error) { return decodeRecord(b, false) }

func decodeRecord(b []byte, withBody bool) (Record, error) {
	d := binenc.NewDecoder(b)
	if f := d.Byte(); f != recordFormat && d.Err() == nil {
		d.Fail("unknown record format %d", f)
	}
	var r Record
	r.Partition = d.String(binenc.NoLimit)
	r.ID = d.String(binenc.NoLimit)
	r.Kind = d.String(binenc.NoLimit)
	r.Key = d.String(binenc.NoLimit)
	r.Version.Central = d.Uvarint()
	r.Version.Edge = d.Uvarint()
	r.Version.HLC = d.Uvarint()
	r.Seq = d.Uvarint()
	if flags := d.Byte(); flags&^recordFlags != 0 {
		d.Fail("unknown record flags %#x", flags)
	} else {
		r.Deleted = flags&flagDeleted != 0
	}
	if withBody {
		r.Body = d.Bytes(binenc.NoLimit)
	} else {
		d.Raw(binenc.NoLimit)
	}
	if err := d.End(); err != nil {
		return Record{}, fmt.Errorf("decode record: %w: %w", ErrCorrupt, err)
	}
	return r, nil
}

// AppendCommand appends the encoding of c to b.
func AppendCommand(b []byte, c Command) []byte {
	b = slices.Grow(b, CommandSizeBound(c))
	b = append(b, commandFormat)
	b = binenc.AppendString(b, c.Origin)
	b = binenc.AppendUvarint(b, c.Epoch)
	b = binenc.AppendUvarint(b, c.Seq)
	b = binenc.AppendString(b, c.User)
	b = binenc.AppendString(b, c.Op)
	b = binenc.AppendString(b, c.Partition)
	b = binenc.AppendBytes(b, c.Args)
	b = binenc.AppendUvarint(b, c.Base.Central)
	b = binenc.AppendUvarint(b, c.Base.Edge)
	b = binenc.AppendUvarint(b, c.Base.HLC)
	return binenc.AppendVarint(b, c.Time)
}

// CommandSizeBound is at least the length of c's encoding by AppendCommand.
func CommandSizeBound(c Command) int {
	return 1 + len(c.Origin) + len(c.User) + len(c.Op) + len(c.Partition) + len(c.Args) + maxFieldsLen
}

// DecodeCommand decodes a value written by AppendCommand. The command owns
// its memory: nothing aliases b.
func DecodeCommand(b []byte) (Command, error) {
	d := binenc.NewDecoder(b)
	if f := d.Byte(); f != commandFormat && d.Err() == nil {
		d.Fail("unknown command format %d", f)
	}
	var c Command
	c.Origin = d.String(binenc.NoLimit)
	c.Epoch = d.Uvarint()
	c.Seq = d.Uvarint()
	c.User = d.String(binenc.NoLimit)
	c.Op = d.String(binenc.NoLimit)
	c.Partition = d.String(binenc.NoLimit)
	c.Args = d.Bytes(binenc.NoLimit)
	c.Base.Central = d.Uvarint()
	c.Base.Edge = d.Uvarint()
	c.Base.HLC = d.Uvarint()
	c.Time = d.Varint()
	if err := d.End(); err != nil {
		return Command{}, fmt.Errorf("decode command: %w: %w", ErrCorrupt, err)
	}
	return c, nil
}
