package replication

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"atrium/appliance"
	"atrium/record"
)

// nopSink applies nothing: it measures the protocol, not a store.
type nopSink struct {
	checkpoint atomic.Uint64
	target     uint64
	done       chan struct{}
}

func (k *nopSink) Epoch() uint64                                { return 1 }
func (k *nopSink) Checkpoint(string) (uint64, error)            { return k.checkpoint.Load(), nil }
func (k *nopSink) Outbox(uint64, int) ([]record.Command, error) { return nil, nil }
func (k *nopSink) AckOutbox(uint64, uint64) error               { return nil }
func (k *nopSink) OutboxChanged() <-chan struct{}               { return nil }
func (k *nopSink) ApplyChanges(_ string, _ []record.Record, cp uint64) error {
	if k.checkpoint.Swap(cp) < k.target && cp >= k.target {
		close(k.done)
	}
	return nil
}

// BenchmarkCatchUp measures an edge catching up 100k records of ~200 bytes
// from central through real QUIC with mutual TLS on loopback.
func BenchmarkCatchUp(b *testing.B) {
	const n = 100_000
	pki := newPKI(b)
	src := newFakeSource()
	body := bytes.Repeat([]byte("x"), 200)
	for i := range n {
		src.put(record.Record{Partition: uaiA, ID: fmt.Sprintf("0190d5a0-0000-7000-8000-%012d", i), Kind: "news", Body: body})
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TLS: pki.serverTLS(), Source: src, UAIOf: appliance.EdgeUAI, Visible: visibleNoUsers, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	runUntilCleanup(b, "server", srv.Serve)
	tlsConf := pki.edgeTLS(b, uaiA)

	b.ResetTimer()
	start := time.Now()
	for range b.N {
		sink := &nopSink{target: n, done: make(chan struct{})}
		c, err := NewClient(ClientConfig{UAI: uaiA, Partitions: []string{uaiA}, Servers: []string{srv.Addr().String()}, TLS: tlsConf, Sink: sink, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- c.Serve(ctx) }()
		select {
		case <-sink.done:
		case <-time.After(time.Minute):
			b.Fatal("catch-up did not finish within a minute")
		}
		cancel()
		if err := <-served; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "records/s")
}
