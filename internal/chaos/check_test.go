package chaos

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	refusedDial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		resp response
		err  error
		want outcome
	}{
		{"created", response{status: 201}, nil, acked},
		{"no content", response{status: 204}, nil, acked},
		{"slot taken", response{status: 409, body: []byte(`{"error":"Ce créneau est déjà réservé"}`)}, nil, refused},
		{"node starting", response{status: 503, body: []byte("Atrium démarre : réessayez dans un instant.")}, nil, refused},
		{"no leader, nothing written", response{status: 503, body: []byte(`{"error":"Le service est momentanément indisponible : réessayez dans un instant. Rien n\u0027a été enregistré."}`)}, nil, refused},
		{"leader lost", response{status: 503, body: []byte(`{"error":"La liaison avec le serveur a été interrompue pendant l\u0027enregistrement : vérifiez si votre envoi a bien été pris en compte avant de le renvoyer."}`)}, nil, maybe},
		{"no leader", response{status: 503, body: []byte(`{"error":"indisponible"}`)}, nil, maybe},
		{"internal error", response{status: 500}, nil, maybe},
		{"connection refused", response{}, refusedDial, unsent},
		{"answer lost", response{}, io.ErrUnexpectedEOF, maybe},
		{"timeout", response{}, errors.New("context deadline exceeded"), maybe},
	}
	for _, tt := range tests {
		if got := classify(tt.resp, tt.err); got != tt.want {
			t.Errorf("classify(%s) = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestMarkerOf(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"Message écrit pendant l'essai de résistance [chaos#42].", 42},
		{marker(7), 7},
		{"Bonjour, pensez au conseil de classe.", -1},
		{"[chaos#]", -1},
	}
	for _, tt := range tests {
		if got := markerOf(tt.in); got != tt.want {
			t.Errorf("markerOf(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestCheckBooking shows the booking check fails on each way a region can
// get a booking wrong.
func TestCheckBooking(t *testing.T) {
	const n = 5
	b := func(id, state string) []bookingView {
		return []bookingView{{ID: id, Date: slotDates[0], Start: "08:00", End: "09:00", Purpose: marker(n), State: state}}
	}
	type nodeBookings [][]bookingView // the central nodes', then the edge's
	tests := []struct {
		name        string
		w           write
		cancel      outcome // of its cancellation; unsent: none
		nodes       nodeBookings
		wantErr     string // in the message; "" for none
		wantRefused bool
	}{
		{name: "confirmed everywhere", w: write{end: roleCentral, outcome: acked, id: "b1"},
			nodes: nodeBookings{b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed)}},
		{name: "lost at central", w: write{end: roleCentral, outcome: acked, id: "b1"},
			nodes: nodeBookings{nil, nil, nil, nil}, wantErr: "missing"},
		{name: "one node behind", w: write{end: roleCentral, outcome: acked, id: "b1"},
			nodes: nodeBookings{b("b1", stateConfirmed), nil, b("b1", stateConfirmed), b("b1", stateConfirmed)}, wantErr: "central-2"},
		{name: "twice at a node", w: write{end: roleCentral, outcome: maybe},
			nodes:   nodeBookings{b("b1", stateConfirmed), append(b("b1", stateConfirmed), b("b2", stateConfirmed)...), b("b1", stateConfirmed), b("b1", stateConfirmed)},
			wantErr: "2 times"},
		{name: "edge disagrees", w: write{end: roleEdge, outcome: acked, id: "b1"},
			nodes: nodeBookings{b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateCancelled)}, wantErr: "the edge"},
		{name: "refused by central", w: write{end: roleEdge, outcome: acked, id: "b1"},
			nodes: nodeBookings{nil, nil, nil, nil}, wantRefused: true},
		{name: "still pending", w: write{end: roleEdge, outcome: acked, id: "b1"},
			nodes: nodeBookings{b("b1", statePending), b("b1", statePending), b("b1", statePending), b("b1", statePending)}, wantErr: "once converged"},
		{name: "refused, yet booked", w: write{end: roleCentral, outcome: refused},
			nodes: nodeBookings{b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed)}, wantErr: "refused"},
		{name: "cancellation lost", w: write{end: roleCentral, outcome: acked, id: "b1"}, cancel: acked,
			nodes: nodeBookings{b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed)}, wantErr: "cancellation"},
		{name: "cancelled", w: write{end: roleCentral, outcome: acked, id: "b1"}, cancel: acked,
			nodes: nodeBookings{b("b1", stateCancelled), b("b1", stateCancelled), b("b1", stateCancelled), b("b1", stateCancelled)}},
		{name: "cancelled by nobody", w: write{end: roleEdge, outcome: acked, id: "b1"},
			nodes: nodeBookings{b("b1", stateCancelled), b("b1", stateCancelled), b("b1", stateCancelled), b("b1", stateCancelled)}, wantErr: "nobody"},
		{name: "another id", w: write{end: roleCentral, outcome: acked, id: "b0"},
			nodes: nodeBookings{b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed), b("b1", stateConfirmed)}, wantErr: "held as"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			led := newLedger()
			w := tt.w
			w.n, w.kind = n, kindBooking
			if tt.cancel != unsent {
				led.record(&write{n: n + 1, kind: kindCancel, end: roleCentral, outcome: tt.cancel, booking: &w})
			}
			var views []*view
			for i, bs := range tt.nodes {
				name := []string{"central-1", "central-2", "central-3", "edge"}[i]
				v := &view{node: name, bookings: map[int][]bookingView{}}
				if bs != nil {
					v.bookings[n] = bs
				}
				views = append(views, v)
			}
			msg, refusedByCentral := checkBooking(&w, views[:3], views[3], led)
			switch {
			case tt.wantErr == "" && msg != "":
				t.Errorf("checkBooking = %q, want no error", msg)
			case tt.wantErr != "" && !strings.Contains(msg, tt.wantErr):
				t.Errorf("checkBooking = %q, want an error with %q", msg, tt.wantErr)
			}
			if refusedByCentral != tt.wantRefused {
				t.Errorf("checkBooking refused by central = %v, want %v", refusedByCentral, tt.wantRefused)
			}
		})
	}
}
