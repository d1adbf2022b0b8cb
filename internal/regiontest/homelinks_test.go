package regiontest_test

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
)

var (
	// hrefs finds the links of a page (the portal writes href="…").
	hrefs = regexp.MustCompile(`<a [^>]*href="([^"]*)"`)
	// errorPage is the shape of the portal's error page: a heading (the
	// refusal) and the way back home, nothing else.
	errorPage = regexp.MustCompile(`<main id="contenu">\s*(<p class="erreur"[^<]*</p>\s*)?<h1>[^<]*</h1>\s*<p><a href="/">Retour à l(&#39;|')accueil</a></p>\s*</main>`)
)

// Every link of the home page and its navigation answers at an edge cut
// from the region, for a user of each profile, and so does every link of
// those pages that stays within the same service (a list's items, a
// service's forms): a 200 French page, not the error page, not the login
// page.
func TestEveryHomeLinkAnswersAtAnOfflineEdge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	seedServices(t, r)
	edge := r.Edge(lyceeA).URL()
	r.CutWAN(lyceeA)
	t.Cleanup(func() { r.RestoreWAN(lyceeA) })
	r.WaitOffline(lyceeA)

	for _, profile := range []string{ent.Student, ent.Relative, ent.Teacher, ent.Personnel} {
		t.Run(profile, func(t *testing.T) {
			a := r.Account(lyceeA, profile)
			b := webBrowser(t)
			portalLogin(t, b, edge, a.Login, a.Password)
			home := fetchPage(t, b, edge, "/")
			if !strings.Contains(home, "Bonjour "+a.Name) {
				t.Fatalf("home page of %s at the offline edge does not greet them:\n%s", a.Login, home)
			}
			// The checks below recognise the error page: make sure they do.
			resp, err := b.Get(edge + "/cahier-de-textes/00000000-0000-7000-8000-000000000000")
			if err != nil {
				t.Fatal(err)
			}
			missing, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || !errorPage.Match(missing) {
				t.Fatalf("an unknown entry answers %d, and errorPage matches it: %v; want 404 and the error page:\n%s",
					resp.StatusCode, errorPage.Match(missing), mainText(string(missing)))
			}
			checked := map[string]bool{"/": true}
			var level1 []string
			for _, l := range pageLinks(home) {
				if !checked[l] {
					checked[l] = true
					level1 = append(level1, l)
				}
			}
			var level2 []string
			for _, l := range level1 {
				page := fetchPage(t, b, edge, l)
				prefix := strings.TrimSuffix(strings.SplitN(l, "?", 2)[0], "/") + "/"
				for _, sub := range pageLinks(page) {
					if strings.HasPrefix(sub, prefix) && !checked[sub] {
						checked[sub] = true
						level2 = append(level2, sub)
					}
				}
			}
			for _, l := range level2 {
				fetchPage(t, b, edge, l)
			}
			t.Logf("%s (%s) at the offline edge: %d home links %v, %d links one level deep %v",
				a.Login, profile, len(level1), level1, len(level2), level2)
			if len(level2) == 0 {
				t.Errorf("%s: no link one level deep was checked: the seeded items are not listed", a.Login)
			}
		})
	}
}

// pageLinks lists the portal's own links of a page, in order, each once.
func pageLinks(page string) []string {
	var out []string
	for _, m := range hrefs.FindAllStringSubmatch(page, -1) {
		l := strings.ReplaceAll(m[1], "&amp;", "&")
		if !strings.HasPrefix(l, "/") || strings.HasPrefix(l, "//") || strings.HasPrefix(l, "/static/") {
			continue
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// fetchPage GETs path at base with the browser's session, without following
// redirects, and fails the test unless it answers 200 with a French page of
// the portal that is not the error page.
func fetchPage(t *testing.T, b *http.Client, base, path string) string {
	t.Helper()
	resp, err := b.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(data)
	switch {
	case resp.StatusCode/100 == 3:
		t.Errorf("GET %s = %d to %s, want 200", path, resp.StatusCode, resp.Header.Get("Location"))
	case resp.StatusCode != http.StatusOK:
		t.Errorf("GET %s = %d, want 200; page: %s", path, resp.StatusCode, mainText(page))
	case !strings.Contains(page, `<html lang="fr">`):
		t.Errorf("GET %s: not a French page of the portal:\n%.300s", path, page)
	case errorPage.MatchString(page):
		t.Errorf("GET %s: the error page: %s", path, mainText(page))
	}
	return page
}

// mainText is the page's main element, for failure messages.
func mainText(page string) string {
	if i := strings.Index(page, "<main"); i >= 0 {
		page = page[i:]
	}
	if i := strings.Index(page, "</main>"); i >= 0 {
		page = page[:i]
	}
	return page
}

// seedServices writes, through the API at central, an item of each service
// of lycée A, so that every list has an item to read, and waits until its
// edge has them.
func seedServices(t *testing.T, r *regiontest.Region) {
	t.Helper()
	central := r.AnyCentral().URL()
	paul := login(t, central, byLogin(t, r, "paul.durand"))
	nadia := login(t, central, byLogin(t, r, "nadia.benali"))
	lea := login(t, central, byLogin(t, r, "lea.martin"))
	leaID := userID(t, r, "lea.martin")
	post := func(u *regiontest.User, path string, in any) string {
		t.Helper()
		var out struct{ ID string }
		if code, msg := ticketCall(t, u, http.MethodPost, path, in, &out); code/100 != 2 {
			t.Fatalf("seed: POST %s as %s = %d %s", path, u.Login, code, msg)
		}
		return out.ID
	}
	post(paul, "/api/v1/homework", map[string]string{"class": "1B", "subject": "Histoire", "date": day(0),
		"title": "La Révolution", "content": "1789.", "work": "Lire le dossier", "due": day(7)})
	post(paul, "/api/v1/homework", map[string]string{"class": "1B", "subject": "Histoire", "date": day(-7),
		"title": "L'Ancien Régime", "content": "La société d'ordres."})
	eval := post(paul, "/api/v1/evaluations", map[string]any{"class": "1B", "subject": "Mathématiques", "title": "Suites",
		"date": day(-2), "outOf": 20, "coefficient": 2})
	post(paul, "/api/v1/grades", map[string]string{"evaluation": eval, "student": leaID, "base": "", "value": "14"})
	post(paul, "/api/v1/absences", map[string]string{"studentId": leaID, "date": day(-1), "start": "08:00", "end": "09:00", "kind": "absence"})
	post(paul, "/api/v1/forums", map[string]string{"title": "Forum de la 1B", "audience": "classe", "class": "1B"})
	post(paul, "/api/v1/blog", map[string]string{"class": "1B", "title": "Sortie au musée", "body": "Rendez-vous à 8 h."})
	post(lea, "/api/v1/tickets", map[string]string{"title": "Wifi du CDI", "description": "Pas de connexion.", "category": "reseau"})
	room := post(nadia, "/api/v1/resources", map[string]string{"name": "Salle B12", "kind": "salle"})
	post(paul, "/api/v1/bookings", map[string]string{"resource": room, "date": day(3), "start": "10:00", "end": "11:00", "purpose": "Cours"})
	asset := post(nadia, "/api/v1/assets", map[string]string{"number": "INV-B12-01", "kind": "videoprojecteur",
		"model": "Epson EB-W49", "location": "B12", "state": "en-service"})

	// The asset was written last, in the same partition: once the edge
	// has it, it has the rest.
	nadiaE := login(t, r.Edge(lyceeA).URL(), byLogin(t, r, "nadia.benali"))
	regiontest.Eventually(t, 20*time.Second, func() error {
		_, err := getAsset(t, nadiaE, asset)
		return err
	})
}
