package binenc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// NoLimit is the limit of a field bounded only by the remaining input.
const NoLimit = math.MaxInt

// ErrInvalid is wrapped by every error of a Decoder that the input itself
// causes (truncated, non-minimal, over a limit, trailing bytes). Callers
// usually wrap it in turn with their own sentinel.
var ErrInvalid = errors.New("invalid encoding")

// AppendUvarint appends the uvarint of v.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendVarint appends the zig-zag varint of v.
func AppendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// AppendString appends s behind the uvarint of its length.
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// AppendBytes appends p behind the uvarint of its length.
func AppendBytes(b []byte, p []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(p))), p...)
}

// AppendBool appends 1 for true, 0 for false.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// UvarintLen is the length of the (minimal) uvarint of v.
func UvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// VarintLen is the length of the (minimal) zig-zag varint of v.
func VarintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return UvarintLen(u)
}

// Decoder reads the fields of one value in order. The first failure sticks:
// later reads return zero values and Err (or End) reports it, so decoding
// code reads straight through and checks once.
type Decoder struct {
	b   []byte
	n   int // length of the whole input, for offsets in errors
	err error
}

// NewDecoder returns a Decoder reading b. What it returns from Raw aliases
// b; everything else is a copy.
func NewDecoder(b []byte) Decoder { return Decoder{b: b, n: len(b)} }

// Err returns the first failure, or nil.
func (d *Decoder) Err() error { return d.err }

// Len returns the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.b) }

// Fail records a failure of the caller's own (an unknown format or flag),
// unless one is recorded already; errors.Is(d.Err(), ErrInvalid) holds.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrInvalid, fmt.Sprintf(format, args...), d.n-len(d.b))
	}
	d.b = nil
}

// End returns the first failure, or an error if any input is left.
func (d *Decoder) End() error {
	if d.err == nil && len(d.b) != 0 {
		d.Fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.Fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// Bool reads a byte that must be 0 or 1.
func (d *Decoder) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Fail("bad bool")
		return false
	}
}

// Uvarint reads a minimally encoded uvarint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// A longer encoding than the minimal one ends with a zero byte.
	if n <= 0 || n > 1 && d.b[n-1] == 0 {
		d.Fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a minimally encoded zig-zag varint.
func (d *Decoder) Varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || n > 1 && d.b[n-1] == 0 {
		d.Fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Raw reads a length-prefixed field of at most limit bytes and returns it
// without copying: it aliases the input.
func (d *Decoder) Raw(limit int) []byte {
	n := d.Uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) {
		d.Fail("field of %d bytes exceeds %d", n, limit)
		return nil
	}
	if n > uint64(len(d.b)) {
		d.Fail("truncated field of %d bytes", n)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// String reads a length-prefixed string of at most limit bytes.
func (d *Decoder) String(limit int) string { return string(d.Raw(limit)) }

// Bytes reads a length-prefixed field of at most limit bytes and returns a
// copy (nil when empty), so that the value decoded does not pin or alias
// the input (a frame's buffer, bbolt's memory map).
func (d *Decoder) Bytes(limit int) []byte {
	p := d.Raw(limit)
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

// Count reads an item count of at most limit and checks that the remaining
// input can hold that many items of at least minSize bytes each, so that a
// forged count cannot make the caller allocate.
func (d *Decoder) Count(minSize, limit int) int {
	n := d.Uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(limit) || n > uint64(len(d.b)/max(minSize, 1)) {
		d.Fail("count %d exceeds what %d bytes can hold", n, len(d.b))
		return 0
	}
	return int(n)
}
