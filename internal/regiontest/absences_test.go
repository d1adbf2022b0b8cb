package regiontest_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// absenceView is an absence as the API shows it.
type absenceView struct {
	ID      string `json:"id"`
	Student string `json:"student"`
	Status  string `json:"status"`
	Motif   string `json:"motif"`
	Comment string `json:"comment"`
}

func absences(t *testing.T, u *regiontest.User) ([]absenceView, error) {
	t.Helper()
	var list []absenceView
	if code := homeworkCall(t, u, http.MethodGet, "/api/v1/absences", nil, &list); code != http.StatusOK {
		return nil, fmt.Errorf("GET %s/api/v1/absences as %s = %d", u.Base, u.Login, code)
	}
	return list, nil
}

// The CPE records Léa's absence at central; the link of her lycée is cut.
// At the edge her mother justifies it and her teacher records a lateness;
// at central, meanwhile, the CPE sets its status. Once the link returns,
// every central node holds the justification and the status side by side
// (neither write erased the other) and the lateness exactly once.
func TestAbsencesOfflineEdgeReachesCentralOnce(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge, c0 := r.Edge(lyceeA), r.Central(0)
	var leaID string
	if err := c0.Node.View(func(rd record.Reader) error {
		rec, _, err := rd.ByKey(ent.KindUser, "lea.martin")
		leaID = rec.ID
		return err
	}); err != nil || leaID == "" {
		t.Fatalf("lea.martin's id = %q, %v", leaID, err)
	}

	nadia := login(t, c0.URL(), byLogin(t, r, "nadia.benali"))
	var recorded absenceView
	in := map[string]string{"studentId": leaID, "date": "2026-01-05", "start": "08:00", "end": "09:00", "kind": "absence"}
	if code := homeworkCall(t, nadia, http.MethodPost, "/api/v1/absences", in, &recorded); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/absences at central = %d, want 201", code)
	}
	sophie := login(t, edge.URL(), byLogin(t, r, "sophie.martin"))
	regiontest.Eventually(t, 10*time.Second, func() error {
		list, err := absences(t, sophie)
		if err != nil || len(list) != 1 {
			return fmt.Errorf("sophie.martin's absences at the edge = %v, %v; want the recorded one", list, err)
		}
		return nil
	})

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	justification := map[string]string{"motif": "rendez-vous-medical", "comment": "Orthodontiste"}
	if code := homeworkCall(t, sophie, http.MethodPost, "/api/v1/absences/"+recorded.ID+"/justification", justification, nil); code != http.StatusOK {
		t.Fatalf("POST justification at the offline edge = %d, want 200", code)
	}
	paul := login(t, edge.URL(), byLogin(t, r, "paul.durand"))
	var late absenceView
	in = map[string]string{"studentId": leaID, "date": "2026-01-06", "start": "10:00", "end": "10:10", "kind": "retard"}
	if code := homeworkCall(t, paul, http.MethodPost, "/api/v1/absences", in, &late); code != http.StatusCreated {
		t.Fatalf("POST lateness at the offline edge = %d, want 201", code)
	}
	if code := homeworkCall(t, nadia, http.MethodPost, "/api/v1/absences/"+recorded.ID+"/status", map[string]string{"status": "justifiee"}, nil); code != http.StatusOK {
		t.Fatalf("POST status at central during the cut = %d, want 200", code)
	}
	// Léa reads both at school at once; Hugo (2C) reads none.
	lea := login(t, edge.URL(), byLogin(t, r, "lea.martin"))
	if list, err := absences(t, lea); err != nil || len(list) != 2 {
		t.Errorf("lea.martin's absences at the offline edge = %v, %v; want 2", list, err)
	}
	hugo := login(t, edge.URL(), byLogin(t, r, "hugo.bernard"))
	if list, err := absences(t, hugo); err != nil || len(list) != 0 {
		t.Errorf("hugo.bernard reads %v, %v at the edge; want nothing", list, err)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	want := map[string]absenceView{
		recorded.ID: {ID: recorded.ID, Student: "Léa Martin", Status: "justifiee", Motif: "rendez-vous-medical", Comment: "Orthodontiste"},
		late.ID:     {ID: late.ID, Student: "Léa Martin", Status: "a-justifier"},
	}
	check := func(u *regiontest.User, where string) {
		regiontest.Eventually(t, 10*time.Second, func() error {
			list, err := absences(t, u)
			if err != nil {
				return err
			}
			if len(list) != len(want) {
				return fmt.Errorf("%s: %s reads %d absences, want %d", where, u.Login, len(list), len(want))
			}
			for _, a := range list {
				if a != want[a.ID] {
					return fmt.Errorf("%s: %s reads %+v, want %+v", where, u.Login, a, want[a.ID])
				}
			}
			return nil
		})
	}
	for i := range 3 {
		c := r.Central(i)
		check(login(t, c.URL(), byLogin(t, r, "sophie.martin")), c.Name())
		var live []string
		err := c.Node.View(func(rd record.Reader) error {
			return rd.Scan(lyceeA, ent.KindAbsence, func(rec record.Record) error {
				live = append(live, rec.ID)
				return nil
			})
		})
		slices.Sort(live)
		wantIDs := []string{recorded.ID, late.ID}
		slices.Sort(wantIDs)
		if err != nil || !slices.Equal(live, wantIDs) {
			t.Errorf("%s: absence records = %v, %v; want %v", c.Name(), live, err, wantIDs)
		}
	}
	// The edge converges too: the status set at central reaches it.
	check(sophie, "edge")
}
