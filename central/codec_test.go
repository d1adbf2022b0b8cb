package central

import (
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
	f.Add([]byte{1, 255, 255, 255, 255, 15})
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
