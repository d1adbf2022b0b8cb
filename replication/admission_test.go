package replication

import (
	"bufio"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/internal/metrictest"
	"atrium/record"
)

// fakeClock is a settable clock for the slot table.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testAdmission(cfg Admission) (*admission, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	a := newAdmission(cfg)
	a.now = clk.now
	a.jit = func(d time.Duration) time.Duration { return d / 2 } // no jitter: the middle
	return a, clk
}

// TestAdmissionSlotsNeverExceeded: many edges asking at once never hold
// more slots than configured, and each is admitted eventually.
func TestAdmissionSlotsNeverExceeded(t *testing.T) {
	a := newAdmission(Admission{Slots: 3, Hold: time.Millisecond, RetryAfter: time.Millisecond})
	var (
		mu       sync.Mutex
		inside   = map[string]bool{}
		most     int
		admitted atomic.Int32
		wg       sync.WaitGroup
	)
	for i := range 40 {
		uai := fmt.Sprintf("%07dA", i)
		wg.Go(func() {
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				ok, retry := a.acquire(uai, 1000)
				if !ok {
					time.Sleep(min(retry, 5*time.Millisecond))
					continue
				}
				mu.Lock()
				inside[uai] = true
				most = max(most, len(inside))
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				delete(inside, uai)
				mu.Unlock()
				a.done(uai, "push", 1000)
				a.release(uai)
				admitted.Add(1)
				return
			}
		})
	}
	wg.Wait()
	if most > 3 {
		t.Errorf("edges catching up at once = %d, want at most 3", most)
	}
	if got := admitted.Load(); got != 40 {
		t.Errorf("edges admitted = %d, want 40", got)
	}
	if h, w := a.counts(); h != 0 {
		t.Errorf("slots held after every edge left = %d (waiting %d), want 0", h, w)
	}
}

// TestAdmissionOrder: a freed slot goes to the edge waiting longest (then
// furthest behind), not to whoever asks first; the first in line is told
// the shortest wait; an idle slot is freed after Hold.
func TestAdmissionOrder(t *testing.T) {
	a, clk := testAdmission(Admission{Slots: 1, Hold: time.Second, RetryAfter: time.Second})
	if ok, _ := a.acquire("holder", 1000); !ok {
		t.Fatal("acquire on an empty table refused")
	}
	a.done("holder", "push", 1000) // still behind: it keeps the slot until Hold
	retries := map[string]time.Duration{}
	// early-small and early-big are refused at the same instant, late after.
	_, retries["early-small"] = a.acquire("early-small", 600)
	_, retries["early-big"] = a.acquire("early-big", 5000)
	clk.add(100 * time.Millisecond)
	_, retries["late"] = a.acquire("late", 900)
	if !(retries["early-small"] < retries["late"]) {
		t.Errorf("retry-after of the first in line %v, of the third %v: want the first shorter", retries["early-small"], retries["late"])
	}

	clk.add(time.Second) // the holder has been idle for Hold: its slot is free
	for _, tc := range []struct {
		uai  string
		want bool
	}{{"late", false}, {"early-small", false}, {"early-big", true}} {
		if ok, _ := a.acquire(tc.uai, 1000); ok != tc.want {
			t.Errorf("acquire(%s) after the slot freed = %v, want %v", tc.uai, ok, tc.want)
		}
	}
	if ok, _ := a.acquire("early-big", 1000); !ok {
		t.Error("acquire by the edge holding the slot refused")
	}
	a.done("early-big", "push", 1000)
	a.done("early-big", "pull X", 1000)
	a.release("early-big")
	if ok, _ := a.acquire("late", 1000); ok {
		t.Error("acquire(late) admitted ahead of early-small")
	}
	if ok, _ := a.acquire("early-small", 1000); !ok {
		t.Error("acquire(early-small), first in line on a free slot, refused")
	}
	// Caught up in one direction, still behind in none: the slot frees
	// at once, without waiting for Hold.
	a.done("early-small", "pull X", 10)
	if h, _ := a.counts(); h != 0 {
		t.Errorf("slots held after the only holder caught up = %d, want 0", h)
	}
	if ok, _ := a.acquire("early-small", 1000); ok {
		t.Error("acquire(early-small) again admitted ahead of late, now first in line")
	}
	if ok, _ := a.acquire("late", 1000); !ok {
		t.Error("acquire(late), first in line on a free slot, refused")
	}
	if h, w := a.counts(); h != 1 || w != 1 {
		t.Errorf("counts = %d held, %d waiting; want 1, 1", h, w)
	}
	// An edge that does not come back loses its place.
	clk.add(time.Minute)
	if _, w := a.counts(); w != 0 {
		t.Errorf("waiting after a minute without news = %d, want 0", w)
	}
}

// TestAdmissionParks: the edge next in line waits at the server and gets
// the slot as soon as it frees, without a busy answer; an edge further
// back is answered busy at once.
func TestAdmissionParks(t *testing.T) {
	a := newAdmission(Admission{Slots: 1, Park: 10 * time.Second})
	if ok, _ := a.acquire("holder", 1000); !ok {
		t.Fatal("acquire on an empty table refused")
	}
	got := make(chan bool, 1)
	go func() { ok, _ := a.wait(t.Context(), "next", 1000); got <- ok }()
	waitFor(t, "next in line", 5*time.Second, func() bool { _, w := a.counts(); return w == 1 })
	start := time.Now()
	if ok, retry := a.wait(t.Context(), "behind", 1000); ok || retry <= 0 {
		t.Errorf("wait(behind) = %v, %v; want refused with a retry-after", ok, retry)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("wait(behind) took %v, want an answer at once", d)
	}
	a.release("holder")
	select {
	case ok := <-got:
		if !ok {
			t.Error("wait(next) = refused, want the freed slot")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait(next) still parked 5 s after the slot freed")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.collectors()...)
	want := map[string]float64{"atrium_replication_admission_busy_total": 1, "atrium_replication_admission_admitted": 1, "atrium_replication_admission_waiting": 1}
	for name, got := range metrictest.Values(t, reg) {
		if got != want[name] {
			t.Errorf("%s = %v, want %v (busy: behind only; behind still in line)", name, got, want[name])
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want time.Duration
	}{
		{busyError(1234 * time.Millisecond).Message, 1234 * time.Millisecond},
		{"retry-after-ms=50", 50 * time.Millisecond},
		{"retry-after-ms=x; busy", 0},
		{"busy", 0},
		{"", 0},
	} {
		if got := parseRetryAfter(tc.msg); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

// TestClientWaitsRetryAfter: a busy answer is retried after about the
// retry-after it carries, every time: the backoff (here up to 5 s from
// 10 ms) does not grow with busy answers.
func TestClientWaitsRetryAfter(t *testing.T) {
	pki := newPKI(t)
	ln, err := listen("127.0.0.1:0", pki.serverTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const retry = 300 * time.Millisecond
	var (
		mu     sync.Mutex
		hellos []time.Time
	)
	go func() {
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
				mu.Lock()
				hellos = append(hellos, time.Now())
				mu.Unlock()
				_ = WriteFrame(st, busyError(retry))
				st.finish()
				select {
				case <-c.done():
				case <-ctx.Done():
				}
			}()
		}
	}()
	c, err := NewClient(ClientConfig{UAI: uaiA, Servers: []string{ln.addr().String()}, TLS: pki.edgeTLS(t, uaiA),
		Sink: newFakeSink(uaiA, 1), MinBackoff: 10 * time.Millisecond, MaxBackoff: 5 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx) }()
	waitFor(t, "six hellos", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(hellos) >= 6 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(hellos); i++ {
		// retry + up to MinBackoff of jitter, a handshake and scheduling.
		if gap := hellos[i].Sub(hellos[i-1]); gap < retry || gap > retry+time.Second {
			t.Errorf("gap between hello %d and %d = %v, want about %v", i-1, i, gap, retry)
		}
	}
}

// TestBusyEdgeCatchesUpAfterSlotFrees: with the only slot taken, an edge
// in sync is served at once, an edge with a backlog hears busy and waits;
// once the slot frees, it catches up.
func TestBusyEdgeCatchesUpAfterSlotFrees(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	for i := range 60 {
		src.put(record.Record{Partition: uaiA, ID: fmt.Sprintf("a%d", i), Kind: "news"})
	}
	src.put(record.Record{Partition: uaiB, ID: "b0", Kind: "news"})
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TLS: pki.serverTLS(), Source: src, UAIOf: appliance.EdgeUAI, Visible: visibleNoUsers, Logger: quiet,
		Admission: Admission{Slots: 1, Backlog: 50, RetryAfter: 100 * time.Millisecond, Hold: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "server", srv.Serve)
	if ok, _ := srv.adm.acquire("0000001X", 10000); !ok { // another edge catching up
		t.Fatal("first slot refused")
	}

	sinkA, sinkB := newFakeSink(uaiA, 1), newFakeSink(uaiB, 1)
	startClient(t, ClientConfig{UAI: uaiA, Servers: []string{srv.Addr().String()}, TLS: pki.edgeTLS(t, uaiA), Sink: sinkA,
		MinBackoff: 10 * time.Millisecond, Logger: quiet})
	startClient(t, ClientConfig{UAI: uaiB, Servers: []string{srv.Addr().String()}, TLS: pki.edgeTLS(t, uaiB), Sink: sinkB,
		MinBackoff: 10 * time.Millisecond, Logger: quiet})

	waitFor(t, "edge B, in sync, served while the slot is taken", 10*time.Second, func() bool { return sinkB.count(uaiB) == 1 })
	waitFor(t, "edge A told busy", 10*time.Second, func() bool { _, w := srv.adm.counts(); return w == 1 })
	if got := sinkA.count(uaiA); got != 0 {
		t.Errorf("edge A holds %d records while no slot is free, want 0", got)
	}
	srv.adm.done("0000001X", "push", 0) // caught up: the slot frees at once
	waitFor(t, "edge A caught up once the slot freed", 10*time.Second, func() bool { return sinkA.count(uaiA) == 60 })
}
