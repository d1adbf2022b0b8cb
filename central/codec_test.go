package central

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"atrium/record"
)

// goldenRecord is a stored record with every field set.
var goldenRecord = record.Record{
	Partition: "0130040Y",
	ID:        "0190f5a2-7c1e-7b3a-9d4e-2f6a8b0c1d3e",
	Kind:      "news",
	Key:       "news/reunion-parents",
	Version:   record.Version{Central: 300, Edge: 2, HLC: record.Stamp(1735689600123, 1)},
	Seq:       70000,
	Deleted:   true,
	Body:      []byte(`{"title":"Réunion parents-professeurs"}`),
}

func TestEntryRoundTrip(t *testing.T) {
	c := record.Command{Origin: "0130040Y", Epoch: 1, Seq: 2, User: "u", Op: "news.publish", Partition: "0130040Y",
		Args: []byte(`{}`), Base: record.Version{Central: 1, Edge: 2, HLC: 3}, Time: -5}
	for _, en := range []entry{
		{Type: entryExecCommands, Commands: []record.Command{c}},
		{Type: entryEdgeOutbox, UAI: "0130040Y", Epoch: 9, Commands: []record.Command{c, c}},
		{Type: entrySetSecrets, Secrets: Secrets{CACertPEM: []byte("c"), CAKeyPEM: []byte("k"), SessionKey: []byte("s"), ClusterKey: []byte("x")}},
		{Type: entryAddEnrolToken, TokenHash: "h", UAI: "u", Time: 7},
		{Type: entryConsumeEnrolToken, TokenHash: "h", Time: 8},
	} {
		got, err := decodeEntry(encodeEntry(en))
		if err != nil {
			t.Fatalf("decode type %d: %v", en.Type, err)
		}
		if diff := cmp.Diff(en, got); diff != "" {
			t.Errorf("type %d round trip (-want +got):\n%s", en.Type, diff)
		}
	}
}

// TestMinCommandLen checks the bound decodeEntry puts on a command count.
func TestMinCommandLen(t *testing.T) {
	if n := 1 + len(record.AppendCommand(nil, record.Command{})); n != minCommandLen {
		t.Errorf("shortest command of an entry = %d bytes, want minCommandLen = %d", n, minCommandLen)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(entry{Type: entryEdgeOutbox, UAI: "u", Epoch: 1, Commands: []record.Command{{Origin: "u", Seq: 1, Op: "x"}}}))
	f.Add(encodeEntry(entry{Type: entryConsumeEnrolToken, TokenHash: "h", Time: 3}))
	f.Add(encodeEntry(entry{Type: entrySetSecrets, Secrets: Secrets{ClusterKey: []byte("k")}}))
	f.Add([]byte{1, 1, 255, 255, 255, 255, 15})
	f.Fuzz(func(t *testing.T, b []byte) {
		en, err := decodeEntry(b)
		if err != nil {
			return
		}
		// Whatever decodes is the one encoding of its value.
		if again := encodeEntry(en); !bytes.Equal(again, b) {
			t.Fatalf("encodeEntry(decodeEntry(%x)) = %x", b, again)
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	f.Add(encodeToken(enrolToken{UAI: "0130040Y", Expires: 1736294400000, Used: true}))
	f.Add([]byte{1, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := decodeToken(b)
		if err != nil {
			return
		}
		if again := encodeToken(tok); !bytes.Equal(again, b) {
			t.Fatalf("encodeToken(decodeToken(%x)) = %x", b, again)
		}
	})
}

func FuzzDecodeSecrets(f *testing.F) {
	f.Add(encodeSecrets(goldenSecrets()))
	f.Add([]byte{1, 0, 0, 0, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSecrets(b)
		if err != nil {
			return
		}
		if again := encodeSecrets(s); !bytes.Equal(again, b) {
			t.Fatalf("encodeSecrets(decodeSecrets(%x)) = %x", b, again)
		}
	})
}

// TestUnknownFormatRefused changes the format byte of each encoding (and
// the used flag of a token) to a value no decoder knows: the decoder must
// refuse it, never guess.
func TestUnknownFormatRefused(t *testing.T) {
	cmd := goldenCommand(1)
	decEntry := func(b []byte) error { _, err := decodeEntry(b); return err }
	decToken := func(b []byte) error { _, err := decodeToken(b); return err }
	unknown := []byte{0, 2, 255}
	token := encodeToken(goldenToken)
	tests := []struct {
		name   string
		enc    []byte
		at     int    // offset of the byte to change
		bad    []byte // values to put there
		decode func([]byte) error
	}{
		{"entry 1 format", encodeEntry(exec(cmd)), 1, unknown, decEntry},
		{"entry 1 command format", encodeEntry(exec(cmd)), 4, unknown, decEntry},
		{"entry 2 format", encodeEntry(entry{Type: entryEdgeOutbox, UAI: "u", Epoch: 1, Commands: []record.Command{cmd}}), 1, unknown, decEntry},
		{"entry 3 format", encodeEntry(entry{Type: entrySetSecrets, Secrets: goldenSecrets()}), 1, unknown, decEntry},
		{"entry 4 format", encodeEntry(entry{Type: entryAddEnrolToken, TokenHash: "h", UAI: "u", Time: 1}), 1, unknown, decEntry},
		{"entry 5 format", encodeEntry(entry{Type: entryConsumeEnrolToken, TokenHash: "h", Time: 1}), 1, unknown, decEntry},
		{"record format", record.AppendRecord(nil, goldenRecord), 0, unknown, func(b []byte) error { _, err := decodeRecord(b); return err }},
		{"token format", token, 0, unknown, decToken},
		{"token used flag", token, len(token) - 1, []byte{2, 255}, decToken},
		{"secrets format", encodeSecrets(goldenSecrets()), 0, unknown, func(b []byte) error { _, err := decodeSecrets(b); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.enc); err != nil {
				t.Fatalf("decode(unchanged) = %v, want nil", err)
			}
			if tt.enc[tt.at] != 1 {
				t.Fatalf("byte %d = %d, want 1 (the current format, or a set flag)", tt.at, tt.enc[tt.at])
			}
			for _, v := range tt.bad {
				b := append([]byte(nil), tt.enc...)
				b[tt.at] = v
				if err := tt.decode(b); !errors.Is(err, ErrCorrupt) {
					t.Errorf("decode with byte %d = %d: %v, want ErrCorrupt", tt.at, v, err)
				}
			}
		})
	}
}
