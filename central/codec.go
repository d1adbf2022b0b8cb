package central

import (
	"encoding/binary"
	"fmt"

	"atrium/record"
)

// Records in the state machine and entries in the raft log use a small
// binary encoding: decoding at central must not dominate the cost of the
// changes feed. Each starts with a format version byte (a raft entry with
// its type byte, then the entry's format byte; each command inside an
// entry with its own); fields are uvarints, varints, single bytes and
// uvarint-length-prefixed bytes, in a fixed order. A decoder refuses a
// format it does not know with ErrCorrupt. Appending or changing fields
// needs a new format version, and old versions must keep decoding
// (testdata/ pins them).
const (
	recordFormat  = 1 // stored record (parts/<partition>/r)
	commandFormat = 1 // each command of a raft entry
	entryFormat   = 1 // every raft entry type, after its type byte
	tokenFormat   = 1 // stored enrolment token (tokens)
	secretsFormat = 1 // stored cluster secrets (meta/secrets)
)

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) byte(c byte)      { e.b = append(e.b, c) }

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or bad %s", ErrCorrupt, what)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// bytes returns a copy (nil for empty), never aliasing the input buffer,
// which may belong to bbolt's mmap.
func (d *decoder) bytes(what string) []byte {
	p := d.raw(what)
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) str(what string) string { return string(d.raw(what)) }

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a slice length and checks it is plausible for the bytes left
// (each element needs at least min bytes), so corrupt input cannot make the
// decoder allocate without bound.
func (d *decoder) count(what string, min int) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail(what)
		return 0
	}
	return int(n)
}

func (d *decoder) end(what string) error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes after %s", ErrCorrupt, len(d.b), what)
	}
	return d.err
}

func appendRecord(b []byte, r record.Record) []byte {
	e := encoder{b: b}
	e.byte(recordFormat)
	e.str(r.Partition)
	e.str(r.ID)
	e.str(r.Kind)
	e.str(r.Key)
	e.uvarint(r.Version.Central)
	e.uvarint(r.Version.Edge)
	e.uvarint(r.Version.HLC)
	e.uvarint(r.Seq)
	var flags byte
	if r.Deleted {
		flags |= 1
	}
	e.byte(flags)
	e.bytes(r.Body)
	return e.b
}

// recordSize is the length of r's encoding, or a little more.
func recordSize(r record.Record) int {
	return 2 + len(r.Partition) + len(r.ID) + len(r.Kind) + len(r.Key) + len(r.Body) + 10*binary.MaxVarintLen64
}

func decodeRecord(b []byte) (record.Record, error) { return decodeRecordBody(b, true) }

// decodeRecordHead decodes a record but leaves its Body nil, sparing a
// copy where only the indexed fields and the version matter.
func decodeRecordHead(b []byte) (record.Record, error) { return decodeRecordBody(b, false) }

func decodeRecordBody(b []byte, withBody bool) (record.Record, error) {
	d := decoder{b: b}
	var r record.Record
	if v := d.byte("record format"); d.err == nil && v != recordFormat {
		return r, fmt.Errorf("%w: record format %d", ErrCorrupt, v)
	}
	r.Partition = d.str("partition")
	r.ID = d.str("id")
	r.Kind = d.str("kind")
	r.Key = d.str("key")
	r.Version.Central = d.uvarint("version")
	r.Version.Edge = d.uvarint("version")
	r.Version.HLC = d.uvarint("version")
	r.Seq = d.uvarint("seq")
	flags := d.byte("flags")
	if d.err == nil && flags&^1 != 0 {
		return r, fmt.Errorf("%w: record flags %#x", ErrCorrupt, flags)
	}
	r.Deleted = flags&1 != 0
	if withBody {
		r.Body = d.bytes("body")
	} else {
		d.raw("body")
	}
	return r, d.end("record")
}

func (e *encoder) command(c record.Command) {
	e.byte(commandFormat)
	e.str(c.Origin)
	e.uvarint(c.Epoch)
	e.uvarint(c.Seq)
	e.str(c.User)
	e.str(c.Op)
	e.str(c.Partition)
	e.bytes(c.Args)
	e.uvarint(c.Base.Central)
	e.uvarint(c.Base.Edge)
	e.uvarint(c.Base.HLC)
	e.varint(c.Time)
}

func (d *decoder) command() record.Command {
	var c record.Command
	d.format("command", commandFormat)
	if d.err != nil {
		return c
	}
	c.Origin = d.str("origin")
	c.Epoch = d.uvarint("epoch")
	c.Seq = d.uvarint("seq")
	c.User = d.str("user")
	c.Op = d.str("op")
	c.Partition = d.str("partition")
	c.Args = d.bytes("args")
	c.Base.Central = d.uvarint("base")
	c.Base.Edge = d.uvarint("base")
	c.Base.HLC = d.uvarint("base")
	c.Time = d.varint("time")
	return c
}

// format reads a format version byte and refuses any but want.
func (d *decoder) format(what string, want byte) {
	if v := d.byte(what + " format"); d.err == nil && v != want {
		d.err = fmt.Errorf("%w: %s format %d", ErrCorrupt, what, v)
	}
}

// minCommandLen is the fewest bytes an encoded command takes.
const minCommandLen = 13
