package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/portal"
)

// newDraftEnv is newEnv with the store's partitions known to the Service
// (as at central, for the Région's list) and an offline switch.
func newDraftEnv(t *testing.T, offline *atomic.Bool) *env {
	t.Helper()
	return newEnvWith(t, func(st *enttest.Store, c *ent.ServiceConfig) {
		c.Partitions = func() ([]string, error) { return partitions(st), nil }
	}, func(*ent.Service) portal.Config {
		// Role "edge" only turns the offline banner on when offline is set.
		return portal.Config{Role: "edge", Offline: func() (bool, int) { return offline.Load(), 1 }}
	})
}

func drafts(st *enttest.Store) int {
	n := 0
	for _, r := range st.Records() {
		if r.Kind == ent.KindRegionDraft {
			n++
		}
	}
	return n
}

var draftLocation = regexp.MustCompile(`^/propositions/([0-9a-f-]{36})\?envoyee=1$`)

// checkPage fails the test unless the page answered code and shows every
// text of want (entities decoded).
func checkPage(t *testing.T, what string, code int, page string, wantCode int, want ...string) {
	t.Helper()
	page = html.UnescapeString(page)
	if code != wantCode {
		t.Errorf("%s = %d, want %d", what, code, wantCode)
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// TestDraftPages walks a proposal as its users do: a teacher proposes a
// correction of a region resource from its page, a student may not, the
// Région agent finds it among the lycées' proposals, is warned that the
// resource changed since, applies it; the teacher reads the decision on
// /avis. A second proposal, made while the edge is cut off, is confirmed
// as waiting for the link, and discarded with a reason.
func TestDraftPages(t *testing.T) {
	var offline atomic.Bool
	e := newDraftEnv(t, &offline)
	anne := e.browser(t)
	anneCSRF := anne.login("anne.lefebvre")
	code, h, _ := anne.post("/ressources/nouvelle", url.Values{"csrf": {anneCSRF}, "title": {"Annales du bac"}, "description": {"Sujets."},
		"discipline": {"Mathématiques"}, "level": {"terminale"}, "link": {"https://example.org/annales"}})
	m := ressourceID.FindStringSubmatch(h.Get("Location"))
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("Région agent publishes = %d to %q, want 303 to the resource", code, h.Get("Location"))
	}
	res := m[0]

	paul := e.browser(t)
	paulCSRF := paul.login("paul.durand")
	code, page := paul.get(res)
	checkPage(t, "region resource page of a teacher", code, page, http.StatusOK, `<a href="`+res+`/proposer">Proposer une modification</a>`)
	code, page = paul.get("/")
	checkPage(t, "home page of a teacher", code, page, http.StatusOK, `<a href="/propositions">Mes propositions</a>`)
	code, page = paul.get(res + "/proposer")
	checkPage(t, "proposal form", code, page, http.StatusOK, `value="Annales du bac"`, `<option value="terminale" selected>`,
		`value="https://example.org/annales"`, `name="seen" value="`, `name="csrf"`, "Seuls les agents de la Région modifient les contenus de la Région")
	fields := func(csrf, title string) url.Values {
		return url.Values{"csrf": {csrf}, "title": {title}, "description": {"Sujets et corrigés."},
			"discipline": {"Mathématiques"}, "level": {"terminale"}, "link": {"https://example.org/annales"}}
	}
	same := fields(paulCSRF, "Annales du bac")
	same.Set("description", "Sujets.")
	code, _, page = paul.post(res+"/proposer", same)
	checkPage(t, "a proposal that changes nothing", code, page, http.StatusBadRequest, "Votre proposition ne change rien")

	// A student neither sees the link nor may post the form.
	lea := e.browser(t)
	leaCSRF := lea.login("lea.martin")
	if _, page := lea.get(res); strings.Contains(page, "Proposer une modification") {
		t.Error("region resource page of a student offers to propose a modification")
	}
	code, _, page = lea.post(res+"/proposer", fields(leaCSRF, "Annales du bac 2025"))
	checkPage(t, "a student's proposal", code, page, http.StatusForbidden, "Seuls les enseignants et les personnels d'un lycée proposent une modification")
	if n := drafts(e.store); n != 0 {
		t.Fatalf("%d proposals stored after a refusal, want 0", n)
	}

	code, h, _ = paul.post(res+"/proposer", fields(paulCSRF, "Annales du bac 2025"))
	m = draftLocation.FindStringSubmatch(h.Get("Location"))
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("teacher's proposal = %d to %q, want 303 to the proposal", code, h.Get("Location"))
	}
	mine := "/propositions/" + m[1]
	code, page = paul.get(h.Get("Location"))
	checkPage(t, "proposal just sent", code, page, http.StatusOK, "Votre proposition a été enregistrée ; la Région l'examinera.",
		"Proposition de modification de « Annales du bac »", "État : <strong>En attente d'examen par la Région</strong>", "Annales du bac 2025", "Sujets et corrigés.")
	code, page = paul.get("/propositions")
	checkPage(t, "Mes propositions", code, page, http.StatusOK, `<a href="`+mine+`">« Annales du bac »</a>`, "En attente d'examen par la Région")

	// The Région agent examines it; the resource changes meanwhile.
	code, page = anne.get("/")
	checkPage(t, "home page of the Région agent", code, page, http.StatusOK, `<a href="/region/propositions">Propositions des lycées</a>`)
	code, page = anne.get("/region/propositions")
	review := regexp.MustCompile(`<a href="(/region/propositions/[0-9A-Z]{8}/` + m[1] + `)">« Annales du bac »</a>`).FindStringSubmatch(page)
	checkPage(t, "Propositions des lycées", code, page, http.StatusOK, "Paul Durand", "Lycée")
	if review == nil {
		t.Fatalf("Propositions des lycées lacks the link to the proposal:\n%s", page)
	}
	code, page = anne.get(review[1])
	checkPage(t, "proposal under review", code, page, http.StatusOK, "<td><p>Sujets.</p>\n</td><td><p>Sujets et corrigés.</p>\n</td>",
		">Appliquer</button>", ">Écarter</button>")
	if strings.Contains(page, "a été modifié depuis") {
		t.Error("review warns of a change before the resource changed")
	}
	if code, _, _ := anne.post(res+"/modifier", url.Values{"csrf": {anneCSRF}, "title": {"Annales du bac"}, "description": {"Sujets (session 2025)."},
		"discipline": {"Mathématiques"}, "level": {"terminale"}, "link": {"https://example.org/annales"}}); code != http.StatusSeeOther {
		t.Fatalf("Région agent edits the resource = %d, want 303", code)
	}
	code, page = anne.get(review[1])
	checkPage(t, "proposal under review after the resource changed", code, page, http.StatusOK,
		"Attention : ce contenu a été modifié depuis que Paul Durand l'a consulté.", "Sujets (session 2025).")
	if code, _, _ := paul.post(review[1]+"/appliquer", url.Values{"csrf": {paulCSRF}}); code != http.StatusForbidden {
		t.Errorf("teacher applies = %d, want 403", code)
	}
	if code, _, _ := anne.post(review[1]+"/appliquer", url.Values{"csrf": {"faux"}}); code != http.StatusForbidden {
		t.Errorf("apply without the CSRF token = %d, want 403", code)
	}
	code, h, _ = anne.post(review[1]+"/appliquer", url.Values{"csrf": {anneCSRF}})
	if code != http.StatusSeeOther || h.Get("Location") != "/region/propositions?fait=appliquee" {
		t.Fatalf("apply = %d to %q, want 303 to the list", code, h.Get("Location"))
	}
	code, page = anne.get(h.Get("Location"))
	checkPage(t, "list after applying", code, page, http.StatusOK, "La proposition a été appliquée", "Aucune proposition en attente.")
	code, page = lea.get(res)
	checkPage(t, "resource after the proposal was applied", code, page, http.StatusOK, "<h1>Annales du bac 2025</h1>", "Sujets et corrigés.")
	code, page = paul.get("/avis")
	checkPage(t, "/avis of the teacher", code, page, http.StatusOK, `<a href="/avis">Avis (1)</a>`,
		"Votre proposition de modification de « Annales du bac » a été appliquée par la Région.", `<a href="`+res+`">Voir</a>`)

	// Cut off: the proposal waits for the link; then it is discarded.
	offline.Store(true)
	code, h, _ = paul.post(res+"/proposer", fields(paulCSRF, "Annales du baccalauréat"))
	if m = draftLocation.FindStringSubmatch(h.Get("Location")); code != http.StatusSeeOther || m == nil {
		t.Fatalf("teacher's proposal while cut off = %d to %q, want 303", code, h.Get("Location"))
	}
	code, page = paul.get(h.Get("Location"))
	checkPage(t, "proposal sent while cut off", code, page, http.StatusOK,
		"Votre proposition a été enregistrée ; elle sera transmise à la Région au retour de la connexion.")
	offline.Store(false)
	code, page = anne.get("/region/propositions")
	review = regexp.MustCompile(`<a href="(/region/propositions/[0-9A-Z]{8}/` + m[1] + `)">`).FindStringSubmatch(page)
	if code != http.StatusOK || review == nil {
		t.Fatalf("Propositions des lycées (%d) lacks the second proposal", code)
	}
	code, h, _ = anne.post(review[1]+"/ecarter", url.Values{"csrf": {anneCSRF}, "reason": {"Le titre officiel est « Annales du bac »."}})
	if code != http.StatusSeeOther || h.Get("Location") != "/region/propositions?fait=ecartee" {
		t.Fatalf("discard = %d to %q, want 303 to the list", code, h.Get("Location"))
	}
	code, _, page = anne.post(review[1]+"/appliquer", url.Values{"csrf": {anneCSRF}})
	checkPage(t, "applying a discarded proposal", code, page, http.StatusConflict, "Cette proposition a déjà été écartée.")
	code, page = paul.get("/avis")
	checkPage(t, "/avis of the teacher after the discard", code, page, http.StatusOK,
		"Votre proposition de modification de « Annales du bac 2025 » n'a pas été retenue : Le titre officiel est « Annales du bac ».")
	code, page = paul.get("/propositions")
	checkPage(t, "Mes propositions after the decisions", code, page, http.StatusOK, "Appliquée", "Non retenue")
}

// Region news: the link, the form prefilled, the proposal applied.
func TestDraftNewsPages(t *testing.T) {
	var offline atomic.Bool
	e := newDraftEnv(t, &offline)
	anne := e.browser(t)
	anneCSRF := anne.login("anne.lefebvre")
	code, h, _ := anne.post("/actualites/nouvelle", url.Values{"csrf": {anneCSRF}, "title": {"Rentrée"}, "body": {"Le 1er septembre."}, "region": {"1"}})
	if code != http.StatusSeeOther {
		t.Fatalf("publish region news = %d", code)
	}
	news := h.Get("Location")
	nadia := e.browser(t)
	csrf := nadia.login("nadia.benali")
	code, page := nadia.get(news)
	checkPage(t, "region news page of a staff member", code, page, http.StatusOK, `<a href="`+news+`/proposer">Proposer une modification</a>`)
	code, page = nadia.get(news + "/proposer")
	checkPage(t, "news proposal form", code, page, http.StatusOK, `value="Rentrée"`, ">Le 1er septembre.</textarea>")
	code, h, _ = nadia.post(news+"/proposer", url.Values{"csrf": {csrf}, "title": {"Rentrée 2026"}, "body": {"Le mardi 1er septembre."}})
	m := draftLocation.FindStringSubmatch(h.Get("Location"))
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("news proposal = %d to %q", code, h.Get("Location"))
	}
	_, page = anne.get("/region/propositions")
	review := regexp.MustCompile(`<a href="(/region/propositions/[0-9A-Z]{8}/` + m[1] + `)">`).FindStringSubmatch(page)
	if review == nil {
		t.Fatal("Propositions des lycées lacks the news proposal")
	}
	if code, _, _ := anne.post(review[1]+"/appliquer", url.Values{"csrf": {anneCSRF}}); code != http.StatusSeeOther {
		t.Fatalf("apply = %d", code)
	}
	code, page = nadia.get(news)
	checkPage(t, "region news after the proposal was applied", code, page, http.StatusOK, "<h1>Rentrée 2026</h1>", "Le mardi 1er septembre.")
}
