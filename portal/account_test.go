package portal_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/portal"
	"atrium/record"
)

const thiers = "0130040Y"

// addAccount writes u into the store as the directory import would.
func (e *env) addAccount(t *testing.T, u ent.User) {
	t.Helper()
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	cmd := record.Command{Origin: record.OriginCentral, Op: ent.OpUserPut, Partition: u.Partition(), Args: b, Time: time.Now().UnixMilli()}
	if err := e.store.Submit(t.Context(), cmd); err != nil {
		t.Fatalf("put %s: %v", u.Login, err)
	}
}

// userID returns the id of the account login.
func (e *env) userID(t *testing.T, login string) string {
	t.Helper()
	for _, r := range e.store.Records() {
		if r.Kind == ent.KindUser && r.Key == login {
			return r.ID
		}
	}
	t.Fatalf("no account %s", login)
	return ""
}

// pending is an imported account waiting for activation with pendingCode.
var pending = ent.User{ID: "01890000-0000-7000-8000-0000000000c1", Login: "hugo.nouveau", Name: "Hugo Nouveau",
	Profile: ent.Student, UAI: thiers, ActivationHash: ent.ActivationHash(pendingCode)}

const pendingCode = "ABCD-EFGH-JKLM"

func TestActivationJourney(t *testing.T) {
	e := newEnv(t, portal.Config{})
	e.addAccount(t, pending)
	b := e.browser(t)

	if _, page := b.get("/connexion"); !strings.Contains(page, `<a href="/activation">Première connexion ? Activez votre compte</a>`) {
		t.Error("login page lacks the activation link")
	}
	code, page := b.get("/activation")
	for _, want := range []string{`<label for="login">Identifiant</label>`, `<label for="code">Code d'activation</label>`,
		`<label for="password">Nouveau mot de passe</label>`, `<label for="password2">Confirmez le mot de passe</label>`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("activation page (%d) lacks %q", code, want)
		}
	}

	form := func(login, code, pw, pw2 string) url.Values {
		return url.Values{"login": {login}, "code": {code}, "password": {pw}, "password2": {pw2}}
	}
	refusals := []struct {
		name string
		form url.Values
		code int
		want string
	}{
		{"wrong code", form(pending.Login, "AAAA-BBBB-CCCC", "mon-mot-de-passe", "mon-mot-de-passe"), http.StatusForbidden, "Identifiant ou code d&#39;activation incorrect."},
		{"unknown login", form("personne", pendingCode, "mon-mot-de-passe", "mon-mot-de-passe"), http.StatusForbidden, "Identifiant ou code d&#39;activation incorrect."},
		{"passwords differ", form(pending.Login, pendingCode, "mon-mot-de-passe", "mon-mot-de-pass"), http.StatusBadRequest, "ne sont pas identiques"},
		{"short password", form(pending.Login, pendingCode, "court", "court"), http.StatusBadRequest, "au moins 8 caractères"},
	}
	for _, r := range refusals {
		code, _, page := b.post("/activation", r.form)
		if code != r.code || !strings.Contains(page, r.want) {
			t.Errorf("%s: POST /activation = %d, want %d with %q", r.name, code, r.code, r.want)
		}
		if !strings.Contains(page, `value="`+html.EscapeString(r.form.Get("login"))+`"`) {
			t.Errorf("%s: the form lost the login", r.name)
		}
	}
	if code, _, _ := b.post("/connexion", url.Values{"login": {pending.Login}, "password": {"mon-mot-de-passe"}}); code != http.StatusUnauthorized {
		t.Errorf("login before activation = %d, want 401", code)
	}

	code, h, _ := b.post("/activation", form(pending.Login, "abcd efgh jklm", "mon-mot-de-passe", "mon-mot-de-passe"))
	if code != http.StatusSeeOther || !strings.Contains(h.Get("Set-Cookie"), "atrium_session=") {
		t.Fatalf("activation = %d to %q, cookie %q; want 303 with a session", code, h.Get("Location"), h.Get("Set-Cookie"))
	}
	code, page = b.get(h.Get("Location"))
	if code != http.StatusOK || !strings.Contains(page, "Votre compte est activé et vous êtes connecté.") || !strings.Contains(page, "Hugo Nouveau") {
		t.Errorf("page after activation (%d) lacks the confirmation", code)
	}

	// The code is used up; the new password opens a session.
	other := e.browser(t)
	if code, _, _ := other.post("/activation", form(pending.Login, pendingCode, "un-autre-mot", "un-autre-mot")); code != http.StatusForbidden {
		t.Errorf("second activation = %d, want 403", code)
	}
	code, h, _ = other.post("/connexion", url.Values{"login": {pending.Login}, "password": {"mon-mot-de-passe"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Errorf("login with the new password = %d to %q, want 303 to /", code, h.Get("Location"))
	}
	if _, page := other.get("/"); !strings.Contains(page, "Bonjour Hugo Nouveau") {
		t.Error("home page after login lacks the user's name")
	}
}

func TestActivationThrottled(t *testing.T) {
	e := newEnv(t, portal.Config{})
	e.addAccount(t, pending)
	b := e.browser(t)
	var code int
	var h http.Header
	var page string
	for i := 0; i < 10 && code != http.StatusTooManyRequests; i++ {
		code, h, page = b.post("/activation", url.Values{"login": {pending.Login}, "code": {"AAAA-AAAA-AAAA"},
			"password": {"mon-mot-de-passe"}, "password2": {"mon-mot-de-passe"}})
	}
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(page, "réessayez dans") {
		t.Errorf("repeated wrong codes = %d, Retry-After %q; want 429 with the wait", code, h.Get("Retry-After"))
	}
}

func TestActivationAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	e.addAccount(t, pending)
	code, out := apiCall(t, e, "POST", "/api/v1/activation", "", map[string]string{"login": pending.Login, "code": "WRONG-CODE", "password": "mon-mot-de-passe"})
	if code != http.StatusForbidden || out["error"] == nil {
		t.Errorf("API activation with a wrong code = %d %v, want 403 with an error", code, out)
	}
	code, out = apiCall(t, e, "POST", "/api/v1/activation", "", map[string]string{"login": pending.Login, "code": pendingCode, "password": "mon-mot-de-passe"})
	tok, _ := out["token"].(string)
	user, _ := out["user"].(map[string]any)
	if code != http.StatusOK || tok == "" || user["login"] != pending.Login {
		t.Fatalf("API activation = %d %v, want 200 with a token and the user", code, out)
	}
	if code, _ := apiCall(t, e, "GET", "/api/v1/news", tok, nil); code != http.StatusOK {
		t.Errorf("GET /api/v1/news with the activation token = %d, want 200", code)
	}
}

func TestChangePasswordPage(t *testing.T) {
	e := newEnv(t, portal.Config{})
	b := e.browser(t)
	csrf := b.login("lea.martin")
	if _, page := b.get("/"); !strings.Contains(page, `href="/compte"`) || strings.Contains(page, `href="/gestion/comptes"`) {
		t.Error(`a student's navigation: want "Mon compte" and no account management`)
	}
	code, page := b.get("/compte")
	if code != http.StatusOK || !strings.Contains(page, "lea.martin") || !strings.Contains(page, `<label for="old">Mot de passe actuel</label>`) {
		t.Errorf("account page (%d) lacks the login or the form", code)
	}
	old := password(t, "lea.martin")
	for _, r := range []struct {
		old, pw, pw2 string
		code         int
		want         string
	}{
		{"faux", "nouveau-secret", "nouveau-secret", http.StatusForbidden, "Mot de passe actuel incorrect."},
		{old, "nouveau-secret", "nouveau-secreT", http.StatusBadRequest, "ne sont pas identiques"},
		{old, "court", "court", http.StatusBadRequest, "au moins 8 caractères"},
	} {
		code, _, page := b.post("/compte", url.Values{"csrf": {csrf}, "old": {r.old}, "password": {r.pw}, "password2": {r.pw2}})
		if code != r.code || !strings.Contains(page, r.want) {
			t.Errorf("POST /compte (%s, %s) = %d, want %d with %q", r.old, r.pw, code, r.code, r.want)
		}
	}
	if code, _, _ := b.post("/compte", url.Values{"csrf": {"forged"}, "old": {old}, "password": {"nouveau-secret"}, "password2": {"nouveau-secret"}}); code != http.StatusForbidden {
		t.Errorf("POST /compte with a forged token = %d, want 403", code)
	}
	code, h, _ := b.post("/compte", url.Values{"csrf": {csrf}, "old": {old}, "password": {"nouveau-secret"}, "password2": {"nouveau-secret"}})
	if code != http.StatusSeeOther {
		t.Fatalf("password change = %d, want 303", code)
	}
	if _, page := b.get(h.Get("Location")); !strings.Contains(page, "Votre mot de passe a été modifié.") {
		t.Error("no confirmation after the password change")
	}
	other := e.browser(t)
	if code, _, _ := other.post("/connexion", url.Values{"login": {"lea.martin"}, "password": {old}}); code != http.StatusUnauthorized {
		t.Errorf("login with the old password = %d, want 401", code)
	}
	if code, _, _ := other.post("/connexion", url.Values{"login": {"lea.martin"}, "password": {"nouveau-secret"}}); code != http.StatusSeeOther {
		t.Errorf("login with the new password = %d, want 303", code)
	}
}

var codeOnPage = regexp.MustCompile(`class="code-activation">([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})<`)

func TestAdminResetsAnAccount(t *testing.T) {
	e := newEnv(t, portal.Config{})
	e.addAccount(t, pending)
	missing := ent.User{ID: "01890000-0000-7000-8000-0000000000c2", Login: "ancien.eleve", Name: "Ancien Élève", Profile: ent.Student,
		UAI: thiers, Active: true, MissingSince: time.Date(2026, time.March, 2, 12, 0, 0, 0, time.UTC).UnixMilli()}
	e.addAccount(t, missing)
	leaID := e.userID(t, "lea.martin")

	// Lea is logged in before the reset.
	lea := e.browser(t)
	lea.login("lea.martin")
	for _, who := range []string{"lea.martin", "paul.durand"} {
		b := e.browser(t)
		b.login(who)
		if code, page := b.get("/gestion/comptes"); code != http.StatusForbidden || !strings.Contains(page, "réservée à la direction") {
			t.Errorf("%s: GET /gestion/comptes = %d, want 403 with an explanation", who, code)
		}
	}

	admin := e.browser(t)
	csrf := admin.login("nadia.benali")
	if _, page := admin.get("/"); !strings.Contains(page, `<a href="/gestion/comptes">Gestion des comptes</a>`) {
		t.Error("an administrator's navigation lacks account management")
	}
	code, page := admin.get("/gestion/comptes")
	for _, want := range []string{
		`<th scope="row">Léa Martin</th><td>lea.martin</td><td>Élève</td><td>Actif</td>`,
		`<th scope="row">Hugo Nouveau</th><td>hugo.nouveau</td><td>Élève</td><td>En attente d&#39;activation</td>`,
		`<td>Absent de l&#39;annuaire depuis le 02/03/2026</td>`,
		`action="/gestion/comptes/` + leaID + `/reinitialiser"`,
	} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("accounts page (%d) lacks %q", code, want)
		}
	}
	if strings.Contains(page, "ines.rossi") {
		t.Error("the accounts page of Thiers lists a student of Masséna")
	}

	// Masséna's administrator cannot reset a student of Thiers.
	otherAdmin := e.browser(t)
	otherCSRF := otherAdmin.login("julien.faure")
	if code, _, _ := otherAdmin.post("/gestion/comptes/"+leaID+"/reinitialiser", url.Values{"csrf": {otherCSRF}}); code != http.StatusNotFound {
		t.Errorf("reset by another lycée's administrator = %d, want 404", code)
	}
	if code, _, _ := admin.post("/gestion/comptes/"+leaID+"/reinitialiser", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Errorf("reset with a forged token = %d, want 403", code)
	}

	code, _, page = admin.post("/gestion/comptes/"+leaID+"/reinitialiser", url.Values{"csrf": {csrf}})
	m := codeOnPage.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil || !strings.Contains(page, "Identifiant : <strong>lea.martin</strong>") || !strings.Contains(page, "affiché qu'une fois") {
		t.Fatalf("reset page (%d) lacks the login, the code or the warning", code)
	}
	newCode := m[1]

	// Lea's session ends, her old password no longer works, and the
	// accounts page shows her account pending.
	if code, _ := lea.get("/"); code != http.StatusSeeOther {
		t.Errorf("Lea's session after the reset = %d, want 303 to the login page", code)
	}
	if code, _, _ := e.browser(t).post("/connexion", url.Values{"login": {"lea.martin"}, "password": {password(t, "lea.martin")}}); code != http.StatusUnauthorized {
		t.Errorf("login with the old password after the reset = %d, want 401", code)
	}
	if _, page := admin.get("/gestion/comptes"); !strings.Contains(page, `<th scope="row">Léa Martin</th><td>lea.martin</td><td>Élève</td><td>En attente d&#39;activation</td>`) {
		t.Error("the accounts page does not show Lea's account pending")
	}
	// The code shown activates the account.
	b := e.browser(t)
	code, _, _ = b.post("/activation", url.Values{"login": {"lea.martin"}, "code": {newCode}, "password": {"nouveau-depart"}, "password2": {"nouveau-depart"}})
	if code != http.StatusSeeOther {
		t.Errorf("activation with the reset code = %d, want 303", code)
	}
}

func TestActivationLetters(t *testing.T) {
	e := newEnv(t, portal.Config{})
	// The code the import would give: the central nodes share the key.
	central, err := ent.NewService(ent.ServiceConfig{Store: e.store, Origin: record.OriginCentral, SessionKey: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	u := pending
	letter := central.ActivationCode(u.ID)
	u.ActivationHash = ent.ActivationHash(letter)
	e.addAccount(t, u)

	admin := e.browser(t)
	admin.login("nadia.benali")
	code, page := admin.get("/gestion/comptes/lettres")
	if code != http.StatusOK || !strings.Contains(page, "Identifiant : <strong>hugo.nouveau</strong>") || !strings.Contains(page, letter) {
		t.Errorf("letters page (%d) lacks hugo.nouveau's letter with %s", code, letter)
	}
	if strings.Contains(page, "lea.martin") {
		t.Error("the letters page has a letter for an active account")
	}
	student := e.browser(t)
	student.login("lea.martin")
	if code, page := student.get("/gestion/comptes/lettres"); code != http.StatusForbidden || strings.Contains(page, letter) {
		t.Errorf("a student's GET /gestion/comptes/lettres = %d, want 403 without codes", code)
	}

	// At an edge, the import's codes are unknown: the page says so.
	edge := newEnv(t, portal.Config{Role: "edge", UAI: thiers})
	edgeAdmin := edge.browser(t)
	edgeAdmin.login("nadia.benali")
	if code, page := edgeAdmin.get("/gestion/comptes/lettres"); code != http.StatusOK || !strings.Contains(page, "ne peut pas imprimer les lettres") {
		t.Errorf("letters page at an edge (%d) does not explain why there are none", code)
	}
}
