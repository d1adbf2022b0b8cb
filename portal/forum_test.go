package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/portal"
)

// TestForumPages walks the forum as its users do: a teacher creates his
// class's forum, a student opens a topic, the teacher replies, staff hide a
// reply; a student of another class and a parent do not reach it.
func TestForumPages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul := e.browser(t)
	csrf := paul.login("paul.durand")

	if _, home := paul.get("/"); !strings.Contains(home, `<a href="/forum">Forum</a>`) {
		t.Error("teacher's home page lacks the Forum link")
	}
	code, form := paul.get("/forum/nouveau")
	for _, want := range []string{`<label for="title">Titre du forum</label>`, `<label for="audience">Public</label>`,
		`<label for="class">Classe</label>`, `<option value="TG2">`, `name="csrf"`} {
		if code != http.StatusOK || !strings.Contains(form, want) {
			t.Errorf("new forum form (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(form, `value="tous"`) {
		t.Error("a teacher is offered a lycée-wide forum")
	}
	newForum := url.Values{"csrf": {csrf}, "title": {"Forum de la 1B"}, "audience": {"classe"}, "class": {"1B"}}
	bad := url.Values{"csrf": {"faux"}, "title": {"X"}, "audience": {"classe"}, "class": {"1B"}}
	if code, _, _ := paul.post("/forum/nouveau", bad); code != http.StatusForbidden {
		t.Errorf("post without the CSRF token = %d, want 403", code)
	}
	bad = url.Values{"csrf": {csrf}, "title": {"X"}, "audience": {"classe"}, "class": {"2C"}}
	if code, _, page := paul.post("/forum/nouveau", bad); code != http.StatusForbidden || !strings.Contains(html.UnescapeString(page), "classes où vous enseignez") {
		t.Errorf("forum for a class not taught = %d, want 403 with the rule", code)
	}
	code, h, _ := paul.post("/forum/nouveau", newForum)
	forum := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(forum, "/forum/") {
		t.Fatalf("create forum = %d to %q, want 303 to the forum", code, forum)
	}

	lea := e.browser(t)
	leaCSRF := lea.login("lea.martin")
	if code, page := lea.get("/forum"); code != http.StatusOK || !strings.Contains(page, `href="`+forum+`"`) || strings.Contains(page, "Nouveau forum") {
		t.Errorf("student's forum list (%d): want the 1B forum, no Nouveau forum link", code)
	}
	if code, _ := lea.get("/forum/nouveau"); code != http.StatusForbidden {
		t.Errorf("student GET new forum form = %d, want 403", code)
	}
	code, page := lea.get(forum)
	for _, want := range []string{"<h1>Forum de la 1B</h1>", `<label for="title">Titre du sujet</label>`, `<label for="body">Message</label>`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("forum page (%d) lacks %q", code, want)
		}
	}
	if code, _, page := lea.post(forum+"/sujets", url.Values{"csrf": {leaCSRF}, "title": {"Exposé"}, "body": {" "}}); code != http.StatusBadRequest || !strings.Contains(page, "obligatoires") || !strings.Contains(page, `value="Exposé"`) {
		t.Errorf("topic without text = %d, want 400 with the error and the form kept", code)
	}
	code, h, _ = lea.post(forum+"/sujets", url.Values{"csrf": {leaCSRF}, "title": {"Exposé"}, "body": {"Qui travaille avec moi ?"}})
	topic := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(topic, forum+"/sujets/") {
		t.Fatalf("open topic = %d to %q, want 303 to the topic", code, topic)
	}
	code, h, _ = paul.post(topic+"/reponses", url.Values{"csrf": {csrf}, "body": {"Formez des binômes."}})
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), topic+"#message-") {
		t.Fatalf("reply = %d to %q, want 303 to the reply", code, h.Get("Location"))
	}
	replyID := strings.TrimPrefix(h.Get("Location"), topic+"#message-")
	code, page = lea.get(topic)
	if code != http.StatusOK || !strings.Contains(page, "Qui travaille avec moi ?") || !strings.Contains(page, "Formez des binômes.") ||
		!strings.Contains(page, `<label for="body">Votre réponse</label>`) || strings.Contains(page, "Masquer") {
		t.Errorf("topic page for the student (%d): want the topic, the reply, the reply form, no moderation", code)
	}
	if code, _, _ := lea.post(topic+"/masquer", url.Values{"csrf": {leaCSRF}, "message": {replyID}}); code != http.StatusForbidden {
		t.Errorf("student hides a reply = %d, want 403", code)
	}

	// Others of the lycée.
	hugo := e.browser(t)
	hugoCSRF := hugo.login("hugo.bernard")
	if code, page := hugo.get("/forum"); code != http.StatusOK || strings.Contains(page, forum) {
		t.Errorf("student of 2C's list (%d) shows the 1B forum", code)
	}
	if code, _ := hugo.get(topic); code != http.StatusNotFound {
		t.Errorf("student of 2C reads the 1B topic = %d, want 404", code)
	}
	if code, _, _ := hugo.post(topic+"/reponses", url.Values{"csrf": {hugoCSRF}, "body": {"Intrus"}}); code != http.StatusNotFound {
		t.Errorf("student of 2C replies in the 1B forum = %d, want 404", code)
	}
	sophie := e.browser(t)
	sophie.login("sophie.martin")
	if code, _ := sophie.get(forum); code != http.StatusNotFound {
		t.Errorf("parent reads the class forum = %d, want 404", code)
	}
	anne := e.browser(t)
	anne.login("anne.lefebvre")
	if _, page := anne.get("/"); strings.Contains(page, `href="/forum"`) {
		t.Error("Région staff's home page links to the forum")
	}

	// Staff moderate.
	nadia := e.browser(t)
	nadiaCSRF := nadia.login("nadia.benali")
	code, page = nadia.get(topic)
	if code != http.StatusOK || !strings.Contains(page, "Masquer ce message") {
		t.Errorf("topic page for staff (%d) lacks the moderation button", code)
	}
	if code, h, _ := nadia.post(topic+"/masquer", url.Values{"csrf": {nadiaCSRF}, "message": {replyID}}); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), topic) {
		t.Errorf("staff hides the reply = %d to %q, want 303 to the topic", code, h.Get("Location"))
	}
	if _, page := lea.get(topic); strings.Contains(page, "Formez des binômes.") || !strings.Contains(html.UnescapeString(page), "« Message masqué par la modération »") {
		t.Error("the student still reads the hidden reply, or not the moderation notice")
	}

	// Staff create a forum for the adults: the teacher reads it, not the student.
	code, form = nadia.get("/forum/nouveau")
	if code != http.StatusOK || !strings.Contains(form, `value="adultes"`) || !strings.Contains(form, `value="tous"`) {
		t.Errorf("staff's new forum form (%d) lacks the lycée-wide audiences", code)
	}
	code, h, _ = nadia.post("/forum/nouveau", url.Values{"csrf": {nadiaCSRF}, "title": {"Salle des profs"}, "audience": {"adultes"}})
	adults := h.Get("Location")
	if code != http.StatusSeeOther {
		t.Fatalf("staff create an adults forum = %d, want 303", code)
	}
	if code, _ := paul.get(adults); code != http.StatusOK {
		t.Errorf("teacher reads the adults forum = %d, want 200", code)
	}
	if code, _ := lea.get(adults); code != http.StatusNotFound {
		t.Errorf("student reads the adults forum = %d, want 404", code)
	}
}

func TestForumAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	paul, lea, hugo := apiLogin(t, e, "paul.durand"), apiLogin(t, e, "lea.martin"), apiLogin(t, e, "hugo.bernard")
	nadia, sophie := apiLogin(t, e, "nadia.benali"), apiLogin(t, e, "sophie.martin")

	code, out := apiCall(t, e, "POST", "/api/v1/forums", paul, map[string]string{"title": "1B", "audience": "classe", "class": "1B"})
	forum, _ := out["id"].(string)
	if code != http.StatusCreated || forum == "" || out["author"] != "Paul Durand" {
		t.Fatalf("POST /api/v1/forums = %d %v, want 201 with the forum", code, out)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/forums", paul, map[string]string{"title": "Tous", "audience": "tous"}); code != http.StatusForbidden {
		t.Errorf("teacher creates a lycée-wide forum = %d %v, want 403", code, out)
	}
	if code, _ := apiCall(t, e, "POST", "/api/v1/forums", nadia, map[string]string{"title": "Vie du lycée", "audience": "tous"}); code != http.StatusCreated {
		t.Errorf("staff create a lycée-wide forum = %d, want 201", code)
	}
	for _, l := range []struct {
		who   string
		token string
		want  int
	}{{"lea.martin", lea, 2}, {"hugo.bernard", hugo, 1}, {"sophie.martin", sophie, 1}, {"nadia.benali", nadia, 2}} {
		code, out := apiCall(t, e, "GET", "/api/v1/forums", l.token, nil)
		if items, _ := out["items"].([]any); code != http.StatusOK || len(items) != l.want {
			t.Errorf("GET /api/v1/forums as %s = %d with %d forums, want 200 with %d", l.who, code, len(items), l.want)
		}
	}
	base := "/api/v1/forums/" + forum
	code, out = apiCall(t, e, "POST", base+"/topics", lea, map[string]string{"title": "Exposé", "body": "Qui ?"})
	topic, _ := out["id"].(string)
	if code != http.StatusCreated || topic == "" {
		t.Fatalf("POST topic = %d %v, want 201", code, out)
	}
	if code, _ := apiCall(t, e, "POST", base+"/topics", hugo, map[string]string{"title": "Intrus", "body": "!"}); code != http.StatusNotFound {
		t.Errorf("student of 2C opens a topic in the 1B forum = %d, want 404", code)
	}
	code, out = apiCall(t, e, "POST", base+"/topics/"+topic+"/posts", paul, map[string]string{"body": "Par deux."})
	post, _ := out["id"].(string)
	if code != http.StatusCreated || post == "" {
		t.Fatalf("POST reply = %d %v, want 201", code, out)
	}
	hide := base + "/topics/" + topic + "/posts/" + post + "/hide"
	if code, _ := apiCall(t, e, "POST", hide, paul, nil); code != http.StatusForbidden {
		t.Errorf("teacher hides = %d, want 403", code)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+hide, nil)
	req.Header.Set("Authorization", "Bearer "+nadia)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("staff hide = %d, want 204", resp.StatusCode)
	}
	code, out = apiCall(t, e, "GET", base+"/topics/"+topic, lea, nil)
	posts, _ := out["posts"].([]any)
	if code != http.StatusOK || len(posts) != 1 {
		t.Fatalf("GET topic = %d %v, want 200 with one reply", code, out)
	}
	if p, _ := posts[0].(map[string]any); p["hidden"] != true || p["body"] != "" {
		t.Errorf("hidden reply = %v, want hidden with no body", p)
	}
	if code, _ := apiCall(t, e, "GET", base+"/topics/"+topic, sophie, nil); code != http.StatusNotFound {
		t.Errorf("parent reads the class topic = %d, want 404", code)
	}
	code, out = apiCall(t, e, "GET", base, lea, nil)
	if topics, _ := out["topics"].([]any); code != http.StatusOK || len(topics) != 1 {
		t.Errorf("GET forum = %d %v, want 200 with one topic", code, out)
	}
}
