package regiontest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/node"
	"atrium/record"
)

// blogPost is a post of the blog as the API shows it.
type blogPost struct {
	ID       string `json:"id"`
	Class    string `json:"class"`
	Title    string `json:"title"`
	Count    int    `json:"commentCount"`
	Comments []struct {
		ID   string `json:"id"`
		Body string `json:"body"`
	} `json:"comments"`
}

// liveIDs returns the ids of the live records of kind in lyceeA at c.
func liveIDs(t *testing.T, c *node.Central, kind string) ([]string, error) {
	t.Helper()
	var ids []string
	err := c.Node.View(func(rd record.Reader) error {
		return rd.Scan(lyceeA, kind, func(rec record.Record) error {
			ids = append(ids, rec.ID)
			return nil
		})
	})
	return ids, err
}

// A teacher publishes to a class on the lycée's blog at its edge while its
// link is cut, the class and a parent comment there, the teacher removes a
// comment and a draft; once the link returns central holds the post and
// the remaining comment exactly once, and the parent reads them there.
func TestBlogOfflineEdgeReachesCentralOnce(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	paul := login(t, edge.URL(), byLogin(t, r, "paul.durand"))
	var post, draft blogPost
	in := map[string]string{"class": "1B", "title": "Sortie au musée", "body": "Rendez-vous à 8 h."}
	if code := homeworkCall(t, paul, http.MethodPost, "/api/v1/blog", in, &post); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/blog at the offline edge = %d, want 201", code)
	}
	if code := homeworkCall(t, paul, http.MethodPost, "/api/v1/blog", map[string]string{"title": "Brouillon", "body": "…"}, &draft); code != http.StatusCreated {
		t.Fatalf("POST draft at the offline edge = %d, want 201", code)
	}
	if code := homeworkCall(t, paul, http.MethodDelete, "/api/v1/blog/"+draft.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE draft at the offline edge = %d, want 204", code)
	}
	lea := login(t, edge.URL(), byLogin(t, r, "lea.martin"))
	var leaComment struct{ ID string }
	if code := homeworkCall(t, lea, http.MethodPost, "/api/v1/blog/"+post.ID+"/comments", map[string]string{"body": "J'ai hâte"}, &leaComment); code != http.StatusCreated {
		t.Fatalf("student comments at the offline edge = %d, want 201", code)
	}
	sophie := login(t, edge.URL(), byLogin(t, r, "sophie.martin"))
	if code := homeworkCall(t, sophie, http.MethodPost, "/api/v1/blog/"+post.ID+"/comments", map[string]string{"body": "Merci"}, nil); code != http.StatusCreated {
		t.Fatalf("parent comments at the offline edge = %d, want 201", code)
	}
	if code := homeworkCall(t, paul, http.MethodDelete, "/api/v1/blog/"+post.ID+"/comments/"+leaComment.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("author deletes a comment at the offline edge = %d, want 204", code)
	}
	hugo := login(t, edge.URL(), byLogin(t, r, "hugo.bernard"))
	if code := homeworkCall(t, hugo, http.MethodGet, "/api/v1/blog/"+post.ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("hugo.bernard (2C) reads the 1B post at the edge = %d, want 404", code)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	for i := range 3 {
		c := r.Central(i)
		sophieC := login(t, c.URL(), byLogin(t, r, "sophie.martin"))
		regiontest.Eventually(t, 10*time.Second, func() error {
			var got blogPost
			if code := homeworkCall(t, sophieC, http.MethodGet, "/api/v1/blog/"+post.ID, nil, &got); code != http.StatusOK {
				return fmt.Errorf("%s: GET the post as sophie.martin = %d", c.Name(), code)
			}
			if got.Title != "Sortie au musée" || len(got.Comments) != 1 || got.Comments[0].Body != "Merci" {
				return fmt.Errorf("%s: sophie.martin reads %+v, want the post with the parent's comment only", c.Name(), got)
			}
			return nil
		})
		posts, err := liveIDs(t, c, ent.KindBlogPost)
		if err != nil || len(posts) != 1 || posts[0] != post.ID {
			t.Errorf("%s: live blog posts = %v, %v; want [%s]", c.Name(), posts, err, post.ID)
		}
		comments, err := liveIDs(t, c, ent.KindBlogComment)
		if err != nil || len(comments) != 1 {
			t.Errorf("%s: live blog comments = %v, %v; want one", c.Name(), comments, err)
		}
	}
}
