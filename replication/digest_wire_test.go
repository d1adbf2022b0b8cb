package replication

import (
	"bytes"
	"errors"
	"testing"

	"atrium/record"
)

// digestMessages holds the messages with the optional digest fields, which
// sampleMessages (pinned by the golden file of version 1) leaves out.
func digestMessages() []Message {
	return []Message{
		&Pull{Partition: "0130040Y", Since: 17, Limit: 2000, WaitMillis: 20000, WantDigest: true},
		// A page of a snapshot (snapshot.go): flags byte 3, then the floor.
		&Pull{Partition: "0130040Y", Since: 300, Limit: 2000, WantDigest: true, Snapshot: true, SnapshotFloor: 250},
		&Pull{Partition: "region", Snapshot: true},
		&Changes{Partition: "0130040Y", Last: 99, Digest: bytes.Repeat([]byte{0xab}, record.DigestSize), Records: []record.Record{
			{Partition: "0130040Y", ID: "0190d5a0-0000-7000-8000-000000000001", Kind: "news", Seq: 99, Body: []byte(`{}`)},
		}},
		&Changes{Partition: "0130040Y", Last: 7, Digest: make([]byte, record.DigestSize)},
	}
}

func TestDigestFieldsRoundTrip(t *testing.T) {
	checkRoundTrip(t, digestMessages())
	// Without them, the encoding is version 1's: one byte shorter for a
	// Pull, the digest's length and bytes shorter for Changes.
	p := &Pull{Partition: "p", Since: 1}
	pw := *p
	pw.WantDigest = true
	if a, b := encodeAll(t, []Message{p}), encodeAll(t, []Message{&pw}); len(b) != len(a)+1 {
		t.Errorf("len(Pull with WantDigest) = %d, want %d", len(b), len(a)+1)
	}
}

func TestDigestFieldsRejected(t *testing.T) {
	pull := encodeAll(t, []Message{&Pull{Partition: "p"}})
	changes := encodeAll(t, []Message{&Changes{Partition: "p", Last: 1}})
	withTail := func(frame []byte, tail ...byte) []byte {
		// frame is type, one-byte length, payload: append to the payload.
		b := append(bytes.Clone(frame), tail...)
		b[1] += byte(len(tail))
		return b
	}
	for name, b := range map[string][]byte{
		"pull asks with 0":         withTail(pull, 0),
		"pull asks with 2":         withTail(pull, 2), // a snapshot's, without its floor
		"pull asks with 4":         withTail(pull, 4, 0),
		"pull floor not minimal":   withTail(pull, 2, 0x80, 0),
		"pull floor and more":      withTail(pull, 2, 1, 0),
		"pull asks twice":          withTail(pull, 1, 1),
		"changes empty digest":     withTail(changes, 0),
		"changes short digest":     withTail(changes, append([]byte{4}, 1, 2, 3, 4)...),
		"changes truncated digest": withTail(changes, 16, 1, 2),
		"changes digest and more":  withTail(changes, append(append([]byte{16}, make([]byte, 16)...), 0)...),
	} {
		if _, _, err := DecodeFrame(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeFrame(%s) = %v, want ErrMalformed", name, err)
		}
	}
}
