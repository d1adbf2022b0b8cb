package replication

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"atrium/record"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleMessages holds one message of each type; their encoding is pinned
// by testdata/frames-v1.golden.
func sampleMessages() []Message {
	return []Message{
		&Hello{ProtocolVersion: ProtocolVersion, UAI: "0130040Y", Epoch: 1767225600000, OutboxDepth: 3},
		&HelloOK{Node: "central-1", HighWater: 42},
		&Pull{Partition: "0130040Y", Since: 17, Limit: 2000, WaitMillis: 20000},
		&Changes{Partition: "region", Last: 99, More: true, Records: []record.Record{
			{Partition: "region", ID: "0190d5a0-0000-7000-8000-000000000001", Kind: "news", Version: record.Version{Central: 3, Edge: 1, HLC: record.Stamp(1767225600000, 2)}, Seq: 97, Body: []byte(`{"title":"Rentrée"}`)},
			{Partition: "region", ID: "0190d5a0-0000-7000-8000-000000000002", Kind: "news", Key: "k", Version: record.Version{Central: 1}, Seq: 98, Deleted: true},
			{Partition: "0130040Y", ID: "odd", Kind: "notice", Seq: 99, Body: []byte(`{}`)},
		}},
		&Push{Epoch: 1767225600000, Outbox: 2, Commands: []record.Command{
			{Origin: "0130040Y", Epoch: 1767225600000, Seq: 1, User: "u1", Op: "message.send", Partition: "0130040Y", Args: []byte(`{"to":"x"}`), Base: record.Version{Central: 1, Edge: 2, HLC: 3}, Time: 1767225600123},
			{Origin: "0130040Y", Epoch: 1767225600000, Seq: 2, Op: "news.publish", Partition: "0130040Y", Time: -1},
		}},
		&Ack{HighWater: 2},
		&Error{Code: CodeForbidden, Message: "partition 0060001A is not this edge's"},
	}
}

func encodeAll(t testing.TB, msgs []Message) []byte {
	t.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = AppendFrame(b, m); err != nil {
			t.Fatalf("AppendFrame(%T) = %v", m, err)
		}
	}
	return b
}

func TestRoundTrip(t *testing.T) { checkRoundTrip(t, sampleMessages()) }

// checkRoundTrip encodes each message alone and checks that DecodeFrame
// and ReadFrame both give it back.
func checkRoundTrip(t *testing.T, msgs []Message) {
	t.Helper()
	for _, m := range msgs {
		b := encodeAll(t, []Message{m})
		got, n, err := DecodeFrame(b)
		if err != nil || n != len(b) {
			t.Fatalf("DecodeFrame(%T) = %d, %v; want %d, nil", m, n, err, len(b))
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("DecodeFrame(AppendFrame(%T)) differs (-want +got):\n%s", m, diff)
		}
		got2, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("ReadFrame(%T) = %v", m, err)
		}
		if diff := cmp.Diff(m, got2); diff != "" {
			t.Errorf("ReadFrame(AppendFrame(%T)) differs (-want +got):\n%s", m, diff)
		}
	}
}

// TestGolden proves that frames written by this version of the protocol
// still decode to the same messages and encode to the same bytes.
func TestGolden(t *testing.T) {
	checkGolden(t, "frames-v1.golden", sampleMessages(), "a change of the wire format needs a new ProtocolVersion")
}

// checkGolden checks that testdata/file decodes to msgs and that msgs
// encode to its bytes (-update rewrites it); why says what a change breaks.
func checkGolden(t *testing.T, file string, msgs []Message, why string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	want := encodeAll(t, msgs)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(golden))
	for i, w := range msgs {
		got, err := ReadFrame(r)
		if err != nil {
			t.Fatalf("%s frame %d: ReadFrame = %v", file, i, err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s frame %d differs (-want +got):\n%s", file, i, diff)
		}
	}
	if !bytes.Equal(golden, want) {
		t.Errorf("encoding changed: %d bytes in %s, %d now; %s", len(golden), file, len(want), why)
	}
}

func TestHelloOfAnotherVersion(t *testing.T) {
	// A future Hello whose fields are unknown: only the version is read.
	b := []byte{typeHello, 4, 2, 0xff, 0xff, 0xff}
	m, _, err := DecodeFrame(b)
	if err != nil {
		t.Fatalf("DecodeFrame(hello v2) = %v, want nil", err)
	}
	if h, ok := m.(*Hello); !ok || h.ProtocolVersion != 2 {
		t.Errorf("DecodeFrame(hello v2) = %#v, want Hello version 2", m)
	}
}

func TestMalformed(t *testing.T) {
	valid := encodeAll(t, sampleMessages()[3:4]) // a Changes frame
	huge := []byte{typeChanges}
	huge = append(huge, 0x80, 0x80, 0x80, 0x10) // 32 MiB
	cases := map[string][]byte{
		"empty":          {},
		"unknown type":   {0x42, 0},
		"type zero":      {0, 0},
		"bad length":     {typeAck, 0xff},
		"too large":      huge,
		"truncated":      valid[:len(valid)-3],
		"trailing bytes": {typeAck, 2, 1, 1},
		"bad bool":       {typeChanges, 4, 0, 0, 7, 0},
		"forged count":   {typeChanges, 7, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f},
		"long string":    append([]byte{typeError, 4, 0x80, 0x10}, 'x', 'y'),
		"truncated push": {typePush, 0},
		"long length":    {typeAck, 0x81, 0x00, 1}, // length 1, not minimally encoded
		"long uvarint":   {typeAck, 2, 0x81, 0x00},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := DecodeFrame(b); !errors.Is(err, ErrMalformed) {
				t.Errorf("DecodeFrame(%x) = %v, want ErrMalformed", b, err)
			}
			if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(b))); len(b) > 0 && !errors.Is(err, ErrMalformed) {
				t.Errorf("ReadFrame(%x) = %v, want ErrMalformed", b, err)
			}
		})
	}
}

func TestRecordFlagsStrict(t *testing.T) {
	// Changes "p" with one record whose flags have an unknown bit.
	b := []byte{typeChanges, 0, 1, 'p', 1, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 1, 0}
	b[1] = byte(len(b) - 2)
	if _, _, err := DecodeFrame(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("DecodeFrame(record with unknown flag) = %v, want ErrMalformed", err)
	}
}

func TestFrameTooLarge(t *testing.T) {
	m := &Changes{Partition: "p", Records: []record.Record{{Partition: "p", Body: make([]byte, MaxFrameSize)}}}
	if _, err := AppendFrame(nil, m); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("AppendFrame(17 MiB) = %v, want ErrFrameTooLarge", err)
	}
}

// FuzzDecode checks that no input makes the decoder panic, and that what
// it accepts encodes back to the same bytes (the encoding is canonical).
func FuzzDecode(f *testing.F) {
	for _, m := range slices.Concat(sampleMessages(), digestMessages(), stubMessages()) {
		b, _ := AppendFrame(nil, m)
		f.Add(b)
	}
	f.Add([]byte{typeHello, 4, 2, 0xff, 0xff, 0xff})
	f.Add([]byte{typeChanges, 7, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeFrame error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if h, ok := m.(*Hello); ok && h.ProtocolVersion != ProtocolVersion {
			return // another version's Hello is read only up to its version
		}
		again, err := AppendFrame(nil, m)
		if err != nil {
			t.Fatalf("AppendFrame(decoded) = %v", err)
		}
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b[:n], again)
		}
		if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(b))); err != nil {
			t.Fatalf("ReadFrame rejects what DecodeFrame accepts: %v", err)
		}
	})
}

// TestFrameLengths checks frames whose length field takes one to four
// bytes, appended after other bytes, as AppendFrame writes the payload
// before it knows the length.
func TestFrameLengths(t *testing.T) {
	for _, size := range []int{0, 100, 127, 128, 200, 16383, 16384, 100_000, 2_097_151, 2_097_152, 3_000_000} {
		m := &Changes{Partition: "p", Last: 7, Records: []record.Record{{Partition: "p", ID: "i", Kind: "k", Seq: 7, Body: bytes.Repeat([]byte("é"), size/2)}}}
		prefix := []byte("prefix")
		b, err := AppendFrame(bytes.Clone(prefix), m)
		if err != nil {
			t.Fatalf("AppendFrame(%d bytes): %v", size, err)
		}
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("AppendFrame(%d bytes) changed what dst held", size)
		}
		got, n, err := DecodeFrame(b[len(prefix):])
		if err != nil || n != len(b)-len(prefix) {
			t.Fatalf("DecodeFrame(AppendFrame(%d bytes)) = %d bytes, %v; want %d", size, n, err, len(b)-len(prefix))
		}
		// go-cmp is slow on megabytes: compare the body by itself.
		gc, ok := got.(*Changes)
		if !ok || len(gc.Records) != 1 || !bytes.Equal(gc.Records[0].Body, m.Records[0].Body) {
			t.Fatalf("frame of %d bytes: decoded body differs from the one sent", size)
		}
		gc.Records[0].Body, m.Records[0].Body = nil, nil
		if diff := cmp.Diff(Message(m), got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("frame of %d bytes (-sent +decoded):\n%s", size, diff)
		}
	}
}

// TestReadPayloadSizes reads payloads around each step of readPayload's
// growth, whole and truncated.
func TestReadPayloadSizes(t *testing.T) {
	for _, n := range []int{0, 1, payloadFirst - 1, payloadFirst, payloadFirst + 1, payloadFirst * payloadGrowth, 3<<20 + 7} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i * 7)
		}
		got, err := readPayload(bytes.NewReader(want), uint64(n))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("readPayload of %d bytes: %d bytes, %v; want them all", n, len(got), err)
		}
		if n == 0 {
			continue
		}
		got, err = readPayload(bytes.NewReader(want[:n-1]), uint64(n))
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) || !bytes.Equal(got, want[:n-1]) {
			t.Fatalf("readPayload of %d of %d bytes: %d bytes, %v; want the %d and EOF", n-1, n, len(got), err, n-1)
		}
	}
}

// TestReadPayloadGrowsWithWhatArrives checks that a peer announcing a
// large frame makes the reader hold no more than payloadGrowth times what
// it sent (beyond the first step).
func TestReadPayloadGrowsWithWhatArrives(t *testing.T) {
	sent := make([]byte, 100<<10)
	got, err := readPayload(bytes.NewReader(sent), MaxFrameSize)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != len(sent) {
		t.Fatalf("readPayload = %d bytes, %v; want %d and an unexpected EOF", len(got), err, len(sent))
	}
	if limit := payloadGrowth * len(sent); cap(got) > limit {
		t.Errorf("buffer of %d bytes after %d received, want at most %d", cap(got), len(sent), limit)
	}
}

// TestReadFrameBodiesStayApart: the bodies of a page read by ReadFrame
// point into the frame's buffer, each capped at its own end: appending to
// one does not write over the next; an empty body decodes to nil, as
// DecodeFrame gives it.
func TestReadFrameBodiesStayApart(t *testing.T) {
	m := &Changes{Partition: "0130040Y", Last: 3, Records: []record.Record{
		{Partition: "0130040Y", ID: "a", Kind: "news", Body: []byte(`{"a":1}`), Seq: 1},
		{Partition: "0130040Y", ID: "b", Kind: "news", Body: []byte(`{"b":2}`), Seq: 2},
		{Partition: "0130040Y", ID: "c", Kind: "news", Seq: 3},
	}}
	b := encodeAll(t, []Message{m})
	got, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("ReadFrame = %v", err)
	}
	recs := got.(*Changes).Records
	_ = append(recs[0].Body, "XXXXXXXX"...)
	if string(recs[1].Body) != `{"b":2}` {
		t.Errorf("second body = %q after appending to the first, want {\"b\":2}", recs[1].Body)
	}
	if recs[2].Body != nil {
		t.Errorf("empty body = %#v, want nil", recs[2].Body)
	}
	decoded, _, err := DecodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(decoded, got); diff != "" {
		t.Errorf("ReadFrame and DecodeFrame differ (-DecodeFrame +ReadFrame):\n%s", diff)
	}
}
