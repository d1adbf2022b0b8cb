package ent

import (
	"errors"
	"fmt"
	"time"
)

// How a refused login reads, wherever a person logs in (the portal's form
// and API, the CAS login form).

// BusyRetryAfter is the wait advised when ErrBusy refuses a login.
const BusyRetryAfter = 5 * time.Second

// LoginRefusal returns the French message a person reads when Login or
// Activate refuses: wrong credentials, too many attempts (with the wait,
// in minutes), too many logins at once. ok is false for any other error
// (an internal one: say so, and log it).
func LoginRefusal(err error) (msg string, ok bool) {
	switch {
	case errors.Is(err, ErrBadCredentials):
		return "Identifiant ou mot de passe incorrect.", true
	case errors.Is(err, ErrTooManyAttempts):
		n := max(1, int((RetryAfter(err)+time.Minute-1)/time.Minute))
		unit := "minute"
		if n > 1 {
			unit = "minutes"
		}
		return fmt.Sprintf("Trop de tentatives de connexion : réessayez dans %d %s.", n, unit), true
	case errors.Is(err, ErrBusy):
		return "Trop de connexions en cours : réessayez dans quelques secondes.", true
	}
	return "", false
}

// RetryAfter is how long a refused login should wait before it is tried
// again: the throttling's wait, BusyRetryAfter when busy, zero otherwise.
func RetryAfter(err error) time.Duration {
	if tm, ok := errors.AsType[*TooManyAttemptsError](err); ok {
		return tm.RetryAfter
	}
	if errors.Is(err, ErrBusy) {
		return BusyRetryAfter
	}
	return 0
}
