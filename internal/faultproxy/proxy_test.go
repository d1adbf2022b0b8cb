package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// echo serves a UDP echo on loopback until the test ends.
func echo(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP(buf[:n], from)
		}
	})
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return c.LocalAddr().String()
}

func start(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	ua, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg and reports whether it came back within wait.
func roundTrip(t *testing.T, c *net.UDPConn, msg []byte, wait time.Duration) bool {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 2048)
	for {
		_ = c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(buf[:n], msg) {
			return true
		}
	}
}

func TestEchoThroughProxy(t *testing.T) {
	p := start(t, echo(t))
	a, b := dial(t, p.Addr()), dial(t, p.Addr())
	for i, c := range []*net.UDPConn{a, b, a} {
		msg := []byte{'m', byte(i)}
		if !roundTrip(t, c, msg, 2*time.Second) {
			t.Fatalf("client %d: echo through proxy lost", i)
		}
	}
}

func TestCutDropsAndRestoreResumes(t *testing.T) {
	p := start(t, echo(t))
	c := dial(t, p.Addr())
	if !roundTrip(t, c, []byte("before"), 2*time.Second) {
		t.Fatal("echo before cut lost")
	}
	p.Cut()
	if roundTrip(t, c, []byte("during"), 200*time.Millisecond) {
		t.Fatal("echo during cut came back, want dropped")
	}
	p.Restore()
	if !roundTrip(t, c, []byte("after"), 2*time.Second) {
		t.Fatal("echo after restore lost")
	}
}

func TestDelay(t *testing.T) {
	p := start(t, echo(t))
	c := dial(t, p.Addr())
	p.SetDelay(50 * time.Millisecond)
	begin := time.Now()
	if !roundTrip(t, c, []byte("slow"), 2*time.Second) {
		t.Fatal("delayed echo lost")
	}
	if rtt := time.Since(begin); rtt < 100*time.Millisecond {
		t.Errorf("round trip with 50ms delay each way = %v, want >= 100ms", rtt)
	}
}

func TestTotalLoss(t *testing.T) {
	p := start(t, echo(t))
	c := dial(t, p.Addr())
	p.SetLoss(1)
	if roundTrip(t, c, []byte("lost"), 200*time.Millisecond) {
		t.Fatal("echo with loss 1 came back")
	}
	p.SetLoss(0)
	if !roundTrip(t, c, []byte("kept"), 2*time.Second) {
		t.Fatal("echo with loss 0 lost")
	}
}

func TestNewBadAddress(t *testing.T) {
	if _, err := New("127.0.0.1:0", "no-port"); err == nil {
		t.Error("New with target without port = nil error, want error")
	}
}
