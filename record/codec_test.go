package record

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"atrium/internal/goldenhex"
)

var update = flag.Bool("update", false, "write the golden files in testdata/ that do not exist yet")

// goldenRecord and goldenCommand set every field, with multi-byte varints,
// so that the golden bytes pin each field's place.
var (
	goldenRecord = Record{
		Partition: "0130040Y",
		ID:        "0190f5a2-7c1e-7b3a-9d4e-2f6a8b0c1d3e",
		Kind:      "news",
		Key:       "news/reunion-parents",
		Version:   Version{Central: 300, Edge: 2, HLC: Stamp(1735689600123, 1)},
		Seq:       70000,
		Deleted:   true,
		Body:      []byte(`{"title":"Réunion parents-professeurs"}`),
	}
	goldenCommand = Command{
		Origin: "0130040Y", Epoch: 3, Seq: 41, User: "0190f5a2-0000-7000-8000-00000000e1e5",
		Op: "news.publish", Partition: "0130040Y",
		Args: []byte(`{"id":"0190f5a2-7c1e-7b3a-9d4e-2f6a8b0c1d3e","title":"Réunion parents-professeurs"}`),
		Base: Version{Central: 300, Edge: 2, HLC: Stamp(1735689600000, 7)},
		Time: 1735689600123,
	}
)

func decodeAny[T any](decode func([]byte) (T, error)) func([]byte) (any, error) {
	return func(b []byte) (any, error) { return decode(b) }
}

// TestGolden pins the encodings that central's state file and raft log and
// the edges' replica and outbox hold. A golden file is never rewritten: a
// new layout gets a new format version and a new file, and the old file
// stays with enc nil, decoded only, to prove old values still read.
func TestGolden(t *testing.T) {
	for _, g := range []struct {
		file   string
		about  string
		value  any
		enc    []byte // the current encoder's output; nil for an old format
		decode func([]byte) (any, error)
	}{
		{"record.v1.golden", "record format 1", goldenRecord, AppendRecord(nil, goldenRecord), decodeAny(DecodeRecord)},
		{"command.v1.golden", "command format 1", goldenCommand, AppendCommand(nil, goldenCommand), decodeAny(DecodeCommand)},
	} {
		t.Run(g.file, func(t *testing.T) {
			path := filepath.Join("testdata", g.file)
			_, err := os.Stat(path)
			goldenhex.Check(t, goldenhex.Case{
				Path: path, About: g.about, Stores: "Central's state and raft log and the edges' replica and outbox",
				Value: g.value, Enc: g.enc, Decode: g.decode, Corrupt: ErrCorrupt,
			}, *update && errors.Is(err, os.ErrNotExist)) // never rewritten, only created
		})
	}
}

func TestRecordHead(t *testing.T) {
	head, err := DecodeRecordHead(AppendRecord(nil, goldenRecord))
	want := goldenRecord
	want.Body = nil
	if err != nil || !cmp.Equal(head, want) {
		t.Errorf("DecodeRecordHead = %+v, %v; want %+v", head, err, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, r := range []Record{goldenRecord, {}, {Partition: Region, ID: "x", Kind: "news"}} {
		got, err := DecodeRecord(AppendRecord(nil, r))
		if err != nil || !cmp.Equal(got, r) {
			t.Errorf("DecodeRecord(AppendRecord(%+v)) = %+v, %v", r, got, err)
		}
	}
	for _, c := range []Command{goldenCommand, {}, {Origin: OriginCentral, Op: "y", Partition: "z", Time: -5}} {
		got, err := DecodeCommand(AppendCommand(nil, c))
		if err != nil || !cmp.Equal(got, c) {
			t.Errorf("DecodeCommand(AppendCommand(%+v)) = %+v, %v", c, got, err)
		}
	}
}

// TestDecodeNoAlias checks that decoded values own their memory: bbolt's
// memory is valid only inside its transaction.
func TestDecodeNoAlias(t *testing.T) {
	b := AppendRecord(nil, goldenRecord)
	r, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if !cmp.Equal(r, goldenRecord) {
		t.Errorf("record after clearing its input = %+v, want %+v", r, goldenRecord)
	}
	b = AppendCommand(nil, goldenCommand)
	c, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if !cmp.Equal(c, goldenCommand) {
		t.Errorf("command after clearing its input = %+v, want %+v", c, goldenCommand)
	}
}

func TestDecodeRejects(t *testing.T) {
	rec := AppendRecord(nil, goldenRecord)
	cmd := AppendCommand(nil, goldenCommand)
	flags := len(rec) - len(goldenRecord.Body) - 2 // flags, body length (1 byte), body
	with := func(b []byte, at int, v ...byte) []byte {
		return append(append(bytes.Clone(b[:at]), v...), b[at+1:]...)
	}
	for _, tt := range []struct {
		name string
		b    []byte
		cmd  bool
	}{
		{"empty record", nil, false},
		{"empty command", nil, true},
		{"record format 0", with(rec, 0, 0), false},
		{"record format 2", with(rec, 0, 2), false},
		{"command format 2", with(cmd, 0, 2), true},
		{"record flags 2", with(rec, flags, 2), false},
		{"record flags 0x81", with(rec, flags, 0x81), false},
		{"record trailing byte", append(bytes.Clone(rec), 0), false},
		{"command trailing byte", append(bytes.Clone(cmd), 0), true},
		{"non-minimal length", with(rec, 1, 0x88, 0x00), false},
		{"non-minimal time", append(with(cmd, len(cmd)-1, 0xf6|0x80), 0), true},
		{"huge length", []byte{recordFormat, 0xff, 0xff, 0xff, 0xff, 0x0f}, false},
		{"overlong uvarint", append([]byte{commandFormat, 0}, bytes.Repeat([]byte{0xff}, 11)...), true},
	} {
		var err error
		if tt.cmd {
			_, err = DecodeCommand(tt.b)
		} else {
			_, err = DecodeRecord(tt.b)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("decode %s (%x) = %v, want ErrCorrupt", tt.name, tt.b, err)
		}
	}
}

// The fuzzers check that decoding never panics and that whatever decodes
// is the one encoding of its value.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, goldenRecord))
	f.Add(AppendRecord(nil, Record{}))
	f.Add([]byte{recordFormat, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecord(%x) = %v, want ErrCorrupt", b, err)
			}
			return
		}
		if again := AppendRecord(nil, r); !bytes.Equal(again, b) {
			t.Fatalf("AppendRecord(DecodeRecord(%x)) = %x", b, again)
		}
		head, err := DecodeRecordHead(b)
		r.Body = nil
		if err != nil || !cmp.Equal(head, r) {
			t.Fatalf("DecodeRecordHead(%x) = %+v, %v; want %+v", b, head, err, r)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(AppendCommand(nil, goldenCommand))
	f.Add(AppendCommand(nil, Command{}))
	f.Add(AppendCommand(nil, Command{Epoch: ^uint64(0), Seq: ^uint64(0), Base: Version{^uint64(0), ^uint64(0), ^uint64(0)}, Time: -1 << 63}))
	f.Add([]byte{commandFormat, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeCommand(%x) = %v, want ErrCorrupt", b, err)
			}
			return
		}
		again := AppendCommand(nil, c)
		if !bytes.Equal(again, b) {
			t.Fatalf("AppendCommand(DecodeCommand(%x)) = %x", b, again)
		}
		if len(again) > CommandSizeBound(c) {
			t.Fatalf("command of %d bytes encoded, CommandSizeBound says at most %d", len(again), CommandSizeBound(c))
		}
	})
}
