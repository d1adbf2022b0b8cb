package replication

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Admission bounds how many edges catch up at once, so that the end of a
// regional outage (hundreds of edges returning together, each with a
// backlog) does not starve the users central serves meanwhile. The zero
// value is the defaults.
type Admission struct {
	// Slots is how many edges may catch up at once; 0 = 2×GOMAXPROCS,
	// negative = no limit (admission control off).
	Slots int
	// Backlog is the number of records behind (a Pull) or commands waiting
	// (a Hello's or Push's outbox depth) from which a request is heavy and
	// needs a slot; lighter requests are always served. 0 = 500.
	Backlog int
	// RetryAfter is the retry-after told to the first edge in line; an
	// edge further back is told more, in proportion to how long a slot has
	// been held lately. 0 = 500 ms.
	RetryAfter time.Duration
	// MaxRetryAfter bounds the retry-after; 0 = 30 s.
	MaxRetryAfter time.Duration
	// Hold is how long a slot stays with an edge after its last heavy
	// request ended (the edge is applying what it received, or reading its
	// next batch); 0 = 300 ms.
	Hold time.Duration
	// Park is how long a heavy request of an edge next in line (among the
	// first Slots waiting) waits at the server for a slot before it is
	// answered busy, so that a freed slot is handed over at once; 0 = 2 s,
	// negative = never.
	Park time.Duration
}

func (a Admission) withDefaults() Admission {
	if a.Slots == 0 {
		a.Slots = 2 * runtime.GOMAXPROCS(0)
	}
	if a.Backlog <= 0 {
		a.Backlog = 500
	}
	if a.RetryAfter <= 0 {
		a.RetryAfter = 500 * time.Millisecond
	}
	if a.MaxRetryAfter <= 0 {
		a.MaxRetryAfter = 30 * time.Second
	}
	a.MaxRetryAfter = max(a.MaxRetryAfter, a.RetryAfter)
	if a.Hold <= 0 {
		a.Hold = 300 * time.Millisecond
	}
	if a.Park == 0 {
		a.Park = 2 * time.Second
	}
	return a
}

// admission is the server's slot table. An edge holds a slot from its
// first admitted heavy request until it has had none in flight for Hold,
// or its session ends. Edges refused wait in line, ordered by when they
// were first refused, then by backlog (the one furthest behind first):
// a freed slot is kept for the first in line while it is expected back.
type admission struct {
	cfg  Admission
	now  func() time.Time
	jit  func(time.Duration) time.Duration // uniform in [0, d]
	mu   sync.Mutex
	held map[string]*slot
	line map[string]*waiter
	wake chan struct{} // closed, and replaced, when a slot frees
	// step estimates how long a slot is held (exponentially weighted):
	// the wait of an edge k places back in line is about k·step/Slots.
	step time.Duration

	busy prometheus.Counter
}

type slot struct {
	inflight int
	rest     map[string]uint64 // backlog left, by what the edge catches up (a partition, its outbox)
	since    time.Time         // admitted at
	last     time.Time         // last heavy request ended (or began)
}

type waiter struct {
	first   time.Time // first refused
	backlog uint64
	expect  time.Time // told to come back by then; dropped from line after
}

func newAdmission(cfg Admission) *admission {
	cfg = cfg.withDefaults()
	return &admission{
		cfg:  cfg,
		now:  time.Now,
		jit:  func(d time.Duration) time.Duration { return rand.N(d + 1) },
		held: map[string]*slot{},
		line: map[string]*waiter{},
		wake: make(chan struct{}),
		step: cfg.RetryAfter,
		busy: prometheus.NewCounter(prometheus.CounterOpts{Name: "atrium_replication_admission_busy_total", Help: "Heavy requests of catching-up edges answered busy because every slot was taken."}),
	}
}

func (a *admission) enabled() bool { return a.cfg.Slots > 0 }

// heavy reports whether backlog needs a slot.
func (a *admission) heavy(backlog uint64) bool {
	return a.enabled() && backlog >= uint64(a.cfg.Backlog)
}

// acquire asks a slot for a request of uai. An edge already holding one
// always gets it; ok is false when the slots are taken (or kept for edges
// ahead in line), with the retry-after to tell the edge. Every acquire
// that returns ok must be followed by done.
func (a *admission) acquire(uai string, backlog uint64) (ok bool, retry time.Duration) {
	ok, retry, _ = a.try(uai, backlog)
	if !ok {
		a.busy.Inc()
	}
	return ok, retry
}

// wait is acquire for a server's request: an edge next in line (among
// the first Slots waiting) waits up to Park for a slot to free, so that
// the slot is handed over at once rather than when the edge returns.
func (a *admission) wait(ctx context.Context, uai string, backlog uint64) (ok bool, retry time.Duration) {
	deadline := time.Now().Add(a.cfg.Park)
	for {
		a.mu.Lock()
		wake := a.wake
		a.mu.Unlock()
		ok, retry, rank := a.try(uai, backlog)
		if ok {
			return true, 0
		}
		left := time.Until(deadline)
		if rank >= a.cfg.Slots || left <= 0 {
			a.busy.Inc()
			return false, retry
		}
		// A slot also frees when its edge has been idle for Hold: look
		// again now and then, not only when woken.
		t := time.NewTimer(min(left, a.cfg.Hold/4+time.Millisecond))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			a.busy.Inc()
			return false, retry
		}
		t.Stop()
	}
}

// try is acquire without counting a refusal; rank is the edge's place in
// line when refused.
func (a *admission) try(uai string, backlog uint64) (ok bool, retry time.Duration, rank int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if s := a.held[uai]; s != nil {
		s.inflight++
		s.last = now
		return true, 0, 0
	}
	a.expireLocked(now)
	order := a.orderLocked()
	rank = len(order) // a newcomer queues behind everyone waiting
	for i, u := range order {
		if u == uai {
			rank = i
			break
		}
	}
	if free := a.cfg.Slots - len(a.held); rank < free {
		delete(a.line, uai)
		a.held[uai] = &slot{inflight: 1, since: now, last: now, rest: map[string]uint64{}}
		return true, 0, 0
	}
	w := a.line[uai]
	if w == nil {
		w = &waiter{first: now}
		a.line[uai] = w
	}
	w.backlog = backlog
	retry = a.cfg.RetryAfter + time.Duration(int64(a.step)*int64(rank)/int64(a.cfg.Slots))
	retry = min(retry, a.cfg.MaxRetryAfter)
	// ±20 % of jitter, so that edges told the same wait do not return in
	// the same millisecond.
	retry = retry*4/5 + a.jit(retry*2/5)
	// Keep its place for a while after that: the edge adds its own jitter
	// and a handshake.
	w.expect = now.Add(a.cfg.Park + retry + retry/2 + time.Second)
	return false, retry, rank
}

// done ends a heavy request admitted by acquire: what (a partition, the
// outbox) has rest left to catch up. The slot frees at once when nothing
// heavy is left and no heavy request is in flight.
func (a *admission) done(uai, what string, rest uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.held[uai]
	if s == nil {
		return
	}
	now := a.now()
	s.inflight = max(0, s.inflight-1)
	s.last = now
	s.rest[what] = rest
	if s.inflight > 0 {
		return
	}
	for _, r := range s.rest {
		if a.heavy(r) {
			return
		}
	}
	a.freeLocked(uai, s, now)
}

// release frees uai's slot at once (its session ended).
func (a *admission) release(uai string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.held[uai]; s != nil {
		a.freeLocked(uai, s, a.now())
	}
}

func (a *admission) freeLocked(uai string, s *slot, now time.Time) {
	// The hold, less the idle tail, is how long a catch-up took.
	took := max(s.last.Sub(s.since), 0)
	a.step = (a.step*7 + max(took, a.cfg.RetryAfter)) / 8
	delete(a.held, uai)
	close(a.wake)
	a.wake = make(chan struct{})
}

func (a *admission) expireLocked(now time.Time) {
	for uai, s := range a.held {
		if s.inflight == 0 && now.Sub(s.last) >= a.cfg.Hold {
			a.freeLocked(uai, s, now)
		}
	}
	for uai, w := range a.line {
		if now.After(w.expect) {
			delete(a.line, uai)
		}
	}
}

// orderLocked is the line: waiting longest first, then furthest behind.
func (a *admission) orderLocked() []string {
	out := make([]string, 0, len(a.line))
	for uai := range a.line {
		out = append(out, uai)
	}
	sort.Slice(out, func(i, j int) bool {
		wi, wj := a.line[out[i]], a.line[out[j]]
		if !wi.first.Equal(wj.first) {
			return wi.first.Before(wj.first)
		}
		if wi.backlog != wj.backlog {
			return wi.backlog > wj.backlog
		}
		return out[i] < out[j]
	})
	return out
}

// counts returns the slots held and the edges waiting in line.
func (a *admission) counts() (held, waiting int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(a.now())
	return len(a.held), len(a.line)
}

func (a *admission) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atrium_replication_admission_admitted", Help: "Edges holding a catch-up slot."},
			func() float64 { h, _ := a.counts(); return float64(h) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "atrium_replication_admission_waiting", Help: "Catching-up edges told to come back later, waiting for a slot."},
			func() float64 { _, w := a.counts(); return float64(w) }),
		a.busy,
	}
}

// busyError is the answer to a heavy request refused for want of a slot.
// The retry-after rides in the message ("retry-after-ms=N; …"), so that
// the Error frame keeps its layout: an older client treats it as any
// other refusal and reconnects with its backoff.
func busyError(retry time.Duration) *Error {
	return &Error{Code: CodeBusy, Message: fmt.Sprintf("%s%d; central is busy with other edges catching up", retryAfterPrefix, retry.Milliseconds())}
}

const retryAfterPrefix = "retry-after-ms="

// parseRetryAfter reads the retry-after of a busy answer's message; 0 when
// it carries none.
func parseRetryAfter(msg string) time.Duration {
	rest, ok := strings.CutPrefix(msg, retryAfterPrefix)
	if !ok {
		return 0
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		rest = rest[:i]
	}
	ms, err := strconv.ParseUint(rest, 10, 32)
	if err != nil {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
