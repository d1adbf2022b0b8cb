package regiontest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// horizonRegion is a region whose central keeps tombstones two seconds
// and purges them every 200 ms, with edges pulling pageSize records at a
// time.
func horizonRegion(t *testing.T, pageSize int) *regiontest.Region {
	return regiontest.Start(t, regiontest.Options{
		TombstoneHorizon: 2 * time.Second, PurgeEvery: 200 * time.Millisecond, EdgePullLimit: pageSize,
	})
}

// awayPastHorizon publishes three posts on lycée A's blog at central and
// lets the edge receive them, cuts the edge off, then, at central, deletes
// two, comments on the third and publishes a fourth while a teacher writes
// a post at the edge; it waits until central purged the deletions'
// tombstones past the edge's checkpoint. It returns the ids of the posts
// deleted and of the comment, and the title of the post written at the
// edge.
func awayPastHorizon(t *testing.T, r *regiontest.Region) (deleted []string, comment, offlineTitle string) {
	t.Helper()
	c := r.AnyCentral()
	edge := r.Edge(lyceeA)
	paulC := login(t, c.URL(), byLogin(t, r, "paul.durand"))
	var posts []blogPost
	for i := range 3 {
		var p blogPost
		in := map[string]string{"class": "1B", "title": fmt.Sprintf("Annonce %d", i+1), "body": "…"}
		if code := homeworkCall(t, paulC, http.MethodPost, "/api/v1/blog", in, &p); code != http.StatusCreated {
			t.Fatalf("POST /api/v1/blog at central = %d, want 201", code)
		}
		posts = append(posts, p)
	}
	regiontest.Eventually(t, 10*time.Second, func() error {
		for _, p := range posts {
			if _, ok := edgeRecord(t, edge.Node.Store(), p.ID); !ok {
				return fmt.Errorf("post %s not at the edge yet", p.ID)
			}
		}
		return nil
	})

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	cp := edge.Node.Store().Checkpoints()[lyceeA]

	for _, p := range posts[:2] {
		if code := homeworkCall(t, paulC, http.MethodDelete, "/api/v1/blog/"+p.ID, nil, nil); code != http.StatusNoContent {
			t.Fatalf("DELETE a post at central = %d, want 204", code)
		}
		deleted = append(deleted, p.ID)
	}
	lea := login(t, c.URL(), byLogin(t, r, "lea.martin"))
	var com struct{ ID string }
	if code := homeworkCall(t, lea, http.MethodPost, "/api/v1/blog/"+posts[2].ID+"/comments", map[string]string{"body": "Noté"}, &com); code != http.StatusCreated {
		t.Fatalf("comment at central = %d, want 201", code)
	}
	if code := homeworkCall(t, paulC, http.MethodPost, "/api/v1/blog", map[string]string{"class": "1B", "title": "Annonce 4", "body": "…"}, nil); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/blog at central = %d, want 201", code)
	}

	offlineTitle = "Écrit au lycée pendant la coupure"
	paulE := login(t, edge.URL(), byLogin(t, r, "paul.durand"))
	if code := homeworkCall(t, paulE, http.MethodPost, "/api/v1/blog", map[string]string{"class": "1B", "title": offlineTitle, "body": "…"}, nil); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/blog at the offline edge = %d, want 201", code)
	}

	// Both tombstones purged (at the node asked), past the edge's
	// checkpoint.
	regiontest.Eventually(t, 20*time.Second, func() error {
		floor, err := c.Node.Floor(lyceeA)
		if err != nil || floor <= cp {
			return fmt.Errorf("central's floor of %s = %d, %v; want it past the edge's checkpoint %d", lyceeA, floor, err, cp)
		}
		for _, id := range deleted {
			if _, ok := edgeRecord(t, c.Node, id); ok {
				return fmt.Errorf("%s still holds the tombstone of %s", c.Name(), id)
			}
		}
		return nil
	})
	return deleted, com.ID, offlineTitle
}

// edgeRecord reads record id of lycée A in s (an edge's store or a
// central node).
func edgeRecord(t *testing.T, s interface {
	View(func(record.Reader) error) error
}, id string) (record.Record, bool) {
	t.Helper()
	var rec record.Record
	var ok bool
	if err := s.View(func(rd record.Reader) error {
		var err error
		rec, ok, err = rd.Get(lyceeA, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rec, ok
}

// converged checks what users and operators would see once the edge is
// back: the posts deleted at central are gone from the edge, the comment
// made at central is there, the post written at the edge is at central
// exactly once, and both ends hold the same records (digests equal at the
// same sequence).
func converged(t *testing.T, r *regiontest.Region, deleted []string, comment, offlineTitle string) {
	t.Helper()
	edge := r.Edge(lyceeA)
	r.WaitSynced(lyceeA)
	edgeSettled(t, r, lyceeA)
	for _, id := range deleted {
		if rec, ok := edgeRecord(t, edge.Node.Store(), id); ok && !rec.Deleted {
			t.Errorf("post %s, deleted at central while the edge was away, is live at the edge", id)
		}
	}
	if _, ok := edgeRecord(t, edge.Node.Store(), comment); !ok {
		t.Errorf("the comment made at central is not at the edge")
	}
	regiontest.Eventually(t, 20*time.Second, func() error {
		n := 0
		err := r.AnyCentral().Node.View(func(rd record.Reader) error {
			return rd.Scan(lyceeA, ent.KindBlogPost, func(rec record.Record) error {
				var p struct{ Title string }
				if json.Unmarshal(rec.Body, &p) == nil && p.Title == offlineTitle {
					n++
				}
				return nil
			})
		})
		if err != nil || n != 1 {
			return fmt.Errorf("posts %q at central = %d, %v; want 1", offlineTitle, n, err)
		}
		return nil
	})
	regiontest.Eventually(t, 30*time.Second, func() error {
		mine, cp, settled, err := edge.Node.Store().Digest(lyceeA)
		if err != nil || !settled {
			return fmt.Errorf("edge digest = %v, settled %v; want a settled one", err, settled)
		}
		theirs, seq, err := r.AnyCentral().Node.Digest(lyceeA)
		if err != nil {
			return err
		}
		if seq != cp || mine != theirs {
			return fmt.Errorf("edge's digest %v at %d, central's %v at %d", mine, cp, theirs, seq)
		}
		return nil
	})
}

// An edge cut off for longer than central's tombstone horizon takes a
// snapshot of its lycée when its link returns, and says so on its status
// API.
func TestHorizonSnapshot(t *testing.T) {
	r := horizonRegion(t, 50)
	deleted, comment, offline := awayPastHorizon(t, r)
	edge := r.Edge(lyceeA)

	r.RestoreWAN(lyceeA)
	regiontest.Eventually(t, 30*time.Second, func() error {
		if st := edge.Node.Status().Snapshots[lyceeA]; st.Completed == 0 {
			return fmt.Errorf("edge's snapshot of %s = %+v, want one swapped in", lyceeA, st)
		}
		return nil
	})
	converged(t, r, deleted, comment, offline)

	resp, err := http.Get(edge.URL() + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		Sync struct {
			Snapshots map[string]struct {
				InProgress bool   `json:"in_progress"`
				Completed  uint64 `json:"completed"`
				Records    uint64 `json:"records"`
			} `json:"snapshots"`
		} `json:"sync"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatalf("decode /api/v1/status: %v", err)
	}
	if s := status.Sync.Snapshots[lyceeA]; s.Completed != 1 || s.InProgress || s.Records == 0 {
		t.Errorf("/api/v1/status sync.snapshots[%s] = %+v, want one completed, none in progress", lyceeA, s)
	}
}

// A snapshot interrupted by a restart of the edge resumes from the
// sequence it had staged.
func TestHorizonSnapshotResumes(t *testing.T) {
	r := horizonRegion(t, 2)
	deleted, comment, offline := awayPastHorizon(t, r)
	edge := r.Edge(lyceeA)

	// A slow link: each page of two records takes a round trip of 80 ms
	// or more, so the test sees the snapshot in progress.
	r.DelayWAN(lyceeA, 40*time.Millisecond)
	r.RestoreWAN(lyceeA)
	var staged uint64
	regiontest.Eventually(t, 30*time.Second, func() error {
		st := edge.Node.Status().Snapshots[lyceeA]
		if st.Completed > 0 {
			t.Fatalf("the snapshot completed before the test could interrupt it: make the pages smaller")
		}
		if !st.InProgress || st.StagedSeq == 0 {
			return fmt.Errorf("edge's snapshot of %s = %+v, want one in progress, some pages staged", lyceeA, st)
		}
		staged = st.StagedSeq
		return nil
	})
	// Cut the link first, so that no later page completes the snapshot
	// before the edge stops.
	r.CutWAN(lyceeA)
	r.StopEdge(lyceeA)
	r.DelayWAN(lyceeA, 0)
	r.RestoreWAN(lyceeA)
	edge = r.RestartEdge(lyceeA)
	regiontest.Eventually(t, 30*time.Second, func() error {
		if st := edge.Node.Status(); st.Snapshots[lyceeA].Completed == 0 {
			return fmt.Errorf("edge's snapshot of %s after the restart = %+v (connected %v, checkpoints %v), want one swapped in",
				lyceeA, st.Snapshots[lyceeA], st.Connected, st.Checkpoints)
		}
		return nil
	})
	if st := edge.Node.Status().Snapshots[lyceeA]; st.ResumedFrom < staged {
		t.Errorf("the snapshot after the restart resumed from %d, want at least %d (staged before the stop)", st.ResumedFrom, staged)
	}
	converged(t, r, deleted, comment, offline)
}
