package ent

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrBadCredentials is returned by Login for an unknown login, a wrong
	// password or a deactivated account (the caller cannot tell which).
	ErrBadCredentials = errors.New("ent: bad credentials")
	// ErrBadSession is returned by Authenticate for a token that is
	// malformed, tampered with, expired or whose user is gone.
	ErrBadSession = errors.New("ent: invalid session")
	// ErrNotFound is returned by queries for an item the user cannot see.
	ErrNotFound = errors.New("ent: not found")
	// ErrBadHash is returned for a password hash that is not an argon2id
	// PHC string this package accepts.
	ErrBadHash = errors.New("ent: malformed password hash")
	// ErrBusy is returned by Login when every password verification slot
	// stayed taken for a while: the node is overloaded, try again shortly.
	ErrBusy = errors.New("ent: too many logins in progress")
	// ErrTooManyAttempts is matched (errors.Is) by the *TooManyAttemptsError
	// Login returns while a login or a client address is refused after
	// repeated failures.
	ErrTooManyAttempts = errors.New("ent: too many login attempts")
)

// TooManyAttemptsError is returned by Login, without checking the password,
// while recent failures for the login or from the client address make it
// refuse attempts. It matches ErrTooManyAttempts.
type TooManyAttemptsError struct {
	RetryAfter time.Duration // how long attempts remain refused
}

func (e *TooManyAttemptsError) Error() string {
	return fmt.Sprintf("ent: too many login attempts, retry in %s", e.RetryAfter)
}

// Is reports whether target is ErrTooManyAttempts.
func (e *TooManyAttemptsError) Is(target error) bool { return target == ErrTooManyAttempts }
