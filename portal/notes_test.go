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

var gradeLabel = regexp.MustCompile(`<label for="grade-([0-9a-f-]{36})">([^<]+)</label>`)

// studentFields returns the students of a grade sheet's form, by name.
func studentFields(page string) map[string]string {
	out := map[string]string{}
	for _, m := range gradeLabel.FindAllStringSubmatch(page, -1) {
		out[html.UnescapeString(m[2])] = m[1]
	}
	return out
}

func evaluationForm(csrf, class string) url.Values {
	return url.Values{"csrf": {csrf}, "class": {class}, "subject": {"Mathématiques"}, "title": {"Suites"},
		"date": {"2026-01-05"}, "outOf": {"20"}, "coefficient": {"2"}}
}

// TestNotesPages walks the notes as their users do: a teacher creates an
// evaluation and enters grades; a student and her parent read only her
// grade; a student of another class reads nothing; a stale entry is
// refused as a conflict.
func TestNotesPages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul := e.browser(t)
	csrf := paul.login("paul.durand")

	if _, home := paul.get("/"); !strings.Contains(home, `<a href="/notes">Notes</a>`) {
		t.Error("teacher's home page lacks the Notes link")
	}
	code, form := paul.get("/notes/nouvelle")
	for _, want := range []string{`<label for="class">Classe</label>`, `<option value="TG2">`, `<label for="subject">`,
		`<label for="title">`, `<label for="date">`, `<label for="outOf">Noté sur</label>`, `<label for="coefficient">`, `name="csrf"`} {
		if code != http.StatusOK || !strings.Contains(form, want) {
			t.Errorf("new evaluation form (%d) lacks %q", code, want)
		}
	}
	if code, _, _ := paul.post("/notes/nouvelle", evaluationForm("faux", "1B")); code != http.StatusForbidden {
		t.Errorf("post without the CSRF token = %d, want 403", code)
	}
	code, _, page := paul.post("/notes/nouvelle", evaluationForm(csrf, "2C"))
	if code != http.StatusForbidden || !strings.Contains(html.UnescapeString(page), "classes où vous enseignez") {
		t.Errorf("post for a class not taught = %d, want 403 with the rule", code)
	}
	bad := evaluationForm(csrf, "1B")
	bad.Set("outOf", "0")
	if code, _, page := paul.post("/notes/nouvelle", bad); code != http.StatusBadRequest || !strings.Contains(page, "note maximale") {
		t.Errorf("post with sur 0 = %d, want 400 with the error", code)
	}
	code, h, _ := paul.post("/notes/nouvelle", evaluationForm(csrf, "1B"))
	loc := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/notes/") {
		t.Fatalf("post evaluation = %d to %q, want 303 to it", code, loc)
	}
	code, page = paul.get(loc)
	students := studentFields(page)
	lea, tom := students["Léa Martin"], students["Tom Garcia"]
	if code != http.StatusOK || lea == "" || tom == "" || !strings.Contains(page, `action="`+loc+`/saisie"`) {
		t.Fatalf("grade sheet (%d): students %v, want Léa and Tom with the entry form", code, students)
	}
	grades := url.Values{"csrf": {csrf}, "grade-" + lea: {"15,5"}, "base-" + lea: {""}, "grade-" + tom: {"abs"}, "base-" + tom: {""}}
	if code, h, _ := paul.post(loc+"/saisie", grades); code != http.StatusSeeOther || h.Get("Location") != loc {
		t.Fatalf("enter grades = %d to %q, want 303 to %s", code, h.Get("Location"), loc)
	}
	if _, page := paul.get(loc); !strings.Contains(page, `value="15.5"`) || !strings.Contains(page, `value="abs"`) {
		t.Error("the sheet does not show the grades entered")
	}
	// A stale entry (from no grade, while Léa has 15,5) and an invalid one.
	stale := url.Values{"csrf": {csrf}, "grade-" + lea: {"12"}, "base-" + lea: {""}}
	code, _, page = paul.post(loc+"/saisie", stale)
	if code != http.StatusConflict || !strings.Contains(html.UnescapeString(page), "Léa Martin : La note de Léa Martin a changé entre-temps : elle est maintenant « 15,5 »") {
		t.Errorf("stale entry = %d, want 409 naming the current grade", code)
	}
	invalid := url.Values{"csrf": {csrf}, "grade-" + tom: {"25"}, "base-" + tom: {"abs"}}
	if code, _, page := paul.post(loc+"/saisie", invalid); code != http.StatusBadRequest || !strings.Contains(page, "Tom Garcia : Note invalide") {
		t.Errorf("grade above sur = %d, want 400 naming the student", code)
	}

	// Léa reads her own grade only.
	leaB := e.browser(t)
	leaCSRF := leaB.login("lea.martin")
	for _, path := range []string{"/notes", loc} {
		code, page := leaB.get(path)
		if code != http.StatusOK || !strings.Contains(page, "15,5") || strings.Contains(page, "Tom Garcia") || strings.Contains(page, "Absent") {
			t.Errorf("student reads %s = %d; want her 15,5 and nothing of Tom", path, code)
		}
	}
	if _, page := leaB.get(loc); strings.Contains(page, "/saisie") {
		t.Error("student's sheet has the entry form")
	}
	if code, _, _ := leaB.post(loc+"/saisie", url.Values{"csrf": {leaCSRF}, "grade-" + lea: {"20"}, "base-" + lea: {"15.5"}}); code != http.StatusForbidden {
		t.Errorf("student enters a grade = %d, want 403", code)
	}
	if code, _ := leaB.get("/notes/nouvelle"); code != http.StatusForbidden {
		t.Errorf("student GET new evaluation form = %d, want 403", code)
	}
	sophie := e.browser(t)
	sophie.login("sophie.martin")
	if code, page := sophie.get("/notes"); code != http.StatusOK || !strings.Contains(page, "Léa Martin") || !strings.Contains(page, "15,5") || strings.Contains(page, "Tom Garcia") {
		t.Errorf("parent's notes (%d): want Léa's 15,5 and nothing of Tom", code)
	}
	hugo := e.browser(t)
	hugo.login("hugo.bernard")
	if code, _ := hugo.get(loc); code != http.StatusNotFound {
		t.Errorf("student of 2C reads the 1B evaluation = %d, want 404", code)
	}
	nadia := e.browser(t)
	nadia.login("nadia.benali")
	if code, page := nadia.get(loc); code != http.StatusOK || !strings.Contains(page, "Tom Garcia") || strings.Contains(page, "/saisie") {
		t.Errorf("staff read the sheet = %d; want every grade, no entry form", code)
	}
	anne := e.browser(t)
	anne.login("anne.lefebvre")
	if _, page := anne.get("/"); strings.Contains(page, `href="/notes"`) {
		t.Error("Région staff's home page links to the notes")
	}
}

func TestNotesAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul, lea, hugo := apiLogin(t, e, "paul.durand"), apiLogin(t, e, "lea.martin"), apiLogin(t, e, "hugo.bernard")
	karim, tom := apiLogin(t, e, "karim.bernard"), apiLogin(t, e, "tom.garcia")
	in := map[string]any{"class": "1B", "subject": "Physique", "title": "Ondes", "date": "2026-01-05", "outOf": 20, "coefficient": 1.5}
	code, out := apiCall(t, e, "POST", "/api/v1/evaluations", paul, in)
	id, _ := out["id"].(string)
	if code != http.StatusCreated || id == "" || out["coefficient"] != 1.5 || out["outOf"] != 20.0 {
		t.Fatalf("POST /api/v1/evaluations = %d %v, want 201 with the evaluation", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/evaluations", lea, in); code != http.StatusForbidden {
		t.Errorf("student POST = %d %v, want 403", code, out)
	}
	code, out = apiCall(t, e, "GET", "/api/v1/evaluations/"+id, paul, nil)
	ids := map[string]string{}
	rows, _ := out["grades"].([]any)
	for _, r := range rows {
		m := r.(map[string]any)
		ids[m["studentName"].(string)] = m["student"].(string)
	}
	if code != http.StatusOK || ids["Léa Martin"] == "" || ids["Tom Garcia"] == "" || out["canGrade"] != true {
		t.Fatalf("GET evaluation as its author = %d %v, want the class's students", code, out)
	}
	set := map[string]string{"evaluation": id, "student": ids["Léa Martin"], "base": "", "value": "14"}
	if code, out := apiCall(t, e, "POST", "/api/v1/grades", paul, set); code != http.StatusOK || out["value"] != "14" {
		t.Errorf("POST grade = %d %v, want 200 with 14", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/grades", paul, set); code != http.StatusConflict || !strings.Contains(out["error"].(string), "entre-temps") {
		t.Errorf("POST grade from a stale base = %d %v, want 409", code, out)
	}
	set["base"], set["value"] = "14", "20"
	if code, _ := apiCall(t, e, "POST", "/api/v1/grades", lea, set); code != http.StatusForbidden {
		t.Errorf("student POST grade = %d, want 403", code)
	}
	for _, c := range []struct {
		who, token string
		want       int
	}{{"lea.martin", lea, 1}, {"tom.garcia", tom, 0}, {"karim.bernard", karim, 0}, {"hugo.bernard", hugo, 0}, {"paul.durand", paul, 1}} {
		code, out := apiCall(t, e, "GET", "/api/v1/grades", c.token, nil)
		items, _ := out["items"].([]any)
		if code != http.StatusOK || len(items) != c.want {
			t.Errorf("GET /api/v1/grades as %s = %d with %d grades, want 200 with %d", c.who, code, len(items), c.want)
		}
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/evaluations/"+id, tom, nil); code != http.StatusOK || len(out["grades"].([]any)) != 1 {
		t.Errorf("GET evaluation as Tom = %d %v, want his line only", code, out)
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/evaluations/"+id, hugo, nil); code != http.StatusNotFound {
		t.Errorf("GET evaluation as a student of 2C = %d, want 404", code)
	}
}
