package central

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"atrium/ent"
	"atrium/record"
)

// BenchmarkFSMOutbox measures one state machine applying edge outbox
// batches of 1000 message.send commands through ent.Exec, as every central
// node does for each batch an edge pushes. It reports commands/s.
//
//	go test -run '^$' -bench BenchmarkFSMOutbox ./central/
func BenchmarkFSMOutbox(b *testing.B) {
	const uai, batch = "0130040Y", 1000
	f, err := openFSM(filepath.Join(b.TempDir(), "state.db"), ent.Exec, termIndex{ent.IndexTerms, ent.IndexVersion}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.close() })
	index := uint64(0)
	apply := func(en entry) *result {
		index++
		return f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: encodeEntry(en)}})[0].(*result)
	}
	users := []ent.User{
		{ID: "01890000-0000-7000-8000-000000000001", Login: "eleve.a", Name: "Léa Martin", Profile: ent.Student, UAI: uai, Active: true, Classes: []string{"1B"}},
		{ID: "01890000-0000-7000-8000-000000000002", Login: "prof.a", Name: "Paul Durand", Profile: ent.Teacher, UAI: uai, Active: true, Classes: []string{"1B"}},
	}
	for _, u := range users {
		args, _ := json.Marshal(u)
		res := apply(entry{Type: entryExecCommands, Commands: []record.Command{{Origin: record.OriginCentral, Op: ent.OpUserPut, Partition: uai, Args: args, Time: 1767600000000}}})
		if res.Errs[0] != nil {
			b.Fatalf("put user %s: %v", u.Login, res.Errs[0].err())
		}
	}
	// Encode every entry first: the benchmark measures applying them.
	entries := make([][]byte, b.N)
	seq := uint64(0)
	for i := range entries {
		cmds := make([]record.Command, batch)
		for j := range cmds {
			seq++
			args, _ := json.Marshal(ent.MessageArgs{ID: record.NewID(), To: users[1].ID, Subject: fmt.Sprintf("message %d", seq),
				Body: "Bonjour, ceci est un message de charge d'environ deux cents octets pour mesurer la réplication entre central et l'edge du lycée."})
			cmds[j] = record.Command{Origin: uai, Epoch: 1, Seq: seq, User: users[0].ID, Op: ent.OpMessageSend, Partition: uai, Args: args, Time: 1767600000000 + int64(seq)}
		}
		entries[i] = encodeEntry(entry{Type: entryEdgeOutbox, UAI: uai, Epoch: 1, Commands: cmds})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		index++
		res := f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: entries[i]}})[0].(*result)
		if res.HWM != uint64(i+1)*batch {
			b.Fatalf("batch %d: hwm %d, want %d", i, res.HWM, uint64(i+1)*batch)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "commands/s")
	// Every command was applied, none refused (a refusal writes a notice
	// and its index entry, two records).
	if err := f.view(func(r reader) error {
		if got := r.lastSeq(uai); got != uint64(len(users)+b.N*batch) {
			return fmt.Errorf("last seq %d, want %d", got, len(users)+b.N*batch)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}
