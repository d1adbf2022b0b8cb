package regiontest_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"atrium/appliance"
	"atrium/appliance/appliancetest"
	"atrium/edge"
	"atrium/ent"
	"atrium/ent/uai"
	"atrium/internal/regiontest"
	"atrium/record"
	"atrium/replication"
)

var (
	recoveryEdges   = flag.Int("recovery.edges", 200, "edges of BenchmarkRegionRecovery")
	recoveryBacklog = flag.Int("recovery.backlog", 2000, "changes waiting in each direction for each edge of BenchmarkRegionRecovery")
)

// BenchmarkRegionRecovery measures the end of a regional outage: N edges
// (200 by default), each with 2,000 commands in its outbox and 2,000
// changes of its lycée waiting at central, reconnect at once, while a user
// at home reads the news through central's JSON API. It reports the time
// until every edge has drained its outbox and applied its partition's
// head, and the API's latencies meanwhile, with central's admission slots
// (the default, 2×GOMAXPROCS, then 6, 8 and 16) and without.
//
//	go test -run '^$' -bench BenchmarkRegionRecovery -benchtime 1x -timeout 60m ./internal/regiontest/
//
// The edges are in-process edge.Stores synced by replication.Clients, each
// with its own certificate and lycée, against a replication.Server over a
// one-node central (the whole region shares the machine's two cores).
func BenchmarkRegionRecovery(b *testing.B) {
	for _, v := range []struct {
		name  string
		slots int
	}{{"slots=default", 0}, {"slots=6", 6}, {"slots=8", 8}, {"slots=16", 16}, {"no-admission", -1}} {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				regionRecovery(b, *recoveryEdges, *recoveryBacklog, replication.Admission{Slots: v.slots})
			}
		})
	}
}

type benchEdge struct {
	uai      string
	path     string
	store    *edge.Store
	tls      *appliance.Identity
	from, to string // a student and a teacher of the lycée
	head     uint64 // central's last sequence of the partition when the edges return
}

func regionRecovery(b *testing.B, n, backlog int, adm replication.Admission) {
	ctx := b.Context()
	quiet := slog.New(slog.DiscardHandler)
	r := regiontest.Start(b, regiontest.Options{Centrals: 1, NoEdges: true, DirectWAN: true})
	c := r.Central(0)

	// The lycées, a student and a teacher of the same class in each.
	edges := make([]*benchEdge, n)
	var setup []record.Command
	for i := range edges {
		digits := fmt.Sprintf("083%04d", i)
		e := &benchEdge{uai: digits + string(uai.CheckLetter(digits)), from: record.NewID(), to: record.NewID()}
		edges[i] = e
		add := func(op, partition string, args any) {
			body, _ := json.Marshal(args)
			setup = append(setup, record.Command{Origin: record.OriginCentral, Op: op, Partition: partition, Args: body, Time: time.Now().UnixMilli()})
		}
		add(ent.OpLyceePut, e.uai, ent.LyceeArgs{ID: record.NewID(), Lycee: ent.Lycee{UAI: e.uai, Name: "Lycée " + e.uai, City: "Toulon"}})
		for _, u := range []ent.User{
			{ID: e.from, Login: "eleve." + e.uai, Name: "Élève " + e.uai, Profile: ent.Student, UAI: e.uai, Active: true, Classes: []string{"1A"}},
			{ID: e.to, Login: "prof." + e.uai, Name: "Prof " + e.uai, Profile: ent.Teacher, UAI: e.uai, Active: true, Classes: []string{"1A"}},
		} {
			add(ent.OpUserPut, u.Partition(), u)
		}
	}
	for batch := range slices.Chunk(setup, 1000) {
		res, err := r.Admin().Commands(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Rejected) > 0 {
			b.Fatalf("setup: %d refused, first %+v", len(res.Rejected), res.Rejected[0])
		}
	}

	// Central's sync listener for these edges, with the admission under test.
	ca := appliancetest.NewCA(b)
	srv, err := replication.NewServer(replication.ServerConfig{
		Addr: "127.0.0.1:0", TLS: appliancetest.ServerTLS(b, ca), Source: c.Node, UAIOf: appliance.EdgeUAI,
		Visible: ent.PublishedToEdge, Logger: quiet, Admission: adm,
	})
	if err != nil {
		b.Fatal(err)
	}
	sctx, stopServer := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx) }()
	defer func() { stopServer(); <-served }()

	// Every edge syncs once (its users), then goes offline.
	dir := b.TempDir()
	for _, e := range edges {
		e.path = filepath.Join(dir, e.uai+".db")
		e.tls = appliancetest.Enrolled(b, ca, e.uai)
	}
	runEdges := func(until func(*benchEdge) bool) {
		ectx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, e := range edges {
			st, err := edge.OpenWith(e.path, e.uai, ent.Exec, edge.Options{Indexer: ent.IndexTerms, IndexVersion: ent.IndexVersion})
			if err != nil {
				b.Fatal(err)
			}
			e.store = st
			cl, err := replication.NewClient(replication.ClientConfig{UAI: e.uai, Servers: []string{srv.Addr().String()}, TLS: e.tls.ClientTLS(), Sink: st, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			wg.Go(func() { _ = cl.Serve(ectx) })
		}
		regiontest.Eventually(b, 30*time.Minute, func() error {
			for _, e := range edges {
				if !until(e) {
					return fmt.Errorf("edge %s not there yet (outbox %d)", e.uai, e.store.OutboxLen())
				}
			}
			return nil
		})
		cancel()
		wg.Wait()
		for _, e := range edges {
			if err := e.store.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
	runEdges(func(e *benchEdge) bool {
		return e.store.View(func(rd record.Reader) error {
			if _, ok, err := rd.Get(e.uai, e.to); err != nil || !ok {
				return fmt.Errorf("no teacher yet")
			}
			return nil
		}) == nil
	})

	// The outage: each edge's users write to its outbox, central's to
	// the lycée's partition.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, e := range edges {
		wg.Go(func() {
			st, err := edge.OpenWith(e.path, e.uai, ent.Exec, edge.Options{Indexer: ent.IndexTerms, IndexVersion: ent.IndexVersion})
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			var sw sync.WaitGroup
			for w := range 16 {
				sw.Go(func() {
					for i := w; i < backlog; i += 16 {
						cmd := messageCmd(e.from, e.to, i)
						cmd.Partition = e.uai
						if err := st.Submit(ctx, cmd); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			sw.Wait()
			if got := st.OutboxLen(); got != backlog {
				errs <- fmt.Errorf("outbox of %s = %d, want %d", e.uai, got, backlog)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	for _, e := range edges {
		for seq := 0; seq < backlog; seq += 1000 {
			batch := make([]record.Command, 0, 1000)
			for i := seq; i < min(seq+1000, backlog); i++ {
				cmd := messageCmd(e.to, e.from, i)
				cmd.Partition, cmd.Origin, cmd.Epoch, cmd.Seq = e.uai, e.uai, 1, uint64(i+1)
				batch = append(batch, cmd)
			}
			if _, err := c.Node.ApplyOutbox(ctx, e.uai, 1, batch); err != nil {
				b.Fatal(err)
			}
		}
		if e.head, err = c.Node.LastSeq(e.uai); err != nil {
			b.Fatal(err)
		}
	}

	// A user at home reads the news, four requests in flight, throughout.
	acc := r.Account(lyceeA, ent.Student)
	home, err := regiontest.Login(ctx, c.URL(), acc.Login, acc.Password)
	if err != nil {
		b.Fatal(err)
	}
	hctx, stopHome := context.WithCancel(ctx)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Int64
		hw        sync.WaitGroup
	)
	for range 4 {
		hw.Go(func() {
			for hctx.Err() == nil {
				start := time.Now()
				rctx, cancel := context.WithTimeout(hctx, 10*time.Second)
				_, err := home.News(rctx)
				cancel()
				if hctx.Err() != nil {
					return
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				latencies = append(latencies, time.Since(start))
				mu.Unlock()
			}
		})
	}

	// Every edge returns at once.
	start := time.Now()
	runEdges(func(e *benchEdge) bool {
		cp, err := e.store.Checkpoint(e.uai)
		return err == nil && cp >= e.head && e.store.OutboxLen() == 0
	})
	elapsed := time.Since(start)
	stopHome()
	hw.Wait()

	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(elapsed.Seconds(), "recovery-s")
	b.ReportMetric(float64(n), "edges")
	b.ReportMetric(pct(0.50), "api-p50-ms")
	b.ReportMetric(pct(0.99), "api-p99-ms")
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "api-req/s")
	b.ReportMetric(float64(failed.Load()), "api-errors")
}
