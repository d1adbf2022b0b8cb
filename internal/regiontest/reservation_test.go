package regiontest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// apiBooking is a booking as /api/v1/bookings shows it.
type apiBooking struct {
	ID       string `json:"id"`
	Start    string `json:"start"`
	End      string `json:"end"`
	Author   string `json:"author"`
	AuthorID string `json:"authorId"`
	State    string `json:"state"`
	Refusal  string `json:"refusal"`
}

// planning returns the bookings of resource id on day as u sees them, the
// live ones apart.
func planning(t *testing.T, u *regiontest.User, id, day string) (live, all []apiBooking, err error) {
	if code, msg := ticketCall(t, u, http.MethodGet, "/api/v1/resources/"+id+"/bookings?from="+day+"&to="+day, nil, &all); code != http.StatusOK {
		return nil, nil, fmt.Errorf("planning as %s at %s = %d %s", u.Login, u.Base, code, msg)
	}
	for _, b := range all {
		if b.State == ent.BookingConfirmed || b.State == ent.BookingPending {
			live = append(live, b)
		}
	}
	return live, all, nil
}

func describe(bs []apiBooking) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Start+"-"+b.End+" "+b.Author+" "+b.State)
	}
	return out
}

// The réservation works at a lycée's edge cut off from the region: a
// booking of a free slot made there reaches central once; two bookings of
// the same slot, one at the cut edge and one at central, end with central's
// alone, at central and at the edge (the edge takes back the booking
// central refused: the replicas converge), and a notice for the edge's
// author that names who holds the slot.
func TestReservationAtAnOfflineEdge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)
	cbase, ebase := r.AnyCentral().URL(), edge.URL()
	nadiaC := login(t, cbase, byLogin(t, r, "nadia.benali"))
	paulE := login(t, ebase, byLogin(t, r, "paul.durand"))
	nadiaE := login(t, ebase, byLogin(t, r, "nadia.benali"))

	// A room declared at central, which the edge receives.
	var room struct{ ID string }
	if code, msg := ticketCall(t, nadiaC, http.MethodPost, "/api/v1/resources",
		map[string]string{"name": "Salle B12", "kind": "salle"}, &room); code != http.StatusCreated {
		t.Fatalf("declare a room at central = %d %s", code, msg)
	}
	day := time.Now().AddDate(0, 0, 7).Format("2006-01-02")
	regiontest.Eventually(t, 20*time.Second, func() error { _, _, err := planning(t, paulE, room.ID, day); return err })

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	// At the cut edge, Paul books 10:00–11:00 (free there) and 14:00–15:00.
	book := func(u *regiontest.User, start, end, purpose string) apiBooking {
		t.Helper()
		var b apiBooking
		if code, msg := ticketCall(t, u, http.MethodPost, "/api/v1/bookings", map[string]string{"resource": room.ID,
			"date": day, "start": start, "end": end, "purpose": purpose}, &b); code != http.StatusCreated {
			t.Fatalf("%s books %s–%s at %s = %d %s", u.Login, start, end, u.Base, code, msg)
		}
		return b
	}
	lost := book(paulE, "10:00", "11:00", "Devoir surveillé")
	kept := book(paulE, "14:00", "15:00", "TP")
	if lost.State != ent.BookingPending {
		t.Errorf("booking at the cut edge = %s, want %s", lost.State, ent.BookingPending)
	}
	// Meanwhile at central, Nadia books 10:30–11:30: central commits it first.
	won := book(nadiaC, "10:30", "11:30", "Réunion des délégués")

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	want := []string{"10:30-11:30 Nadia Benali confirmee", "14:00-15:00 Paul Durand confirmee"}
	_, all, err := planning(t, nadiaC, room.ID, day)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(all); !slices.Equal(got, want) {
		t.Errorf("planning at central = %q, want %q (each once)", got, want)
	}
	// The edge converges: it shows central's planning, and Paul's refused
	// booking is gone there as it is at central.
	regiontest.Eventually(t, 20*time.Second, func() error {
		_, all, err := planning(t, nadiaE, room.ID, day)
		if err != nil {
			return err
		}
		if got := describe(all); !slices.Equal(got, want) {
			return fmt.Errorf("planning at the edge = %q, want %q", got, want)
		}
		if code, msg := ticketCall(t, paulE, http.MethodGet, "/api/v1/bookings/"+lost.ID, nil, nil); code != http.StatusNotFound {
			return fmt.Errorf("Paul's lost booking at the edge = %d %s, want 404", code, msg)
		}
		return nil
	})
	edgeSettled(t, r, lyceeA)
	if code, _ := ticketCall(t, nadiaC, http.MethodGet, "/api/v1/bookings/"+lost.ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("Paul's lost booking at central = %d, want 404", code)
	}
	if won.State != ent.BookingConfirmed || kept.State != ent.BookingPending {
		t.Errorf("bookings when made = central's %s, the edge's free slot %s; want confirmee, en-attente", won.State, kept.State)
	}
	// Paul's refused booking is a notice for him that names who holds it.
	var paul ent.User
	err = r.AnyCentral().Node.View(func(rd record.Reader) error {
		rec, ok, err := rd.ByKey(ent.KindUser, "paul.durand")
		if err != nil || !ok {
			return fmt.Errorf("paul.durand at central: %v, %v", ok, err)
		}
		return json.Unmarshal(rec.Body, &paul)
	})
	if err != nil {
		t.Fatal(err)
	}
	paulID := paul.ID
	regiontest.Eventually(t, 10*time.Second, func() error {
		notices, err := refusalNotices(r, lyceeA, ent.OpBookingMake, true)
		if err != nil {
			return err
		}
		want := []string{paulID + " conflict Ce créneau est déjà réservé : Salle B12 le " + frDate(day) + " de 10:30 à 11:30 par Nadia Benali."}
		if !slices.Equal(notices, want) {
			return fmt.Errorf("notices of refused bookings = %q, want %q", notices, want)
		}
		return nil
	})
}

func frDate(d string) string {
	t, _ := time.Parse("2006-01-02", d)
	return t.Format("02/01/2006")
}
