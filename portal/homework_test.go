package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/portal"
)

// day returns the date n days from today in Paris, AAAA-MM-JJ.
func day(t *testing.T, n int) string {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return time.Now().In(paris).AddDate(0, 0, n).Format("2006-01-02")
}

func homeworkForm(csrf, title, due string) url.Values {
	return url.Values{"csrf": {csrf}, "class": {"1B"}, "subject": {"Mathématiques"}, "date": {due},
		"title": {title}, "content": {"Suites arithmétiques."}, "work": {"Exercices 1 à 3 p. 42"}, "due": {due}}
}

// TestHomeworkPages walks the cahier de textes as its users do: a teacher
// writes, edits and deletes an entry; the class's student and her parent
// read it; a student of another class and Région staff do not.
func TestHomeworkPages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul := e.browser(t)
	csrf := paul.login("paul.durand")

	_, home := paul.get("/")
	if !strings.Contains(home, `<a href="/cahier-de-textes">Cahier de textes</a>`) {
		t.Error("teacher's home page lacks the Cahier de textes link")
	}
	code, form := paul.get("/cahier-de-textes/nouvelle")
	for _, want := range []string{`<label for="class">Classe</label>`, `<option value="TG2">`, `<label for="subject">Matière</label>`,
		`<label for="date">Date de la séance</label>`, `<label for="title">`, `<label for="content">`, `<label for="work">`,
		`<label for="due">`, `name="csrf"`} {
		if code != http.StatusOK || !strings.Contains(form, want) {
			t.Errorf("new entry form (%d) lacks %q", code, want)
		}
	}

	due := day(t, 3)
	if code, _, _ := paul.post("/cahier-de-textes/nouvelle", homeworkForm("faux", "Suites", due)); code != http.StatusForbidden {
		t.Errorf("post without the CSRF token = %d, want 403", code)
	}
	bad := homeworkForm(csrf, "Suites", due)
	bad.Set("class", "2C") // Paul does not teach 2C
	code, _, page := paul.post("/cahier-de-textes/nouvelle", bad)
	if code != http.StatusForbidden || !strings.Contains(html.UnescapeString(page), "classes où vous enseignez") {
		t.Errorf("post for a class not taught = %d, want 403 with the rule", code)
	}
	bad = homeworkForm(csrf, "", due)
	code, _, page = paul.post("/cahier-de-textes/nouvelle", bad)
	if code != http.StatusBadRequest || !strings.Contains(page, "Le titre de la séance est obligatoire") || !strings.Contains(page, "Exercices 1 à 3 p. 42") {
		t.Errorf("post without title = %d, want 400 with the error and the form kept", code)
	}

	code, h, _ := paul.post("/cahier-de-textes/nouvelle", homeworkForm(csrf, "Suites", due))
	loc := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/cahier-de-textes/") {
		t.Fatalf("post entry = %d to %q, want 303 to the entry", code, loc)
	}
	code, page = paul.get(loc)
	for _, want := range []string{"<h1>Suites</h1>", "Mathématiques · 1B", "Exercices 1 à 3 p. 42", loc + "/modifier", loc + "/supprimer"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("entry page for its author (%d) lacks %q", code, want)
		}
	}

	lea := e.browser(t)
	leaCSRF := lea.login("lea.martin")
	code, page = lea.get("/cahier-de-textes")
	if code != http.StatusOK || !strings.Contains(page, "Travail à faire") || !strings.Contains(page, `href="`+loc+`"`) || strings.Contains(page, "Nouvelle entrée") {
		t.Errorf("student's list (%d): want the entry under Travail à faire, no Nouvelle entrée link", code)
	}
	code, page = lea.get(loc)
	if code != http.StatusOK || strings.Contains(page, "/modifier") {
		t.Errorf("student reads the entry = %d; want 200 without the edit link", code)
	}
	if code, _ := lea.get("/cahier-de-textes/nouvelle"); code != http.StatusForbidden {
		t.Errorf("student GET new entry form = %d, want 403", code)
	}
	if code, _, _ := lea.post(loc+"/supprimer", url.Values{"csrf": {leaCSRF}}); code != http.StatusForbidden {
		t.Errorf("student deletes the entry = %d, want 403", code)
	}
	sophie := e.browser(t)
	sophie.login("sophie.martin")
	if code, page := sophie.get("/cahier-de-textes"); code != http.StatusOK || !strings.Contains(page, `href="`+loc+`"`) {
		t.Errorf("parent's list (%d) lacks her child's class entry", code)
	}
	hugo := e.browser(t)
	hugo.login("hugo.bernard")
	if code, page := hugo.get("/cahier-de-textes"); code != http.StatusOK || strings.Contains(page, loc) {
		t.Errorf("student of 2C's list (%d) shows the 1B entry", code)
	}
	if code, _ := hugo.get(loc); code != http.StatusNotFound {
		t.Errorf("student of 2C reads the 1B entry = %d, want 404", code)
	}
	anne := e.browser(t)
	anne.login("anne.lefebvre")
	if _, page := anne.get("/"); strings.Contains(page, "/cahier-de-textes") {
		t.Error("Région staff's home page links to the cahier de textes")
	}

	// The author edits, then deletes.
	code, page = paul.get(loc + "/modifier")
	if code != http.StatusOK || !strings.Contains(page, `value="Suites"`) || !strings.Contains(page, `action="`+loc+`/modifier"`) {
		t.Errorf("edit form (%d): want the entry's fields and the edit action", code)
	}
	edit := homeworkForm(csrf, "Suites géométriques", due)
	if code, h, _ := paul.post(loc+"/modifier", edit); code != http.StatusSeeOther || h.Get("Location") != loc {
		t.Errorf("edit = %d to %q, want 303 to %s", code, h.Get("Location"), loc)
	}
	if _, page := lea.get(loc); !strings.Contains(page, "<h1>Suites géométriques</h1>") {
		t.Error("the student does not read the edited title")
	}
	if code, h, _ := paul.post(loc+"/supprimer", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther || h.Get("Location") != "/cahier-de-textes" {
		t.Errorf("delete = %d to %q, want 303 to the list", code, h.Get("Location"))
	}
	if code, _ := lea.get(loc); code != http.StatusNotFound {
		t.Errorf("deleted entry = %d, want 404", code)
	}
}

func apiDelete(t *testing.T, e *env, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest("DELETE", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestHomeworkAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul, lea, hugo := apiLogin(t, e, "paul.durand"), apiLogin(t, e, "lea.martin"), apiLogin(t, e, "hugo.bernard")
	nadia, anne := apiLogin(t, e, "nadia.benali"), apiLogin(t, e, "anne.lefebvre")
	in := map[string]string{"class": "1B", "subject": "Physique", "date": day(t, 0), "title": "Ondes",
		"work": "Lire le chapitre 4", "due": day(t, 2)}

	code, out := apiCall(t, e, "POST", "/api/v1/homework", paul, in)
	id, _ := out["id"].(string)
	if code != http.StatusCreated || id == "" || out["author"] != "Paul Durand" {
		t.Fatalf("POST /api/v1/homework = %d %v, want 201 with the entry", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/homework", lea, in); code != http.StatusForbidden {
		t.Errorf("student POST = %d %v, want 403", code, out)
	}
	lists := []struct {
		who   string
		token string
		want  int
	}{{"lea.martin", lea, 1}, {"nadia.benali", nadia, 1}, {"hugo.bernard", hugo, 0}, {"anne.lefebvre", anne, 0}}
	for _, l := range lists {
		code, out := apiCall(t, e, "GET", "/api/v1/homework", l.token, nil)
		items, _ := out["items"].([]any)
		if code != http.StatusOK || len(items) != l.want {
			t.Errorf("GET /api/v1/homework as %s = %d with %d entries, want 200 with %d", l.who, code, len(items), l.want)
		}
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/homework/"+id, lea, nil); code != http.StatusOK || out["todo"] != true {
		t.Errorf("GET entry as the student = %d %v, want 200 with todo", code, out)
	}
	in["title"] = "Ondes sonores"
	if code, out := apiCall(t, e, "PUT", "/api/v1/homework/"+id, paul, in); code != http.StatusOK || out["title"] != "Ondes sonores" {
		t.Errorf("PUT by the author = %d %v, want 200", code, out)
	}
	if code := apiDelete(t, e, "/api/v1/homework/"+id, nadia); code != http.StatusForbidden {
		t.Errorf("DELETE by staff = %d, want 403", code)
	}
	if code := apiDelete(t, e, "/api/v1/homework/"+id, paul); code != http.StatusNoContent {
		t.Errorf("DELETE by the author = %d, want 204", code)
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/homework/"+id, lea, nil); code != http.StatusNotFound {
		t.Errorf("GET deleted entry = %d, want 404", code)
	}
}
