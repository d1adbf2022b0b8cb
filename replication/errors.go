package replication

import (
	"errors"
	"time"
)

var (
	// ErrMalformed reports a frame that cannot be decoded: truncated, too
	// large, of an unknown type, or with a field out of bounds. The
	// connection that sent it is not to be trusted any further.
	ErrMalformed = errors.New("replication: malformed frame")

	// ErrForbidden reports a request outside the partitions the peer's
	// certificate allows (returned by a client as the server's refusal).
	ErrForbidden = errors.New("replication: forbidden")

	// ErrVersion reports peers speaking different protocol versions.
	ErrVersion = errors.New("replication: protocol version mismatch")

	// ErrUnexpected reports a well-formed message arriving where the
	// protocol expects another one.
	ErrUnexpected = errors.New("replication: unexpected message")

	// ErrRevoked reports that central revoked this edge's certificate
	// (a stolen or retired appliance). It is final: Client.Serve returns
	// it instead of reconnecting, and the edge purges its data.
	ErrRevoked = errors.New("replication: edge certificate revoked")

	// ErrBusy reports that central has no catch-up slot free for this
	// edge now: it is to come back after the RemoteError's RetryAfter,
	// which is not a failure (the client's backoff does not grow).
	ErrBusy = errors.New("replication: central busy")

	// ErrHorizon reports a Pull whose checkpoint is older than central's
	// tombstone horizon: deletions since then are no longer in the feed,
	// so the edge takes a snapshot of the partition (snapshot.go).
	ErrHorizon = errors.New("replication: checkpoint older than the tombstone horizon")
)

// Error codes carried by an Error message.
const (
	CodeVersion   = "version"   // Hello.ProtocolVersion is not ours
	CodeForbidden = "forbidden" // outside the certificate's partitions, or Hello.UAI differs from it
	CodeMalformed = "malformed" // the request could not be decoded
	CodeHello     = "hello"     // a request came before Hello, or a second Hello
	CodeInternal  = "internal"  // the server failed; retry later
	CodeRevoked   = "revoked"   // the certificate was revoked: final, the edge purges itself
	CodeBusy      = "busy"      // no catch-up slot free: come back after the retry-after in the message
	CodeHorizon   = "horizon"   // Pull.Since is below the partition's floor: take a snapshot (pull from 0)
)

// RemoteError is an Error message received from the peer. It matches
// ErrForbidden, ErrVersion, ErrMalformed, ErrRevoked, ErrBusy and ErrHorizon with
// errors.Is by its code.
type RemoteError struct {
	Code    string
	Message string
	// RetryAfter is, for CodeBusy, how long central asks the edge to wait
	// before coming back (read from the message); zero otherwise.
	RetryAfter time.Duration
	// Floor is, for CodeHorizon, the partition's floor at central (read
	// from the message); zero otherwise.
	Floor uint64
}

func (e *RemoteError) Error() string {
	return "replication: peer refused: " + e.Code + ": " + e.Message
}

// Is reports whether the remote code corresponds to target.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrForbidden:
		return e.Code == CodeForbidden
	case ErrVersion:
		return e.Code == CodeVersion
	case ErrMalformed:
		return e.Code == CodeMalformed
	case ErrRevoked:
		return e.Code == CodeRevoked
	case ErrBusy:
		return e.Code == CodeBusy
	case ErrHorizon:
		return e.Code == CodeHorizon
	}
	return false
}

// ErrFrameTooLarge reports a message whose encoding exceeds MaxFrameSize.
var ErrFrameTooLarge = errors.New("replication: frame too large")

// ErrLinkClosed reports that the QUIC connection or stream ended (peer
// gone, idle timeout, reset). The client reconnects.
var ErrLinkClosed = errors.New("replication: link closed")
