package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kinds of writes.
const (
	kindMessage = "message" // a message between two adults of the lycée: append-only
	kindPost    = "post"    // a reply in the lycée's chaos forum topic: append-only
	kindBooking = "booking" // a room booking of one of a few slots: contended
	kindCancel  = "cancel"  // the cancellation of a booking the writer made
)

// write is one write a client made, and what its answer said.
type write struct {
	n       int // its marker, [chaos#n], in its text
	kind    string
	end     string // roleCentral or roleEdge: where it was made
	uai     string
	node    string // the node that was asked
	author  string // login
	outcome outcome
	id      string // from an acknowledged answer
	detail  string // the refusal's message
	// A booking's slot; a cancel's booking.
	date, start, stop string
	booking           *write
}

func marker(n int) string { return fmt.Sprintf("[chaos#%d]", n) }

var markerRE = regexp.MustCompile(`\[chaos#(\d+)\]`)

// markerOf returns the marker number in s, or -1.
func markerOf(s string) int {
	m := markerRE.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// ledger is every write made. Safe for concurrent use.
type ledger struct {
	mu       sync.Mutex
	next     int
	writes   []*write
	byMarker map[int]*write
	unsent   map[string]int // end/kind -> attempts that reached no node
	// cancelled: bookings whose cancellation was acknowledged (or maybe).
	cancelAcked map[*write]bool
	cancelMaybe map[*write]bool
}

func newLedger() *ledger {
	return &ledger{byMarker: map[int]*write{}, unsent: map[string]int{},
		cancelAcked: map[*write]bool{}, cancelMaybe: map[*write]bool{}}
}

func (l *ledger) newMarker() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	return l.next
}

func (l *ledger) record(w *write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.outcome == unsent {
		l.unsent[w.end+"/"+w.kind]++
		return
	}
	l.writes = append(l.writes, w)
	l.byMarker[w.n] = w
	if w.kind == kindCancel {
		switch w.outcome {
		case acked:
			l.cancelAcked[w.booking] = true
		case maybe:
			l.cancelMaybe[w.booking] = true
		}
	}
}

// account is a demo login of a lycée and its sessions.
type account struct {
	login, password string
	central, edge   string // bearer tokens
}

// lycee is what the writers of one lycée use.
type lycee struct {
	uai            string
	teacher, staff *account
	forum, topic   string
	resource       string
}

// The contended slots: a few overlapping hours on two days, far ahead.
var (
	slotDates  = []string{"2030-01-07", "2030-01-08"}
	slotStarts = []string{"08:00", "08:30", "09:00", "09:30", "10:00"}
)

const slotMinutes = 60

func slotEnd(start string) string {
	t, _ := time.Parse("15:04", start)
	return t.Add(slotMinutes * time.Minute).Format("15:04")
}

// writer is one client goroutine: it writes at one end of one lycée.
type writer struct {
	led      *ledger
	api      *apiClient
	r        *region
	ly       *lycee
	end      string
	me, peer *account // author, and the recipient of its messages
	bookings bool     // writes bookings and cancellations, else messages and posts
	rng      *rand.Rand
	cur      int      // the central node it talks to
	mine     []*write // its acknowledged, not cancelled bookings
}

func (w *writer) run(ctx context.Context) {
	for ctx.Err() == nil {
		w.once()
		pause := time.Duration(50+w.rng.IntN(200)) * time.Millisecond
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// base is the node the writer asks, and the bearer token it uses there.
func (w *writer) base() (name, url, token string) {
	if w.end == roleEdge {
		e := w.r.edge(w.ly.uai)
		return e.name, e.url, w.me.edge
	}
	c := w.r.centrals[w.cur]
	return c.name, c.url, w.me.central
}

func (w *writer) once() {
	name, url, token := w.base()
	wr := &write{n: w.led.newMarker(), end: w.end, uai: w.ly.uai, node: name, author: w.me.login}
	var method, path string
	var body any
	switch {
	case w.bookings && len(w.mine) > 0 && w.rng.IntN(100) < 35:
		i := w.rng.IntN(len(w.mine))
		b := w.mine[i]
		w.mine = append(w.mine[:i], w.mine[i+1:]...)
		wr.kind, wr.booking = kindCancel, b
		method, path = http.MethodDelete, "/api/v1/bookings/"+b.id
	case w.bookings:
		wr.kind = kindBooking
		wr.date, wr.start = slotDates[w.rng.IntN(len(slotDates))], slotStarts[w.rng.IntN(len(slotStarts))]
		wr.stop = slotEnd(wr.start)
		method, path = http.MethodPost, "/api/v1/bookings"
		body = map[string]string{"resource": w.ly.resource, "date": wr.date, "start": wr.start, "end": wr.stop,
			"purpose": "Essai de résistance " + marker(wr.n)}
	case w.rng.IntN(2) == 0:
		wr.kind = kindMessage
		method, path = http.MethodPost, "/api/v1/messages"
		body = map[string]string{"to": w.peer.login, "subject": "Essai " + marker(wr.n),
			"body": "Message écrit pendant l'essai de résistance " + marker(wr.n) + "."}
	default:
		wr.kind = kindPost
		method, path = http.MethodPost, "/api/v1/forums/"+w.ly.forum+"/topics/"+w.ly.topic+"/posts"
		body = map[string]string{"body": "Réponse écrite pendant l'essai " + marker(wr.n) + "."}
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	resp, err := w.api.call(ctx, method, url+path, token, body)
	cancel()
	wr.outcome = classify(resp, err)
	switch wr.outcome {
	case acked:
		var v struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(resp.body, &v) == nil {
			wr.id = v.ID
		}
		if wr.kind == kindBooking && wr.id != "" {
			w.mine = append(w.mine, wr)
		}
	case refused:
		wr.detail = answerText(resp)
	case maybe:
		if err != nil {
			wr.detail = err.Error()
		} else {
			wr.detail = answerText(resp)
		}
	}
	if wr.kind == kindCancel && wr.outcome == unsent {
		w.mine = append(w.mine, wr.booking) // try again later
	}
	if w.end == roleCentral && (wr.outcome == unsent || (wr.outcome == maybe && err != nil) || resp.status == http.StatusServiceUnavailable) {
		w.cur = (w.cur + 1 + w.rng.IntN(len(w.r.centrals)-1)) % len(w.r.centrals) // follow the failure
	}
	w.led.record(wr)
}

// answerText is an answer's status and its message: the JSON error's, or
// the body (a node still starting answers plain text).
func answerText(resp response) string {
	var v struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(resp.body))
	if json.Unmarshal(resp.body, &v) == nil && v.Error != "" {
		msg = v.Error
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", resp.status, msg))
}
