package regiontest_test

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

var (
	csrfInput     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	draftSent     = regexp.MustCompile(`^/propositions/([0-9a-f-]{36})\?envoyee=1$`)
	formSeenInput = regexp.MustCompile(`name="seen" value="([0-9]+)"`)
)

// postPage posts form to path as u's browser does (the bearer session,
// no redirect followed): the status, where it redirects, and the page with
// its entities decoded.
func postPage(t *testing.T, u *regiontest.User, path string, form url.Values) (code int, location, page string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u.Base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Base)
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), html.UnescapeString(string(b))
}

// formFields reads the proposal form at path as u sees it: its CSRF token
// and the version of the item it shows.
func formFields(t *testing.T, u *regiontest.User, path string) url.Values {
	t.Helper()
	code, page := noticePage(t, u, path)
	csrf, seen := csrfInput.FindStringSubmatch(page), formSeenInput.FindStringSubmatch(page)
	if code != http.StatusOK || csrf == nil || seen == nil {
		t.Fatalf("GET %s at %s = %d, want the proposal form with its CSRF token and version:\n%s", path, u.Base, code, mainText(page))
	}
	return url.Values{"csrf": {csrf[1]}, "seen": {seen[1]}}
}

// pageShows polls path as u until the page shows every text of want.
func pageShows(t *testing.T, u *regiontest.User, path, who string, want ...string) string {
	t.Helper()
	var page string
	regiontest.Eventually(t, 30*time.Second, func() error {
		var code int
		code, page = noticePage(t, u, path)
		for _, w := range want {
			if code != http.StatusOK || !strings.Contains(page, w) {
				return fmt.Errorf("%s of %s at %s (%d) lacks %q:\n%s", path, u.Login, who, code, w, mainText(page))
			}
		}
		return nil
	})
	return page
}

// regionDrafts counts the proposals a store holds in lycée uai.
func regionDrafts(s interface {
	View(func(record.Reader) error) error
}, uai string) (int, error) {
	n := 0
	err := s.View(func(rd record.Reader) error {
		return rd.Scan(uai, ent.KindRegionDraft, func(record.Record) error { n++; return nil })
	})
	return n, err
}

// A teacher at an edge cut off from the region proposes a correction of a
// region resource: they follow it at the edge; once the link is back it
// reaches central, where a Région agent finds it among the lycées'
// proposals and applies it; the resource changes at central and at every
// edge, and the teacher reads the decision on /avis at the edge. A second
// proposal is discarded with a reason, which reaches the teacher too. A
// student who posts the form is refused and nothing is stored.
func TestDraftFromOfflineEdgeAppliedByRegion(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	cbase, ebase := r.AnyCentral().URL(), r.Edge(lyceeA).URL()
	anne := login(t, cbase, byLogin(t, r, "anne.lefebvre"))
	var res ressource
	if code, msg := ticketCall(t, anne, http.MethodPost, "/api/v1/catalogue", map[string]any{"title": "Annales du bac",
		"description": "Sujets.", "discipline": "Mathématiques", "level": "premiere", "link": "https://example.org/annales"}, &res); code != http.StatusCreated {
		t.Fatalf("Région agent publishes a resource = %d %s", code, msg)
	}
	item := "/ressources/" + res.ID
	paul := login(t, ebase, byLogin(t, r, "paul.durand"))
	lea := login(t, ebase, byLogin(t, r, "lea.martin"))
	b := r.Account(lyceeB, ent.Student)
	studentB := login(t, r.Edge(lyceeB).URL(), acct{b.Login, b.Password})
	pageShows(t, paul, item, "the edge", "<h1>Annales du bac</h1>", `<a href="`+item+`/proposer">Proposer une modification</a>`)
	pageShows(t, studentB, item, "the edge of lycée B", "<h1>Annales du bac</h1>")

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	// The teacher proposes, cut off: the edge records it at once.
	form := formFields(t, paul, item+"/proposer")
	form.Set("title", "Annales du bac")
	form.Set("description", "Sujets et corrigés.")
	form.Set("discipline", "Mathématiques")
	form.Set("level", "terminale") // the annales are terminale's, not première's
	form.Set("link", "https://example.org/annales")
	code, loc, page := postPage(t, paul, item+"/proposer", form)
	m := draftSent.FindStringSubmatch(loc)
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("proposal at the cut edge = %d to %q, want 303 to the proposal:\n%s", code, loc, mainText(page))
	}
	mine := "/propositions/" + m[1]
	pageShows(t, paul, loc, "the cut edge", "Votre proposition a été enregistrée ; elle sera transmise à la Région au retour de la connexion.",
		"Connexion au réseau régional interrompue", "Proposition de modification de « Annales du bac »", "Terminale", "Sujets et corrigés.")
	pageShows(t, paul, "/propositions", "the cut edge", `<a href="`+mine+`">« Annales du bac »</a>`, "En attente d'examen par la Région")

	// A student who posts the form is refused; nothing is stored.
	leaForm := url.Values{"csrf": {csrfInput.FindStringSubmatch(pageShows(t, lea, "/", "the cut edge", `name="csrf"`))[1]},
		"title": {"Annales"}, "discipline": {"Mathématiques"}, "level": {"terminale"}, "link": {"https://example.org/annales"}}
	code, _, page = postPage(t, lea, item+"/proposer", leaForm)
	if code != http.StatusForbidden || !strings.Contains(page, "Seuls les enseignants et les personnels d'un lycée proposent une modification des contenus de la Région.") {
		t.Errorf("student's proposal at the edge = %d, want 403 with the rule:\n%s", code, mainText(page))
	}
	if n, err := regionDrafts(r.Edge(lyceeA).Node.Store(), lyceeA); n != 1 || err != nil {
		t.Errorf("proposals at the edge = %d, %v; want the teacher's one", n, err)
	}
	// Central does not know of it yet.
	pageShows(t, anne, "/region/propositions", "central", "Aucune proposition en attente.")

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	review := regexp.MustCompile(`<a href="(/region/propositions/` + lyceeA + `/` + m[1] + `)">« Annales du bac »</a>`)
	list := pageShows(t, anne, "/region/propositions", "central", "Lycée", "Paul Durand")
	if review.FindStringSubmatch(list) == nil {
		regiontest.Eventually(t, 30*time.Second, func() error {
			_, list = noticePage(t, anne, "/region/propositions")
			if review.FindStringSubmatch(list) == nil {
				return errors.New("Propositions des lycées at central lacks the proposal: " + mainText(list))
			}
			return nil
		})
	}
	path := review.FindStringSubmatch(list)[1]
	page = pageShows(t, anne, path, "central", "<td><p>Première</p>\n</td><td><p>Terminale</p>\n</td>", ">Appliquer</button>")
	if strings.Contains(page, "a été modifié depuis") {
		t.Errorf("review warns of a change the resource did not have:\n%s", mainText(page))
	}
	code, loc, page = postPage(t, anne, path+"/appliquer", url.Values{"csrf": {csrfInput.FindStringSubmatch(page)[1]}})
	if code != http.StatusSeeOther || loc != "/region/propositions?fait=appliquee" {
		t.Fatalf("Appliquer = %d to %q, want 303 to the list:\n%s", code, loc, mainText(page))
	}
	pageShows(t, anne, loc, "central", "La proposition a été appliquée", "Aucune proposition en attente.")

	// The resource changed at central and, after sync, at every edge.
	pageShows(t, anne, item, "central", "Catalogue de la Région · Mathématiques · Terminale", "Sujets et corrigés.")
	pageShows(t, paul, item, "the edge", "Catalogue de la Région · Mathématiques · Terminale", "Sujets et corrigés.")
	pageShows(t, studentB, item, "the edge of lycée B", "Catalogue de la Région · Mathématiques · Terminale", "Sujets et corrigés.")
	pageShows(t, paul, "/avis", "the edge", `<a href="/avis">Avis (1)</a>`,
		"Votre proposition de modification de « Annales du bac » a été appliquée par la Région.")

	// A second proposal, discarded with a reason.
	form = formFields(t, paul, item+"/proposer")
	form.Set("title", "Annales du baccalauréat")
	form.Set("description", "Sujets et corrigés.")
	form.Set("discipline", "Mathématiques")
	form.Set("level", "terminale")
	form.Set("link", "https://example.org/annales")
	code, loc, page = postPage(t, paul, item+"/proposer", form)
	if m = draftSent.FindStringSubmatch(loc); code != http.StatusSeeOther || m == nil {
		t.Fatalf("second proposal at the edge = %d to %q:\n%s", code, loc, mainText(page))
	}
	pageShows(t, paul, loc, "the edge", "Votre proposition a été enregistrée ; la Région l'examinera.")
	path = "/region/propositions/" + lyceeA + "/" + m[1]
	page = pageShows(t, anne, path, "central", "Annales du baccalauréat", ">Écarter</button>")
	code, loc, page = postPage(t, anne, path+"/ecarter", url.Values{"csrf": {csrfInput.FindStringSubmatch(page)[1]},
		"reason": {"Le titre du catalogue suit celui des sujets officiels."}})
	if code != http.StatusSeeOther || loc != "/region/propositions?fait=ecartee" {
		t.Fatalf("Écarter = %d to %q:\n%s", code, loc, mainText(page))
	}
	pageShows(t, paul, "/avis", "the edge", `<a href="/avis">Avis (2)</a>`,
		"Votre proposition de modification de « Annales du bac » n'a pas été retenue : Le titre du catalogue suit celui des sujets officiels.")
	pageShows(t, paul, "/propositions", "the edge", "Appliquée", "Non retenue")
	pageShows(t, anne, item, "central", "<h1>Annales du bac</h1>")
	edgeSettled(t, r, lyceeA)
}
