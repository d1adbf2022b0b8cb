package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/portal"
	"atrium/record"
)

// userID returns the id of the synthetic account login.
func userID(t *testing.T, e *env, login string) string {
	t.Helper()
	var id string
	err := e.store.View(func(r record.Reader) error {
		rec, ok, err := r.ByKey(ent.KindUser, login)
		if ok {
			id = rec.ID
		}
		return err
	})
	if err != nil || id == "" {
		t.Fatalf("no account %s: %v", login, err)
	}
	return id
}

func absenceForm(csrf, student string) url.Values {
	return url.Values{"csrf": {csrf}, "student": {student}, "date": {"2026-01-05"}, "start": {"08:00"}, "end": {"09:00"}, "kind": {"absence"}}
}

// TestAbsencePages walks the absences as their users do: a teacher records
// Léa's absence; her mother justifies it; the CPE sets its status, which
// keeps the justification; a student of another class and another family
// see nothing.
func TestAbsencePages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	lea, hugo := userID(t, e, "lea.martin"), userID(t, e, "hugo.bernard")
	paul := e.browser(t)
	csrf := paul.login("paul.durand")

	_, home := paul.get("/")
	if !strings.Contains(home, `<a href="/absences">Absences</a>`) {
		t.Error("teacher's home page lacks the Absences link")
	}
	code, form := paul.get("/absences/nouvelle")
	for _, want := range []string{`<label for="student">Élève</label>`, `<option value="` + lea + `"`, `<label for="date">Date</label>`,
		`<label for="start">Début du créneau</label>`, `<label for="end">Fin du créneau</label>`, `<label for="kind-retard">Retard</label>`, `name="csrf"`} {
		if code != http.StatusOK || !strings.Contains(form, want) {
			t.Errorf("new absence form (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(form, hugo) {
		t.Error("teacher's form offers a student of a class he does not teach")
	}
	if code, _, _ := paul.post("/absences/nouvelle", absenceForm("faux", lea)); code != http.StatusForbidden {
		t.Errorf("post without the CSRF token = %d, want 403", code)
	}
	if code, _, page := paul.post("/absences/nouvelle", absenceForm(csrf, hugo)); code != http.StatusForbidden || !strings.Contains(html.UnescapeString(page), "élèves de ses classes") {
		t.Errorf("post for a student of another class = %d, want 403 with the rule", code)
	}
	bad := absenceForm(csrf, lea)
	bad.Set("end", "07:00")
	if code, _, page := paul.post("/absences/nouvelle", bad); code != http.StatusBadRequest || !strings.Contains(page, "La fin du créneau doit suivre son début") || !strings.Contains(page, `value="07:00"`) {
		t.Errorf("post with a reversed slot = %d, want 400 with the error and the form kept", code)
	}
	code, h, _ := paul.post("/absences/nouvelle", absenceForm(csrf, lea))
	loc := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/absences/") {
		t.Fatalf("post absence = %d to %q, want 303 to the absence", code, loc)
	}
	code, page := paul.get(loc)
	for _, want := range []string{"Absence de Léa Martin", "05/01/2026", "08:00–09:00", "À justifier"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("absence page for the teacher (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(page, "/justifier") || strings.Contains(page, "/statut") {
		t.Error("the teacher's page offers to justify or set the status")
	}

	sophie := e.browser(t)
	sCSRF := sophie.login("sophie.martin")
	if code, page := sophie.get("/absences"); code != http.StatusOK || !strings.Contains(page, loc) {
		t.Errorf("relative's list (%d) lacks her child's absence", code)
	}
	if code, _, page := sophie.post(loc+"/justifier", url.Values{"csrf": {sCSRF}, "motif": {"autre"}}); code != http.StatusBadRequest || !strings.Contains(page, "Précisez le motif") {
		t.Errorf("justify 'autre' without comment = %d, want 400 with the error", code)
	}
	if code, h, _ := sophie.post(loc+"/justifier", url.Values{"csrf": {sCSRF}, "motif": {"maladie"}, "comment": {"Grippe"}}); code != http.StatusSeeOther || h.Get("Location") != loc {
		t.Errorf("justify = %d to %q, want 303 to the absence", code, h.Get("Location"))
	}
	if code, _, _ := sophie.post(loc+"/statut", url.Values{"csrf": {sCSRF}, "status": {"justifiee"}}); code != http.StatusForbidden {
		t.Errorf("relative sets the status = %d, want 403", code)
	}

	nadia := e.browser(t)
	nCSRF := nadia.login("nadia.benali")
	if code, h, _ := nadia.post(loc+"/statut", url.Values{"csrf": {nCSRF}, "status": {"justifiee"}}); code != http.StatusSeeOther || h.Get("Location") != loc {
		t.Errorf("staff sets the status = %d to %q, want 303", code, h.Get("Location"))
	}
	if code, _, _ := nadia.post(loc+"/justifier", url.Values{"csrf": {nCSRF}, "motif": {"maladie"}}); code != http.StatusForbidden {
		t.Errorf("staff justifies = %d, want 403", code)
	}
	code, page = nadia.get(loc)
	for _, want := range []string{"<strong>Justifiée</strong>", "Maladie (Sophie Martin", "Grippe", `<label for="status">Statut de l'absence</label>`} {
		if code != http.StatusOK || !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("absence page for staff (%d) lacks %q", code, want)
		}
	}

	for _, login := range []string{"hugo.bernard", "karim.bernard"} {
		b := e.browser(t)
		b.login(login)
		if code, page := b.get("/absences"); code != http.StatusOK || strings.Contains(page, loc) {
			t.Errorf("%s's list (%d) shows Léa's absence", login, code)
		}
		if code, _ := b.get(loc); code != http.StatusNotFound {
			t.Errorf("%s reads Léa's absence = %d, want 404", login, code)
		}
		if code, _ := b.get("/absences/nouvelle"); code != http.StatusForbidden {
			t.Errorf("%s opens the recording form = %d, want 403", login, code)
		}
	}
}

func TestAbsenceAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	lea := userID(t, e, "lea.martin")
	paul, leaTok, sophie := apiLogin(t, e, "paul.durand"), apiLogin(t, e, "lea.martin"), apiLogin(t, e, "sophie.martin")
	nadia, hugo := apiLogin(t, e, "nadia.benali"), apiLogin(t, e, "hugo.bernard")
	in := map[string]string{"studentId": lea, "date": "2026-01-05", "start": "10:00", "end": "10:10", "kind": "retard"}

	code, out := apiCall(t, e, "POST", "/api/v1/absences", paul, in)
	id, _ := out["id"].(string)
	if code != http.StatusCreated || id == "" || out["status"] != "a-justifier" || out["class"] != "1B" {
		t.Fatalf("POST /api/v1/absences = %d %v, want 201 pending in 1B", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/absences", leaTok, in); code != http.StatusForbidden {
		t.Errorf("student POST = %d %v, want 403", code, out)
	}
	for _, l := range []struct {
		who, token string
		want       int
	}{{"lea.martin", leaTok, 1}, {"sophie.martin", sophie, 1}, {"nadia.benali", nadia, 1}, {"hugo.bernard", hugo, 0}} {
		code, out := apiCall(t, e, "GET", "/api/v1/absences", l.token, nil)
		if items, _ := out["items"].([]any); code != http.StatusOK || len(items) != l.want {
			t.Errorf("GET /api/v1/absences as %s = %d with %d absences, want 200 with %d", l.who, code, len(items), l.want)
		}
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/absences/"+id, hugo, nil); code != http.StatusNotFound {
		t.Errorf("GET another student's absence = %d, want 404", code)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/absences/"+id+"/justification", sophie, map[string]string{"motif": "transport", "comment": "Bus en retard"}); code != http.StatusOK || out["motif"] != "transport" || out["status"] != "a-justifier" {
		t.Errorf("POST justification = %d %v, want 200, status unchanged", code, out)
	}
	if code, _ := apiCall(t, e, "POST", "/api/v1/absences/"+id+"/status", paul, map[string]string{"status": "justifiee"}); code != http.StatusForbidden {
		t.Errorf("teacher POST status = %d, want 403", code)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/absences/"+id+"/status", nadia, map[string]string{"status": "non-justifiee"}); code != http.StatusOK || out["status"] != "non-justifiee" || out["comment"] != "Bus en retard" {
		t.Errorf("staff POST status = %d %v, want 200, justification kept", code, out)
	}
}
