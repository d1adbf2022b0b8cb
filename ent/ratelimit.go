package ent

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Login throttling. Verifying a password costs a core about a tenth of a
// second (argon2id), so an edge with two cores must neither verify more
// passwords at once than it has cores nor let a client guess a password
// at that pace.
const (
	// loginSlotWait is how long a login waits for a verification slot
	// before it fails with ErrBusy.
	loginSlotWait = 2 * time.Second

	// failureWindow is how long a failure is remembered: an entry is
	// forgotten once it has had no failure and no refusal in force for
	// that long.
	failureWindow = 15 * time.Minute
	// freeLoginFailures is how many failures a login may have within the
	// window before each further one imposes a wait.
	freeLoginFailures = 5
	// freeAddrFailures is the same for a client address, which may be
	// shared (a family's connection, a teachers' room): more generous.
	freeAddrFailures = 20
	// The wait after the first failure past the free ones, doubled by
	// each further failure up to maxBackoff.
	minBackoff = time.Second
	maxBackoff = 15 * time.Minute

	// maxFailureEntries caps each table (logins, addresses) so that a
	// flood of distinct logins or addresses cannot exhaust memory.
	maxFailureEntries = 100_000
)

// loginKey is the key under which a login's failures are counted: logins
// differing only in case or surrounding space are one account to an
// attacker.
func loginKey(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// verifySlots bounds the concurrent password verifications.
type verifySlots chan struct{}

func newVerifySlots(n int) verifySlots {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return make(verifySlots, n)
}

// acquire takes a slot, waiting at most wait: ErrBusy if none frees up, or
// the context's error if it ends first.
func (s verifySlots) acquire(ctx context.Context, wait time.Duration) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return fmt.Errorf("login: %w", context.Cause(ctx))
	}
}

func (s verifySlots) release() { <-s }

// failure is what a failureTable remembers of a key.
type failure struct {
	count int       // failures since the entry was (re)started
	last  time.Time // latest failure
	until time.Time // attempts refused before this instant
}

// idleSince is when the entry last mattered: its latest failure or the end
// of its refusal, whichever is later.
func (f *failure) idleSince() time.Time {
	if f.until.After(f.last) {
		return f.until
	}
	return f.last
}

// failureTable counts recent failures per key (a login or a client
// address) and refuses attempts for a growing wait once a key has had more
// than free of them. Safe for concurrent use; holds at most max entries.
type failureTable struct {
	free int
	max  int

	mu        sync.Mutex
	m         map[string]*failure
	lastSweep time.Time
}

func newFailureTable(free, max int) *failureTable {
	return &failureTable{free: free, max: max, m: make(map[string]*failure)}
}

// wait returns how long attempts for key are still refused at now (zero:
// allowed).
func (t *failureTable) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m[key]
	if !ok || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// fail records a failure for key at now.
func (t *failureTable) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m[key]
	switch {
	case !ok:
		t.makeRoom(now)
		f = &failure{}
		t.m[key] = f
	case now.Sub(f.idleSince()) >= failureWindow:
		*f = failure{} // forgotten: start over
	}
	f.count++
	f.last = now
	if f.count >= t.free {
		f.until = now.Add(backoff(f.count - t.free))
	}
}

// reset forgets key's failures.
func (t *failureTable) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// len returns the number of entries held.
func (t *failureTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// makeRoom, called before adding an entry, drops the forgotten entries
// (at most once per window unless the table is full) and, if the table is
// still full, the entry idle for the longest. t.mu must be held.
func (t *failureTable) makeRoom(now time.Time) {
	full := len(t.m) >= t.max
	if !full && now.Sub(t.lastSweep) < failureWindow {
		return
	}
	t.lastSweep = now
	var oldestKey string
	var oldest time.Time
	for k, f := range t.m {
		idle := f.idleSince()
		if now.Sub(idle) >= failureWindow {
			delete(t.m, k)
			continue
		}
		if oldestKey == "" || idle.Before(oldest) {
			oldestKey, oldest = k, idle
		}
	}
	if len(t.m) >= t.max {
		delete(t.m, oldestKey)
	}
}

// backoff returns the wait imposed by the n-th failure past the free ones
// (n from 0): minBackoff doubled n times, at most maxBackoff.
func backoff(n int) time.Duration {
	d := minBackoff
	for range n {
		d *= 2
		if d >= maxBackoff {
			return maxBackoff
		}
	}
	return d
}

// loginLimiter throttles logins per login and per client address.
type loginLimiter struct {
	slots  verifySlots
	logins *failureTable
	addrs  *failureTable
}

func newLoginLimiter(slots int) *loginLimiter {
	return &loginLimiter{
		slots:  newVerifySlots(slots),
		logins: newFailureTable(freeLoginFailures, maxFailureEntries),
		addrs:  newFailureTable(freeAddrFailures, maxFailureEntries),
	}
}

// check returns a *TooManyAttemptsError if attempts for login or from addr
// (empty: unknown, not limited) are refused at now.
func (l *loginLimiter) check(login, addr string, now time.Time) error {
	w := l.logins.wait(loginKey(login), now)
	if addr != "" {
		w = max(w, l.addrs.wait(addr, now))
	}
	if w > 0 {
		return &TooManyAttemptsError{RetryAfter: w}
	}
	return nil
}

// failed records a failed attempt.
func (l *loginLimiter) failed(login, addr string, now time.Time) {
	l.logins.fail(loginKey(login), now)
	if addr != "" {
		l.addrs.fail(addr, now)
	}
}

// succeeded forgets the login's failures; the address's stay counted, or
// an attacker could clear them by logging into an account of their own.
func (l *loginLimiter) succeeded(login string) {
	l.logins.reset(loginKey(login))
}
