package portal_test

import (
	"html"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/portal"
)

// newUsageEnv is newEnv with a usage counter (flushed by the test) and the
// region's pseudonymisation key written.
func newUsageEnv(t *testing.T) (*env, *ent.UsageCounter) {
	t.Helper()
	var counter *ent.UsageCounter
	e := newEnvWith(t, func(st *enttest.Store, c *ent.ServiceConfig) {
		c.Node = "central-1"
		c.Partitions = func() ([]string, error) { return partitions(st), nil }
	}, func(svc *ent.Service) portal.Config {
		if err := svc.EnsureUsageKey(t.Context()); err != nil {
			t.Fatal(err)
		}
		var err error
		if counter, err = ent.NewUsageCounter(ent.UsageCounterConfig{Service: svc}); err != nil {
			t.Fatal(err)
		}
		return portal.Config{Node: "central-1", Role: "central", Usage: counter}
	})
	return e, counter
}

// partitions lists the partitions st holds, as central's store does.
func partitions(st *enttest.Store) []string {
	var out []string
	for _, r := range st.Records() {
		if !slices.Contains(out, r.Partition) {
			out = append(out, r.Partition)
		}
	}
	return out
}

// visitsOfLea signs Léa (a student of Thiers) in, which shows her the
// home page, has her visit her services, Notes twice, and flushes the
// counter: what the statistics then show.
func visitsOfLea(t *testing.T, e *env, counter *ent.UsageCounter) {
	t.Helper()
	lea := e.browser(t)
	lea.login("lea.martin")
	for _, path := range []string{"/cahier-de-textes", "/notes", "/notes", "/messagerie", "/statistiques"} {
		lea.get(path)
	}
	if err := counter.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestUsagePageAndExport(t *testing.T) {
	e, counter := newUsageEnv(t)
	visitsOfLea(t, e, counter)
	today := time.Now().In(paris(t)).Format(time.DateOnly)
	want := [][]string{
		{"jour", "uai", "profil", "service", "visites", "visiteurs"},
		{today, "0130040Y", "Student", "Accueil", "1", "1"},
		{today, "0130040Y", "Student", "Cahier_Textes", "1", "1"},
		{today, "0130040Y", "Student", "Courrier_Electronique", "1", "1"},
		{today, "0130040Y", "Student", "Notes", "2", "1"},
	}

	// Région staff read every lycée's, and choose one.
	agent := e.browser(t)
	agent.login("anne.lefebvre")
	code, page := agent.get("/statistiques")
	page = html.UnescapeString(page)
	if code != http.StatusOK {
		t.Fatalf("GET /statistiques as Région staff = %d, want 200", code)
	}
	for _, want := range []string{"<h1>Statistiques d'usage</h1>", "pour les lycées de la Région", `name="uai"`,
		"<caption>5 visites du ", "<td>" + today + "</td><td>0130040Y</td><td>Élève</td><td>Notes</td><td>2</td><td>1</td>",
		"<td>Cahier de textes</td>", "<td>Messagerie</td>", "Exporter pour l'académie (CSV)"} {
		if !strings.Contains(page, want) {
			t.Errorf("Région statistics page lacks %q", want)
		}
	}
	code, h, body, rows := agent.getCSV("/statistiques.csv?from=" + today + "&to=" + today)
	if code != http.StatusOK {
		t.Fatalf("GET /statistiques.csv as Région staff = %d, want 200: %s", code, body)
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("Région export rows (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(body, "jour;uai;profil;service;visites;visiteurs\r\n") {
		t.Errorf("export starts %q, want the header, ';' separated, CRLF, no BOM", body[:min(len(body), 50)])
	}
	if ct, cd := h.Get("Content-Type"), h.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" ||
		cd != `attachment; filename="statistiques-region-`+today+"-"+today+`.csv"` {
		t.Errorf("export headers = %q, %q; want a CSV attachment named after the region and the dates", ct, cd)
	}
	_, _, _, rows = agent.getCSV("/statistiques.csv?uai=0060030A")
	if len(rows) != 1 {
		t.Errorf("Région export of Masséna = %q, want the header only", rows)
	}
	var got []ent.UsageRow
	if code := getJSON(t, e, "/api/v1/usage?uai=0130040Y", apiLogin(t, e, "anne.lefebvre"), &got); code != http.StatusOK {
		t.Fatalf("GET /api/v1/usage as Région staff = %d, want 200", code)
	}
	wantRows := []ent.UsageRow{
		{Day: today, UAI: "0130040Y", Profile: ent.Student, Service: ent.UsageHome, Visits: 1, Visitors: 1},
		{Day: today, UAI: "0130040Y", Profile: ent.Student, Service: ent.UsageHomework, Visits: 1, Visitors: 1},
		{Day: today, UAI: "0130040Y", Profile: ent.Student, Service: ent.UsageMail, Visits: 1, Visitors: 1},
		{Day: today, UAI: "0130040Y", Profile: ent.Student, Service: ent.UsageGrades, Visits: 2, Visitors: 1},
	}
	if diff := cmp.Diff(wantRows, got); diff != "" {
		t.Errorf("GET /api/v1/usage (-want +got):\n%s", diff)
	}

	// Thiers' direction read their lycée's only: no lycée to choose.
	nadia := e.browser(t)
	nadia.login("nadia.benali")
	code, page = nadia.get("/statistiques")
	if code != http.StatusOK || strings.Contains(page, `name="uai"`) || !strings.Contains(page, "<td>Notes</td><td>2</td>") {
		t.Errorf("GET /statistiques as Thiers' direction = %d, want 200 with Thiers' rows and no lycée to choose:\n%s", code, page)
	}
	_, _, _, rows = nadia.getCSV("/statistiques.csv?from=" + today + "&to=" + today)
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("Thiers' direction export rows (-want +got):\n%s", diff)
	}
	for _, path := range []string{"/statistiques?uai=0060030A", "/statistiques.csv?uai=0060030A"} {
		if code, page := nadia.get(path); code != http.StatusForbidden || !strings.Contains(page, "que les statistiques de votre lycée") {
			t.Errorf("GET %s as Thiers' direction = %d, want 403 with a French explanation", path, code)
		}
	}
	if code := getJSON(t, e, "/api/v1/usage?uai=0060030A", apiLogin(t, e, "nadia.benali"), &got); code != http.StatusForbidden {
		t.Errorf("GET /api/v1/usage?uai=0060030A as Thiers' direction = %d, want 403", code)
	}
	// Masséna's direction see none of Thiers' visits.
	julien := e.browser(t)
	julien.login("julien.faure")
	if _, page := julien.get("/statistiques"); !strings.Contains(page, "Aucune visite sur cette période.") {
		t.Error("Masséna's statistics show visits of Thiers")
	}
}

func TestUsageReservedToRegionAndDirection(t *testing.T) {
	e, _ := newUsageEnv(t)
	for _, login := range []string{"lea.martin", "paul.durand"} {
		b := e.browser(t)
		b.login(login)
		for _, path := range []string{"/statistiques", "/statistiques.csv"} {
			code, page := b.get(path)
			if code != http.StatusForbidden || !strings.Contains(html.UnescapeString(page),
				"Les statistiques d'usage sont réservées à la Région et à la direction des lycées.") {
				t.Errorf("GET %s as %s = %d, want 403 with the French explanation", path, login, code)
			}
		}
		var rows []ent.UsageRow
		if code := getJSON(t, e, "/api/v1/usage", apiLogin(t, e, login), &rows); code != http.StatusForbidden {
			t.Errorf("GET /api/v1/usage as %s = %d, want 403", login, code)
		}
	}
}

func TestUsageBadDates(t *testing.T) {
	e, _ := newUsageEnv(t)
	agent := e.browser(t)
	agent.login("anne.lefebvre")
	tok := apiLogin(t, e, "anne.lefebvre")
	for _, tc := range []struct{ query, msg string }{
		{"from=2026-13-01", "Dates invalides (attendu : AAAA-MM-JJ)."},
		{"from=hier", "Dates invalides (attendu : AAAA-MM-JJ)."},
		{"from=2026-03-10&to=2026-03-01", "La date de fin précède la date de début."},
		{"from=2025-01-01&to=2026-01-02", "Choisissez une période d'au plus 366 jours."},
	} {
		for _, path := range []string{"/statistiques?", "/statistiques.csv?"} {
			code, page := agent.get(path + tc.query)
			if code != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), tc.msg) {
				t.Errorf("GET %s%s = %d, want 400 with %q", path, tc.query, code, tc.msg)
			}
		}
		code, out := apiCall(t, e, "GET", "/api/v1/usage?"+tc.query, tok, nil)
		if code != http.StatusBadRequest || out["error"] != tc.msg {
			t.Errorf("GET /api/v1/usage?%s = %d %v, want 400 with %q", tc.query, code, out, tc.msg)
		}
	}
	// A year of 366 days is allowed.
	if code, _ := agent.get("/statistiques.csv?from=2025-01-01&to=2026-01-01"); code != http.StatusOK {
		t.Errorf("GET /statistiques.csv of 366 days = %d, want 200", code)
	}
}
