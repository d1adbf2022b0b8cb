package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/portal"
)

func assetValues(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "number": {"INV-B12-01"}, "kind": {"videoprojecteur"}, "model": {"Epson EB-W49"},
		"location": {"B12"}, "state": {"en-service"}, "purchased": {"2024-09-02"}}
}

// The inventory through the pages: the staff record and change an asset,
// teachers read it, students, relatives and other lycées see nothing; two
// changes from the same version: the second is told.
func TestParcPages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	nadia := e.browser(t)
	csrf := nadia.login("nadia.benali")

	code, page := nadia.get("/")
	if code != http.StatusOK || !strings.Contains(page, `<a href="/parc">Parc informatique</a>`) {
		t.Errorf("home of nadia.benali (%d) lacks the link to Parc informatique", code)
	}
	code, page = nadia.get("/parc/nouveau")
	for _, want := range []string{`<label for="number">Numéro d'inventaire</label>`, `<label for="kind">Type</label>`,
		`<label for="model">Marque et modèle</label>`, `<label for="location">Salle</label>`, `<label for="state">État</label>`,
		`<label for="purchased">Date d'achat (facultative)</label>`, `name="csrf"`, `<option value="videoprojecteur">Vidéoprojecteur</option>`} {
		if code != http.StatusOK || !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("new asset form (%d) lacks %q", code, want)
		}
	}

	v := assetValues(csrf)
	v.Del("csrf")
	if code, _, _ := nadia.post("/parc/nouveau", v); code != http.StatusForbidden {
		t.Errorf("post without CSRF = %d, want 403", code)
	}
	v = assetValues(csrf)
	v.Set("kind", "")
	code, _, page = nadia.post("/parc/nouveau", v)
	if code != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), "Type inconnu") || !strings.Contains(page, `value="Epson EB-W49"`) {
		t.Errorf("post without kind = %d, want 400 with the French error and the model kept", code)
	}
	code, h, _ := nadia.post("/parc/nouveau", assetValues(csrf))
	loc := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/parc/") {
		t.Fatalf("create asset = %d to %q, want 303 to the asset", code, loc)
	}
	code, _, page = nadia.post("/parc/nouveau", assetValues(csrf))
	if code != http.StatusConflict || !strings.Contains(html.UnescapeString(page), "Le numéro d'inventaire INV-B12-01 est déjà utilisé dans ce lycée.") {
		t.Errorf("create with a taken number = %d, want 409 with the French refusal", code)
	}
	code, page = nadia.get(loc)
	for _, want := range []string{"INV-B12-01 · Epson EB-W49", "<dd>B12</dd>", "<strong>En service</strong>", "Création de la fiche", "Nadia Benali", "Modifier la fiche"} {
		if code != http.StatusOK || !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("asset page for the staff (%d) lacks %q", code, want)
		}
	}

	// Two edit forms read at version 1; the first post wins, the second is told.
	_, form := nadia.get(loc + "/modifier")
	if !strings.Contains(form, `name="base" value="1"`) || !strings.Contains(form, `<label for="location">Salle</label>`) {
		t.Fatalf("edit form lacks the base revision 1 or its labels:\n%s", form)
	}
	first := assetValues(csrf)
	first.Set("base", "1")
	first.Set("state", "en-panne")
	if code, h, _ := nadia.post(loc+"/modifier", first); code != http.StatusSeeOther || h.Get("Location") != loc {
		t.Fatalf("change = %d to %q, want 303 to the asset", code, h.Get("Location"))
	}
	second := assetValues(csrf)
	second.Set("base", "1")
	second.Set("location", "C04")
	code, _, page = nadia.post(loc+"/modifier", second)
	page = html.UnescapeString(page)
	if code != http.StatusConflict || !strings.Contains(page, "Ce matériel a été modifié entre-temps par Nadia Benali") ||
		!strings.Contains(page, `name="base" value="2"`) || !strings.Contains(page, `value="C04"`) || !strings.Contains(page, "version 2") {
		t.Errorf("stale change = %d, want 409 with the conflict, the asset now (version 2) and the typed room kept:\n%s", code, page)
	}
	_, page = nadia.get(loc)
	if page = html.UnescapeString(page); !strings.Contains(page, "État : En service → En panne") || strings.Contains(page, "C04") {
		t.Errorf("asset after the conflict lacks the first change or shows the refused one:\n%s", page)
	}

	// A teacher reads, read-only.
	paul := e.browser(t)
	paulCSRF := paul.login("paul.durand")
	if _, page := paul.get("/"); !strings.Contains(page, `href="/parc"`) {
		t.Error("home of a teacher lacks the link to Parc informatique")
	}
	code, page = paul.get("/parc")
	if code != http.StatusOK || !strings.Contains(page, "INV-B12-01") || strings.Contains(page, "/parc/nouveau") {
		t.Errorf("teacher's inventory (%d) lacks the asset or offers to record one", code)
	}
	if code, page := paul.get(loc); code != http.StatusOK || strings.Contains(page, "Modifier la fiche") {
		t.Errorf("teacher's asset page = %d, want 200 without the edit link", code)
	}
	for _, path := range []string{"/parc/nouveau", loc + "/modifier"} {
		if code, _ := paul.get(path); code != http.StatusForbidden {
			t.Errorf("teacher GET %s = %d, want 403", path, code)
		}
	}
	v = assetValues(paulCSRF)
	v.Set("number", "INV-PAUL")
	if code, _, _ := paul.post("/parc/nouveau", v); code != http.StatusForbidden {
		t.Errorf("teacher creates an asset = %d, want 403", code)
	}
	v.Set("base", "2")
	if code, _, _ := paul.post(loc+"/modifier", v); code != http.StatusForbidden {
		t.Errorf("teacher changes an asset = %d, want 403", code)
	}

	// Students, relatives, Région staff see nothing; another lycée's staff
	// do not find the asset.
	for _, login := range []string{"lea.martin", "sophie.martin", "anne.lefebvre"} {
		b := e.browser(t)
		b.login(login)
		if _, page := b.get("/"); strings.Contains(page, `href="/parc"`) {
			t.Errorf("home of %s links to the inventory", login)
		}
		for _, path := range []string{"/parc", loc} {
			if code, _ := b.get(path); code != http.StatusForbidden && code != http.StatusNotFound {
				t.Errorf("%s GET %s = %d, want 403 or 404", login, path, code)
			}
		}
	}
	julien := e.browser(t)
	julien.login("julien.faure")
	if code, _ := julien.get(loc); code != http.StatusNotFound {
		t.Errorf("staff of another lycée reads the asset: %d, want 404", code)
	}
	if _, page := julien.get("/parc"); strings.Contains(page, "INV-B12-01") {
		t.Error("the inventory of another lycée shows the asset")
	}
}

// The JSON API: create, read, change from a base, conflict, rights.
func TestParcAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	nadia, paul, lea := apiLogin(t, e, "nadia.benali"), apiLogin(t, e, "paul.durand"), apiLogin(t, e, "lea.martin")
	in := map[string]string{"number": "inv-pc-01", "kind": "ordinateur", "model": "Dell OptiPlex 7010", "location": "CDI", "state": "en-service"}
	code, out := apiCall(t, e, "POST", "/api/v1/assets", nadia, in)
	id, _ := out["id"].(string)
	if code != http.StatusCreated || out["number"] != "INV-PC-01" || out["revision"] != float64(1) || id == "" {
		t.Fatalf("POST /api/v1/assets = %d %v, want 201, INV-PC-01, revision 1", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/assets", paul, in); code != http.StatusForbidden || out["error"] == "" {
		t.Errorf("teacher POST = %d %v, want 403 with a message", code, out)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/assets", paul, nil); code != http.StatusOK || len(out["items"].([]any)) != 1 {
		t.Errorf("teacher GET list = %d %v, want the asset", code, out)
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/assets", lea, nil); code != http.StatusForbidden {
		t.Errorf("student GET list = %d, want 403", code)
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/assets/"+id, lea, nil); code != http.StatusNotFound {
		t.Errorf("student GET asset = %d, want 404", code)
	}
	change := map[string]any{"base": 1, "kind": "ordinateur", "model": "Dell OptiPlex 7010", "location": "CDI", "state": "en-reparation"}
	if code, out := apiCall(t, e, "PUT", "/api/v1/assets/"+id, nadia, change); code != http.StatusOK || out["revision"] != float64(2) || out["state"] != "en-reparation" {
		t.Errorf("PUT from base 1 = %d %v, want 200, revision 2", code, out)
	}
	change["location"] = "Salle 204"
	code, out = apiCall(t, e, "PUT", "/api/v1/assets/"+id, nadia, change)
	if msg, _ := out["error"].(string); code != http.StatusConflict || !strings.Contains(msg, "vous partiez de la version 1") {
		t.Errorf("PUT from a stale base = %d %v, want 409 with the French conflict", code, out)
	}
	delete(change, "base")
	if code, _ := apiCall(t, e, "PUT", "/api/v1/assets/"+id, nadia, change); code != http.StatusBadRequest {
		t.Errorf("PUT without base = %d, want 400", code)
	}
	code, out = apiCall(t, e, "GET", "/api/v1/assets/"+id, paul, nil)
	if h, _ := out["history"].([]any); code != http.StatusOK || len(h) != 2 || out["location"] != "CDI" {
		t.Errorf("teacher GET asset = %d %v, want 2 history entries and room CDI", code, out)
	}
}
