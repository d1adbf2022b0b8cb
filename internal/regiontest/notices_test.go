package regiontest_test

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"atrium/internal/regiontest"
)

// noticePage returns the page path as u's browser shows it (with the
// bearer session), its entities decoded.
func noticePage(t *testing.T, u *regiontest.User, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, html.UnescapeString(string(b))
}

var readForm = regexp.MustCompile(`<form method="post" action="(/avis/[^"]+/lu)">\s*<input type="hidden" name="csrf" value="([^"]+)">`)

// A booking refused by central after a cut reaches its author as a notice
// in French, on /avis at the lycée's edge and at central, counted in the
// navigation; marking it read at the edge, while cut off again, removes
// the count there at once and at central once the link is back.
func TestRefusalNoticeInThePortal(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)
	cbase, ebase := r.AnyCentral().URL(), edge.URL()
	nadiaC := login(t, cbase, byLogin(t, r, "nadia.benali"))
	paulE := login(t, ebase, byLogin(t, r, "paul.durand"))
	paulC := login(t, cbase, byLogin(t, r, "paul.durand"))

	var room struct{ ID string }
	if code, msg := ticketCall(t, nadiaC, http.MethodPost, "/api/v1/resources",
		map[string]string{"name": "Salle B12", "kind": "salle"}, &room); code != http.StatusCreated {
		t.Fatalf("declare a room at central = %d %s", code, msg)
	}
	day := time.Now().AddDate(0, 0, 7).Format("2006-01-02")
	regiontest.Eventually(t, 20*time.Second, func() error { _, _, err := planning(t, paulE, room.ID, day); return err })

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	book := func(u *regiontest.User, start, end string) {
		t.Helper()
		if code, msg := ticketCall(t, u, http.MethodPost, "/api/v1/bookings", map[string]string{"resource": room.ID,
			"date": day, "start": start, "end": end, "purpose": "Devoir surveillé"}, nil); code != http.StatusCreated {
			t.Fatalf("%s books %s–%s at %s = %d %s", u.Login, start, end, u.Base, code, msg)
		}
	}
	book(paulE, "10:00", "11:00")
	if _, page := noticePage(t, paulE, "/"); strings.Contains(page, `href="/avis"`) {
		t.Error("navigation at the edge links to /avis before any refusal")
	}
	book(nadiaC, "10:30", "11:30") // central commits it first
	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	want := "Votre réservation de la salle « Salle B12 » le " + frDate(day) + " de 10:00 à 11:00 n'a pas pu être enregistrée" +
		" par le serveur régional : Ce créneau est déjà réservé : Salle B12 le " + frDate(day) + " de 10:30 à 11:30 par Nadia Benali."
	var action, csrf string
	for _, u := range []*regiontest.User{paulE, paulC} {
		where := "central"
		if u == paulE {
			where = "the edge"
		}
		regiontest.Eventually(t, 20*time.Second, func() error {
			code, page := noticePage(t, u, "/avis")
			if code != http.StatusOK || !strings.Contains(page, want) {
				return fmt.Errorf("/avis of paul.durand at %s (%d) lacks %q", where, code, want)
			}
			if !strings.Contains(page, `<a href="/avis">Avis (1)</a>`) || !strings.Contains(page, `<a href="/reservation/ressources/`+room.ID+`">`) {
				return fmt.Errorf("/avis at %s lacks the count \"Avis (1)\" in the navigation or the link to the room", where)
			}
			if u == paulE {
				m := readForm.FindStringSubmatch(page)
				if m == nil {
					return fmt.Errorf("/avis at %s lacks the \"Marquer comme lu\" form", where)
				}
				action, csrf = m[1], m[2]
			}
			return nil
		})
	}
	// The refused booking is gone from the edge's planning, as from
	// central's: the notice alone tells Paul of it.
	regiontest.Eventually(t, 20*time.Second, func() error {
		_, all, err := planning(t, paulE, room.ID, day)
		if err != nil {
			return err
		}
		if got, want := describe(all), []string{"10:30-11:30 Nadia Benali confirmee"}; !slices.Equal(got, want) {
			return fmt.Errorf("planning at the edge = %q, want %q", got, want)
		}
		return nil
	})
	// Nadia, whose booking stood, has no notice.
	if _, page := noticePage(t, nadiaC, "/"); strings.Contains(page, `href="/avis"`) {
		t.Error("navigation of nadia.benali links to /avis")
	}

	// Cut off again, Paul marks it read at the edge: the count goes at once.
	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ebase+action, strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ebase)
	req.Header.Set("Authorization", "Bearer "+paulE.Token())
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Marquer comme lu at the cut edge = %d, want 303", resp.StatusCode)
	}
	if _, page := noticePage(t, paulE, "/avis"); strings.Contains(page, "Avis (") || strings.Contains(page, "Marquer comme lu") || !strings.Contains(page, want) {
		t.Errorf("/avis at the cut edge after reading still counts it, or no longer lists it:\n%s", page)
	}
	if _, page := noticePage(t, paulC, "/"); !strings.Contains(page, "Avis (1)") {
		t.Error("central counts the notice read before the link is back")
	}
	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	regiontest.Eventually(t, 20*time.Second, func() error {
		if _, page := noticePage(t, paulC, "/"); strings.Contains(page, "Avis (") {
			return fmt.Errorf("central's navigation still counts the notice read at the edge")
		}
		return nil
	})
	edgeSettled(t, r, lyceeA)
}
