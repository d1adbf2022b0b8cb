package central

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"atrium/record"
)

// TestRevokeEdge: a revocation is stored with its time and reason, listed,
// applied twice to the same effect, moved forward by a later one, and the
// outbox epochs the lycée had used are refused from then on, while a new
// epoch (a replacement appliance) is applied.
func TestRevokeEdge(t *testing.T) {
	f := newTestFSM(t)
	n := &Node{fsm: f}
	const uai = "0130040Y"
	push := func(epoch, seq uint64, id string) entry {
		c := putCmd(uai, uai, id, "", "v", 1000)
		c.Epoch, c.Seq = epoch, seq
		return entry{Type: entryEdgeOutbox, UAI: uai, Epoch: epoch, Commands: []record.Command{c}}
	}
	if res := applyAll(t, f, push(7, 1, "a")); res[0].Err != nil || res[0].HWM != 1 {
		t.Fatalf("push before revocation = %+v, want applied", res[0])
	}
	if _, ok, err := n.Revocation(uai); ok || err != nil {
		t.Fatalf("Revocation before any = %v, %v, want none", ok, err)
	}

	t1 := time.UnixMilli(1_700_000_000_000).UTC()
	revoke := entry{Type: entryRevokeEdge, UAI: uai, Time: t1.UnixMilli(), Reason: "vol"}
	for range 2 { // a retried proposal applies the same entry again
		if res := applyAll(t, f, revoke); res[0].Err != nil {
			t.Fatalf("revoke = %+v", res[0].Err)
		}
	}
	want := Revocation{UAI: uai, Time: t1, Reason: "vol", Epochs: []uint64{7}}
	got, ok, err := n.Revocation(uai)
	if err != nil || !ok {
		t.Fatalf("Revocation = %v, %v", ok, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Revocation (-want +got):\n%s", diff)
	}
	list, err := n.Revocations()
	if diff := cmp.Diff([]Revocation{want}, list); err != nil || diff != "" {
		t.Errorf("Revocations = %v (-want +got):\n%s", err, diff)
	}

	for _, tc := range []struct {
		issued time.Time
		want   bool
	}{
		{t1.Add(-time.Hour), true},
		{t1.Truncate(time.Second), true}, // same second: the safe side
		{t1.Add(time.Second), false},     // a replacement enrolled afterwards
	} {
		if got := want.Covers(tc.issued); got != tc.want {
			t.Errorf("Covers(%v) = %v, want %v", tc.issued, got, tc.want)
		}
	}

	// The revoked epoch: refused whole, high-water mark unchanged.
	res := applyAll(t, f, push(7, 2, "b"))
	if !errors.Is(res[0].Err.err(), ErrRevoked) || res[0].HWM != 1 {
		t.Errorf("push in revoked epoch = %+v, want ErrRevoked at hwm 1", res[0])
	}
	if _, ok := get(t, f, uai, "b"); ok {
		t.Error("record b of a revoked epoch was applied")
	}
	// A replacement's new epoch is applied.
	if res := applyAll(t, f, push(9, 1, "c")); res[0].Err != nil || res[0].HWM != 1 {
		t.Errorf("push in a new epoch = %+v, want applied", res[0])
	}

	// A later revocation moves the cutoff and adds the new epoch; an
	// older one (a late retry) changes nothing.
	t2 := t1.Add(time.Hour)
	applyAll(t, f, entry{Type: entryRevokeEdge, UAI: uai, Time: t2.UnixMilli(), Reason: "remplacé"}, revoke)
	got, _, _ = n.Revocation(uai)
	want = Revocation{UAI: uai, Time: t2, Reason: "remplacé", Epochs: []uint64{7, 9}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after a second revocation (-want +got):\n%s", diff)
	}
}

func TestRevocationEncoding(t *testing.T) {
	r := Revocation{UAI: "0130040Y", Time: time.UnixMilli(1_700_000_000_123).UTC(), Reason: "vol signalé", Epochs: []uint64{3, 1 << 40}}
	got, err := decodeRevocation(r.UAI, encodeRevocation(r))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	b := encodeRevocation(r)
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(b, 0)} {
		if _, err := decodeRevocation(r.UAI, bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeRevocation(%x) = %v, want ErrCorrupt", bad, err)
		}
	}
	en := entry{Type: entryRevokeEdge, UAI: "0130040Y", Time: 42, Reason: "x"}
	back, err := decodeEntry(encodeEntry(en))
	if err != nil || !cmp.Equal(en, back) {
		t.Errorf("entry round trip = %+v, %v, want %+v", back, err, en)
	}
}
