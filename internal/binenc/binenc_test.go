package binenc

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestDecoderRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		read func(d *Decoder)
	}{
		{"empty byte", nil, func(d *Decoder) { d.Byte() }},
		{"bool 2", []byte{2}, func(d *Decoder) { d.Bool() }},
		{"truncated uvarint", []byte{0x80}, func(d *Decoder) { d.Uvarint() }},
		{"non-minimal uvarint", []byte{0x81, 0x00}, func(d *Decoder) { d.Uvarint() }},
		{"non-minimal 10-byte uvarint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, func(d *Decoder) { d.Uvarint() }},
		{"overflowing uvarint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, func(d *Decoder) { d.Uvarint() }},
		{"non-minimal varint", []byte{0x82, 0x00}, func(d *Decoder) { d.Varint() }},
		{"truncated string", []byte{3, 'a', 'b'}, func(d *Decoder) { d.String(NoLimit) }},
		{"string over limit", []byte{3, 'a', 'b', 'c'}, func(d *Decoder) { d.String(2) }},
		{"count over what is left", []byte{3, 0, 0, 0, 0, 0}, func(d *Decoder) { d.Count(2, NoLimit) }},
		{"count over limit", []byte{3, 0, 0, 0}, func(d *Decoder) { d.Count(1, 2) }},
		{"trailing byte", []byte{1, 0}, func(d *Decoder) { d.Byte() }},
	}
	for _, tt := range tests {
		d := NewDecoder(tt.in)
		tt.read(&d)
		if err := d.End(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: End() = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	var b []byte
	for _, v := range []uint64{0, 127, 128, math.MaxUint64} {
		b = AppendUvarint(b, v)
		if n := len(binary.AppendUvarint(nil, v)); UvarintLen(v) != n {
			t.Errorf("UvarintLen(%d) = %d, want %d", v, UvarintLen(v), n)
		}
	}
	for _, v := range []int64{0, -1, 63, -64, 64, math.MinInt64, math.MaxInt64} {
		b = AppendVarint(b, v)
		if n := len(binary.AppendVarint(nil, v)); VarintLen(v) != n {
			t.Errorf("VarintLen(%d) = %d, want %d", v, VarintLen(v), n)
		}
	}
	b = AppendString(b, "héllo")
	b = AppendBytes(b, nil)
	b = AppendBool(AppendBool(b, true), false)
	b = AppendUvarint(b, 2)

	d := NewDecoder(b)
	for _, want := range []uint64{0, 127, 128, math.MaxUint64} {
		if got := d.Uvarint(); got != want {
			t.Errorf("Uvarint() = %d, want %d", got, want)
		}
	}
	for _, want := range []int64{0, -1, 63, -64, 64, math.MinInt64, math.MaxInt64} {
		if got := d.Varint(); got != want {
			t.Errorf("Varint() = %d, want %d", got, want)
		}
	}
	if got := d.String(6); got != "héllo" {
		t.Errorf("String(6) = %q, want %q", got, "héllo")
	}
	if got := d.Bytes(NoLimit); got != nil {
		t.Errorf("Bytes() of an empty field = %#v, want nil", got)
	}
	if got := d.Bool(); !got {
		t.Errorf("Bool() = false, want true")
	}
	if got := d.Bool(); got {
		t.Errorf("Bool() = true, want false")
	}
	// A count the input left cannot hold is refused, even of items
	// said to take no bytes.
	if n := d.Count(0, NoLimit); n != 0 || d.Err() == nil {
		t.Errorf("Count(0) of 2 with nothing left = %d, %v; want an error", n, d.Err())
	}
}
