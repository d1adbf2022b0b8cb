package regiontest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
)

// apiTicket is a ticket as GET /api/v1/tickets/{id} shows it.
type apiTicket struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Status   string `json:"status"`
	Comments []struct {
		Author string `json:"author"`
		Body   string `json:"body"`
	} `json:"comments"`
}

// ticketCall calls the tickets API as u; it returns the status and the
// refusal's French message, if any.
func ticketCall(t *testing.T, u *regiontest.User, method, path string, in, out any) (int, string) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u.Base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		json.Unmarshal(data, &e)
		return resp.StatusCode, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, ""
}

// getTicket reads ticket id as u, or fails with an error.
func getTicket(t *testing.T, u *regiontest.User, id string) (apiTicket, error) {
	var tk apiTicket
	if code, msg := ticketCall(t, u, http.MethodGet, "/api/v1/tickets/"+id, nil, &tk); code != http.StatusOK {
		return tk, fmt.Errorf("GET ticket %s as %s at %s = %d %s", id, u.Login, u.Base, code, msg)
	}
	return tk, nil
}

// The assistance works at a lycée's edge cut off from the region: a ticket
// opened there and comments written on both sides reach central once each;
// two staff changes of the same ticket from the same status, one on each
// side of the cut, do not overwrite each other: central keeps the first it
// executed and refuses the other with a notice to its author.
func TestAssistanceAtAnOfflineEdge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)
	cbase, ebase := r.AnyCentral().URL(), edge.URL()
	leaC, nadiaC := login(t, cbase, byLogin(t, r, "lea.martin")), login(t, cbase, byLogin(t, r, "nadia.benali"))
	leaE, nadiaE := login(t, ebase, byLogin(t, r, "lea.martin")), login(t, ebase, byLogin(t, r, "nadia.benali"))

	// A ticket opened at central, which the edge receives.
	var t1 apiTicket
	if code, msg := ticketCall(t, leaC, http.MethodPost, "/api/v1/tickets",
		map[string]string{"title": "Vidéoprojecteur B12", "description": "Il ne s'allume plus.", "category": "materiel"}, &t1); code != http.StatusCreated {
		t.Fatalf("open a ticket at central = %d %s", code, msg)
	}
	regiontest.Eventually(t, 20*time.Second, func() error { _, err := getTicket(t, nadiaE, t1.ID); return err })

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	// At the offline edge: Léa opens a ticket, Nadia comments on the first
	// and marks it résolu.
	var t2 apiTicket
	if code, msg := ticketCall(t, leaE, http.MethodPost, "/api/v1/tickets",
		map[string]string{"title": "Wifi du CDI", "description": "Pas de connexion.", "category": "reseau"}, &t2); code != http.StatusCreated {
		t.Fatalf("open a ticket at the offline edge = %d %s", code, msg)
	}
	if code, msg := ticketCall(t, nadiaE, http.MethodPost, "/api/v1/tickets/"+t1.ID+"/comments", map[string]string{"body": "Lampe changée."}, nil); code != http.StatusCreated {
		t.Fatalf("comment at the offline edge = %d %s", code, msg)
	}
	if code, msg := ticketCall(t, nadiaE, http.MethodPost, "/api/v1/tickets/"+t1.ID+"/status", map[string]string{"base": "ouvert", "status": "resolu"}, nil); code != http.StatusOK {
		t.Fatalf("status change at the offline edge = %d %s", code, msg)
	}
	if tk, err := getTicket(t, leaE, t2.ID); err != nil || tk.Title != "Wifi du CDI" {
		t.Errorf("the edge's ticket read there = %+v, %v", tk, err)
	}
	// Meanwhile at central: a comment, and the ticket goes en cours.
	if code, msg := ticketCall(t, nadiaC, http.MethodPost, "/api/v1/tickets/"+t1.ID+"/comments", map[string]string{"body": "Technicien prévenu."}, nil); code != http.StatusCreated {
		t.Fatalf("comment at central = %d %s", code, msg)
	}
	if code, msg := ticketCall(t, nadiaC, http.MethodPost, "/api/v1/tickets/"+t1.ID+"/status", map[string]string{"base": "ouvert", "status": "en-cours"}, nil); code != http.StatusOK {
		t.Fatalf("status change at central = %d %s", code, msg)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	// Central: the edge's ticket once, both comments once, central's status.
	var list []apiTicket
	if code, msg := ticketCall(t, nadiaC, http.MethodGet, "/api/v1/tickets", nil, &list); code != http.StatusOK {
		t.Fatalf("staff's tickets at central = %d %s", code, msg)
	}
	if n := countTitle(list, "Wifi du CDI"); n != 1 {
		t.Errorf("tickets « Wifi du CDI » at central = %d, want 1", n)
	}
	tk, err := getTicket(t, leaC, t1.ID)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, c := range tk.Comments {
		bodies = append(bodies, c.Body)
	}
	slices.Sort(bodies)
	if tk.Status != ent.TicketProgress || !slices.Equal(bodies, []string{"Lampe changée.", "Technicien prévenu."}) {
		t.Errorf("ticket at central = status %s, comments %q; want en-cours and both comments once", tk.Status, bodies)
	}
	// The edge converges on central's ticket.
	regiontest.Eventually(t, 20*time.Second, func() error {
		tk, err := getTicket(t, leaE, t1.ID)
		if err != nil {
			return err
		}
		if tk.Status != ent.TicketProgress || len(tk.Comments) != 2 {
			return fmt.Errorf("ticket at the edge = status %s, %d comments; want en-cours, 2", tk.Status, len(tk.Comments))
		}
		return nil
	})
	// Nadia's refused change is a notice that says why.
	regiontest.Eventually(t, 10*time.Second, func() error {
		notices, err := refusalNotices(r, lyceeA, ent.OpTicketStatus, false)
		if err != nil {
			return err
		}
		want := "conflict Le statut de ce ticket a changé entre-temps : il est maintenant « En cours » (vous partiez de « Ouvert »). Votre modification n'a pas été appliquée : relisez le ticket avant de le modifier."
		if !slices.Contains(notices, want) {
			return fmt.Errorf("notices of refused status changes = %q, want %q", notices, want)
		}
		return nil
	})
	// Nothing of the refused change is left pending at the edge.
	edgeSettled(t, r, lyceeA)
}

func countTitle(ts []apiTicket, title string) int {
	n := 0
	for _, t := range ts {
		if t.Title == title {
			n++
		}
	}
	return n
}
