package regiontest_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"atrium/edge"
	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// userID returns the id of the user with login, read at central.
func userID(tb testing.TB, r *regiontest.Region, login string) string {
	tb.Helper()
	var id string
	err := r.AnyCentral().Node.View(func(rd record.Reader) error {
		rec, ok, err := rd.ByKey(ent.KindUser, login)
		if err != nil || !ok {
			return fmt.Errorf("user %s: ok=%v err=%v", login, ok, err)
		}
		id = rec.ID
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func messageCmd(from, to string, i int) record.Command {
	args, _ := json.Marshal(ent.MessageArgs{ID: record.NewID(), To: to, Subject: fmt.Sprintf("message %d", i),
		Body: "Bonjour, ceci est un message de charge d'environ deux cents octets pour mesurer la réplication entre central et l'edge du lycée."})
	return record.Command{User: from, Op: ent.OpMessageSend, Partition: lyceeA, Args: args, Time: time.Now().UnixMilli()}
}

// BenchmarkEdgeCatchUp measures records/s applied at an edge that catches
// up 100k changed records of its lycée from a three-node central over QUIC.
//
//	go test -run '^$' -bench BenchmarkEdgeCatchUp -benchtime 1x ./internal/regiontest/
func BenchmarkEdgeCatchUp(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		r := regiontest.Start(b, regiontest.Options{NoEdges: true, DirectWAN: true})
		ctx := b.Context()
		from := userID(b, r, r.Account(lyceeA, ent.Student).Login)
		to := userID(b, r, r.Account(lyceeA, ent.Teacher).Login)
		// Write the changes at central in outbox-sized batches, as edges do.
		for seq := 0; seq < n; seq += 1000 {
			batch := make([]record.Command, 0, 1000)
			for i := seq; i < seq+1000; i++ {
				c := messageCmd(from, to, i)
				c.Origin, c.Epoch, c.Seq = lyceeA, 1, uint64(i+1)
				batch = append(batch, c)
			}
			if _, err := r.AnyCentral().Node.ApplyOutbox(ctx, lyceeA, 1, batch); err != nil {
				b.Fatal(err)
			}
		}
		var last uint64
		lastSeq, err := r.AnyCentral().Node.LastSeq(lyceeA)
		if err != nil {
			b.Fatal(err)
		}
		last = lastSeq
		start := time.Now()
		e := r.AddEdge(lyceeA)
		regiontest.Eventually(b, 5*time.Minute, func() error {
			if got := e.Node.Status().Checkpoints[lyceeA]; got < last {
				return fmt.Errorf("edge checkpoint %d of %d", got, last)
			}
			return nil
		})
		elapsed := time.Since(start)
		b.ReportMetric(float64(last)/elapsed.Seconds(), "records/s")
		b.ReportMetric(elapsed.Seconds(), "s")
	}
}

// drainCPUProfile, when set, is where BenchmarkOutboxDrain writes a CPU
// profile of the drain window alone (edges restarted to outboxes empty).
var drainCPUProfile = flag.String("drain.cpuprofile", "", "BenchmarkOutboxDrain: write a CPU profile of the drain window to this file")

// BenchmarkOutboxDrain measures edge commands/s committed by a three-node
// central when the region's edges come back with a full outbox (30k
// commands in all, split between the lycées' edges, written while each
// edge was stopped), through direct QUIC links.
//
//	go test -run '^$' -bench BenchmarkOutboxDrain -benchtime 1x ./internal/regiontest/
func BenchmarkOutboxDrain(b *testing.B) {
	const n = 30_000
	for b.Loop() {
		r := regiontest.Start(b, regiontest.Options{DirectWAN: true})
		ctx := b.Context()
		lycees := r.Lycees()
		per := n / len(lycees)
		for _, uai := range lycees {
			from := userID(b, r, r.Account(uai, ent.Student).Login)
			to := userID(b, r, r.Account(uai, ent.Teacher).Login)
			r.StopEdge(uai)
			key, err := edge.ReadDataKey(edge.DefaultDataKeyPath(r.EdgeDataDir(uai))) // the replica is sealed
			if err != nil {
				b.Fatal(err)
			}
			store, err := edge.OpenWith(filepath.Join(r.EdgeDataDir(uai), "edge.db"), uai, ent.Exec, edge.Options{Indexer: ent.IndexTerms, IndexVersion: ent.IndexVersion, DataKey: key})
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for w := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < per; i += 64 {
						c := messageCmd(from, to, i)
						c.Partition = uai
						if err := store.Submit(ctx, c); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			if got := store.OutboxLen(); got != per {
				b.Fatalf("outbox of %s = %d, want %d", uai, got, per)
			}
			if err := store.Close(); err != nil {
				b.Fatal(err)
			}
		}
		stopProfile := startCPUProfile(b, *drainCPUProfile)
		cpu0 := cpuTime()
		start := time.Now()
		for _, uai := range lycees {
			r.RestartEdge(uai)
		}
		regiontest.Eventually(b, 5*time.Minute, func() error {
			for _, uai := range lycees {
				if got := r.Edge(uai).Node.Status().Outbox; got > 0 {
					return fmt.Errorf("%s: %d commands waiting", uai, got)
				}
			}
			return nil
		})
		elapsed := time.Since(start)
		cpu := cpuTime() - cpu0
		stopProfile()
		b.ReportMetric(float64(per*len(lycees))/elapsed.Seconds(), "commands/s")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.ReportMetric(float64(len(lycees)), "edges")
		b.ReportMetric(elapsed.Seconds(), "s")
	}
}

// BenchmarkLeaderFailover measures the longest gap between two
// acknowledged writes made through a follower while the leader is killed.
//
//	go test -run '^$' -bench BenchmarkLeaderFailover -benchtime 1x ./internal/regiontest/
func BenchmarkLeaderFailover(b *testing.B) {
	for b.Loop() {
		r := regiontest.Start(b, regiontest.Options{NoEdges: true})
		ctx := b.Context()
		from, to := r.Account(lyceeA, ent.Teacher), r.Account(lyceeA, ent.Personnel)
		leader := r.Leader()
		writer, err := regiontest.Login(ctx, r.Central((leader+1)%3).URL(), from.Login, from.Password)
		if err != nil {
			b.Fatal(err)
		}
		var acks []time.Time
		deadline := time.Time{}
		killed := false
		for i := 0; deadline.IsZero() || time.Now().Before(deadline); i++ {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := writer.Send(cctx, to.Login, fmt.Sprintf("écriture %d", i), "bascule")
			cancel()
			if err == nil {
				acks = append(acks, time.Now())
			}
			if !killed && len(acks) >= 50 {
				r.Kill(leader)
				killed = true
			}
			if killed && deadline.IsZero() && err == nil && len(acks) > 50 {
				deadline = time.Now().Add(2 * time.Second)
			}
		}
		gap := time.Duration(0)
		for i := 1; i < len(acks); i++ {
			gap = max(gap, acks[i].Sub(acks[i-1]))
		}
		b.ReportMetric(gap.Seconds(), "gap-s")
	}
}
