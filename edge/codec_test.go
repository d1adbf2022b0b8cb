package edge

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"atrium/record"
)

var (
	sampleRecord = record.Record{
		Partition: "0130040Y", ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Kind: "user", Key: "jdupont",
		Version: record.Version{Central: 3, Edge: 2, HLC: record.Stamp(1_700_000_000_000, 1)},
		Seq:     42, Deleted: true, Body: []byte(`{"name":"Jeanne Dupont"}`),
	}
	sampleCommand = record.Command{
		Origin: "0130040Y", Epoch: 1_700_000_000_000, Seq: 7, User: "u1", Op: "message.send",
		Partition: "0130040Y", Args: []byte(`{"to":"jdupont"}`), Base: record.Version{Central: 1, Edge: 1, HLC: 9},
		Time: -5,
	}
)

func TestCodecRoundTrip(t *testing.T) {
	for _, r := range []record.Record{sampleRecord, {Partition: "region", ID: "x", Kind: "news"}} {
		got, err := decodeRecord(encodeRecord(nil, r))
		if err != nil || !cmp.Equal(got, r, cmpopts.EquateEmpty()) {
			t.Errorf("decodeRecord(encodeRecord(%+v)) = %+v, %v", r, got, err)
		}
		head, err := decodeRecordHead(encodeRecord(nil, r))
		r.Body = nil
		if err != nil || !cmp.Equal(head, r, cmpopts.EquateEmpty()) {
			t.Errorf("decodeRecordHead = %+v, %v; want %+v", head, err, r)
		}
	}
	for _, c := range []record.Command{sampleCommand, {Origin: "x", Op: "y", Partition: "z"}} {
		got, err := decodeCommand(encodeCommand(nil, c))
		if err != nil || !cmp.Equal(got, c, cmpopts.EquateEmpty()) {
			t.Errorf("decodeCommand(encodeCommand(%+v)) = %+v, %v", c, got, err)
		}
	}
}

// TestCodecGolden pins the on-disk format: a value written by an earlier
// release must still decode. Run with ATRIUM_UPDATE_GOLDEN=1 to create the
// files of a new format, never to change an existing one.
func TestCodecGolden(t *testing.T) {
	for _, g := range []struct {
		file   string
		encode func() []byte
		check  func([]byte) (any, any, error)
	}{
		{"record_v1.hex", func() []byte { return encodeRecord(nil, sampleRecord) }, func(b []byte) (any, any, error) {
			r, err := decodeRecord(b)
			return r, sampleRecord, err
		}},
		{"command_v1.hex", func() []byte { return encodeCommand(nil, sampleCommand) }, func(b []byte) (any, any, error) {
			c, err := decodeCommand(b)
			return c, sampleCommand, err
		}},
	} {
		path := filepath.Join("testdata", g.file)
		if os.Getenv("ATRIUM_UPDATE_GOLDEN") != "" {
			if _, err := os.Stat(path); err != nil {
				if err := os.WriteFile(path, []byte(hex.EncodeToString(g.encode())+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read golden: %v", err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(text)))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, want, err := g.check(b)
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("decode %s = %+v, %v; want %+v", path, got, err, want)
		}
		if !bytes.Equal(g.encode(), b) {
			t.Errorf("encoding of the sample differs from %s: the format changed without a new format number", path)
		}
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	good := encodeRecord(nil, sampleRecord)
	for name, b := range map[string][]byte{
		"empty":     nil,
		"format":    append([]byte{9}, good[1:]...),
		"truncated": good[:len(good)-3],
		"trailing":  append(bytes.Clone(good), 0),
		"hugeLen":   {recordFormat1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeRecord(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeRecord(%s) = %v, want ErrCorrupt", name, err)
		}
		if _, err := decodeCommand(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeCommand(%s) = %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(nil, sampleRecord))
	f.Add(encodeRecord(nil, record.Record{}))
	f.Add([]byte{recordFormat1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		// Whatever decodes survives a round trip unchanged.
		again, err := decodeRecord(encodeRecord(nil, r))
		if err != nil || !cmp.Equal(again, r, cmpopts.EquateEmpty()) {
			t.Errorf("round trip of %+v = %+v, %v", r, again, err)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(encodeCommand(nil, sampleCommand))
	f.Add(encodeCommand(nil, record.Command{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		again, err := decodeCommand(encodeCommand(nil, c))
		if err != nil || !cmp.Equal(again, c, cmpopts.EquateEmpty()) {
			t.Errorf("round trip of %+v = %+v, %v", c, again, err)
		}
	})
}
