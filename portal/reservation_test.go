package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"atrium/portal"
)

var resourceLink = regexp.MustCompile(`href="/reservation/ressources/([0-9a-f-]{36})"`)

// TestReservationPages walks the réservation as its users do: staff
// declare a room, a teacher books a slot, staff cannot book it again, the
// teacher cancels; a student and a relative see nothing of it.
func TestReservationPages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	nadia := e.browser(t)
	nCSRF := nadia.login("nadia.benali")

	_, home := nadia.get("/")
	if !strings.Contains(home, `<a href="/reservation">Réservation</a>`) {
		t.Error("staff's home page lacks the Réservation link")
	}
	code, form := nadia.get("/reservation/ressources/nouvelle")
	for _, want := range []string{`<label for="name">Nom</label>`, `<label for="kind">Type</label>`, `<option value="materiel">Matériel</option>`,
		`<label for="description">`, `name="csrf"`} {
		if code != http.StatusOK || !strings.Contains(form, want) {
			t.Errorf("new resource form (%d) lacks %q", code, want)
		}
	}
	room := url.Values{"csrf": {nCSRF}, "name": {"Salle polyvalente"}, "kind": {"salle"}, "description": {"60 places"}}
	if code, _, _ := nadia.post("/reservation/ressources/nouvelle", url.Values{"csrf": {"faux"}, "name": {"X"}, "kind": {"salle"}}); code != http.StatusForbidden {
		t.Errorf("post without the CSRF token = %d, want 403", code)
	}
	code, _, page := nadia.post("/reservation/ressources/nouvelle", url.Values{"csrf": {nCSRF}, "name": {""}, "kind": {"salle"}, "description": {"60 places"}})
	if code != http.StatusBadRequest || !strings.Contains(page, "Le nom de la ressource est obligatoire") || !strings.Contains(page, "60 places") {
		t.Errorf("resource without a name = %d, want 400 with the error and the form kept", code)
	}
	code, h, _ := nadia.post("/reservation/ressources/nouvelle", room)
	planning := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(planning, "/reservation/ressources/") {
		t.Fatalf("post resource = %d to %q, want 303 to its planning", code, planning)
	}

	paul := e.browser(t)
	pCSRF := paul.login("paul.durand")
	code, list := paul.get("/reservation")
	m := resourceLink.FindStringSubmatch(list)
	if code != http.StatusOK || m == nil || !strings.Contains(list, "Salle polyvalente") {
		t.Fatalf("teacher's réservation page (%d) lacks the room", code)
	}
	day := day(t, 2)
	code, page = paul.get(planning + "?date=" + day)
	for _, want := range []string{"<h1>Salle polyvalente</h1>", `<label for="date">Date</label>`, `<label for="start">Début</label>`,
		`<label for="end">Fin</label>`, `<label for="purpose">Objet de la réservation</label>`, `<option value="07:00">`, `<option value="20:00">`,
		"la ressource est libre"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("planning page (%d) lacks %q", code, want)
		}
	}
	book := func(b *browser, csrf, start, end string) (int, http.Header, string) {
		return b.post(planning+"/reserver", url.Values{"csrf": {csrf}, "date": {day}, "start": {start}, "end": {end}, "purpose": {"Conseil de classe 1B"}})
	}
	code, h, _ = book(paul, pCSRF, "10:00", "11:30")
	booking := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(booking, "/reservation/") {
		t.Fatalf("book = %d to %q, want 303 to the booking", code, booking)
	}
	code, page = paul.get(booking)
	for _, want := range []string{"Salle polyvalente", "de 10:00 à 11:30", "Confirmée", "Conseil de classe 1B", booking + "/annuler"} {
		if code != http.StatusOK || !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("booking page (%d) lacks %q", code, want)
		}
	}
	// The slot is taken: Nadia is told who holds it, her form kept.
	code, _, page = book(nadia, nCSRF, "11:00", "12:00")
	if code != http.StatusConflict || !strings.Contains(html.UnescapeString(page), "de 10:00 à 11:30 par Paul Durand") ||
		!strings.Contains(page, `<option value="11:00" selected>`) {
		t.Errorf("book a held slot = %d, want 409 naming Paul Durand with the form kept", code)
	}
	code, _, _ = book(paul, pCSRF, "10:10", "11:00")
	if code != http.StatusBadRequest {
		t.Errorf("book off the 15-minute grid = %d, want 400", code)
	}
	code, page = nadia.get(planning + "?date=" + day)
	if code != http.StatusOK || !strings.Contains(page, "10:00 – 11:30") || !strings.Contains(page, "Paul Durand") {
		t.Errorf("staff's planning (%d) lacks Paul's booking", code)
	}

	// Students and relatives see nothing.
	for _, login := range []string{"lea.martin", "sophie.martin"} {
		b := e.browser(t)
		b.login(login)
		if _, home := b.get("/"); strings.Contains(home, `href="/reservation"`) {
			t.Errorf("%s's home page links to the réservation", login)
		}
		for _, path := range []string{"/reservation", planning, booking} {
			if code, _ := b.get(path); code != http.StatusForbidden && code != http.StatusNotFound {
				t.Errorf("%s GET %s = %d, want 403 or 404", login, path, code)
			}
		}
	}

	// Paul cancels; the slot is free again.
	if code, _, _ := paul.post(booking+"/annuler", url.Values{"csrf": {"faux"}}); code != http.StatusForbidden {
		t.Errorf("cancel without the CSRF token = %d, want 403", code)
	}
	if code, h, _ := paul.post(booking+"/annuler", url.Values{"csrf": {pCSRF}}); code != http.StatusSeeOther || h.Get("Location") != booking {
		t.Errorf("cancel = %d to %q, want 303 to the booking", code, h.Get("Location"))
	}
	if _, page := paul.get(booking); !strings.Contains(page, "Annulée") || strings.Contains(page, "/annuler") {
		t.Error("cancelled booking page does not say Annulée, or still offers to cancel")
	}
	if code, _, _ := book(nadia, nCSRF, "11:00", "12:00"); code != http.StatusSeeOther {
		t.Errorf("book the freed slot = %d, want 303", code)
	}
}

// TestReservationAPI: the JSON API, its refusals and its statuses.
func TestReservationAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	nadia, paul, lea := apiLogin(t, e, "nadia.benali"), apiLogin(t, e, "paul.durand"), apiLogin(t, e, "lea.martin")

	code, out := apiCall(t, e, "POST", "/api/v1/resources", paul, map[string]string{"name": "Valise de tablettes", "kind": "materiel"})
	if code != http.StatusForbidden {
		t.Errorf("teacher declares a resource = %d %v, want 403", code, out)
	}
	code, out = apiCall(t, e, "POST", "/api/v1/resources", nadia, map[string]string{"name": "Valise de tablettes", "kind": "materiel", "description": "30 tablettes"})
	id, _ := out["id"].(string)
	if code != http.StatusCreated || id == "" || out["kind"] != "materiel" {
		t.Fatalf("staff declares a resource = %d %v, want 201", code, out)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/resources", lea, nil); code != http.StatusForbidden {
		t.Errorf("student lists resources = %d %v, want 403", code, out)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/resources", paul, nil); code != http.StatusOK || len(out["items"].([]any)) != 1 {
		t.Errorf("teacher lists resources = %d %v, want the one", code, out)
	}
	slot := map[string]string{"resource": id, "date": "2031-03-04", "start": "08:00", "end": "09:00", "purpose": "TP de physique"}
	code, out = apiCall(t, e, "POST", "/api/v1/bookings", paul, slot)
	if code != http.StatusCreated || out["state"] != "confirmee" || out["author"] != "Paul Durand" {
		t.Fatalf("teacher books = %d %v, want 201 confirmee", code, out)
	}
	bid := out["id"].(string)
	code, out = apiCall(t, e, "POST", "/api/v1/bookings", nadia, slot)
	if msg, _ := out["error"].(string); code != http.StatusConflict || !strings.Contains(msg, "par Paul Durand") {
		t.Errorf("book a held slot = %d %v, want 409 naming Paul Durand", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/bookings", lea, slot); code != http.StatusForbidden {
		t.Errorf("student books = %d %v, want 403", code, out)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/bookings/"+bid, lea, nil); code != http.StatusNotFound {
		t.Errorf("student reads a booking = %d %v, want 404", code, out)
	}
	code, out = apiCall(t, e, "GET", "/api/v1/resources/"+id+"/bookings?from=2031-03-01&to=2031-03-31", nadia, nil)
	if items, _ := out["items"].([]any); code != http.StatusOK || len(items) != 1 {
		t.Errorf("planning of March = %d %v, want the one booking", code, out)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/bookings", paul, nil); code != http.StatusOK || len(out["items"].([]any)) != 1 {
		t.Errorf("teacher's bookings = %d %v, want the one", code, out)
	}
	req, _ := http.NewRequest("DELETE", e.srv.URL+"/api/v1/bookings/"+bid, nil)
	req.Header.Set("Authorization", "Bearer "+nadia)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("staff cancels = %d, want 204", resp.StatusCode)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/bookings/"+bid, paul, nil); code != http.StatusOK || out["state"] != "annulee" || out["cancelledBy"] == "" {
		t.Errorf("booking after cancel = %d %v, want annulee", code, out)
	}
}
