package portal_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/portal"
	"atrium/record"
)

// leaveNotices writes, as central's state machine does when it refuses
// commands made at an edge, one notice per message for the user login:
// the notice and its id in the user's index. It returns the ids, oldest
// first.
func leaveNotices(t *testing.T, e *env, login string, msgs ...string) []string {
	t.Helper()
	var uai, id string
	e.store.View(func(r record.Reader) error {
		rec, ok, err := r.ByKey(ent.KindUser, login)
		if ok {
			var u struct {
				UAI string `json:"uai"`
			}
			json.Unmarshal(rec.Body, &u)
			uai, id = u.UAI, rec.ID
		}
		return err
	})
	if uai == "" {
		t.Fatalf("no account %s in a lycée", login)
	}
	var ids []string
	var idx record.NoticeIndex
	e.store.Exec = func(tx record.Tx, _ record.Command) error {
		for i, m := range msgs {
			nid := fmt.Sprintf("01940000-%04x-7000-8000-000000000000", i+1)
			body, _ := json.Marshal(record.Notice{User: id, Op: ent.OpMessageSend, Code: "forbidden", Message: m, Seq: uint64(i + 1)})
			if err := tx.Put(record.Record{Partition: uai, ID: nid, Kind: record.KindNotice, Body: body}); err != nil {
				return err
			}
			ids, idx.Notices = append(ids, nid), append(idx.Notices, nid)
		}
		body, _ := json.Marshal(idx)
		return tx.Put(record.Record{Partition: uai, ID: record.NoticeIndexID(uai, id), Kind: record.KindNoticeIndex, Body: body})
	}
	defer func() { e.store.Exec = ent.Exec }()
	if err := e.store.Submit(t.Context(), record.Command{Op: "test.notices"}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestNoticePages: the navigation counts a user's unread notices, /avis
// lists them newest first in French, and "Marquer comme lu" (with the
// CSRF token) lowers the count until the link goes.
func TestNoticePages(t *testing.T) {
	e := newEnv(t, portal.Config{})
	ids := leaveNotices(t, e, "paul.durand", "Premier refus.", "Second refus.")
	paul := e.browser(t)
	csrf := paul.login("paul.durand")

	_, page := paul.get("/")
	if !strings.Contains(page, `<a href="/avis">Avis (2)</a>`) {
		t.Errorf("navigation of paul.durand lacks %q", "Avis (2)")
	}
	code, page := paul.get("/avis")
	page = html.UnescapeString(page)
	first := strings.Index(page, "(messagerie) n'a pas pu être enregistrée par le serveur régional : Second refus.")
	second := strings.Index(page, "Premier refus.")
	if code != http.StatusOK || first < 0 || second < first {
		t.Errorf("/avis (%d) does not list both notices, newest first:\n%s", code, page)
	}
	if n := strings.Count(page, "Marquer comme lu"); n != 2 {
		t.Errorf("/avis has %d \"Marquer comme lu\" forms, want 2", n)
	}

	// Without the CSRF token: refused; someone else's notice: not found.
	if code, _, _ := paul.post("/avis/"+ids[1]+"/lu", nil); code != http.StatusForbidden {
		t.Errorf("mark read without CSRF = %d, want 403", code)
	}
	lea := e.browser(t)
	leaCSRF := lea.login("lea.martin")
	if code, _, _ := lea.post("/avis/"+ids[1]+"/lu", url.Values{"csrf": {leaCSRF}}); code != http.StatusNotFound {
		t.Errorf("lea.martin marks paul.durand's notice read = %d, want 404", code)
	}
	if _, page := lea.get("/"); strings.Contains(page, `href="/avis"`) {
		t.Error("navigation of lea.martin, who has no notice, links to /avis")
	}

	code, h, _ := paul.post("/avis/"+ids[1]+"/lu", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther || h.Get("Location") != "/avis" {
		t.Errorf("mark read = %d to %q, want 303 to /avis", code, h.Get("Location"))
	}
	if _, page := paul.get("/avis"); !strings.Contains(page, `<a href="/avis">Avis (1)</a>`) || strings.Count(page, "Marquer comme lu") != 1 {
		t.Errorf("after reading one, /avis lacks \"Avis (1)\" or still offers to mark both")
	}
	paul.post("/avis/"+ids[0]+"/lu", url.Values{"csrf": {csrf}})
	if _, page := paul.get("/"); strings.Contains(page, `href="/avis"`) {
		t.Error("navigation still links to /avis once every notice is read")
	}
}

// TestNoticeAPI: GET /api/v1/notices and POST /api/v1/notices/{id}/read.
func TestNoticeAPI(t *testing.T) {
	e := newEnv(t, portal.Config{})
	ids := leaveNotices(t, e, "paul.durand", "Refus.")
	tok := apiLogin(t, e, "paul.durand")
	code, out := apiCall(t, e, "GET", "/api/v1/notices", tok, nil)
	list, _ := out["notices"].([]any)
	if code != http.StatusOK || out["unread"] != 1.0 || len(list) != 1 {
		t.Fatalf("GET /api/v1/notices = %d %v, want 1 unread notice", code, out)
	}
	n, _ := list[0].(map[string]any)
	if n["id"] != ids[0] || n["service"] != "Messagerie" || n["read"] != false || !strings.HasSuffix(n["text"].(string), " : Refus.") {
		t.Errorf("notice = %v", n)
	}
	if code, out := apiCall(t, e, "POST", "/api/v1/notices/"+ids[0]+"/read", apiLogin(t, e, "lea.martin"), struct{}{}); code != http.StatusNotFound {
		t.Errorf("another user marks it read = %d %v, want 404", code, out)
	}
	for range 2 { // marking it again changes nothing
		if code, out := apiCall(t, e, "POST", "/api/v1/notices/"+ids[0]+"/read", tok, struct{}{}); code != http.StatusOK || out["unread"] != 0.0 {
			t.Errorf("POST read = %d %v, want 200 and unread 0", code, out)
		}
	}
	if code, out := apiCall(t, e, "GET", "/api/v1/notices", tok, nil); code != http.StatusOK || out["unread"] != 0.0 {
		t.Errorf("GET after read = %d %v, want unread 0", code, out)
	}
}
