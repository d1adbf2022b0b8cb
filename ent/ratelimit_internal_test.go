package ent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"atrium/record"
)

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, 2 * time.Second}, {5, 32 * time.Second}, {9, 512 * time.Second}, {10, 15 * time.Minute}, {1000, 15 * time.Minute}} {
		if got := backoff(c.n); got != c.want {
			t.Errorf("backoff(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

func TestFailureTableBounded(t *testing.T) {
	const max = 100
	tab := newFailureTable(1, max)
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	// A flood of distinct keys, one failure each, a millisecond apart.
	for i := range 10 * max {
		tab.fail(fmt.Sprint("login", i), t0.Add(time.Duration(i)*time.Millisecond))
		if n := tab.len(); n > max {
			t.Fatalf("after %d keys the table holds %d entries, want at most %d", i+1, n, max)
		}
	}
	now := t0.Add(10 * max * time.Millisecond)
	// The oldest are evicted, the latest still refused.
	if w := tab.wait("login0", now); w != 0 {
		t.Errorf("wait(oldest) = %v, want 0 (evicted)", w)
	}
	if w := tab.wait(fmt.Sprint("login", 10*max-1), now); w <= 0 {
		t.Errorf("wait(latest) = %v, want a refusal", w)
	}
	// Once the window has passed, entries are swept on the next insert.
	tab.fail("late", now.Add(failureWindow+time.Second))
	if n := tab.len(); n != 1 {
		t.Errorf("after the window the table holds %d entries, want 1", n)
	}
}

// nopStore holds no user.
type nopStore struct{}

func (nopStore) View(func(record.Reader) error) error         { return nil }
func (nopStore) Submit(context.Context, record.Command) error { return nil }

func TestLoginBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, err := NewService(ServiceConfig{Store: nopStore{}, Origin: record.OriginCentral,
			SessionKey: make([]byte, 32), LoginSlots: 2})
		if err != nil {
			t.Fatal(err)
		}
		// Every verification slot is taken and stays so.
		svc.limiter.slots <- struct{}{}
		svc.limiter.slots <- struct{}{}
		start := time.Now()
		if _, _, err := svc.Login(t.Context(), "eleve.a", "secret", Client{IP: "10.0.0.7"}); !errors.Is(err, ErrBusy) {
			t.Errorf("Login with every slot taken = %v, want ErrBusy", err)
		}
		if waited := time.Since(start); waited != loginSlotWait {
			t.Errorf("Login waited %v for a slot, want %v", waited, loginSlotWait)
		}
		// A caller that gives up first gets its context's error.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, _, err := svc.Login(ctx, "eleve.a", "secret", Client{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Login with a context ending first = %v, want DeadlineExceeded", err)
		}
		// A slot freed in time is taken.
		go func() {
			time.Sleep(time.Second)
			svc.limiter.slots.release()
		}()
		if _, _, err := svc.Login(t.Context(), "nobody", "secret", Client{}); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Login once a slot frees up = %v, want ErrBadCredentials", err)
		}
		// Busy refusals are not failures.
		if w := svc.limiter.logins.wait("eleve.a", time.Now()); w != 0 {
			t.Errorf("wait after busy refusals = %v, want 0", w)
		}
	})
}
