package record

import (
	"testing"
)

func TestDigestOrderAndUpdate(t *testing.T) {
	a := Record{Partition: "0130040Y", ID: "a", Kind: "news", Seq: 1, Body: []byte(`{"t":1}`)}
	b := Record{Partition: "0130040Y", ID: "b", Kind: "user", Key: "jdupont", Seq: 2, Body: []byte(`{}`)}
	c := Record{Partition: "0130040Y", ID: "c", Kind: "news", Seq: 3, Deleted: true}

	var ab, ba Digest
	for _, r := range []Record{a, b, c} {
		ab.Xor(DigestOf(r))
	}
	for _, r := range []Record{c, b, a} {
		ba.Xor(DigestOf(r))
	}
	if ab != ba {
		t.Errorf("digest depends on order: %v, %v", ab, ba)
	}

	// Replacing a by a newer version: fold the old one out, the new one in.
	a2 := a
	a2.Body, a2.Seq = []byte(`{"t":2}`), 4
	inc := ab
	inc.Xor(DigestOf(a))
	inc.Xor(DigestOf(a2))
	var full Digest
	for _, r := range []Record{a2, b, c} {
		full.Xor(DigestOf(r))
	}
	if inc != full {
		t.Errorf("incremental digest = %v, want %v", inc, full)
	}
	if inc == ab {
		t.Errorf("digest unchanged by a new version")
	}
}

func TestDigestFields(t *testing.T) {
	base := Record{Partition: "p", ID: "id", Kind: "k", Key: "key", Seq: 7, Body: []byte("body")}
	variants := map[string]func(*Record){
		"partition": func(r *Record) { r.Partition = "q" },
		"id":        func(r *Record) { r.ID = "id2" },
		"kind":      func(r *Record) { r.Kind = "k2" },
		"key":       func(r *Record) { r.Key = "" },
		"seq":       func(r *Record) { r.Seq = 8 },
		"body":      func(r *Record) { r.Body = []byte("bodz") },
		"shift":     func(r *Record) { r.ID, r.Kind = "idk", "" }, // length prefixes keep fields apart
	}
	for name, change := range variants {
		r := base
		change(&r)
		if DigestOf(r) == DigestOf(base) {
			t.Errorf("DigestOf with another %s = the same digest", name)
		}
	}
	v := base
	v.Version = Version{Central: 3, Edge: 9, HLC: 12345}
	if DigestOf(v) != DigestOf(base) {
		t.Errorf("DigestOf depends on the version; it must not")
	}
}

func TestDigestOfEncoded(t *testing.T) {
	for _, r := range []Record{
		{Partition: "p", ID: "id", Kind: "k", Key: "key", Seq: 7, Body: []byte("body"), Version: Version{1, 2, 3}},
		{Partition: "p", ID: "id", Kind: "k", Deleted: true, Seq: 9},
	} {
		got, err := DigestOfEncoded(AppendRecord(nil, r))
		if err != nil {
			t.Fatal(err)
		}
		if want := DigestOf(r); got != want {
			t.Errorf("DigestOfEncoded(%+v) = %v, want %v", r, got, want)
		}
	}
	if _, err := DigestOfEncoded([]byte{1, 2}); err == nil {
		t.Errorf("DigestOfEncoded(garbage) = nil error, want one")
	}
}

// A tombstone contributes nothing: a set holding it digests as the set
// without it, so purging tombstones changes no digest.
func TestDigestTombstoneIsAbsent(t *testing.T) {
	live := Record{Partition: "p", ID: "a", Kind: "news", Seq: 3, Body: []byte(`{"t":1}`)}
	dead := Record{Partition: "p", ID: "b", Kind: "news", Seq: 4, Deleted: true, Body: []byte(`{}`)}
	if got := DigestOf(dead); got != (Digest{}) {
		t.Errorf("DigestOf(tombstone) = %v, want the zero digest", got)
	}
	if got, err := DigestOfEncoded(AppendRecord(nil, dead)); err != nil || got != (Digest{}) {
		t.Errorf("DigestOfEncoded(tombstone) = %v, %v; want the zero digest", got, err)
	}
	var with, without Digest
	with.Xor(DigestOf(live))
	with.Xor(DigestOf(dead))
	without.Xor(DigestOf(live))
	if with != without {
		t.Errorf("digest with a tombstone = %v, without it %v; want equal", with, without)
	}
	deleted := live
	deleted.Deleted = true
	if DigestOf(deleted) == DigestOf(live) {
		t.Errorf("deleting a record left its digest unchanged")
	}
}
