package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/portal"
)

// The assistance through the pages: a student opens a ticket, the staff
// read it, comment and change its status; others do not see it.
func TestAssistancePages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	lea := e.browser(t)
	leaCSRF := lea.login("lea.martin")

	code, page := lea.get("/")
	if code != http.StatusOK || !strings.Contains(page, `<a href="/assistance">Assistance</a>`) {
		t.Errorf("home of lea.martin (%d) lacks the link to Assistance", code)
	}
	code, page = lea.get("/assistance/nouveau")
	for _, want := range []string{`<label for="title">Titre</label>`, `<label for="category">Catégorie</label>`,
		`<label for="description">Description du problème</label>`, `name="csrf"`, `<option value="reseau">Réseau</option>`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("new ticket form (%d) lacks %q", code, want)
		}
	}

	// Without the CSRF token: refused, nothing opened.
	code, _, _ = lea.post("/assistance/nouveau", url.Values{"title": {"Wifi"}, "description": {"Rien ne marche."}, "category": {"reseau"}})
	if code != http.StatusForbidden {
		t.Errorf("post without CSRF = %d, want 403", code)
	}
	// A missing category: the form again, with the French error and what was typed.
	code, _, page = lea.post("/assistance/nouveau", url.Values{"csrf": {leaCSRF}, "title": {"Wifi du CDI"}, "description": {"Rien ne marche."}})
	if code != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), "Catégorie inconnue") || !strings.Contains(page, `value="Wifi du CDI"`) {
		t.Errorf("post without category = %d, want 400 with the French error and the title kept", code)
	}
	code, h, _ := lea.post("/assistance/nouveau", url.Values{"csrf": {leaCSRF}, "title": {"Wifi du CDI"}, "description": {"Rien ne marche."}, "category": {"reseau"}})
	loc := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/assistance/") {
		t.Fatalf("open ticket = %d to %q, want 303 to the ticket", code, loc)
	}
	code, page = lea.get(loc)
	for _, want := range []string{"Wifi du CDI", "Rien ne marche.", "Statut : <strong>Ouvert</strong>", `<label for="body">Votre commentaire</label>`} {
		if code != http.StatusOK || !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("ticket page of its author (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(page, "Changer le statut") {
		t.Error("the author sees the status form")
	}
	// The author cannot change the status by posting anyway.
	if code, _, _ := lea.post(loc+"/statut", url.Values{"csrf": {leaCSRF}, "base": {"ouvert"}, "status": {"ferme"}}); code != http.StatusForbidden {
		t.Errorf("status change by the author = %d, want 403", code)
	}

	// Other users of the lycée (even her mother, a teacher) do not see it.
	for _, login := range []string{"sophie.martin", "paul.durand", "julien.faure"} {
		b := e.browser(t)
		b.login(login)
		if code, _ := b.get(loc); code != http.StatusNotFound {
			t.Errorf("%s reads lea.martin's ticket: %d, want 404", login, code)
		}
		if _, page := b.get("/assistance"); strings.Contains(page, "Wifi du CDI") {
			t.Errorf("%s's ticket list shows lea.martin's ticket", login)
		}
	}
	agent := e.browser(t)
	agent.login("anne.lefebvre")
	if code, page := agent.get("/"); strings.Contains(page, `href="/assistance"`) {
		t.Errorf("home of a Région agent (%d) links to Assistance", code)
	}
	if code, _ := agent.get("/assistance"); code != http.StatusForbidden {
		t.Errorf("Région agent on /assistance = %d, want 403", code)
	}

	// The staff see it, comment, and change its status.
	nadia := e.browser(t)
	nadiaCSRF := nadia.login("nadia.benali")
	code, page = nadia.get("/assistance")
	if code != http.StatusOK || !strings.Contains(page, "Wifi du CDI") || !strings.Contains(page, "Léa Martin") {
		t.Errorf("staff's ticket list (%d) lacks lea.martin's ticket", code)
	}
	if code, h, _ := nadia.post(loc+"/commentaire", url.Values{"csrf": {nadiaCSRF}, "body": {"Le point d'accès redémarre."}}); code != http.StatusSeeOther || h.Get("Location") != loc {
		t.Errorf("staff comment = %d to %q, want 303 to the ticket", code, h.Get("Location"))
	}
	_, page = nadia.get(loc)
	if !strings.Contains(page, "Changer le statut") || !strings.Contains(page, `<label for="status">Nouveau statut</label>`) || !strings.Contains(page, `name="base" value="ouvert"`) {
		t.Error("staff's ticket page lacks the status form with its base")
	}
	if code, _, _ := nadia.post(loc+"/statut", url.Values{"csrf": {nadiaCSRF}, "base": {"ouvert"}, "status": {"resolu"}}); code != http.StatusSeeOther {
		t.Errorf("status change by staff = %d, want 303", code)
	}
	// A second change from the stale base: refused, the ticket shown as it is now.
	code, _, page = nadia.post(loc+"/statut", url.Values{"csrf": {nadiaCSRF}, "base": {"ouvert"}, "status": {"ferme"}})
	page = html.UnescapeString(page)
	if code != http.StatusConflict || !strings.Contains(page, "il est maintenant « Résolu »") || !strings.Contains(page, "Statut : <strong>Résolu</strong>") {
		t.Errorf("change from a stale base = %d, want 409 naming the current status", code)
	}

	// The author reads the comment and the history, and answers.
	_, page = lea.get(loc)
	page = html.UnescapeString(page)
	for _, want := range []string{"Le point d'accès redémarre.", "Nadia Benali a passé le ticket de « Ouvert » à « Résolu »"} {
		if !strings.Contains(page, want) {
			t.Errorf("author's ticket page lacks %q", want)
		}
	}
	if code, _, _ := lea.post(loc+"/commentaire", url.Values{"csrf": {leaCSRF}, "body": {"Merci, ça marche."}}); code != http.StatusSeeOther {
		t.Errorf("author's comment = %d, want 303", code)
	}
	if _, page := nadia.get("/assistance?statut=ouvert"); strings.Contains(page, "Wifi du CDI") {
		t.Error("the list filtered on « Ouvert » shows the resolved ticket")
	}
}

func TestAssistanceAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	lea, nadia, paul := apiLogin(t, e, "lea.martin"), apiLogin(t, e, "nadia.benali"), apiLogin(t, e, "paul.durand")

	code, out := apiCall(t, e, "POST", "/api/v1/tickets", lea, map[string]string{"title": "Imprimante", "description": "Bourrage.", "category": "materiel"})
	id, _ := out["id"].(string)
	if code != http.StatusCreated || id == "" || out["status"] != "ouvert" || out["author"] != "lea.martin" {
		t.Fatalf("POST /api/v1/tickets = %d %v, want 201 and an open ticket", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/tickets", lea, map[string]string{"title": "X", "description": "Y", "category": "divers"}); code != http.StatusBadRequest {
		t.Errorf("unknown category = %d %v, want 400", code, out)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/tickets", paul, nil); code != http.StatusOK || len(out["items"].([]any)) != 0 {
		t.Errorf("teacher's tickets = %d %v, want none", code, out)
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/tickets/"+id, paul, nil); code != http.StatusNotFound {
		t.Errorf("teacher reads the student's ticket = %d, want 404", code)
	}
	if code, _ := apiCall(t, e, "POST", "/api/v1/tickets/"+id+"/comments", paul, map[string]string{"body": "Bonjour"}); code != http.StatusNotFound {
		t.Errorf("teacher comments the student's ticket = %d, want 404", code)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/tickets/"+id+"/comments", nadia, map[string]string{"body": "J'arrive."}); code != http.StatusCreated || out["author"] != "nadia.benali" {
		t.Errorf("staff comment = %d %v, want 201", code, out)
	}
	if code, _ := apiCall(t, e, "POST", "/api/v1/tickets/"+id+"/status", lea, map[string]string{"base": "ouvert", "status": "ferme"}); code != http.StatusForbidden {
		t.Errorf("status change by the author = %d, want 403", code)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/tickets/"+id+"/status", nadia, map[string]string{"base": "ouvert", "status": "en-cours"}); code != http.StatusOK || out["status"] != "en-cours" {
		t.Errorf("status change by staff = %d %v, want 200 en-cours", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/tickets/"+id+"/status", nadia, map[string]string{"base": "ouvert", "status": "resolu"}); code != http.StatusConflict || !strings.Contains(out["error"].(string), "« En cours »") {
		t.Errorf("status change from a stale base = %d %v, want 409 naming En cours", code, out)
	}
	code, out = apiCall(t, e, "GET", "/api/v1/tickets/"+id, lea, nil)
	comments, _ := out["comments"].([]any)
	changes, _ := out["changes"].([]any)
	if code != http.StatusOK || len(comments) != 1 || len(changes) != 1 || out["status"] != "en-cours" {
		t.Errorf("GET ticket by its author = %d %v, want 1 comment, 1 change, en-cours", code, out)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/tickets?status=en-cours", nadia, nil); code != http.StatusOK || len(out["items"].([]any)) != 1 {
		t.Errorf("staff's tickets en-cours = %d %v, want 1", code, out)
	}
}
