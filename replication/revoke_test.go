package replication

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"atrium/appliance"
	"atrium/record"
)

// TestRevokedEdgeRefusedAndClosed: once its certificate is revoked, an
// edge's open session is closed, its client stops with ErrRevoked, a push
// made afterwards is never applied, and a raw session with the same
// certificate hears CodeRevoked at Hello.
func TestRevokedEdgeRefusedAndClosed(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	src.put(record.Record{Partition: uaiA, ID: "r0", Kind: "news"})
	var revoked atomic.Bool
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TLS: pki.serverTLS(), Source: src, UAIOf: appliance.EdgeUAI, Visible: visibleNoUsers, Logger: quiet,
		Revoked: func(uai string, _ *x509.Certificate) (bool, error) { return uai == uaiA && revoked.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "server", srv.Serve)

	sink := newFakeSink(uaiA, 1)
	tlsA := pki.edgeTLS(t, uaiA)
	c, err := NewClient(ClientConfig{UAI: uaiA, Servers: []string{srv.Addr().String()}, TLS: tlsA, Sink: sink,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve(t.Context()) }()
	waitFor(t, "initial sync", 10*time.Second, func() bool { return c.Connected() && sink.count(uaiA) == 1 })

	revoked.Store(true)
	src.put(record.Record{Partition: record.Region, ID: "wake", Kind: "news"}) // a committed change wakes the check
	select {
	case err := <-done:
		if !errors.Is(err, ErrRevoked) {
			t.Errorf("client Serve = %v, want ErrRevoked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client still serving 10 s after its revocation")
	}
	if c.Connected() {
		t.Error("client still connected after revocation")
	}

	sink.submit("écrit après la révocation")
	_, resp := rawSession(t, pki, srv, uaiA, uaiA, 1)
	if !isError(resp, CodeRevoked) {
		t.Errorf("Hello with a revoked certificate = %#v, want Error revoked", resp)
	}
	if n := src.appliedCount(); n != 0 {
		t.Errorf("commands applied from a revoked edge = %d, want 0", n)
	}
	// Another lycée is not affected.
	if _, resp := rawSession(t, pki, srv, uaiB, uaiB, 1); !isOK(resp) {
		t.Errorf("Hello of another lycée = %#v, want HelloOK", resp)
	}
}

func isOK(m Message) bool { _, ok := m.(*HelloOK); return ok }

var quiet = slog.New(slog.DiscardHandler)

// TestClientStopsOnlyWhenRevoked: every refusal but CodeRevoked is retried
// (the edge must never purge itself on a wrong version, an internal error
// or a confused server); CodeRevoked ends Serve with ErrRevoked at once.
func TestClientStopsOnlyWhenRevoked(t *testing.T) {
	pki := newPKI(t)
	for _, code := range []string{CodeInternal, CodeVersion, CodeForbidden, CodeMalformed, CodeHello, "unknown-code", CodeRevoked} {
		t.Run(code, func(t *testing.T) {
			ln, err := listen("127.0.0.1:0", pki.serverTLS())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var hellos atomic.Int32
			go refuseEveryHello(ctx, ln, code, &hellos)
			defer ln.close()

			c, err := NewClient(ClientConfig{UAI: uaiA, Servers: []string{ln.addr().String()}, TLS: pki.edgeTLS(t, uaiA),
				Sink: newFakeSink(uaiA, 1), MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Serve(ctx) }()
			if code == CodeRevoked {
				select {
				case err := <-done:
					if !errors.Is(err, ErrRevoked) || hellos.Load() != 1 {
						t.Errorf("Serve = %v after %d hellos, want ErrRevoked after 1", err, hellos.Load())
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Serve still running 10 s after a revoked answer")
				}
				return
			}
			waitFor(t, "client retries", 10*time.Second, func() bool { return hellos.Load() >= 3 })
			select {
			case err := <-done:
				t.Fatalf("Serve returned %v on %q, want it to keep retrying", err, code)
			default:
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve after cancel = %v, want nil", err)
			}
		})
	}
}

// refuseEveryHello answers every Hello with Error{code}.
func refuseEveryHello(ctx context.Context, ln *listener, code string, hellos *atomic.Int32) {
	for {
		c, err := ln.accept(ctx)
		if err != nil {
			return
		}
		go func() {
			defer c.close("done")
			st, err := c.acceptStream(ctx)
			if err != nil {
				return
			}
			if _, err := ReadFrame(bufio.NewReader(st)); err != nil {
				return
			}
			hellos.Add(1)
			_ = WriteFrame(st, &Error{Code: code, Message: "test"})
			st.finish()
			select {
			case <-c.done():
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}()
	}
}
