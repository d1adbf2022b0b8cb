package portal_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"atrium/portal"

	"github.com/google/go-cmp/cmp"
)

var optionValue = regexp.MustCompile(`<option value="([^"]+)"`)

// options returns the logins the new-message form offers, in order.
func options(page string) []string {
	var out []string
	for _, m := range optionValue.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

// The new-message form lists only the recipients the communication rules
// allow, grouped by profile; the form works without JavaScript.
func TestMessageFormListsAllowedRecipients(t *testing.T) {
	e := newEnv(t, portal.Config{})
	tests := []struct {
		login string
		path  string
		want  []string
	}{
		// Léa (1B): the staff, her teacher, her classmate, her mother;
		// never Hugo (2C) nor his father.
		{"lea.martin", "/messagerie/nouveau", []string{"nadia.benali", "paul.durand", "tom.garcia", "sophie.martin"}},
		// Hugo (2C): no teacher of his class in the synthetic region.
		{"hugo.bernard", "/messagerie/nouveau", []string{"nadia.benali", "karim.bernard"}},
		// Sophie: the staff, Léa's teacher, Léa; no other child, no other parent.
		{"sophie.martin", "/messagerie/nouveau", []string{"nadia.benali", "paul.durand", "lea.martin"}},
		{"karim.bernard", "/messagerie/nouveau", []string{"nadia.benali", "hugo.bernard"}},
		// A teacher reaches the whole lycée; a search narrows the list.
		{"paul.durand", "/messagerie/nouveau", []string{"nadia.benali", "hugo.bernard", "lea.martin", "tom.garcia", "karim.bernard", "sophie.martin"}},
		{"paul.durand", "/messagerie/nouveau?q=BERNARD", []string{"hugo.bernard", "karim.bernard"}},
		{"paul.durand", "/messagerie/nouveau?q=1b", []string{"lea.martin", "tom.garcia"}},
		{"paul.durand", "/messagerie/nouveau?q=lea", []string{"lea.martin", "sophie.martin"}}, // Sophie is Léa's mother
	}
	for _, tt := range tests {
		b := e.browser(t)
		b.login(tt.login)
		code, page := b.get(tt.path)
		if code != http.StatusOK {
			t.Fatalf("%s: GET %s = %d, want 200", tt.login, tt.path, code)
		}
		if diff := cmp.Diff(tt.want, options(page)); diff != "" {
			t.Errorf("%s: GET %s lists (-want +got):\n%s", tt.login, tt.path, diff)
		}
		if !strings.Contains(page, `<label for="to">Destinataire</label>`) {
			t.Errorf("%s: the recipient list has no label", tt.login)
		}
	}

	// A reply preselects its recipient and keeps the subject.
	b := e.browser(t)
	b.login("lea.martin")
	_, page := b.get("/messagerie/nouveau?a=paul.durand&objet=Re%3A+Expos%C3%A9")
	if !strings.Contains(page, `<option value="paul.durand" selected>Paul Durand (1B, TG2)</option>`) || !strings.Contains(page, `value="Re: Exposé"`) {
		t.Errorf("reply form does not preselect paul.durand with the subject:\n%s", page)
	}
	// Région staff have no one to write to.
	rb := e.browser(t)
	rb.login("anne.lefebvre")
	if _, page := rb.get("/messagerie/nouveau"); !strings.Contains(page, "aucun destinataire possible") || strings.Contains(page, "<select") {
		t.Errorf("Région staff's form offers recipients:\n%s", page)
	}
}

// Posting the form to a recipient the rules refuse (a crafted form) is a
// 403 that names the rule, not the recipient, and submits nothing.
func TestMessageFormRefusesForbiddenRecipient(t *testing.T) {
	e := newEnv(t, portal.Config{})
	b := e.browser(t)
	csrf := b.login("lea.martin")
	before := userCommands(e.store)
	code, _, page := b.post("/messagerie/nouveau", url.Values{"csrf": {csrf}, "to": {"hugo.bernard"}, "subject": {"Salut"}, "body": {"Tu viens ?"}})
	if code != http.StatusForbidden || !strings.Contains(page, "un élève écrit aux élèves et aux enseignants de ses classes") {
		t.Errorf("student writes to another class = %d, want 403 with the rule:\n%s", code, page)
	}
	// The CSRF tokens are random and may hold "2C" by chance.
	shown := csrfValue.ReplaceAllString(page, "")
	if strings.Contains(shown, "Hugo Bernard") || strings.Contains(shown, "2C") {
		t.Errorf("the refusal reveals who hugo.bernard is:\n%s", page)
	}
	if got := options(page); !cmp.Equal(got, []string{"nadia.benali", "paul.durand", "tom.garcia", "sophie.martin"}) {
		t.Errorf("the form shown again lists %v", got)
	}
	if after := userCommands(e.store); after != before {
		t.Errorf("refused post submitted %d commands", after-before)
	}
	// The API refuses alike.
	tok := apiLogin(t, e, "sophie.martin")
	if code, out := apiCall(t, e, "POST", "/api/v1/messages", tok, map[string]any{"to": "hugo.bernard", "subject": "s", "body": "b"}); code != http.StatusForbidden || out["error"] == nil {
		t.Errorf("relative writes to another family's child via the API = %d %v, want 403", code, out)
	}
}

func TestAPIRecipients(t *testing.T) {
	e := newEnv(t, portal.Config{})
	logins := func(token, q string) []string {
		t.Helper()
		path := "/api/v1/recipients"
		if q != "" {
			path += "?q=" + url.QueryEscape(q)
		}
		code, out := apiCall(t, e, "GET", path, token, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %v", path, code, out)
		}
		var got []string
		for _, it := range out["items"].([]any) {
			got = append(got, it.(map[string]any)["login"].(string))
		}
		return got
	}
	lea := apiLogin(t, e, "lea.martin")
	if got, want := logins(lea, ""), []string{"nadia.benali", "paul.durand", "tom.garcia", "sophie.martin"}; !cmp.Equal(got, want) {
		t.Errorf("GET /api/v1/recipients as lea.martin = %v, want %v", got, want)
	}
	if got, want := logins(lea, "martin"), []string{"sophie.martin"}; !cmp.Equal(got, want) {
		t.Errorf("GET /api/v1/recipients?q=martin as lea.martin = %v, want %v", got, want)
	}
	code, out := apiCall(t, e, "GET", "/api/v1/recipients", lea, nil)
	first, _ := out["items"].([]any)[1].(map[string]any)
	if code != http.StatusOK || first["name"] != "Paul Durand" || first["profile"] != "Teacher" || first["id"] == "" || !cmp.Equal(first["classes"], []any{"1B", "TG2"}) {
		t.Errorf("recipient = %v, want Paul Durand, Teacher, 1B and TG2", first)
	}
	if got := logins(apiLogin(t, e, "anne.lefebvre"), ""); len(got) != 0 {
		t.Errorf("Région staff's recipients = %v, want none", got)
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/recipients", "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/recipients without a session = %d, want 401", code)
	}
}
