package central

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

var (
	// ErrNotLeader: this node is not the raft leader and the call cannot be
	// forwarded (no leader known within the retry window).
	ErrNotLeader = errors.New("central: not the leader")
	// ErrNoLeader: no leader was elected within the retry window.
	ErrNoLeader = errors.New("central: no leader")
	// ErrClosed: the node is shut down.
	ErrClosed = errors.New("central: node closed")
	// ErrNoSecrets: the cluster secrets are not created yet (no leader has
	// been elected since the cluster was bootstrapped), so forwarding between
	// nodes cannot be authenticated.
	ErrNoSecrets = errors.New("central: cluster secrets not created yet")
	// ErrUnauthorized: an internal call did not carry the cluster key.
	ErrUnauthorized = errors.New("central: internal call not authorised")
	// ErrUnknownNode: RemoveNode named no member of the cluster.
	ErrUnknownNode = errors.New("central: unknown node")
	// ErrNodeAlive: RemoveNode named a node that serf reports alive. The
	// leader would add it back at once (membership follows serf), so only a
	// failed or departed node can be removed: stop it first.
	ErrNodeAlive = errors.New("central: node is alive")
	// ErrBadOutbox: an outbox batch is malformed (wrong origin or epoch,
	// sequence numbers not increasing); nothing of it was applied.
	ErrBadOutbox = errors.New("central: malformed outbox batch")
	// ErrInvalidRecord: a record lacks its partition, id or kind.
	ErrInvalidRecord = errors.New("central: invalid record")
	// ErrKeyTaken: another live record of the kind holds the key.
	ErrKeyTaken = errors.New("central: key already taken")
	// ErrTokenUnknown, ErrTokenUsed, ErrTokenExpired, ErrTokenExists: an
	// enrolment token could not be consumed or added.
	ErrTokenUnknown = errors.New("central: unknown enrolment token")
	ErrTokenUsed    = errors.New("central: enrolment token already used")
	ErrTokenExpired = errors.New("central: enrolment token expired")
	ErrTokenExists  = errors.New("central: enrolment token already exists")
	// ErrCorrupt: stored or logged bytes do not decode.
	ErrCorrupt = errors.New("central: corrupt encoding")
)

// sentinels lists the errors that cross the forwarding boundary by name,
// so that a caller on a follower can compare them with errors.Is.
var sentinels = map[string]error{
	"not_leader":    ErrNotLeader,
	"no_leader":     ErrNoLeader,
	"closed":        ErrClosed,
	"no_secrets":    ErrNoSecrets,
	"unauthorized":  ErrUnauthorized,
	"unknown_node":  ErrUnknownNode,
	"node_alive":    ErrNodeAlive,
	"bad_outbox":    ErrBadOutbox,
	"invalid":       ErrInvalidRecord,
	"key_taken":     ErrKeyTaken,
	"token_unknown": ErrTokenUnknown,
	"token_used":    ErrTokenUsed,
	"token_expired": ErrTokenExpired,
	"token_exists":  ErrTokenExists,
	"corrupt":       ErrCorrupt,
	"revoked":       ErrRevoked,
}

// sentinelCodes are the keys of sentinels, sorted.
var sentinelCodes = slices.Sorted(maps.Keys(sentinels))

// explained is a sentinel error with a message of its own: errors.Is
// matches the sentinel, Error reads the message alone. It carries a
// sentinel's full message across the forwarding boundary unchanged.
type explained struct {
	sentinel error
	msg      string
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.sentinel }

func errNodeAlive(name string) error {
	return &explained{ErrNodeAlive, fmt.Sprintf("central: node %s is alive: stop it before removing it, or it rejoins", name)}
}
