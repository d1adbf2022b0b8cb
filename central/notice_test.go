package central

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"atrium/record"
)

// TestNoticeIndex: each refused command of an edge leaves a notice with
// its arguments (when they are JSON) and lists it, in the same entry, in
// its author's index; a retransmission lists nothing twice; a command
// without an author leaves a notice and no index.
func TestNoticeIndex(t *testing.T) {
	f := newTestFSM(t)
	const uai = "0130040Y"
	rej := func(seq uint64, user, args string) record.Command {
		return record.Command{Origin: uai, Epoch: 2, Seq: seq, User: user, Op: "test.reject", Partition: uai,
			Args: []byte(args), Time: 5000 + int64(seq)}
	}
	batch := entry{Type: entryEdgeOutbox, UAI: uai, Epoch: 2, Commands: []record.Command{
		rej(1, "u1", `{"id": "x"}`), rej(2, "u2", ``), rej(3, "u1", `{not json`), rej(4, "", `{}`)}}
	applyAll(t, f, batch)
	applyAll(t, f, batch) // retransmitted

	index := func(user string) []string {
		rec, ok := get(t, f, uai, record.NoticeIndexID(uai, user))
		if !ok {
			return nil
		}
		var idx record.NoticeIndex
		if err := json.Unmarshal(rec.Body, &idx); err != nil || rec.Kind != record.KindNoticeIndex {
			t.Fatalf("index of %s = %s %s, %v", user, rec.Kind, rec.Body, err)
		}
		return idx.Notices
	}
	ids := []string{noticeID(batch.Commands[0]), noticeID(batch.Commands[1]), noticeID(batch.Commands[2]), noticeID(batch.Commands[3])}
	if diff := cmp.Diff([]string{ids[0], ids[2]}, index("u1")); diff != "" {
		t.Errorf("index of u1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{ids[1]}, index("u2")); diff != "" {
		t.Errorf("index of u2 (-want +got):\n%s", diff)
	}
	if got := index(""); got != nil {
		t.Errorf("index of the system = %q, want none", got)
	}
	wantBodies := []string{
		`{"user":"u1","op":"test.reject","code":"forbidden","message":"Action interdite.","seq":1,"args":{"id":"x"},"origin":"0130040Y","epoch":2}`,
		`{"user":"u2","op":"test.reject","code":"forbidden","message":"Action interdite.","seq":2,"origin":"0130040Y","epoch":2}`,
		`{"user":"u1","op":"test.reject","code":"forbidden","message":"Action interdite.","seq":3,"origin":"0130040Y","epoch":2}`,
		`{"user":"","op":"test.reject","code":"forbidden","message":"Action interdite.","seq":4,"args":{},"origin":"0130040Y","epoch":2}`,
	}
	for i, id := range ids {
		rec, ok := get(t, f, uai, id)
		if !ok || string(rec.Body) != wantBodies[i] {
			t.Errorf("notice of seq %d = %s (found %v), want %s", i+1, rec.Body, ok, wantBodies[i])
		}
		if ms, ok := record.NoticeTime(id); !ok || ms != 5001+int64(i) {
			t.Errorf("NoticeTime(%s) = %d, %v; want %d", id, ms, ok, 5001+i)
		}
	}
}
