package regiontest_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"atrium/appliance"
	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
	"atrium/replication"
)

// tamperedSink is the store of an appliance whose software was altered to
// reach another lycée's partition: it pulls what it is told and pushes
// commands aimed at lycée B.
type tamperedSink struct {
	mu       sync.Mutex
	received []record.Record
	pushes   int
	outbox   []record.Command
}

func (s *tamperedSink) Epoch() uint64                     { return 1 }
func (s *tamperedSink) Checkpoint(string) (uint64, error) { return 0, nil }
func (s *tamperedSink) AckOutbox(uint64, uint64) error    { return nil }
func (s *tamperedSink) OutboxChanged() <-chan struct{}    { return make(chan struct{}) }
func (s *tamperedSink) ApplyChanges(p string, recs []record.Record, _ uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, recs...)
	return nil
}
func (s *tamperedSink) Outbox(uint64, int) ([]record.Command, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pushes++
	return s.outbox, nil
}

// An edge holding lycée A's certificate can neither pull nor push lycée B's
// partition, whatever its software asks.
func TestEdgeConfinedToItsLycee(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	id, err := appliance.LoadIdentity(filepath.Join(r.EdgeDataDir(lyceeA), "identity"))
	if err != nil {
		t.Fatal(err)
	}
	studentB := userID(t, r, r.Account(lyceeB, ent.Student).Login)
	teacherB := userID(t, r, r.Account(lyceeB, ent.Teacher).Login)
	forged := messageCmd(studentB, teacherB, 0)
	forged.Partition = lyceeB

	for _, tc := range []struct {
		name   string
		hello  string // the UAI the tampered edge claims
		origin string
		pushes int // sessions that got as far as pushing before we look
	}{
		// Central accepts the hello, refuses the pull of B and the push
		// of B's command, and the edge keeps retrying.
		{"claims its own lycée, asks for B", lyceeA, lyceeA, 2},
		// Central refuses the hello: the edge never gets to push.
		{"claims lycée B", lyceeB, lyceeB, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := forged
			cmd.Origin, cmd.Epoch, cmd.Seq = tc.origin, 1, 1
			sink := &tamperedSink{outbox: []record.Command{cmd}}
			c, err := replication.NewClient(replication.ClientConfig{
				UAI: tc.hello, Partitions: []string{lyceeB}, Servers: r.QUICAddrs(), TLS: id.ClientTLS(), Sink: sink,
				Logger:     slog.New(slog.DiscardHandler),
				MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := ctxWithCancel(t)
			done := make(chan struct{})
			go func() { defer close(done); c.Serve(cctx) }()
			// Let it try: several sessions that pushed, or a couple of
			// seconds of refused hellos (nothing to observe but absence).
			start := time.Now()
			regiontest.Eventually(t, 20*time.Second, func() error {
				sink.mu.Lock()
				defer sink.mu.Unlock()
				if sink.pushes < tc.pushes || time.Since(start) < 2*time.Second {
					return fmt.Errorf("%d pushes tried, want %d", sink.pushes, tc.pushes)
				}
				return nil
			})
			if tc.pushes == 0 && sink.pushes > 0 {
				t.Fatalf("central accepted a hello naming lycée B from lycée A's certificate")
			}
			cancel()
			<-done
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if len(sink.received) > 0 {
				t.Fatalf("edge with lycée A's certificate received %d records of lycée B", len(sink.received))
			}
			// Central holds no trace of the forged message.
			err = r.AnyCentral().Node.View(func(rd record.Reader) error {
				var args ent.MessageArgs
				jsonUnmarshal(cmd.Args, &args)
				if _, ok, err := rd.Get(lyceeB, args.ID); err != nil || ok {
					return fmt.Errorf("forged message in lycée B's partition: ok=%v err=%v", ok, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
