package regiontest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// forumTopicView is a topic of the forum as the API shows it.
type forumTopicView struct {
	Topic struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"topic"`
	Posts []struct {
		ID     string `json:"id"`
		Body   string `json:"body"`
		Hidden bool   `json:"hidden"`
	} `json:"posts"`
}

// A class's forum is created, a topic opened, replies written and one of
// them hidden at the lycée's edge while its link is cut; the class reads
// it there at once, and once the link returns every central node holds the
// discussion exactly once, the hidden reply still hidden.
func TestForumOfflineEdgeReachesCentralOnce(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	paul := login(t, edge.URL(), byLogin(t, r, "paul.durand"))
	lea := login(t, edge.URL(), byLogin(t, r, "lea.martin"))
	nadia := login(t, edge.URL(), byLogin(t, r, "nadia.benali"))
	var forum struct {
		ID string `json:"id"`
	}
	if code := homeworkCall(t, paul, http.MethodPost, "/api/v1/forums", map[string]string{"title": "Forum de la 1B", "audience": "classe", "class": "1B"}, &forum); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/forums at the offline edge = %d, want 201", code)
	}
	base := "/api/v1/forums/" + forum.ID
	var topic struct {
		ID string `json:"id"`
	}
	if code := homeworkCall(t, lea, http.MethodPost, base+"/topics", map[string]string{"title": "Exposé", "body": "Qui travaille avec moi ?"}, &topic); code != http.StatusCreated {
		t.Fatalf("POST topic at the offline edge = %d, want 201", code)
	}
	var replies []string
	for _, w := range []struct {
		u    *regiontest.User
		body string
	}{{paul, "Par deux."}, {lea, "Hors sujet"}} {
		var post struct {
			ID string `json:"id"`
		}
		if code := homeworkCall(t, w.u, http.MethodPost, base+"/topics/"+topic.ID+"/posts", map[string]string{"body": w.body}, &post); code != http.StatusCreated {
			t.Fatalf("POST reply by %s at the offline edge = %d, want 201", w.u.Login, code)
		}
		replies = append(replies, post.ID)
	}
	if code := homeworkCall(t, nadia, http.MethodPost, base+"/topics/"+topic.ID+"/posts/"+replies[1]+"/hide", nil, nil); code != http.StatusNoContent {
		t.Fatalf("hide at the offline edge = %d, want 204", code)
	}

	// check reads the topic as u and compares it with what was written.
	check := func(u *regiontest.User) error {
		var v forumTopicView
		if code := homeworkCall(t, u, http.MethodGet, base+"/topics/"+topic.ID, nil, &v); code != http.StatusOK {
			return fmt.Errorf("GET %s topic as %s = %d, want 200", u.Base, u.Login, code)
		}
		if v.Topic.Title != "Exposé" || len(v.Posts) != 2 || v.Posts[0].Body != "Par deux." || v.Posts[1].Body != "" || !v.Posts[1].Hidden {
			return fmt.Errorf("%s reads %+v at %s, want Exposé with two replies, the second hidden", u.Login, v, u.Base)
		}
		return nil
	}
	if err := check(login(t, edge.URL(), byLogin(t, r, "tom.garcia"))); err != nil {
		t.Errorf("at the offline edge: %v", err)
	}
	hugo := login(t, edge.URL(), byLogin(t, r, "hugo.bernard"))
	if code := homeworkCall(t, hugo, http.MethodGet, base+"/topics/"+topic.ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("hugo.bernard (2C) reads the 1B topic at the edge = %d, want 404", code)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	for i := range 3 {
		c := r.Central(i)
		tom := login(t, c.URL(), byLogin(t, r, "tom.garcia"))
		regiontest.Eventually(t, 10*time.Second, func() error { return check(tom) })
		// Central holds each item once, under the ids minted at the edge.
		counts := map[string]int{}
		err := c.Node.View(func(rd record.Reader) error {
			for _, kind := range []string{ent.KindForum, ent.KindForumTopic, ent.KindForumPost} {
				if err := rd.Scan(lyceeA, kind, func(rec record.Record) error {
					counts[kind]++
					return nil
				}); err != nil {
					return err
				}
			}
			return nil
		})
		want := map[string]int{ent.KindForum: 1, ent.KindForumTopic: 1, ent.KindForumPost: 2}
		if err != nil || fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Errorf("%s: forum records = %v, %v; want %v", c.Name(), counts, err, want)
		}
	}
}
