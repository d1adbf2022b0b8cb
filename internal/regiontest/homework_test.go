package regiontest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// homeworkEntry is an entry of the cahier de textes as the API shows it.
type homeworkEntry struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	Title string `json:"title"`
	Work  string `json:"work"`
	ToDo  bool   `json:"todo"`
}

// homeworkCall calls the cahier de textes' API as u and decodes the
// response into out (if not nil); it returns the HTTP status.
func homeworkCall(t *testing.T, u *regiontest.User, method, path string, in, out any) int {
	t.Helper()
	var body *bytes.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u.Base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func homeworkTitles(t *testing.T, u *regiontest.User) ([]string, error) {
	t.Helper()
	var list []homeworkEntry
	if code := homeworkCall(t, u, http.MethodGet, "/api/v1/homework", nil, &list); code != http.StatusOK {
		return nil, fmt.Errorf("GET %s/api/v1/homework as %s = %d", u.Base, u.Login, code)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Title)
	}
	return out, nil
}

// A teacher writes, edits and deletes entries of the cahier de textes at
// the lycée's edge while its link is cut; the class reads them there at
// once, and once the link returns central holds the edited entry exactly
// once and not the deleted one.
func TestHomeworkOfflineEdgeReachesCentralOnce(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	paul := login(t, edge.URL(), byLogin(t, r, "paul.durand"))
	today := time.Now().Format("2006-01-02")
	due := time.Now().AddDate(0, 0, 7).Format("2006-01-02")
	entry := map[string]string{"class": "1B", "subject": "Histoire", "date": today, "title": "La Révolution",
		"content": "1789 : les états généraux.", "work": "Lire le dossier documentaire", "due": due}
	var written homeworkEntry
	if code := homeworkCall(t, paul, http.MethodPost, "/api/v1/homework", entry, &written); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/homework at the offline edge = %d, want 201", code)
	}
	entry["title"] = "La Révolution française"
	if code := homeworkCall(t, paul, http.MethodPut, "/api/v1/homework/"+written.ID, entry, nil); code != http.StatusOK {
		t.Fatalf("PUT at the offline edge = %d, want 200", code)
	}
	entry["title"] = "Brouillon"
	var draft homeworkEntry
	if code := homeworkCall(t, paul, http.MethodPost, "/api/v1/homework", entry, &draft); code != http.StatusCreated {
		t.Fatalf("POST draft at the offline edge = %d, want 201", code)
	}
	if code := homeworkCall(t, paul, http.MethodDelete, "/api/v1/homework/"+draft.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE draft at the offline edge = %d, want 204", code)
	}

	// The class reads it at school at once; another class does not.
	lea := login(t, edge.URL(), byLogin(t, r, "lea.martin"))
	if got, err := homeworkTitles(t, lea); err != nil || len(got) != 1 || got[0] != "La Révolution française" {
		t.Errorf("lea.martin's cahier de textes at the offline edge = %q, %v; want the edited entry once", got, err)
	}
	hugo := login(t, edge.URL(), byLogin(t, r, "hugo.bernard"))
	if got, err := homeworkTitles(t, hugo); err != nil || len(got) != 0 {
		t.Errorf("hugo.bernard (2C) reads %q, %v at the edge; want nothing", got, err)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	for i := range 3 {
		c := r.Central(i)
		sophie := login(t, c.URL(), byLogin(t, r, "sophie.martin"))
		regiontest.Eventually(t, 10*time.Second, func() error {
			got, err := homeworkTitles(t, sophie)
			if err != nil {
				return err
			}
			if len(got) != 1 || got[0] != "La Révolution française" {
				return fmt.Errorf("%s: sophie.martin reads %q, want the edited entry once", c.Name(), got)
			}
			return nil
		})
		// Central holds one live entry, under the id minted at the edge.
		var live []string
		err := c.Node.View(func(rd record.Reader) error {
			return rd.Scan(lyceeA, ent.KindHomework, func(rec record.Record) error {
				live = append(live, rec.ID)
				return nil
			})
		})
		if err != nil || len(live) != 1 || live[0] != written.ID {
			t.Errorf("%s: live homework records = %v, %v; want [%s]", c.Name(), live, err, written.ID)
		}
	}
}
