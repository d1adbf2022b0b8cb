package portal_test

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/portal"
)

// userCommands counts the commands users made: the audit entries nodes
// record on their own are left out.
func userCommands(st *enttest.Store) int {
	n := 0
	for _, c := range st.Commands() {
		if c.Op != ent.OpAuditRecord {
			n++
		}
	}
	return n
}

// getCSV fetches an export and returns its status, headers and rows.
func (b *browser) getCSV(path string) (int, http.Header, string, [][]string) {
	b.t.Helper()
	code, h, body := b.do(mustReq("GET", b.e.srv.URL+path))
	if code != http.StatusOK {
		return code, h, body, nil
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF")))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil {
		b.t.Fatalf("GET %s: CSV unreadable: %v\n%s", path, err, body)
	}
	return code, h, body, rows
}

func TestAuditPageAndExport(t *testing.T) {
	e := newEnv(t, portal.Config{})
	// Léa mistypes her password, then logs in.
	lea := e.browser(t)
	if code, _, _ := lea.post("/connexion", url.Values{"login": {"lea.martin"}, "password": {"faux"}}); code != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d, want 401", code)
	}
	lea.login("lea.martin")

	// The direction of her lycée finds both in the journal.
	admin := e.browser(t)
	admin.login("nadia.benali")
	if _, home := admin.get("/"); !strings.Contains(home, `<a href="/audit">Journal des connexions</a>`) {
		t.Error("an administrator's navigation lacks the journal")
	}
	code, page := admin.get("/audit?login=lea.martin")
	if code != http.StatusOK {
		t.Fatalf("GET /audit as an administrator = %d, want 200", code)
	}
	for _, want := range []string{"<caption>2 événements, du plus récent au plus ancien", `<th scope="col">Identifiant</th>`,
		"<td>lea.martin</td>", "Connexion refusée", "Connexion réussie", "mot de passe incorrect", "<td>127.0.0.1</td>",
		"Go-http-client", `href="/audit.csv?login=lea.martin"`} {
		if !strings.Contains(page, want) {
			t.Errorf("journal page lacks %q", want)
		}
	}
	if strings.Contains(page, "<td>nadia.benali</td>") {
		t.Error("journal searched for lea.martin shows nadia.benali")
	}

	code, h, body, rows := admin.getCSV("/audit.csv?login=lea.martin")
	if code != http.StatusOK {
		t.Fatalf("GET /audit.csv = %d, want 200", code)
	}
	if ct, cd := h.Get("Content-Type"), h.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(cd, `attachment; filename="journal-connexions-0130040Y-`) {
		t.Errorf("export headers = %q, %q; want a CSV attachment named after the lycée", ct, cd)
	}
	if !strings.HasPrefix(body, "\uFEFFDate (heure de Paris);Événement;Identifiant;") || !strings.Contains(body, "\r\n") {
		t.Errorf("export starts %q, want a BOM, the French header, ';' and CRLF", body[:min(len(body), 60)])
	}
	if len(rows) != 3 || rows[1][2] != "lea.martin" || rows[2][2] != "lea.martin" || rows[2][8] != "mot de passe incorrect" {
		t.Errorf("export rows = %q, want the header and lea.martin's two logins", rows)
	}

	// The JSON API answers the same query.
	tok := apiLogin(t, e, "nadia.benali")
	var evs []ent.AuditEvent
	if code := getJSON(t, e, "/api/v1/audit?login=lea.martin&type=login.failure", tok, &evs); code != http.StatusOK ||
		len(evs) != 1 || evs[0].Login != "lea.martin" || evs[0].IP != "127.0.0.1" || evs[0].UAI != "0130040Y" {
		t.Errorf("GET /api/v1/audit = %d %+v, want lea.martin's failure", code, evs)
	}
	// Dates are days in Paris time, the last one included.
	today := time.Now().In(paris(t)).Format("2006-01-02")
	if _, page := admin.get("/audit?login=lea.martin&from=" + today + "&to=" + today); !strings.Contains(page, "<caption>2 événements") {
		t.Error("journal of today lacks today's logins")
	}
	if _, page := admin.get("/audit?login=lea.martin&to=2020-01-01"); !strings.Contains(page, "Aucun événement") {
		t.Error("journal before 2020 is not empty")
	}
	if code, page := admin.get("/audit?from=hier"); code != http.StatusBadRequest || !strings.Contains(page, "Date invalide") {
		t.Errorf("GET /audit?from=hier = %d, want 400 with an explanation", code)
	}
}

func paris(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func getJSON(t *testing.T, e *env, path, token string, out any) int {
	t.Helper()
	req := mustReq("GET", e.srv.URL+path)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func TestAuditReservedToAdministrators(t *testing.T) {
	e := newEnv(t, portal.Config{})
	lea := e.browser(t)
	lea.login("lea.martin")
	if _, home := lea.get("/"); strings.Contains(home, `href="/audit"`) {
		t.Error("a student's navigation shows the journal")
	}
	for _, path := range []string{"/audit", "/audit.csv"} {
		if code, page := lea.get(path); code != http.StatusForbidden || !strings.Contains(page, "réservé aux administrateurs") {
			t.Errorf("GET %s as a student = %d, want 403 with a French explanation", path, code)
		}
	}
	var evs []ent.AuditEvent
	if code := getJSON(t, e, "/api/v1/audit", apiLogin(t, e, "lea.martin"), &evs); code != http.StatusForbidden {
		t.Errorf("GET /api/v1/audit as a student = %d, want 403", code)
	}

	// The direction of Masséna does not read Thiers' journal.
	other := e.browser(t)
	other.login("julien.faure")
	if _, page := other.get("/audit?login=lea.martin"); !strings.Contains(page, "Aucun événement") {
		t.Error("Masséna's journal shows a Thiers student")
	}
	if code, _ := other.get("/audit?uai=0130040Y"); code != http.StatusForbidden {
		t.Errorf("Masséna's administrator asking for Thiers' journal = %d, want 403", code)
	}

	// Région staff read any lycée's, and their own (unknown logins).
	lea.post("/connexion", url.Values{"login": {"=HYPERLINK(\"http://x\")"}, "password": {"x"}})
	agent := e.browser(t)
	agent.login("anne.lefebvre")
	if _, page := agent.get("/audit?uai=0130040Y&login=lea.martin"); !strings.Contains(page, "<td>lea.martin</td>") {
		t.Error("Région staff do not see Thiers' journal")
	}
	_, _, _, rows := agent.getCSV("/audit.csv?type=login.failure")
	found := false
	for _, r := range rows {
		if len(r) > 2 && strings.Contains(r[2], "HYPERLINK") {
			found = true
			if !strings.HasPrefix(r[2], "'=") {
				t.Errorf("export cell %q would run as a formula", r[2])
			}
		}
	}
	if !found {
		t.Errorf("Région journal export %q lacks the unknown login", rows)
	}
}
