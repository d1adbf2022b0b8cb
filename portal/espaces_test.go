package portal_test

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/portal"
)

// TestEspacesPages walks a class space as its users do: a student deposits
// a document through the multipart form, her teacher deposits a new
// version, both download; a student of another class is refused the space
// and the file; a parent reads why they have no spaces.
func TestEspacesPages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	space := "/espaces/" + ent.ClassSpaceID("0130040Y", "1B")

	lea := e.browser(t)
	leaCSRF := lea.login("lea.martin")
	if _, home := lea.get("/"); !strings.Contains(home, `<a href="/espaces">Espaces collaboratifs</a>`) {
		t.Error("student's home page lacks the Espaces collaboratifs link")
	}
	if code, page := lea.get("/espaces"); code != http.StatusOK || !strings.Contains(page, `href="`+space+`"`) || strings.Contains(page, "Nouvel espace") {
		t.Errorf("student's spaces (%d): want the 1B space, no Nouvel espace link", code)
	}
	code, page := lea.get(space)
	for _, want := range []string{"<h1>Classe 1B</h1>", `enctype="multipart/form-data"`, `<label for="file">Fichier</label>`,
		`<label for="description">Description courte</label>`, `<label for="folder">Dossier (Général si vide)</label>`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("space page (%d) lacks %q", code, want)
		}
	}
	if code, _, page := lea.postMultipart(space+"/documents", url.Values{"csrf": {leaCSRF}, "description": {"Plan"}}, "", nil); code != http.StatusBadRequest ||
		!strings.Contains(html.UnescapeString(page), "Choisissez le fichier") {
		t.Errorf("deposit without a file = %d, want 400 with the error", code)
	}
	if code, _, _ := lea.postMultipart(space+"/documents", url.Values{"csrf": {"faux"}, "description": {"Plan"}}, "plan.txt", []byte("v1")); code != http.StatusForbidden {
		t.Errorf("deposit without the CSRF token = %d, want 403", code)
	}
	v1 := []byte("Plan de l'exposé, version 1")
	code, h, _ := lea.postMultipart(space+"/documents", url.Values{"csrf": {leaCSRF}, "description": {"Plan de l'exposé"}, "folder": {"Exposés"}}, "plan.txt", v1)
	doc := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(doc, space+"/documents/") {
		t.Fatalf("deposit = %d to %q, want 303 to the document", code, doc)
	}

	paul := e.browser(t)
	paulCSRF := paul.login("paul.durand")
	v2 := []byte("Plan de l'exposé, version 2 relue")
	if code, h, _ := paul.postMultipart(doc+"/versions", url.Values{"csrf": {paulCSRF}}, "plan.txt", v2); code != http.StatusSeeOther || h.Get("Location") != doc {
		t.Fatalf("new version = %d to %q, want 303 to %s", code, h.Get("Location"), doc)
	}
	code, page = lea.get(doc)
	links := regexpAll(page, `href="(`+doc+`/versions/[^"]+)">Version (\d)`)
	if code != http.StatusOK || len(links) != 2 || links[0][2] != "2" || links[1][2] != "1" || !strings.Contains(page, "Supprimer") {
		t.Fatalf("document page (%d): versions %v, want version 2 then 1 and the depositor's delete button", code, links)
	}
	for i, want := range [][]byte{v2, v1} {
		if code, body := lea.get(links[i][1]); code != http.StatusOK || body != string(want) {
			t.Errorf("download version %s = %d %q, want 200 %q", links[i][2], code, body, want)
		}
	}
	if code, page := paul.get(space); code != http.StatusOK || !strings.Contains(page, "Dossier « Exposés »") || !strings.Contains(page, "2 versions") {
		t.Errorf("space page for the teacher (%d): want the Exposés folder and 2 versions", code)
	}

	hugo := e.browser(t)
	hugoCSRF := hugo.login("hugo.bernard")
	for _, path := range []string{space, doc, links[0][1]} {
		if code, body := hugo.get(path); code != http.StatusForbidden || strings.Contains(body, string(v2)) {
			t.Errorf("student of 2C GET %s = %d, want 403 without the content", path, code)
		}
	}
	if code, _, _ := hugo.postMultipart(space+"/documents", url.Values{"csrf": {hugoCSRF}, "description": {"Intrus"}}, "x.txt", []byte("x")); code != http.StatusForbidden {
		t.Errorf("student of 2C deposits in 1B = %d, want 403", code)
	}

	sophie := e.browser(t)
	sophie.login("sophie.martin")
	if code, page := sophie.get("/espaces"); code != http.StatusOK || !strings.Contains(page, "les responsables légaux n'en ont pas") {
		t.Errorf("parent's /espaces (%d) does not say parents have no spaces", code)
	}
	if code, _ := sophie.get(space); code != http.StatusForbidden {
		t.Errorf("parent GET class space = %d, want 403", code)
	}

	// The teacher deletes; the document is gone for everyone.
	if code, h, _ := paul.post(doc+"/supprimer", url.Values{"csrf": {paulCSRF}}); code != http.StatusSeeOther || h.Get("Location") != space {
		t.Fatalf("delete = %d to %q, want 303 to the space", code, h.Get("Location"))
	}
	if code, _ := lea.get(doc); code != http.StatusNotFound {
		t.Errorf("deleted document = %d, want 404", code)
	}
}

// TestEspacesGroupForm: a teacher is offered only the students of his
// classes; the group he creates is readable by its members only.
func TestEspacesGroupForm(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul := e.browser(t)
	csrf := paul.login("paul.durand")
	code, form := paul.get("/espaces/nouveau")
	if code != http.StatusOK || !strings.Contains(form, `<label for="name">Nom de l'espace</label>`) || !strings.Contains(form, "Léa") {
		t.Fatalf("group form (%d) lacks the name field or Léa", code)
	}
	if strings.Contains(form, "Hugo") || strings.Contains(form, "Sophie") {
		t.Error("group form offers a student of another class or a parent")
	}
	lea, hugo := userID(t, e, "lea.martin"), userID(t, e, "hugo.bernard")
	bad := url.Values{"csrf": {csrf}, "name": {"Théâtre"}, "kind": {"groupe"}, "members": {lea, hugo}}
	if code, _, page := paul.post("/espaces/nouveau", bad); code != http.StatusForbidden || !strings.Contains(html.UnescapeString(page), "classes où vous enseignez") {
		t.Errorf("group with a student of another class = %d, want 403 with the rule", code)
	}
	code, h, _ := paul.post("/espaces/nouveau", url.Values{"csrf": {csrf}, "name": {"Théâtre"}, "kind": {"groupe"}, "members": {lea}})
	group := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(group, "/espaces/") {
		t.Fatalf("create group = %d to %q, want 303 to the space", code, group)
	}
	l := e.browser(t)
	l.login("lea.martin")
	if code, _ := l.get(group); code != http.StatusOK {
		t.Errorf("member GET group = %d, want 200", code)
	}
	tom := e.browser(t)
	tom.login("tom.garcia")
	if code, _ := tom.get(group); code != http.StatusForbidden {
		t.Errorf("non-member GET group = %d, want 403", code)
	}
	if code, _ := tom.get("/espaces/nouveau"); code != http.StatusForbidden {
		t.Errorf("student GET group form = %d, want 403", code)
	}
}

// TestEspacesAPI deposits, versions, lists and downloads through the JSON
// API, and checks that a cookie alone does not upload.
func TestEspacesAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	tok := apiLogin(t, e, "lea.martin")
	space := "/api/v1/spaces/" + ent.ClassSpaceID("0130040Y", "1B")
	upload := func(path, token, name string, data []byte, fields url.Values) (int, map[string]any) {
		t.Helper()
		ct, body := multipartBody(t, fields, "file", name, data)
		req, _ := http.NewRequest("POST", e.srv.URL+path, body)
		req.Header.Set("Content-Type", ct)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, d := upload(space+"/documents", tok, "notes.txt", []byte("un"), url.Values{"description": {"Notes"}})
	if code != http.StatusCreated || d["folder"] != ent.DefaultFolder {
		t.Fatalf("API deposit = %d %v, want 201 in %s", code, d, ent.DefaultFolder)
	}
	docPath := space + "/documents/" + d["id"].(string)
	if code, v := upload(docPath+"/versions", tok, "notes.txt", []byte("deux"), nil); code != http.StatusCreated || v["number"] != float64(2) {
		t.Errorf("API new version = %d %v, want 201 number 2", code, v)
	}
	code, got := apiCall(t, e, "GET", space, tok, nil)
	docs, _ := got["documents"].([]any)
	if code != http.StatusOK || len(docs) != 1 {
		t.Fatalf("API space = %d %v, want one document", code, got)
	}
	versions := docs[0].(map[string]any)["versions"].([]any)
	latest := versions[0].(map[string]any)
	req, _ := http.NewRequest("GET", e.srv.URL+latest["url"].(string), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if len(versions) != 2 || resp.StatusCode != http.StatusOK || body.String() != "deux" {
		t.Errorf("API download of the latest of %d versions = %d %q, want 200 \"deux\"", len(versions), resp.StatusCode, body.String())
	}
	hugo := apiLogin(t, e, "hugo.bernard")
	if code, _ := apiCall(t, e, "GET", space, hugo, nil); code != http.StatusForbidden {
		t.Errorf("API space for a student of 2C = %d, want 403", code)
	}
	// A cookie session alone (what a cross-site form would carry) does not upload.
	ct, mp := multipartBody(t, url.Values{"description": {"x"}}, "file", "x.txt", []byte("x"))
	req, _ = http.NewRequest("POST", e.srv.URL+space+"/documents", mp)
	req.Header.Set("Content-Type", ct)
	req.AddCookie(&http.Cookie{Name: "atrium_session", Value: tok})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API deposit with a cookie only = %d, want 403", resp.StatusCode)
	}
	if code, _ := apiCall(t, e, "DELETE", docPath, hugo, nil); code != http.StatusForbidden {
		t.Errorf("API delete by a student of 2C = %d, want 403", code)
	}
	req, _ = http.NewRequest("DELETE", e.srv.URL+docPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("API delete by the depositor = %v %v, want 204", resp, err)
	}
}

// regexpAll returns the submatches of every match of expr in s.
func regexpAll(s, expr string) [][]string {
	return regexp.MustCompile(expr).FindAllStringSubmatch(s, -1)
}
