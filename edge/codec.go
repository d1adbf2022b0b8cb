package edge

import (
	"encoding/binary"
	"fmt"

	"atrium/record"
)

// The store's values use a compact binary encoding rather than JSON: catch-up
// after an outage applies hundreds of thousands of records and JSON decoding
// of every old value dominated the cost. Each value starts with its format
// number; a new layout gets a new number and the old one stays decodable.
// Strings and byte slices are length-prefixed (uvarint), integers are
// uvarints (command time: zig-zag varint).
const (
	recordFormat1  = 1
	commandFormat1 = 1
)

const flagDeleted = 1

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendVersion(b []byte, v record.Version) []byte {
	b = binary.AppendUvarint(b, v.Central)
	b = binary.AppendUvarint(b, v.Edge)
	return binary.AppendUvarint(b, v.HLC)
}

// encodeRecord appends the stored form of r to b.
func encodeRecord(b []byte, r record.Record) []byte {
	if b == nil {
		b = make([]byte, 0, 1+len(r.Partition)+len(r.ID)+len(r.Kind)+len(r.Key)+len(r.Body)+8*binary.MaxVarintLen64)
	}
	b = append(b, recordFormat1)
	b = appendString(b, r.Partition)
	b = appendString(b, r.ID)
	b = appendString(b, r.Kind)
	b = appendString(b, r.Key)
	b = appendVersion(b, r.Version)
	b = binary.AppendUvarint(b, r.Seq)
	var flags byte
	if r.Deleted {
		flags |= flagDeleted
	}
	b = append(b, flags)
	return appendBytes(b, r.Body)
}

// encodeCommand appends the stored form of c to b.
func encodeCommand(b []byte, c record.Command) []byte {
	b = append(b, commandFormat1)
	b = appendString(b, c.Origin)
	b = binary.AppendUvarint(b, c.Epoch)
	b = binary.AppendUvarint(b, c.Seq)
	b = appendString(b, c.User)
	b = appendString(b, c.Op)
	b = appendString(b, c.Partition)
	b = appendBytes(b, c.Args)
	b = appendVersion(b, c.Base)
	return binary.AppendVarint(b, c.Time)
}

// decoder reads a value; the first error sticks and later reads return zero
// values. Everything it returns is a copy: bbolt's memory is valid only
// inside its transaction.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", ErrCorrupt, what)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
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
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string(what string) string { return string(d.raw(what)) }

func (d *decoder) bytes(what string) []byte {
	p := d.raw(what)
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) version(what string) record.Version {
	return record.Version{Central: d.uvarint(what), Edge: d.uvarint(what), HLC: d.uvarint(what)}
}

func (d *decoder) end(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes after %s", ErrCorrupt, len(d.b), what)
	}
	return d.err
}

// decodeRecord decodes a value written by encodeRecord.
func decodeRecord(b []byte) (record.Record, error) { return decodeRecordBody(b, true) }

// decodeRecordHead decodes a record but leaves its Body nil, sparing a copy
// where only the indexed fields matter.
func decodeRecordHead(b []byte) (record.Record, error) { return decodeRecordBody(b, false) }

func decodeRecordBody(b []byte, withBody bool) (record.Record, error) {
	d := decoder{b: b}
	if f := d.byte("record format"); d.err == nil && f != recordFormat1 {
		return record.Record{}, fmt.Errorf("%w: unknown record format %d", ErrCorrupt, f)
	}
	var r record.Record
	r.Partition = d.string("partition")
	r.ID = d.string("id")
	r.Kind = d.string("kind")
	r.Key = d.string("key")
	r.Version = d.version("version")
	r.Seq = d.uvarint("seq")
	flags := d.byte("flags")
	if d.err == nil && flags&^flagDeleted != 0 {
		return record.Record{}, fmt.Errorf("%w: unknown record flags %#x", ErrCorrupt, flags)
	}
	r.Deleted = flags&flagDeleted != 0
	if withBody {
		r.Body = d.bytes("body")
	} else {
		d.raw("body")
	}
	if err := d.end("record"); err != nil {
		return record.Record{}, err
	}
	return r, nil
}

// decodeCommand decodes a value written by encodeCommand.
func decodeCommand(b []byte) (record.Command, error) {
	d := decoder{b: b}
	if f := d.byte("command format"); d.err == nil && f != commandFormat1 {
		return record.Command{}, fmt.Errorf("%w: unknown command format %d", ErrCorrupt, f)
	}
	var c record.Command
	c.Origin = d.string("origin")
	c.Epoch = d.uvarint("epoch")
	c.Seq = d.uvarint("seq")
	c.User = d.string("user")
	c.Op = d.string("op")
	c.Partition = d.string("partition")
	c.Args = d.bytes("args")
	c.Base = d.version("base")
	c.Time = d.varint("time")
	if err := d.end("command"); err != nil {
		return record.Command{}, err
	}
	return c, nil
}
