package portal_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/ent/uai"
	"atrium/portal"
	"atrium/record"
)

// proposal is a proposal as a client of /api/v1/proposals reads it.
type proposal struct {
	ID     string `json:"id"`
	UAI    string `json:"uai"`
	Target struct {
		Kind, ID, Title string
		Version         uint64
	} `json:"target"`
	Proposed  map[string]string `json:"proposed"`
	Status    string            `json:"status"`
	Reason    string            `json:"reason"`
	DecidedBy string            `json:"decidedBy"`
	Decided   string            `json:"decided"`
	Author    string            `json:"author"`
	Made      string            `json:"made"`
	// Région staff's list.
	Lycee   string            `json:"lycee"`
	Current map[string]string `json:"current"`
	Changed bool              `json:"changed"`
	Retired bool              `json:"retired"`
}

// jsonCall sends body (nil: none) with contentType to path with token and
// decodes a 2xx answer into out (when not nil); it returns the status and
// the error message of a refusal.
func jsonCall(t *testing.T, e *env, method, path, token, contentType, body string, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var refusal struct{ Error string }
		if err := json.Unmarshal(b, &refusal); err != nil || refusal.Error == "" {
			t.Errorf("%s %s = %d %s, want {\"error\": …}", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode, refusal.Error
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, ""
}

// post sends v as JSON.
func postJSON(t *testing.T, e *env, path, token string, v any, out any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(v)
	return jsonCall(t, e, "POST", path, token, "application/json", string(b), out)
}

// regionContent publishes, as the Région agent token, a region resource
// and a region news item; it returns their ids.
func regionContent(t *testing.T, e *env, token string) (res, news string) {
	t.Helper()
	var it struct{ ID string }
	if code, msg := postJSON(t, e, "/api/v1/catalogue", token, map[string]string{"title": "Annales du bac", "description": "Sujets.",
		"discipline": "Mathématiques", "level": "terminale", "link": "https://example.org/annales"}, &it); code != http.StatusCreated {
		t.Fatalf("Région agent publishes a resource = %d %s", code, msg)
	}
	res = it.ID
	if code, msg := postJSON(t, e, "/api/v1/news", token, map[string]any{"title": "Rentrée", "body": "Le 1er septembre.", "region": true}, &it); code != http.StatusCreated {
		t.Fatalf("Région agent publishes news = %d %s", code, msg)
	}
	return res, it.ID
}

// proposalsLink is the navigation's link to the lycées' proposals as a
// Région agent sees it on a page.
func proposalsLink(t *testing.T, b *browser) string {
	t.Helper()
	code, page := b.get("/actualites")
	if code != http.StatusOK {
		t.Fatalf("GET /actualites = %d", code)
	}
	nav := navBlock.FindString(page)
	i := strings.Index(nav, `<a href="/region/propositions">`)
	if i < 0 {
		return ""
	}
	link := nav[i:]
	return link[:strings.Index(link, "</a>")+len("</a>")]
}

func catalogueFields(title, description string) map[string]string {
	return map[string]string{"title": title, "description": description, "discipline": "Mathématiques", "level": "terminale"}
}

// TestProposalAPI walks proposals through the JSON API: a teacher and a
// staff member propose corrections of a region resource and news item,
// list their own; the Région agent lists the pending ones with the
// resource changed since, applies one and discards the others, while the
// navigation's count goes 2, 1, none.
func TestProposalAPI(t *testing.T) {
	var offline atomic.Bool
	e := newDraftEnv(t, &offline)
	anne := apiLogin(t, e, "anne.lefebvre")
	res, news := regionContent(t, e, anne)
	anneWeb := e.browser(t)
	anneWeb.login("anne.lefebvre")
	if got, want := proposalsLink(t, anneWeb), `<a href="/region/propositions">Propositions des lycées</a>`; got != want {
		t.Errorf("navigation of the Région agent with no proposal = %q, want %q", got, want)
	}

	paul := apiLogin(t, e, "paul.durand")
	var p1 proposal
	code, msg := postJSON(t, e, "/api/v1/proposals", paul, map[string]any{"target": map[string]string{"kind": "catalogue", "id": res},
		"proposed": catalogueFields("Annales du bac 2025", "Sujets et corrigés.")}, &p1)
	if code != http.StatusCreated {
		t.Fatalf("teacher proposes by API = %d %s, want 201", code, msg)
	}
	if p1.Status != ent.DraftPending || p1.Target.Kind != "catalogue" || p1.Target.ID != res || p1.Target.Title != "Annales du bac" ||
		p1.Proposed["title"] != "Annales du bac 2025" || p1.Proposed["description"] != "Sujets et corrigés." || p1.Author != "Paul Durand" ||
		p1.Made == "" || p1.UAI == "" || p1.Target.Version == 0 {
		t.Errorf("POST /api/v1/proposals = %+v, want Paul's pending proposal for « Annales du bac »", p1)
	}
	nadia := apiLogin(t, e, "nadia.benali")
	var p2 proposal
	if code, msg := postJSON(t, e, "/api/v1/proposals", nadia, map[string]any{"target": map[string]string{"kind": "news", "id": news},
		"proposed": map[string]string{"title": "Rentrée 2026", "body": "Le mardi 1er septembre."}}, &p2); code != http.StatusCreated {
		t.Fatalf("staff member proposes news by API = %d %s, want 201", code, msg)
	}

	var mine []proposal
	if code, _ := jsonCall(t, e, "GET", "/api/v1/proposals", paul, "", "", &mine); code != http.StatusOK || len(mine) != 1 || mine[0].ID != p1.ID ||
		mine[0].Status != ent.DraftPending || mine[0].Proposed["title"] != "Annales du bac 2025" {
		t.Errorf("GET /api/v1/proposals of the teacher = %d %+v, want his one pending proposal", code, mine)
	}
	if got, want := proposalsLink(t, anneWeb), `<a href="/region/propositions">Propositions (2)</a>`; got != want {
		t.Errorf("navigation of the Région agent with two proposals = %q, want %q", got, want)
	}

	// The resource changes after Paul saw it.
	if code, msg := jsonCall(t, e, "PUT", "/api/v1/catalogue/"+res, anne, "application/json",
		`{"title": "Annales du bac", "description": "Sujets (session 2025).", "discipline": "Mathématiques", "level": "terminale"}`, nil); code != http.StatusOK {
		t.Fatalf("Région agent edits the resource = %d %s", code, msg)
	}
	var pending []proposal
	code, msg = jsonCall(t, e, "GET", "/api/v1/region/proposals", anne, "", "", &pending)
	if code != http.StatusOK || len(pending) != 2 {
		t.Fatalf("GET /api/v1/region/proposals = %d %s %+v, want the 2 proposals", code, msg, pending)
	}
	if got := pending[0]; got.ID != p1.ID || !got.Changed || got.Retired || got.Current["description"] != "Sujets (session 2025)." ||
		got.Current["link"] != "https://example.org/annales" || got.Proposed["description"] != "Sujets et corrigés." || got.Author != "Paul Durand" || got.Lycee == "" {
		t.Errorf("first pending proposal = %+v, want Paul's, changed since, current beside proposed", got)
	}
	if got := pending[1]; got.ID != p2.ID || got.Changed || got.Current["title"] != "Rentrée" || got.Proposed["title"] != "Rentrée 2026" {
		t.Errorf("second pending proposal = %+v, want Nadia's news, unchanged since", got)
	}
	if code, _ := jsonCall(t, e, "GET", "/api/v1/region/proposals", paul, "", "", nil); code != http.StatusForbidden {
		t.Errorf("GET /api/v1/region/proposals by a teacher = %d, want 403", code)
	}

	decide := func(p proposal, op string) string { return "/api/v1/region/proposals/" + p.UAI + "/" + p.ID + "/" + op }
	if code, _ := postJSON(t, e, decide(p1, "apply"), paul, struct{}{}, nil); code != http.StatusForbidden {
		t.Errorf("teacher applies by API = %d, want 403", code)
	}
	var done proposal
	if code, msg := postJSON(t, e, decide(p1, "apply"), anne, struct{}{}, &done); code != http.StatusOK ||
		done.Status != ent.DraftApplied || done.DecidedBy != "Anne Lefebvre" || done.Decided == "" {
		t.Fatalf("apply by API = %d %s %+v, want 200 and the proposal applied", code, msg, done)
	}
	done = proposal{}
	if code, msg := postJSON(t, e, decide(p1, "apply"), anne, struct{}{}, &done); code != http.StatusOK || done.Status != ent.DraftApplied || done.Changed {
		t.Errorf("applying it again = %d %s %+v, want 200, the proposal applied (a no-op)", code, msg, done)
	}
	var it struct{ Title, Description string }
	if jsonCall(t, e, "GET", "/api/v1/catalogue/"+res, paul, "", "", &it); it.Title != "Annales du bac 2025" || it.Description != "Sujets et corrigés." {
		t.Errorf("resource after the proposal was applied = %+v", it)
	}
	if got, want := proposalsLink(t, anneWeb), `<a href="/region/propositions">Propositions (1)</a>`; got != want {
		t.Errorf("navigation after one decision = %q, want %q", got, want)
	}
	if code, msg := postJSON(t, e, decide(p1, "discard"), anne, map[string]string{"reason": "Trop tard."}, nil); code != http.StatusConflict ||
		msg != "Cette proposition a déjà été appliquée." {
		t.Errorf("discarding an applied proposal = %d %q, want 409", code, msg)
	}
	if code, _ := postJSON(t, e, decide(p2, "discard"), anne, map[string]string{"reason": strings.Repeat("x", 1001)}, nil); code != http.StatusBadRequest {
		t.Errorf("discard with a reason too long = %d, want 400", code)
	}
	done = proposal{}
	if code, msg := postJSON(t, e, decide(p2, "discard"), anne, map[string]string{"reason": "La date est la bonne."}, &done); code != http.StatusOK ||
		done.Status != ent.DraftDiscarded || done.Reason != "La date est la bonne." {
		t.Fatalf("discard by API = %d %s %+v, want 200 and the proposal discarded with its reason", code, msg, done)
	}
	if got, want := proposalsLink(t, anneWeb), `<a href="/region/propositions">Propositions des lycées</a>`; got != want {
		t.Errorf("navigation after both decisions = %q, want %q", got, want)
	}
	pending = nil
	if code, _ := jsonCall(t, e, "GET", "/api/v1/region/proposals", anne, "", "", &pending); code != http.StatusOK || len(pending) != 0 {
		t.Errorf("GET /api/v1/region/proposals after the decisions = %d %+v, want []", code, pending)
	}
	if code, msg := postJSON(t, e, decide(p2, "apply"), anne, struct{}{}, nil); code != http.StatusConflict || msg != "Cette proposition a déjà été écartée." {
		t.Errorf("applying a discarded proposal = %d %q, want 409", code, msg)
	}
	if code, _ := postJSON(t, e, "/api/v1/region/proposals/"+p2.UAI+"/"+record.NewID()+"/apply", anne, struct{}{}, nil); code != http.StatusNotFound {
		t.Errorf("applying an unknown proposal = %d, want 404", code)
	}

	// The reason is optional, as on the page.
	var p3 proposal
	if code, msg := postJSON(t, e, "/api/v1/proposals", paul, map[string]any{"target": map[string]string{"kind": "news", "id": news},
		"proposed": map[string]string{"title": "Rentrée des classes", "body": "Le 1er septembre."}}, &p3); code != http.StatusCreated {
		t.Fatalf("second proposal = %d %s", code, msg)
	}
	done = proposal{}
	if code, msg := postJSON(t, e, decide(p3, "discard"), anne, struct{}{}, &done); code != http.StatusOK || done.Status != ent.DraftDiscarded || done.Reason != "" {
		t.Errorf("discard without a reason = %d %s %+v, want 200", code, msg, done)
	}
	mine = nil
	if code, _ := jsonCall(t, e, "GET", "/api/v1/proposals", paul, "", "", &mine); code != http.StatusOK || len(mine) != 2 ||
		mine[0].Status != ent.DraftDiscarded || mine[1].Status != ent.DraftApplied {
		t.Errorf("GET /api/v1/proposals after the decisions = %d %+v, want the discarded one then the applied one", code, mine)
	}

	// A resource retired since: the proposal can only be discarded.
	var p4 proposal
	if code, msg := postJSON(t, e, "/api/v1/proposals", paul, map[string]any{"target": map[string]string{"kind": "catalogue", "id": res},
		"proposed": catalogueFields("Annales", "Sujets et corrigés.")}, &p4); code != http.StatusCreated {
		t.Fatalf("proposal before the retirement = %d %s", code, msg)
	}
	if code, msg := jsonCall(t, e, "DELETE", "/api/v1/catalogue/"+res, anne, "", "", nil); code != http.StatusNoContent {
		t.Fatalf("Région agent retires the resource = %d %s", code, msg)
	}
	pending = nil
	if code, _ := jsonCall(t, e, "GET", "/api/v1/region/proposals", anne, "", "", &pending); code != http.StatusOK || len(pending) != 1 ||
		!pending[0].Retired || pending[0].Current != nil || pending[0].Changed {
		t.Errorf("GET /api/v1/region/proposals after the retirement = %d %+v, want the proposal retired, current null", code, pending)
	}
	if code, msg := postJSON(t, e, decide(p4, "apply"), anne, struct{}{}, nil); code != http.StatusNotFound || !strings.Contains(msg, "Écartez la proposition.") {
		t.Errorf("applying a proposal for a retired resource = %d %q, want 404", code, msg)
	}
	if code, msg := postJSON(t, e, decide(p4, "discard"), anne, struct{}{}, nil); code != http.StatusOK {
		t.Errorf("discarding it = %d %q, want 200", code, msg)
	}
}

// TestProposalAPIRefusals: what the API refuses to store, and the
// refusals' status codes and French messages.
func TestProposalAPIRefusals(t *testing.T) {
	var offline atomic.Bool
	e := newDraftEnv(t, &offline)
	anne := apiLogin(t, e, "anne.lefebvre")
	res, news := regionContent(t, e, anne)
	paul := apiLogin(t, e, "paul.durand")
	target := map[string]string{"kind": "catalogue", "id": res}
	good := catalogueFields("Annales du bac 2025", "Sujets.")
	for _, tc := range []struct {
		name, login, contentType, body string
		code                           int
		msg                            string
	}{
		{"student", "lea.martin", "application/json", "", http.StatusForbidden, "Seuls les enseignants et les personnels d'un lycée proposent une modification"},
		{"relative", "sophie.martin", "application/json", "", http.StatusForbidden, "Seuls les enseignants et les personnels d'un lycée proposent une modification"},
		{"Région agent", "anne.lefebvre", "application/json", "", http.StatusForbidden, "Seuls les enseignants et les personnels d'un lycée proposent une modification"},
		{"not JSON", "paul.durand", "text/plain", "", http.StatusBadRequest, "Content-Type: application/json"},
		{"malformed JSON", "paul.durand", "application/json", `{"target": `, http.StatusBadRequest, "JSON invalide"},
		{"unknown field", "paul.durand", "application/json", `{"target": {"kind": "news", "id": "` + news + `"}, "proposed": {"title": "a", "body": "b"}, "x": 1}`,
			http.StatusBadRequest, "JSON invalide"},
		{"unknown kind", "paul.durand", "application/json", `{"target": {"kind": "forum", "id": "` + res + `"}, "proposed": {"title": "a"}}`,
			http.StatusBadRequest, "Type de contenu inconnu (target.kind)"},
		{"no target", "paul.durand", "application/json", `{"proposed": {"title": "a", "body": "b"}}`, http.StatusBadRequest, "target.id"},
		{"no fields", "paul.durand", "application/json", `{"target": {"kind": "news", "id": "` + news + `"}}`, http.StatusBadRequest, "Indiquez les champs proposés"},
		{"a field of another kind", "paul.durand", "application/json", `{"target": {"kind": "news", "id": "` + news + `"}, "proposed": {"title": "a", "level": "bts"}}`,
			http.StatusBadRequest, "Champs proposés illisibles pour une actualité"},
		{"empty news title", "paul.durand", "application/json", `{"target": {"kind": "news", "id": "` + news + `"}, "proposed": {"title": " ", "body": "b"}}`,
			http.StatusBadRequest, "Le titre et le texte de l'actualité sont obligatoires."},
		{"unknown level", "paul.durand", "application/json", `{"target": {"kind": "catalogue", "id": "` + res + `"}, "proposed": {"title": "a", "discipline": "Maths", "level": "cm2"}}`,
			http.StatusBadRequest, ""},
		{"a link that is not http", "paul.durand", "application/json",
			`{"target": {"kind": "catalogue", "id": "` + res + `"}, "proposed": {"title": "a", "discipline": "Maths", "level": "bts", "link": "ftp://x"}}`, http.StatusBadRequest, ""},
		{"nothing changed", "paul.durand", "application/json",
			`{"target": {"kind": "catalogue", "id": "` + res + `"}, "proposed": {"title": "Annales du bac", "description": "Sujets.", "discipline": "Mathématiques", "level": "terminale"}}`,
			http.StatusBadRequest, "Votre proposition ne change rien"},
		{"unknown target", "paul.durand", "application/json", `{"target": {"kind": "news", "id": "` + record.NewID() + `"}, "proposed": {"title": "a", "body": "b"}}`,
			http.StatusNotFound, ""},
		{"a news item named as a resource", "paul.durand", "application/json", `{"target": {"kind": "catalogue", "id": "` + news + `"}, "proposed": {"title": "a", "discipline": "Maths", "level": "bts"}}`,
			http.StatusNotFound, ""},
	} {
		body := tc.body
		if body == "" {
			b, _ := json.Marshal(map[string]any{"target": target, "proposed": good})
			body = string(b)
		}
		token := paul
		if tc.login != "paul.durand" {
			token = apiLogin(t, e, tc.login)
		}
		code, msg := jsonCall(t, e, "POST", "/api/v1/proposals", token, tc.contentType, body, nil)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: POST /api/v1/proposals = %d %q, want %d %q", tc.name, code, msg, tc.code, tc.msg)
		}
		if n := drafts(e.store); n != 0 {
			t.Fatalf("%s: %d proposals stored after a refusal, want 0", tc.name, n)
		}
	}
	var mine []proposal
	if code, _ := jsonCall(t, e, "GET", "/api/v1/proposals", apiLogin(t, e, "lea.martin"), "", "", &mine); code != http.StatusOK || len(mine) != 0 {
		t.Errorf("GET /api/v1/proposals of a student = %d %+v, want []", code, mine)
	}
}

// TestProposalAPIAtEdge: at a lycée's edge cut off (commands of its
// origin), a teacher's proposal is accepted as at central and central's
// list shows it, with its count in the navigation; a Région agent's
// decision at the edge is refused: only central decides.
func TestProposalAPIAtEdge(t *testing.T) {
	var offline atomic.Bool
	central := newDraftEnv(t, &offline)
	res, _ := regionContent(t, central, apiLogin(t, central, "anne.lefebvre"))
	var uai string
	central.store.View(func(r record.Reader) error {
		rec, ok, err := r.ByKey(ent.KindUser, "paul.durand")
		if ok {
			var u struct{ UAI string }
			json.Unmarshal(rec.Body, &u)
			uai = u.UAI
		}
		return err
	})
	svc, err := ent.NewService(ent.ServiceConfig{Store: central.store, Origin: uai, SessionKey: []byte(strings.Repeat("e", 32))})
	if err != nil {
		t.Fatal(err)
	}
	anneWeb := central.browser(t)
	anneWeb.login("anne.lefebvre")
	if got, want := proposalsLink(t, anneWeb), `<a href="/region/propositions">Propositions des lycées</a>`; got != want {
		t.Errorf("navigation of the Région agent with no proposal = %q, want %q", got, want)
	}
	offline.Store(true)
	p, err := portal.New(portal.Config{Service: svc, Role: "edge", UAI: uai, Offline: func() (bool, int) { return offline.Load(), 1 }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	edge := &env{srv: srv, store: central.store}

	var d proposal
	if code, msg := postJSON(t, edge, "/api/v1/proposals", apiLogin(t, edge, "paul.durand"), map[string]any{"target": map[string]string{"kind": "catalogue", "id": res},
		"proposed": catalogueFields("Annales du bac 2025", "Sujets.")}, &d); code != http.StatusCreated || d.Status != ent.DraftPending || d.UAI != uai {
		t.Fatalf("teacher proposes at the edge cut off = %d %s %+v, want 201", code, msg, d)
	}
	// Central's navigation may count it a little later, but its list
	// counts what it shows.
	code, page := anneWeb.get("/region/propositions")
	checkPage(t, "Propositions des lycées after the edge's proposal", code, page, http.StatusOK,
		`<a href="/region/propositions">Propositions (1)</a>`, "Paul Durand")
	anneEdge := apiLogin(t, edge, "anne.lefebvre")
	for _, op := range []string{"apply", "discard"} {
		code, msg := postJSON(t, edge, "/api/v1/region/proposals/"+uai+"/"+d.ID+"/"+op, anneEdge, struct{}{}, nil)
		if code != http.StatusForbidden || !strings.Contains(msg, "au serveur régional") {
			t.Errorf("%s at an edge = %d %q, want 403", op, code, msg)
		}
	}
	var pending []proposal
	if code, _ := jsonCall(t, central, "GET", "/api/v1/region/proposals", apiLogin(t, central, "anne.lefebvre"), "", "", &pending); code != http.StatusOK ||
		len(pending) != 1 || pending[0].ID != d.ID || pending[0].Status != ent.DraftPending {
		t.Errorf("central's list after the edge's refusals = %d %+v, want the proposal still pending", code, pending)
	}
}

// BenchmarkRegionNavCount measures, with lycees partitions of drafts
// proposals each (one of them pending), a page of a Région agent at
// central (GET /compte: its navigation shows "Propositions (n)", the
// count kept for a while by the portal) and what reading the count afresh
// costs (Service.PendingDrafts: every proposal of every lycée; ent keeps
// no count). The store is enttest's in-memory one, whose Scan also walks
// the partition's other records (none here); central's bbolt reads the
// kind's records alone.
func BenchmarkRegionNavCount(b *testing.B) {
	for _, sz := range []struct{ lycees, drafts int }{{0, 0}, {300, 1}, {300, 10}, {300, 100}} {
		b.Run(fmt.Sprintf("lycees=%d/drafts=%d", sz.lycees, sz.drafts), func(b *testing.B) {
			st := enttest.New(ent.Exec)
			cmds, accounts := region()
			for _, c := range cmds {
				if err := st.Submit(b.Context(), c); err != nil {
					b.Fatalf("synthetic %s: %v", c.Op, err)
				}
			}
			parts := pastProposals(b, st, sz.lycees, sz.drafts)
			svc, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: record.OriginCentral, SessionKey: []byte(strings.Repeat("s", 32)),
				Partitions: func() ([]string, error) { return parts, nil }})
			if err != nil {
				b.Fatal(err)
			}
			p, err := portal.New(portal.Config{Service: svc})
			if err != nil {
				b.Fatal(err)
			}
			h := p.Handler()
			var pw string
			for _, a := range accounts {
				if a.Login == "anne.lefebvre" {
					pw = a.Password
				}
			}
			tok, _, err := svc.Login(b.Context(), "anne.lefebvre", pw, ent.Client{IP: "192.0.2.1"})
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/compte", nil)
			req.AddCookie(&http.Cookie{Name: "atrium_session", Value: tok})
			want := "Propositions des lycées</a>"
			if sz.lycees > 0 {
				want = fmt.Sprintf("Propositions (%d)</a>", sz.lycees)
			}
			rec := httptest.NewRecorder()
			if h.ServeHTTP(rec, req); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
				b.Fatalf("GET /compte = %d, want 200 with %q", rec.Code, want)
			}
			b.Run("page", func(b *testing.B) {
				for b.Loop() {
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
			})
			b.Run("count", func(b *testing.B) {
				anne, err := svc.Authenticate(tok)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if ds, err := svc.PendingDrafts(b.Context(), anne); err != nil || len(ds) != sz.lycees {
						b.Fatalf("PendingDrafts = %d proposals, %v; want %d", len(ds), err, sz.lycees)
					}
				}
			})
		})
	}
}

// pastProposals writes, in lycees made-up lycées, drafts proposals of a
// region news item each, the newest pending and the others applied; it
// returns the partitions the store then holds.
func pastProposals(b *testing.B, st *enttest.Store, lycees, drafts int) []string {
	b.Helper()
	parts := []string{record.Region}
	st.Exec = func(tx record.Tx, _ record.Command) error {
		for i := range lycees {
			digits := fmt.Sprintf("09%05d", i)
			p := digits + string(uai.CheckLetter(digits))
			parts = append(parts, p)
			for j := range drafts {
				state := ent.DraftApplied
				if j == drafts-1 {
					state = ent.DraftPending
				}
				body, _ := json.Marshal(map[string]any{"target": "01940000-0000-7000-8000-000000000001", "kind": ent.KindNews, "seen": 1,
					"title": "Rentrée", "news": map[string]string{"title": "Rentrée 2026", "body": "Le mardi 1er septembre."},
					"authorId": "01940000-0000-7000-8000-000000000002", "author": "Paul Durand", "proposed": 1767258000000 + int64(j), "state": state})
				id := fmt.Sprintf("01950000-%04x-7000-8000-%012x", i, j)
				if err := tx.Put(record.Record{Partition: p, ID: id, Kind: ent.KindRegionDraft, Body: body}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	defer func() { st.Exec = ent.Exec }()
	if err := st.Submit(b.Context(), record.Command{Op: "test.drafts"}); err != nil {
		b.Fatal(err)
	}
	return parts
}
