package central

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"atrium/record"
)

func TestRecordRoundTrip(t *testing.T) {
	r := record.Record{Partition: "0130040Y", ID: record.NewID(), Kind: "news", Key: "k",
		Version: record.Version{Central: 3, Edge: 2, HLC: 99}, Seq: 42, Deleted: true, Body: []byte(`{"a":1}`)}
	got, err := decodeRecord(appendRecord(nil, r))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
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

func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, record.Record{Partition: "p", ID: "i", Kind: "k", Body: []byte("{}")}))
	f.Add([]byte{1, 200, 200, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(appendRecord(nil, r))
		if err != nil || !cmp.Equal(r, again) {
			t.Fatalf("re-encoding %+v: %+v, %v", r, again, err)
		}
	})
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
		again, err := decodeEntry(encodeEntry(en))
		if err != nil || !cmp.Equal(en, again) {
			t.Fatalf("re-encoding %+v: %+v, %v", en, again, err)
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
		again, err := decodeToken(encodeToken(tok))
		if err != nil || again != tok {
			t.Fatalf("re-encoding %+v: %+v, %v", tok, again, err)
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
		again, err := decodeSecrets(encodeSecrets(s))
		if err != nil || !cmp.Equal(s, again) {
			t.Fatalf("re-encoding %+v: %+v, %v", s, again, err)
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
		{"entry 1 command format", encodeEntry(exec(cmd)), 3, unknown, decEntry},
		{"entry 2 format", encodeEntry(entry{Type: entryEdgeOutbox, UAI: "u", Epoch: 1, Commands: []record.Command{cmd}}), 1, unknown, decEntry},
		{"entry 3 format", encodeEntry(entry{Type: entrySetSecrets, Secrets: goldenSecrets()}), 1, unknown, decEntry},
		{"entry 4 format", encodeEntry(entry{Type: entryAddEnrolToken, TokenHash: "h", UAI: "u", Time: 1}), 1, unknown, decEntry},
		{"entry 5 format", encodeEntry(entry{Type: entryConsumeEnrolToken, TokenHash: "h", Time: 1}), 1, unknown, decEntry},
		{"record format", appendRecord(nil, goldenRecord), 0, unknown, func(b []byte) error { _, err := decodeRecord(b); return err }},
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
