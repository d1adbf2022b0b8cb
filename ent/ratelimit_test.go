package ent_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"atrium/ent"
)

// retryAfter returns the wait carried by a Login error, failing the test
// if it is not a refusal for too many attempts.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	tm, ok := errors.AsType[*ent.TooManyAttemptsError](err)
	if !ok || !errors.Is(err, ent.ErrTooManyAttempts) {
		t.Fatalf("Login error = %v, want ErrTooManyAttempts", err)
	}
	return tm.RetryAfter
}

func TestLoginBackOffAfterFailures(t *testing.T) {
	svc, _, clk := newService(t)
	ctx := t.Context()
	const addr = "10.0.0.7"
	for i := range 5 {
		clk.t = clk.t.Add(time.Minute)
		if _, _, err := svc.Login(ctx, "eleve.a", "wrong", ent.Client{IP: addr}); !errors.Is(err, ent.ErrBadCredentials) {
			t.Fatalf("failure %d: Login error = %v, want ErrBadCredentials", i+1, err)
		}
	}
	// The sixth attempt waits a second, whatever the password and the
	// case of the login.
	for _, login := range []string{"eleve.a", "ELEVE.A"} {
		_, _, err := svc.Login(ctx, login, "secret", ent.Client{IP: addr})
		if got := retryAfter(t, err); got != time.Second {
			t.Errorf("Login(%s) after 5 failures: retry after %v, want 1s", login, got)
		}
	}
	// Each further failure doubles the wait.
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		clk.t = clk.t.Add(want / 2)
		if _, _, err := svc.Login(ctx, "eleve.a", "wrong", ent.Client{IP: addr}); !errors.Is(err, ent.ErrBadCredentials) {
			t.Fatalf("Login once the wait passed = %v, want ErrBadCredentials", err)
		}
		clk.t = clk.t.Add(want / 4)
		_, _, err := svc.Login(ctx, "eleve.a", "secret", ent.Client{IP: addr})
		if got := retryAfter(t, err); got != want-want/4 {
			t.Errorf("retry after %v, want %v", got, want-want/4)
		}
	}
	// A success once the wait has passed clears the login's failures:
	// five free ones again.
	clk.t = clk.t.Add(8 * time.Second)
	if _, _, err := svc.Login(ctx, "eleve.a", "secret", ent.Client{IP: addr}); err != nil {
		t.Fatalf("Login once the wait passed = %v, want success", err)
	}
	for i := range 5 {
		if _, _, err := svc.Login(ctx, "eleve.a", "wrong", ent.Client{}); !errors.Is(err, ent.ErrBadCredentials) {
			t.Fatalf("failure %d after a success: Login error = %v, want ErrBadCredentials", i+1, err)
		}
	}
	// Without an address only the login is limited.
	_, _, err := svc.Login(ctx, "eleve.a", "secret", ent.Client{})
	if got := retryAfter(t, err); got != time.Second {
		t.Errorf("retry after %v, want 1s", got)
	}
	if _, _, err := svc.Login(ctx, "prof.a", "secret", ent.Client{}); err != nil {
		t.Errorf("another login meanwhile = %v, want success", err)
	}
}

func TestLoginFailuresForgotten(t *testing.T) {
	svc, _, clk := newService(t)
	ctx := t.Context()
	for range 5 {
		svc.Login(ctx, "eleve.a", "wrong", ent.Client{})
	}
	if _, _, err := svc.Login(ctx, "eleve.a", "secret", ent.Client{}); !errors.Is(err, ent.ErrTooManyAttempts) {
		t.Fatalf("Login after 5 failures = %v, want ErrTooManyAttempts", err)
	}
	// Fifteen quiet minutes after the wait ends, the failures are
	// forgotten: the next one does not lengthen the wait.
	clk.t = clk.t.Add(time.Second + 15*time.Minute)
	if _, _, err := svc.Login(ctx, "eleve.a", "wrong", ent.Client{}); !errors.Is(err, ent.ErrBadCredentials) {
		t.Fatalf("Login after the window = %v, want ErrBadCredentials", err)
	}
	if _, _, err := svc.Login(ctx, "eleve.a", "secret", ent.Client{}); err != nil {
		t.Errorf("Login after one fresh failure = %v, want success", err)
	}
}

func TestLoginBackOffPerAddress(t *testing.T) {
	svc, _, clk := newService(t)
	ctx := t.Context()
	const addr, other = "10.0.0.7", "10.0.0.8"
	// One address tries many logins, a few times each.
	for i := range 20 {
		clk.t = clk.t.Add(10 * time.Second)
		login := fmt.Sprintf("eleve.%d", i%7)
		if _, _, err := svc.Login(ctx, login, "wrong", ent.Client{IP: addr}); !errors.Is(err, ent.ErrBadCredentials) {
			t.Fatalf("failure %d: Login error = %v, want ErrBadCredentials", i+1, err)
		}
	}
	_, _, err := svc.Login(ctx, "eleve.a", "secret", ent.Client{IP: addr})
	if got := retryAfter(t, err); got != time.Second {
		t.Errorf("Login from an address after 20 failures: retry after %v, want 1s", got)
	}
	if _, _, err := svc.Login(ctx, "eleve.a", "secret", ent.Client{IP: other}); err != nil {
		t.Errorf("same login from another address = %v, want success", err)
	}
	// A success from the address does not clear the address's failures.
	clk.t = clk.t.Add(time.Second)
	if _, _, err := svc.Login(ctx, "prof.a", "secret", ent.Client{IP: addr}); err != nil {
		t.Fatalf("Login once the wait passed = %v, want success", err)
	}
	svc.Login(ctx, "eleve.9", "wrong", ent.Client{IP: addr})
	_, _, err = svc.Login(ctx, "eleve.a", "secret", ent.Client{IP: addr})
	if got := retryAfter(t, err); got != 2*time.Second {
		t.Errorf("retry after %v, want 2s", got)
	}
}
