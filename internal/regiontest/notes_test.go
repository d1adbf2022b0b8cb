package regiontest_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
)

// apiSheet is an evaluation as GET /api/v1/evaluations/{id} shows it.
type apiSheet struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Grades []struct {
		Student     string `json:"student"`
		StudentName string `json:"studentName"`
		Value       string `json:"value"`
	} `json:"grades"`
}

// values returns the sheet's grades by student name.
func (s apiSheet) values() map[string]string {
	out := map[string]string{}
	for _, g := range s.Grades {
		out[g.StudentName] = g.Value
	}
	return out
}

func getSheet(t *testing.T, u *regiontest.User, id string) (apiSheet, error) {
	var s apiSheet
	if code, msg := ticketCall(t, u, http.MethodGet, "/api/v1/evaluations/"+id, nil, &s); code != http.StatusOK {
		return s, fmt.Errorf("GET evaluation %s as %s at %s = %d %s", id, u.Login, u.Base, code, msg)
	}
	return s, nil
}

// The notes work at a lycée's edge cut off from the region: an evaluation
// created there and the grades entered there reach central once; a grade
// entered on both sides of the cut from the same base is not silently
// overwritten: central keeps the first it executed and refuses the other
// with a notice to the teacher. Léa never reads Tom's grade, at either end.
func TestNotesAtAnOfflineEdge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)
	cbase, ebase := r.AnyCentral().URL(), edge.URL()
	paulC, paulE := login(t, cbase, byLogin(t, r, "paul.durand")), login(t, ebase, byLogin(t, r, "paul.durand"))
	leaC, leaE := login(t, cbase, byLogin(t, r, "lea.martin")), login(t, ebase, byLogin(t, r, "lea.martin"))

	eval := map[string]any{"class": "1B", "subject": "Mathématiques", "title": "Suites", "date": "2026-01-05", "outOf": 20, "coefficient": 2}
	var e1 apiSheet
	if code, msg := ticketCall(t, paulC, http.MethodPost, "/api/v1/evaluations", eval, &e1); code != http.StatusCreated {
		t.Fatalf("create an evaluation at central = %d %s", code, msg)
	}
	var sheet apiSheet
	regiontest.Eventually(t, 20*time.Second, func() (err error) { sheet, err = getSheet(t, paulE, e1.ID); return err })
	ids := map[string]string{}
	for _, g := range sheet.Grades {
		ids[g.StudentName] = g.Student
	}
	if ids["Léa Martin"] == "" || ids["Tom Garcia"] == "" {
		t.Fatalf("students of 1B at the edge = %v, want Léa and Tom", ids)
	}
	grade := func(u *regiontest.User, eval, student, base, value string) {
		t.Helper()
		in := map[string]string{"evaluation": eval, "student": ids[student], "base": base, "value": value}
		if code, msg := ticketCall(t, u, http.MethodPost, "/api/v1/grades", in, nil); code != http.StatusOK {
			t.Fatalf("grade %s %s at %s = %d %s", student, value, u.Base, code, msg)
		}
	}

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	// At the offline edge: Léa 15, Tom absent, and a new evaluation graded.
	grade(paulE, e1.ID, "Léa Martin", "", "15")
	grade(paulE, e1.ID, "Tom Garcia", "", "abs")
	eval["title"] = "Interrogation"
	var e2 apiSheet
	if code, msg := ticketCall(t, paulE, http.MethodPost, "/api/v1/evaluations", eval, &e2); code != http.StatusCreated {
		t.Fatalf("create an evaluation at the offline edge = %d %s", code, msg)
	}
	grade(paulE, e2.ID, "Léa Martin", "", "18,5")
	if s, err := getSheet(t, leaE, e1.ID); err != nil || !maps.Equal(s.values(), map[string]string{"Léa Martin": "15"}) {
		t.Errorf("Léa's sheet at the offline edge = %v, %v; want her 15 only", s.values(), err)
	}
	// Meanwhile at central: Léa 11, from no grade either.
	grade(paulC, e1.ID, "Léa Martin", "", "11")

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	// Central kept its own grade for Léa, took Tom's and the new
	// evaluation once.
	s1, err := getSheet(t, paulC, e1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"Léa Martin": "11", "Tom Garcia": "abs"}; !maps.Equal(s1.values(), want) {
		t.Errorf("grades at central = %v, want %v", s1.values(), want)
	}
	var list []apiSheet
	if code, msg := ticketCall(t, paulC, http.MethodGet, "/api/v1/evaluations", nil, &list); code != http.StatusOK {
		t.Fatalf("evaluations at central = %d %s", code, msg)
	}
	n := 0
	for _, e := range list {
		if e.Title == "Interrogation" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("evaluations « Interrogation » at central = %d, want 1", n)
	}
	if s, err := getSheet(t, leaC, e2.ID); err != nil || !maps.Equal(s.values(), map[string]string{"Léa Martin": "18.5"}) {
		t.Errorf("Léa's sheet of the edge's evaluation at central = %v, %v; want her 18.5 only", s.values(), err)
	}
	// The edge converges on central's grade.
	regiontest.Eventually(t, 20*time.Second, func() error {
		s, err := getSheet(t, leaE, e1.ID)
		if err != nil {
			return err
		}
		if !maps.Equal(s.values(), map[string]string{"Léa Martin": "11"}) {
			return fmt.Errorf("Léa's sheet at the edge = %v, want her 11 only", s.values())
		}
		return nil
	})
	// The edge's refused entry is a notice that says why.
	regiontest.Eventually(t, 10*time.Second, func() error {
		notices, err := refusalNotices(r, lyceeA, ent.OpGradeSet, false)
		if err != nil {
			return err
		}
		want := "conflict La note de Léa Martin a changé entre-temps : elle est maintenant « 11 » (vous partiez de aucune note). Votre saisie n'a pas été appliquée : vérifiez la note et saisissez-la de nouveau si besoin."
		if !slices.Contains(notices, want) {
			return fmt.Errorf("notices of refused grades = %q, want %q", notices, want)
		}
		return nil
	})
	// Nothing of the refused grade is left pending at the edge.
	edgeSettled(t, r, lyceeA)
}
