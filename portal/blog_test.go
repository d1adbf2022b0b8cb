package portal_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"atrium/portal"
)

var blogCommentDelete = regexp.MustCompile(`action="(/blog/[^"]+/commentaires/[^"]+/supprimer)"`)

// TestBlogPages walks the blog as its users do: a teacher publishes to
// their class, the class's student and her parent read and comment, a
// student of another class does not see it, markup from users stays text,
// and comments and the post are deleted by those allowed to.
func TestBlogPages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul := e.browser(t)
	csrf := paul.login("paul.durand")

	if _, home := paul.get("/"); !strings.Contains(home, `<a href="/blog">Blog</a>`) {
		t.Error("teacher's home page lacks the Blog link")
	}
	code, form := paul.get("/blog/nouveau")
	for _, want := range []string{`<label for="class">Destinataires</label>`, `<option value="">Tout le lycée</option>`,
		`<option value="1B">`, `<option value="TG2">`, `<label for="title">Titre</label>`, `<label for="body">`, `name="csrf"`} {
		if code != http.StatusOK || !strings.Contains(form, want) {
			t.Errorf("new post form (%d) lacks %q", code, want)
		}
	}
	post := func(csrf, class, title string) url.Values {
		return url.Values{"csrf": {csrf}, "class": {class}, "title": {title},
			"body": {"Rendez-vous à 8 h devant le lycée.\n<script>alert(1)</script>"}}
	}
	if code, _, _ := paul.post("/blog/nouveau", post("faux", "1B", "Sortie")); code != http.StatusForbidden {
		t.Errorf("post without the CSRF token = %d, want 403", code)
	}
	if code, _, page := paul.post("/blog/nouveau", post(csrf, "2C", "Sortie")); code != http.StatusForbidden || !strings.Contains(page, "classes où il enseigne") {
		t.Errorf("post to a class not taught = %d, want 403 with the rule", code)
	}
	if code, _, page := paul.post("/blog/nouveau", post(csrf, "1B", "")); code != http.StatusBadRequest ||
		!strings.Contains(page, "Le titre de l&#39;article est obligatoire") || !strings.Contains(page, "Rendez-vous à 8 h") {
		t.Errorf("post without title = %d, want 400 with the error and the text kept", code)
	}
	code, h, _ := paul.post("/blog/nouveau", post(csrf, "1B", "Sortie au musée"))
	loc := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/blog/") {
		t.Fatalf("publish = %d to %q, want 303 to the post", code, loc)
	}
	code, page := paul.get(loc)
	for _, want := range []string{"<h1>Sortie au musée</h1>", "Classe 1B · Paul Durand", "<p>Rendez-vous à 8 h devant le lycée.</p>",
		"<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", `action="` + loc + `/supprimer"`, `<label for="body">Votre commentaire</label>`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("post page for its author (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("user markup reaches the page unescaped")
	}

	lea := e.browser(t)
	leaCSRF := lea.login("lea.martin")
	if code, page := lea.get("/blog"); code != http.StatusOK || !strings.Contains(page, `href="`+loc+`"`) || strings.Contains(page, "Nouvel article") {
		t.Errorf("student's list (%d): want the post, no Nouvel article link", code)
	}
	if code, _ := lea.get("/blog/nouveau"); code != http.StatusForbidden {
		t.Errorf("student GET new post form = %d, want 403", code)
	}
	if code, _, _ := lea.post(loc+"/commentaires", url.Values{"csrf": {leaCSRF}, "body": {" "}}); code != http.StatusBadRequest {
		t.Errorf("empty comment = %d, want 400", code)
	}
	if code, h, _ := lea.post(loc+"/commentaires", url.Values{"csrf": {leaCSRF}, "body": {"J'ai hâte !"}}); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), loc) {
		t.Errorf("student comments = %d to %q, want 303 to the post", code, h.Get("Location"))
	}
	if code, _, _ := lea.post(loc+"/supprimer", url.Values{"csrf": {leaCSRF}}); code != http.StatusForbidden {
		t.Errorf("student deletes the post = %d, want 403", code)
	}

	sophie := e.browser(t)
	sophieCSRF := sophie.login("sophie.martin")
	code, page = sophie.get(loc)
	if code != http.StatusOK || !strings.Contains(page, "J&#39;ai hâte !") || blogCommentDelete.MatchString(page) {
		t.Errorf("parent reads the post (%d): want Léa's comment, no delete button", code)
	}
	if code, _, _ := sophie.post(loc+"/commentaires", url.Values{"csrf": {sophieCSRF}, "body": {"Merci pour l'organisation."}}); code != http.StatusSeeOther {
		t.Errorf("parent comments = %d, want 303", code)
	}

	hugo := e.browser(t)
	hugoCSRF := hugo.login("hugo.bernard")
	if code, page := hugo.get("/blog"); code != http.StatusOK || strings.Contains(page, loc) {
		t.Errorf("student of 2C's list (%d) shows the 1B post", code)
	}
	if code, _ := hugo.get(loc); code != http.StatusNotFound {
		t.Errorf("student of 2C reads the 1B post = %d, want 404", code)
	}
	if code, _, _ := hugo.post(loc+"/commentaires", url.Values{"csrf": {hugoCSRF}, "body": {"Moi aussi"}}); code != http.StatusNotFound {
		t.Errorf("student of 2C comments on the 1B post = %d, want 404", code)
	}
	anne := e.browser(t)
	anne.login("anne.lefebvre")
	if _, page := anne.get("/"); strings.Contains(page, "/blog") {
		t.Error("Région staff's home page links to the blog")
	}

	// The post's author deletes Léa's comment, then the post.
	_, page = paul.get(loc)
	m := blogCommentDelete.FindAllStringSubmatch(page, -1)
	if len(m) != 2 {
		t.Fatalf("author sees %d comment delete buttons, want 2", len(m))
	}
	if code, _, _ := paul.post(m[0][1], url.Values{"csrf": {csrf}}); code != http.StatusSeeOther {
		t.Errorf("author deletes a comment = %d, want 303", code)
	}
	if _, page := lea.get(loc); strings.Contains(page, "J&#39;ai hâte !") || !strings.Contains(page, "Merci pour l&#39;organisation.") {
		t.Error("after deletion the post shows the deleted comment or lost the other one")
	}
	if code, h, _ := paul.post(loc+"/supprimer", url.Values{"csrf": {csrf}}); code != http.StatusSeeOther || h.Get("Location") != "/blog" {
		t.Errorf("delete = %d to %q, want 303 to the list", code, h.Get("Location"))
	}
	if code, _ := lea.get(loc); code != http.StatusNotFound {
		t.Errorf("deleted post = %d, want 404", code)
	}
}

func TestBlogAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul, lea, hugo := apiLogin(t, e, "paul.durand"), apiLogin(t, e, "lea.martin"), apiLogin(t, e, "hugo.bernard")
	nadia, anne := apiLogin(t, e, "nadia.benali"), apiLogin(t, e, "anne.lefebvre")

	code, out := apiCall(t, e, "POST", "/api/v1/blog", paul, map[string]string{"class": "1B", "title": "Sortie", "body": "Au musée."})
	id, _ := out["id"].(string)
	if code != http.StatusCreated || id == "" || out["author"] != "Paul Durand" || out["class"] != "1B" {
		t.Fatalf("POST /api/v1/blog = %d %v, want 201 with the post", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/blog", lea, map[string]string{"title": "Élève", "body": "Texte"}); code != http.StatusForbidden {
		t.Errorf("student POST = %d %v, want 403", code, out)
	}
	if code, _ := apiCall(t, e, "POST", "/api/v1/blog", nadia, map[string]string{"title": "Portes ouvertes", "body": "Samedi."}); code != http.StatusCreated {
		t.Errorf("staff POST to the lycée = %d, want 201", code)
	}
	lists := []struct {
		who   string
		token string
		want  int
	}{{"lea.martin", lea, 2}, {"nadia.benali", nadia, 2}, {"hugo.bernard", hugo, 1}, {"anne.lefebvre", anne, 0}}
	for _, l := range lists {
		code, out := apiCall(t, e, "GET", "/api/v1/blog", l.token, nil)
		items, _ := out["items"].([]any)
		if code != http.StatusOK || len(items) != l.want {
			t.Errorf("GET /api/v1/blog as %s = %d with %d posts, want 200 with %d", l.who, code, len(items), l.want)
		}
	}
	code, out = apiCall(t, e, "POST", "/api/v1/blog/"+id+"/comments", lea, map[string]string{"body": "Super"})
	cid, _ := out["id"].(string)
	if code != http.StatusCreated || cid == "" || out["author"] != "Léa Martin" {
		t.Fatalf("POST comment = %d %v, want 201", code, out)
	}
	if code, _ := apiCall(t, e, "POST", "/api/v1/blog/"+id+"/comments", hugo, map[string]string{"body": "Moi"}); code != http.StatusNotFound {
		t.Errorf("POST comment by a student of another class = %d, want 404", code)
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/blog/"+id, lea, nil); code != http.StatusOK || out["commentCount"] != float64(1) {
		t.Errorf("GET post = %d %v, want 200 with one comment", code, out)
	}
	if code := apiDelete(t, e, "/api/v1/blog/"+id+"/comments/"+cid, hugo); code != http.StatusNotFound {
		t.Errorf("DELETE comment by a student of another class = %d, want 404", code)
	}
	if code := apiDelete(t, e, "/api/v1/blog/"+id+"/comments/"+cid, nadia); code != http.StatusNoContent {
		t.Errorf("DELETE comment by staff = %d, want 204", code)
	}
	if code := apiDelete(t, e, "/api/v1/blog/"+id, lea); code != http.StatusForbidden {
		t.Errorf("DELETE post by a student = %d, want 403", code)
	}
	if code := apiDelete(t, e, "/api/v1/blog/"+id, paul); code != http.StatusNoContent {
		t.Errorf("DELETE post by its author = %d, want 204", code)
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/blog/"+id, lea, nil); code != http.StatusNotFound {
		t.Errorf("GET deleted post = %d, want 404", code)
	}
}
