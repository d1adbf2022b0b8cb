package cas

import "errors"

var (
	// ErrNoService is returned by New when Config.Service is nil.
	ErrNoService = errors.New("cas: Config.Service is required")
	// errTooManyTickets is returned when maxTickets tickets are alive: the
	// node is flooded; the user is asked to retry shortly.
	errTooManyTickets = errors.New("cas: too many live tickets")
)
