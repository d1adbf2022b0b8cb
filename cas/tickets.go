package cas

import (
	"crypto/sha256"
	"sync"
	"time"

	"atrium/ent"
)

// ticket is a service ticket (ST-…) or a proxy ticket (PT-…): single use,
// valid for the store's TTL, bound to the exact service URL it was issued
// for. It carries the user as Authenticate (or Login) returned them when it
// was issued.
type ticket struct {
	id      string
	service string         // the exact service URL
	entry   ent.CASService // the registry entry the service matched
	user    ent.User
	issued  time.Time
	// token is the portal session the ticket was issued under: a
	// proxy-granting ticket obtained by validating this one keeps it, to
	// check the session at each /cas/proxy and to die with it.
	token string
	// proxies is, for a proxy ticket, the callback URLs of the proxies it
	// went through, newest first; nil for a service ticket.
	proxies []string
	// fresh marks a ticket issued right after the user presented their
	// credentials, rather than from an existing session (single sign-on):
	// only those pass a validation with renew=true.
	fresh bool
	// authTime is when the user presented their credentials, if this node
	// knows it; zero otherwise.
	authTime time.Time
}

// ticketStore holds the live tickets. The TTL is the same for every
// ticket, so issue order is expiry order: a queue in issue order lets each
// add drop the expired ones without scanning the map.
type ticketStore struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	byID  map[string]*ticket
	order []*ticket // issue order; taken tickets stay until they expire
}

func newTicketStore(max int, ttl time.Duration) *ticketStore {
	return &ticketStore{ttl: ttl, max: max, byID: map[string]*ticket{}}
}

// add stores t, or fails with errTooManyTickets when max tickets were
// issued within the TTL.
func (ts *ticketStore) add(t *ticket, now time.Time) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.expire(now)
	if len(ts.order) >= ts.max {
		return errTooManyTickets
	}
	ts.byID[t.id] = t
	ts.order = append(ts.order, t)
	return nil
}

// expire drops the tickets issued more than the TTL before now.
func (ts *ticketStore) expire(now time.Time) {
	n := 0
	for n < len(ts.order) && !now.Before(ts.order[n].issued.Add(ts.ttl)) {
		if ts.byID[ts.order[n].id] == ts.order[n] {
			delete(ts.byID, ts.order[n].id)
		}
		ts.order[n] = nil
		n++
	}
	ts.order = ts.order[n:]
}

// take removes and returns ticket id, expired or not: a ticket is
// consumed by its first validation, whatever its outcome.
func (ts *ticketStore) take(id string) (*ticket, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.byID[id]
	if ok {
		delete(ts.byID, id)
	}
	return t, ok
}

// expired reports whether t is past its lifetime at now.
func (ts *ticketStore) expired(t *ticket, now time.Time) bool {
	return !now.Before(t.issued.Add(ts.ttl))
}

// len returns the number of tickets not yet taken nor dropped.
func (ts *ticketStore) len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.byID)
}

// sloEntry is a ticket issued under a session: where to send its single
// logout request.
type sloEntry struct {
	service string
	ticket  string
	issued  time.Time
}

// casSession is what this node remembers of a portal session: the tickets
// issued under it and its user, for single logout and the audit trail.
type casSession struct {
	user     ent.User
	entries  []sloEntry // oldest first
	loggedIn time.Time  // when the user logged in on this node's form; zero if elsewhere
	touched  time.Time  // last change
}

// sessionStore maps sessions (by the SHA-256 of their token: the tokens
// themselves are not kept) to what single logout needs. It is bounded:
// entries older than the session TTL are dropped, at most maxPer entries
// per session (oldest dropped), at most max sessions (when full of live
// sessions, an arbitrary one is forgotten and its services miss their
// logout request).
type sessionStore struct {
	mu     sync.Mutex
	max    int
	maxPer int
	ttl    time.Duration
	m      map[[32]byte]*casSession
}

func newSessionStore(max, maxPer int, ttl time.Duration) *sessionStore {
	return &sessionStore{max: max, maxPer: maxPer, ttl: ttl, m: map[[32]byte]*casSession{}}
}

func sessionKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// get returns the session of token, creating it (with u) if needed. The
// caller holds mu.
func (ss *sessionStore) get(token string, u ent.User, now time.Time) *casSession {
	k := sessionKey(token)
	cs, ok := ss.m[k]
	if ok {
		cs.user = u
		cs.touched = now
		return cs
	}
	if len(ss.m) >= ss.max {
		for k, cs := range ss.m {
			if !now.Before(cs.touched.Add(ss.ttl)) {
				delete(ss.m, k)
			}
		}
		for k := range ss.m {
			if len(ss.m) < ss.max {
				break
			}
			delete(ss.m, k)
		}
	}
	cs = &casSession{user: u, touched: now}
	ss.m[k] = cs
	return cs
}

// loggedIn records that the session of token was opened by a password
// login on this node at now.
func (ss *sessionStore) loggedIn(token string, u ent.User, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.get(token, u, now).loggedIn = now
}

// loginTime returns when the session of token was opened on this node, or
// zero.
func (ss *sessionStore) loginTime(token string) time.Time {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if cs, ok := ss.m[sessionKey(token)]; ok {
		return cs.loggedIn
	}
	return time.Time{}
}

// record remembers that ticket e was issued to u under the session token.
func (ss *sessionStore) record(token string, u ent.User, e sloEntry, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	cs := ss.get(token, u, now)
	cs.entries = ss.prune(cs.entries, now)
	if len(cs.entries) >= ss.maxPer {
		cs.entries = append(cs.entries[:0], cs.entries[len(cs.entries)-ss.maxPer+1:]...)
	}
	cs.entries = append(cs.entries, e)
}

// has reports whether the session of token is remembered: it issued a
// ticket on this node and has not logged out since (nor been forgotten).
func (ss *sessionStore) has(token string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	_, ok := ss.m[sessionKey(token)]
	return ok
}

// take forgets the session of token and returns its live entries and its
// last known user.
func (ss *sessionStore) take(token string, now time.Time) ([]sloEntry, ent.User, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := sessionKey(token)
	cs, ok := ss.m[k]
	if !ok {
		return nil, ent.User{}, false
	}
	delete(ss.m, k)
	return ss.prune(cs.entries, now), cs.user, true
}

// prune drops the entries older than the session TTL.
func (ss *sessionStore) prune(es []sloEntry, now time.Time) []sloEntry {
	n := 0
	for n < len(es) && !now.Before(es[n].issued.Add(ss.ttl)) {
		n++
	}
	return es[n:]
}

// len returns the number of sessions remembered.
func (ss *sessionStore) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}
