package portal_test

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/portal"
)

var nextLink = regexp.MustCompile(`<a href="([^"]+)" rel="next">Plus anciens</a>`)

// TestMessagesPaged: a messagerie of 70 messages shows the 30 newest, then
// "Plus anciens" the 30 before, then the last 10 with no further link, in
// a navigation named Pagination; the JSON API pages the same list with
// limit and before and a Link header, and without them answers it whole.
func TestMessagesPaged(t *testing.T) {
	e := newEnv(t, portal.Config{})
	parent := apiLogin(t, e, "sophie.martin")
	const n = 70
	for i := range n {
		if code, out := apiCall(t, e, "POST", "/api/v1/messages", parent, map[string]any{"to": "paul.durand", "subject": fmt.Sprintf("Objet n°%02d", i), "body": "Texte"}); code != http.StatusCreated {
			t.Fatalf("send %d = %d %v", i, code, out)
		}
	}
	b := e.browser(t)
	b.login("paul.durand")
	path := "/messagerie"
	var seen []string
	for page := range 4 {
		code, body := b.get(path)
		body = html.UnescapeString(body)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d, want 200", path, code)
		}
		got := regexp.MustCompile(`Objet n°(\d\d)`).FindAllStringSubmatch(body, -1)
		for _, m := range got {
			seen = append(seen, m[1])
		}
		if page > 0 && !strings.Contains(body, `<a href="/messagerie">Les plus récents</a>`) {
			t.Errorf("page %d lacks the link to the newest", page)
		}
		m := nextLink.FindStringSubmatch(body)
		if m == nil {
			if want := []int{30, 30, 10}; page != 2 {
				t.Fatalf("page %d has %d messages and no next link, want %d", page, len(got), want[min(page, 2)])
			}
			break
		}
		if !strings.Contains(body, `<nav aria-label="Pagination">`) {
			t.Errorf("page %d: the pagination is not in <nav aria-label=\"Pagination\">", page)
		}
		if len(got) != ent.DefaultPageLimit {
			t.Errorf("page %d shows %d messages, want %d", page, len(got), ent.DefaultPageLimit)
		}
		path = m[1]
	}
	if len(seen) != n || seen[0] != "69" || seen[n-1] != "00" {
		t.Errorf("pages showed %d messages from %s to %s, want %d from 69 to 00", len(seen), seen[0], seen[len(seen)-1], n)
	}

	teacher := apiLogin(t, e, "paul.durand")
	code, out := apiCall(t, e, "GET", "/api/v1/messages", teacher, nil)
	total := len(out["items"].([]any))
	if code != http.StatusOK || total < n {
		t.Errorf("GET /api/v1/messages = %d, %d messages, want every one (at least %d)", code, total, n)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/messages?limit=50", nil)
	req.Header.Set("Authorization", "Bearer "+teacher)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	link := resp.Header.Get("Link")
	next := regexp.MustCompile(`^<(/api/v1/messages\?before=[^>]+&limit=50)>; rel="next"$`).FindStringSubmatch(link)
	if next == nil {
		t.Fatalf("GET ?limit=50: Link = %q, want the next page's address", link)
	}
	code, out = apiCall(t, e, "GET", next[1], teacher, nil)
	if items := out["items"].([]any); code != http.StatusOK || len(items) != total-50 || items[0].(map[string]any)["subject"] != "Objet n°19" {
		t.Errorf("GET %s = %d, %d messages, want the %d oldest from n°19", next[1], code, len(items), total-50)
	}
	for _, q := range []string{"limit=0", "limit=abc", "limit=1000"} {
		if code, out := apiCall(t, e, "GET", "/api/v1/messages?"+q, teacher, nil); code != http.StatusBadRequest || out["error"] == nil {
			t.Errorf("GET ?%s = %d %v, want 400 with an error", q, code, out)
		}
	}
}

// TestAbsencesFiltered: the lycée's staff see the absences of the last 7
// days by default, with a filter form (class, dates, unjustified ones)
// usable without JavaScript; a filter shows older ones.
func TestAbsencesFiltered(t *testing.T) {
	e := newEnv(t, portal.Config{})
	lea := userID(t, e, "lea.martin")
	paul := e.browser(t)
	csrf := paul.login("paul.durand")
	today := time.Now().Format(time.DateOnly)
	for _, date := range []string{"2026-01-05", today} {
		f := absenceForm(csrf, lea)
		f.Set("date", date)
		if code, _, _ := paul.post("/absences/nouvelle", f); code != http.StatusSeeOther {
			t.Fatalf("record an absence on %s = %d, want 303", date, code)
		}
	}
	nadia := e.browser(t)
	nadia.login("nadia.benali")
	code, page := nadia.get("/absences")
	for _, want := range []string{`<label for="classe">Classe</label>`, `<label for="du">Du</label>`, `<label for="nonjustifiees">Non justifiées seulement</label>`, `<form method="get" action="/absences"`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("staff's absences (%d) lack %q", code, want)
		}
	}
	if rows := strings.Count(page, `<a href="/absences/0`); rows != 1 || !strings.Contains(page, frDateOf(today)) {
		t.Errorf("staff's default list shows %d absences, want 1, today's", rows)
	}
	_, page = nadia.get("/absences?du=&au=&classe=&nonjustifiees=1")
	if rows := strings.Count(page, `<a href="/absences/0`); rows != 2 || !strings.Contains(page, "05/01/2026") {
		t.Errorf("staff's list of every unjustified absence shows %d, want 2", rows)
	}
	_, page = nadia.get("/absences?du=2026-01-01&au=2026-01-31")
	if rows := strings.Count(page, `<a href="/absences/0`); rows != 1 || !strings.Contains(page, "depuis le 01/01/2026 jusqu'au 31/01/2026") {
		t.Errorf("staff's list of January shows %d absences, want 1 with the dates in the caption", rows)
	}
}

func frDateOf(d string) string {
	t, _ := time.Parse(time.DateOnly, d)
	return t.Format("02/01/2006")
}

// TestNotesPaged: 40 evaluations of a class show on the notes' page 30 at
// a time, the last created first, with "Plus anciennes"; a student sees,
// beside each page's evaluations, her grades in them.
func TestNotesPaged(t *testing.T) {
	e := newEnv(t, portal.Config{})
	teacher := apiLogin(t, e, "paul.durand")
	lea := userID(t, e, "lea.martin")
	const n = 40
	for i := range n {
		code, out := apiCall(t, e, "POST", "/api/v1/evaluations", teacher, map[string]any{"class": "1B", "subject": "Mathématiques",
			"title": fmt.Sprintf("Évaluation n°%02d", i), "date": "2026-01-05", "outOf": "20", "coefficient": "1"})
		if code != http.StatusCreated {
			t.Fatalf("create evaluation %d = %d %v", i, code, out)
		}
		if code, out := apiCall(t, e, "POST", "/api/v1/grades", teacher, map[string]any{"evaluation": out["id"], "student": lea, "value": fmt.Sprintf("%d", i%20)}); code != http.StatusOK {
			t.Fatalf("grade %d = %d %v", i, code, out)
		}
	}
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">Plus anciennes</a>`)
	title := regexp.MustCompile(`Évaluation n°(\d\d)</a>`)
	grade := regexp.MustCompile(`Évaluation n°(\d\d)</a></td><td>(\d+) / 20</td>`)
	b := e.browser(t)
	b.login("lea.martin")
	path := "/notes"
	for page, want := range []struct{ first, last string }{{"39", "10"}, {"09", "00"}} {
		code, body := b.get(path)
		body = html.UnescapeString(body)
		evals, grades := title.FindAllStringSubmatch(body, -1), grade.FindAllStringSubmatch(body, -1)
		// Each evaluation shows twice: in the grades' table and in the list.
		if code != http.StatusOK || len(evals) != 2*len(grades) || len(grades) == 0 ||
			grades[0][1] != want.first || grades[len(grades)-1][1] != want.last {
			t.Fatalf("GET %s (page %d) = %d, %d evaluations, %d grades, want %s to %s", path, page, code, len(evals), len(grades), want.first, want.last)
		}
		m := next.FindStringSubmatch(body)
		if page == 1 {
			if m != nil || !strings.Contains(body, `<a href="/notes">Les plus récentes</a>`) {
				t.Errorf("last page: next link %v, want none and a link to the newest", m)
			}
			break
		}
		if m == nil || !strings.Contains(body, `<nav aria-label="Pagination">`) {
			t.Fatalf("page %d: no next link in a Pagination navigation", page)
		}
		path = m[1]
	}
}
