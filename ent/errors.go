package ent

import "errors"

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
)
