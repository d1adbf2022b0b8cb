package portal_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"

	"atrium/portal"
)

// multipartBody encodes fields and, when data is not nil, a file part.
func multipartBody(t *testing.T, fields url.Values, fileField, fileName string, data []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if data != nil {
		// As a browser: the part's type from the file's extension.
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, fileField, fileName))
		h.Set("Content-Type", map[string]string{".pdf": "application/pdf", ".odt": "application/vnd.oasis.opendocument.text"}[path.Ext(fileName)])
		fw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &buf
}

// postMultipart posts a form with a file as a browser does.
func (b *browser) postMultipart(path string, fields url.Values, fileName string, data []byte) (int, http.Header, string) {
	b.t.Helper()
	ct, body := multipartBody(b.t, fields, "file", fileName, data)
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, body)
	req.Header.Set("Content-Type", ct)
	return b.do(req)
}

func ressourceFields(csrf, title, link string, classes ...string) url.Values {
	return url.Values{"csrf": {csrf}, "title": {title}, "description": {"Cours et exercices.\n<b>gras</b>"},
		"discipline": {"Mathématiques"}, "level": {"premiere"}, "classes": classes, "link": {link}}
}

func someBytes(n int) []byte {
	r := rand.New(rand.NewPCG(7, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var ressourceID = regexp.MustCompile(`^/ressources/([0-9a-f-]{36})$`)

// TestRessourcesPages walks the catalogue as its users do: a teacher
// uploads a file for their class through the form, the class's student
// reads and downloads it, a student of another class neither sees it nor
// fetches its file, a student may not publish, a Région agent publishes a
// link every lycée's users read.
func TestRessourcesPages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul := e.browser(t)
	csrf := paul.login("paul.durand")

	if _, home := paul.get("/"); !strings.Contains(home, `<a href="/ressources">Ressources</a>`) {
		t.Error("teacher's home page lacks the Ressources link")
	}
	code, form := paul.get("/ressources/nouvelle")
	for _, want := range []string{`enctype="multipart/form-data"`, `<label for="title">Titre</label>`, `<label for="discipline">Discipline</label>`,
		`<label for="level">Niveau</label>`, `<option value="premiere"`, `value="1B"`, `value="TG2"`, `<label for="file">Fichier`,
		`<label for="link">`, `name="csrf"`} {
		if code != http.StatusOK || !strings.Contains(form, want) {
			t.Errorf("new resource form (%d) lacks %q", code, want)
		}
	}

	data := someBytes(300 << 10) // two chunks
	if code, _, _ := paul.postMultipart("/ressources/nouvelle", ressourceFields("faux", "Suites", "", "1B"), "suites.pdf", data); code != http.StatusForbidden {
		t.Errorf("upload without the CSRF token = %d, want 403", code)
	}
	if code, _, page := paul.postMultipart("/ressources/nouvelle", ressourceFields(csrf, "Suites", "https://example.org", "1B"), "suites.pdf", data); code != http.StatusBadRequest ||
		!strings.Contains(page, "soit un fichier, soit un lien") || !strings.Contains(page, `value="Suites"`) {
		t.Errorf("file and link = %d, want 400 with the rule and the title kept", code)
	}
	if code, _, page := paul.postMultipart("/ressources/nouvelle", ressourceFields(csrf, "Lien", "javascript:alert(1)"), "", nil); code != http.StatusBadRequest ||
		!strings.Contains(page, "http:// ou https://") {
		t.Errorf("javascript: link = %d, want 400 with the rule", code)
	}
	code, h, _ := paul.postMultipart("/ressources/nouvelle", ressourceFields(csrf, "Suites numériques", "", "1B"), "suites.pdf", data)
	m := ressourceID.FindStringSubmatch(h.Get("Location"))
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("upload = %d to %q, want 303 to the resource", code, h.Get("Location"))
	}
	loc := m[0]
	code, page := paul.get(loc)
	for _, want := range []string{"<h1>Suites numériques</h1>", "Ressource du lycée · Mathématiques · Première · Classes 1B · Paul Durand",
		"<p>&lt;b&gt;gras&lt;/b&gt;</p>", `href="` + loc + `/fichier"`, "(PDF, 300 Ko)", `action="` + loc + `/retirer"`, `href="` + loc + `/modifier"`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("resource page for its author (%d) lacks %q", code, want)
		}
	}

	lea := e.browser(t)
	leaCSRF := lea.login("lea.martin")
	code, list := lea.get("/ressources")
	for _, want := range []string{"<h2>Catalogue de la Région</h2>", "<h2>Ressources du lycée</h2>", `href="` + loc + `"`, "PDF, 300 Ko"} {
		if code != http.StatusOK || !strings.Contains(list, want) {
			t.Errorf("student's list (%d) lacks %q", code, want)
		}
	}
	if _, list := lea.get("/ressources?niveau=terminale"); strings.Contains(list, loc) {
		t.Error("filter niveau=terminale lists a resource for première")
	}
	if _, list := lea.get("/ressources?discipline=math%C3%A9matiques&niveau=premiere"); !strings.Contains(list, loc) {
		t.Error("filter discipline=mathématiques, niveau=premiere lacks the resource")
	}
	code, hdr, got := lea.do(mustReq("GET", e.srv.URL+loc+"/fichier"))
	if code != http.StatusOK || got != string(data) || hdr.Get("Content-Type") != "application/pdf" {
		t.Errorf("student downloads = %d, %d bytes, %q; want 200 and the %d bytes uploaded as application/pdf", code, len(got), hdr.Get("Content-Type"), len(data))
	}
	if code, _ := lea.get("/ressources/nouvelle"); code != http.StatusForbidden {
		t.Errorf("student GET the form = %d, want 403", code)
	}
	if code, _, _ := lea.postMultipart("/ressources/nouvelle", ressourceFields(leaCSRF, "Antisèche", "", "1B"), "a.pdf", data[:100]); code != http.StatusForbidden {
		t.Errorf("student publishes = %d, want 403", code)
	}
	if code, _, _ := lea.post(loc+"/retirer", url.Values{"csrf": {leaCSRF}}); code != http.StatusForbidden {
		t.Errorf("student retires = %d, want 403", code)
	}

	hugo := e.browser(t)
	hugo.login("hugo.bernard")
	if _, list := hugo.get("/ressources"); strings.Contains(list, loc) || strings.Contains(list, "Suites numériques") {
		t.Error("a 2C student's list shows the 1B resource")
	}
	if code, _ := hugo.get(loc); code != http.StatusNotFound {
		t.Errorf("2C student reads the 1B resource = %d, want 404", code)
	}
	if code, _, got := hugo.do(mustReq("GET", e.srv.URL+loc+"/fichier")); code != http.StatusNotFound || strings.Contains(got, string(data[:64])) {
		t.Errorf("2C student downloads the 1B file = %d, want 404", code)
	}

	anne := e.browser(t)
	anneCSRF := anne.login("anne.lefebvre")
	if _, home := anne.get("/"); !strings.Contains(home, `<a href="/ressources">Ressources</a>`) {
		t.Error("Région agent's home page lacks the Ressources link")
	}
	code, h, _ = anne.postMultipart("/ressources/nouvelle", ressourceFields(anneCSRF, "Annales régionales", "https://example.org/annales"), "", nil)
	rm := ressourceID.FindStringSubmatch(h.Get("Location"))
	if code != http.StatusSeeOther || rm == nil {
		t.Fatalf("Région agent publishes = %d to %q, want 303", code, h.Get("Location"))
	}
	if code, page := hugo.get(rm[0]); code != http.StatusOK || !strings.Contains(page, "Catalogue de la Région") ||
		!strings.Contains(page, `href="https://example.org/annales" rel="noopener noreferrer"`) {
		t.Errorf("student reads the region's link = %d, want 200 with the link", code)
	}

	// The author edits: the form shows the item, a new title keeps the file.
	code, edit := paul.get(loc + "/modifier")
	for _, want := range []string{`action="` + loc + `/modifier"`, `value="Suites numériques"`, "actuel : suites.pdf", `value="1B" checked`} {
		if code != http.StatusOK || !strings.Contains(edit, want) {
			t.Errorf("edit form (%d) lacks %q", code, want)
		}
	}
	if code, _ := lea.get(loc + "/modifier"); code != http.StatusForbidden {
		t.Errorf("student GET the edit form = %d, want 403", code)
	}
	if code, h, _ := paul.postMultipart(loc+"/modifier", ressourceFields(csrf, "Suites numériques (corrigé)", "", "1B"), "", nil); code != http.StatusSeeOther || h.Get("Location") != loc {
		t.Errorf("author edits = %d to %q, want 303 to %s", code, h.Get("Location"), loc)
	}
	if code, page := lea.get(loc); code != http.StatusOK || !strings.Contains(page, "<h1>Suites numériques (corrigé)</h1>") || !strings.Contains(page, "(PDF, 300 Ko)") {
		t.Errorf("after the edit the student reads %d, want the new title and the file kept", code)
	}

	// The author retires: gone for everyone.
	if code, h, _ := paul.post(loc+"/retirer", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther || h.Get("Location") != "/ressources" {
		t.Errorf("author retires = %d to %q, want 303 to /ressources", code, h.Get("Location"))
	}
	if code, _ := lea.get(loc); code != http.StatusNotFound {
		t.Errorf("retired resource = %d, want 404", code)
	}
}

// TestRessourcesAPI creates resources through the JSON API, with a link
// and with a file (multipart), reads and downloads them, and checks the
// refusals.
func TestRessourcesAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul := apiLogin(t, e, "paul.durand")
	lea := apiLogin(t, e, "lea.martin")
	hugo := apiLogin(t, e, "hugo.bernard")

	in := map[string]any{"title": "Suites", "discipline": "Mathématiques", "level": "premiere", "link": "https://example.org/suites"}
	if code, _ := apiCall(t, e, "POST", "/api/v1/catalogue", lea, in); code != http.StatusForbidden {
		t.Errorf("student POST /api/v1/catalogue = %d, want 403", code)
	}
	code, out := apiCall(t, e, "POST", "/api/v1/catalogue", paul, in)
	linkID, _ := out["id"].(string)
	if code != http.StatusCreated || out["catalogue"] != "lycee" || out["link"] != "https://example.org/suites" {
		t.Fatalf("POST link = %d %v, want 201 with the link", code, out)
	}

	data := someBytes(600 << 10)
	meta, _ := json.Marshal(map[string]any{"title": "Cours", "discipline": "Physique", "level": "tous", "classes": []string{"1B"}})
	ct, body := multipartBody(t, url.Values{"metadata": {string(meta)}}, "file", "cours.odt", data)
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/catalogue", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+paul)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID   string `json:"id"`
		File struct {
			Name string `json:"name"`
			Size int64  `json:"size"`
			URL  string `json:"url"`
		} `json:"file"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created.File.Size != int64(len(data)) || created.File.Name != "cours.odt" {
		t.Fatalf("POST multipart = %d %+v, want 201 with a %d-byte file", resp.StatusCode, created, len(data))
	}

	// The session cookie alone does not upload: a cross-site form could
	// post this multipart body.
	ct, body = multipartBody(t, url.Values{"metadata": {string(meta)}}, "file", "autre.odt", data)
	req, _ = http.NewRequest("POST", e.srv.URL+"/api/v1/catalogue", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Cookie", "atrium_session="+paul)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST multipart with the cookie only = %d, want 403", resp.StatusCode)
	}

	code, out = apiCall(t, e, "GET", "/api/v1/catalogue", lea, nil)
	if lycee, _ := out["lycee"].([]any); code != http.StatusOK || len(lycee) != 2 {
		t.Errorf("student lists = %d, %d lycée items; want 200, 2", code, len(lycee))
	}
	code, out = apiCall(t, e, "GET", "/api/v1/catalogue", hugo, nil)
	if lycee, _ := out["lycee"].([]any); code != http.StatusOK || len(lycee) != 1 {
		t.Errorf("2C student lists = %d, %d lycée items; want 200, 1 (not the 1B one)", code, len(lycee))
	}
	get := func(tok, path string) (int, []byte) {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, got := get(lea, created.File.URL); code != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("student GET %s = %d, %d bytes; want 200 and the %d bytes", created.File.URL, code, len(got), len(data))
	}
	if code, _ := get(hugo, created.File.URL); code != http.StatusNotFound {
		t.Errorf("2C student GET the 1B file = %d, want 404", code)
	}
	if code, _ := get(lea, "/api/v1/catalogue/"+linkID+"/file"); code != http.StatusNotFound {
		t.Errorf("GET the file of a link = %d, want 404", code)
	}

	if code, _ := apiCall(t, e, "PUT", "/api/v1/catalogue/"+linkID, hugo, map[string]any{"title": "x", "discipline": "x", "level": "tous"}); code != http.StatusForbidden {
		t.Errorf("student PUT = %d, want 403", code)
	}
	code, out = apiCall(t, e, "PUT", "/api/v1/catalogue/"+linkID, paul, map[string]any{"title": "Suites (revu)", "discipline": "Mathématiques", "level": "terminale"})
	if code != http.StatusOK || out["title"] != "Suites (revu)" || out["link"] != "https://example.org/suites" {
		t.Errorf("author PUT = %d %v, want 200 with the new title and the link kept", code, out)
	}
	if code, _ := get(paul, "/api/v1/catalogue/"+linkID); code != http.StatusOK {
		t.Errorf("GET after PUT = %d", code)
	}
	req, _ = http.NewRequest("DELETE", e.srv.URL+"/api/v1/catalogue/"+linkID, nil)
	req.Header.Set("Authorization", "Bearer "+paul)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("author DELETE = %v, %v; want 204", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	if code, _ := get(lea, "/api/v1/catalogue/"+linkID); code != http.StatusNotFound {
		t.Errorf("GET a retired resource = %d, want 404", code)
	}
}
