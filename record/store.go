package record

import "errors"

// Reader reads one consistent view of a store. Central's state machine and
// an edge's replica both provide it, so the ENT's queries run unchanged on
// either side. Implementations are valid only inside the callback that
// received them.
type Reader interface {
	// Get returns the record (tombstones included) or ok=false.
	Get(partition, id string) (r Record, ok bool, err error)
	// ByKey finds the live record of kind with that unique key in any
	// partition the store holds.
	ByKey(kind, key string) (r Record, ok bool, err error)
	// Scan calls fn for the live records of kind in partition, newest id
	// first, until fn returns ErrStop or another error (returned as is,
	// except ErrStop).
	Scan(partition, kind string, fn func(Record) error) error
	// ScanTerm calls fn for the live records of kind in partition whose
	// index terms (the store's Indexer) include term, newest id first,
	// as Scan does. A store without an Indexer returns ErrNoIndex before
	// calling fn: the caller then scans the kind and filters itself.
	ScanTerm(partition, kind, term string, fn func(Record) error) error
}

// Indexer returns the index terms of a live record (say "u:" and a user's
// id), by which ScanTerm finds it. It must be a deterministic function of
// the record's kind and body, so that central and every edge compute the
// same terms without sending them: the stores call it on every write and
// keep a secondary index of (partition, kind, term, id). Terms are
// non-empty and hold no NUL byte (others are ignored); duplicates are
// allowed. An undecodable body has no terms.
type Indexer func(r Record) []string

// ErrNoIndex is what ScanTerm returns from a store that has no Indexer.
var ErrNoIndex = errors.New("record: store has no term index")

// Tx is a Reader that can also write, inside one transaction of the store.
type Tx interface {
	Reader
	// Put writes r. The store assigns r's version (and, at central, its
	// sequence number); the caller sets everything else.
	Put(r Record) error
}

// Executor executes one command inside a write transaction. It must be
// deterministic (no clock, no randomness: use cmd.Time and ids from
// cmd.Args) because central runs it inside the raft state machine. It
// checks everything before it writes: a command it refuses returns a
// *Rejection and writes nothing.
type Executor func(tx Tx, cmd Command) error

// ErrStop ends a Scan early without error.
var ErrStop = errors.New("record: stop scan")

// Rejection is a command refused by the ENT's rules (authorisation,
// invariants). It crosses raft and the wire as it is, so that the author of
// a command made offline is told why it was refused.
type Rejection struct {
	Code    string `json:"code"`    // stable, e.g. "forbidden", "not_found", "invalid"
	Message string `json:"message"` // French, shown to the author
}

func (r *Rejection) Error() string { return r.Code + ": " + r.Message }

// Reject returns a *Rejection.
func Reject(code, message string) error { return &Rejection{Code: code, Message: message} }

// AsRejection reports whether err is a *Rejection and returns it.
func AsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}
