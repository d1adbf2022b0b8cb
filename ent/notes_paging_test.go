package ent_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"atrium/ent"
)

// TestListNotesPage: the pages of ListNotesPage hold, together, the
// evaluations ListEvaluations gives each user and the grades ListGrades
// gives a student or a relative, with or without the index; each page's
// grades are those of its evaluations.
func TestListNotesPage(t *testing.T) {
	svc, st, clk := newService(t)
	ctx := t.Context()
	for _, u := range append(slices.Clone(notesUsers), parentBoth) {
		if err := st.Submit(ctx, userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	for i := range 9 {
		for _, w := range []struct {
			by    ent.User
			class string
		}{{teacherA, "1B"}, {teacher2CA, "2C"}} {
			a := evalArgs("", w.class)
			a.Title, a.Date = fmt.Sprintf("Devoir %d", i), fmt.Sprintf("2026-01-%02d", 5+i%4)
			e, err := svc.CreateEvaluation(ctx, w.by, a)
			if err != nil {
				t.Fatalf("CreateEvaluation: %v", err)
			}
			clk.t = clk.t.Add(time.Second)
			for _, s := range []ent.User{studentA, tomA, student2CA} {
				if i%3 == 2 || !slices.Contains(s.Classes, w.class) {
					continue // some evaluations without grades
				}
				if _, err := svc.SetGrade(ctx, w.by, e.ID, s.ID, "", fmt.Sprintf("%d", 10+i)); err != nil {
					t.Fatalf("SetGrade: %v", err)
				}
			}
		}
	}
	users := append(append(slices.Clone(fixtureUsers), notesUsers...), parentBoth)
	withGrades := 0
	for _, indexed := range []bool{false, true} {
		st.Indexer = nil
		if indexed {
			st.Indexer = ent.IndexTerms
		}
		for _, u := range users {
			evals, err := svc.ListEvaluations(ctx, u, "")
			if err != nil {
				t.Fatal(err)
			}
			var wantGrades []string
			if u.Profile == ent.Student || u.Profile == ent.Relative {
				gs, err := svc.ListGrades(ctx, u, "")
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range gs {
					wantGrades = append(wantGrades, g.ID+"/"+g.Student+"/"+g.Value)
				}
			}
			if len(wantGrades) > 4 {
				withGrades++
			}
			for _, limit := range []int{1, 4, 100} {
				var gotEvals, gotGrades []string
				p := ent.Page{Limit: limit}
				for n := 0; ; n++ {
					page, err := svc.ListNotesPage(ctx, u, p)
					if err != nil || n > 100 {
						t.Fatalf("ListNotesPage(%s, %+v) = %v after %d pages", u.Login, p, err, n)
					}
					if len(page.Evaluations) > limit || (page.Next != "" && len(page.Evaluations) != limit) {
						t.Errorf("ListNotesPage(%s, %+v) = %d evaluations, next %q", u.Login, p, len(page.Evaluations), page.Next)
					}
					for _, e := range page.Evaluations {
						gotEvals = append(gotEvals, e.ID)
					}
					for _, g := range page.Grades {
						if !slices.ContainsFunc(page.Evaluations, func(e ent.Evaluation) bool { return e.ID == g.ID }) {
							t.Errorf("ListNotesPage(%s, %+v) has a grade of evaluation %s, not of the page", u.Login, p, g.ID)
						}
						gotGrades = append(gotGrades, g.ID+"/"+g.Student+"/"+g.Value)
					}
					if page.Next == "" {
						break
					}
					p.Before = page.Next
				}
				wantEvals := make([]string, len(evals))
				for i, e := range evals {
					wantEvals[i] = e.ID
				}
				if !cmpSet(gotEvals, wantEvals) {
					t.Errorf("ListNotesPage(%s, limit %d, index %t) evaluations = %q, want %q", u.Login, limit, indexed, gotEvals, wantEvals)
				}
				if !cmpSet(gotGrades, wantGrades) {
					t.Errorf("ListNotesPage(%s, limit %d, index %t) grades = %q, want %q", u.Login, limit, indexed, gotGrades, wantGrades)
				}
			}
		}
	}
	if withGrades < 3 {
		t.Errorf("%d users read more than 4 grades, want at least 3 (the test would prove nothing)", withGrades)
	}
}
