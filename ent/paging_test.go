package ent_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"atrium/ent"
)

// TestListPages: paging a list with ent.Page gives, page after page, every
// item of the whole list exactly once, the newest id first, each page at
// most Limit long and the last one with no next cursor; through the index
// and without it.
func TestListPages(t *testing.T) {
	svc, st, clk := newService(t)
	ctx := t.Context()
	for _, u := range append(slices.Clone(notesUsers), parentBoth) {
		if err := st.Submit(ctx, userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	tick := func() { clk.t = clk.t.Add(time.Second) }
	for i := range 7 {
		for _, m := range [][2]ent.User{{teacherA, studentA}, {studentA, teacherA}, {relativeA, teacherA}, {staffA, tomA}} {
			if _, err := svc.SendMessage(ctx, m[0], m[1].Login, fmt.Sprintf("Objet %d", i), "Texte"); err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
			tick()
		}
		for _, a := range []struct{ by, student ent.User }{{teacherA, studentA}, {staffA, student2CA}, {teacherA, tomA}} {
			date := fmt.Sprintf("2026-01-%02d", 5+i%3)
			if _, err := svc.RecordAbsence(ctx, a.by, ent.AbsenceArgs{Student: a.student.ID, Date: date, Start: "08:00", End: "09:00", Kind: ent.AbsenceAbsent}); err != nil {
				t.Fatalf("RecordAbsence: %v", err)
			}
			tick()
		}
		for _, w := range []struct {
			by    ent.User
			class string
		}{{teacherA, "1B"}, {colleagueA, "TG2"}, {teacher2CA, "2C"}} {
			if _, err := svc.WriteHomework(ctx, w.by, hwArgs("", w.class, fmt.Sprintf("Entrée %d", i))); err != nil {
				t.Fatalf("WriteHomework: %v", err)
			}
			tick()
		}
	}

	// pages reads every page of a list, limit items at a time, and returns
	// the ids in the order the pages gave them.
	pages := func(t *testing.T, what string, limit int, list func(ent.Page) ([]string, string, error)) []string {
		t.Helper()
		var ids []string
		p := ent.Page{Limit: limit}
		for range 100 {
			got, next, err := list(p)
			if err != nil {
				t.Fatalf("%s(%+v): %v", what, p, err)
			}
			if len(got) > limit {
				t.Errorf("%s(%+v) = %d items, want at most %d", what, p, len(got), limit)
			}
			if next != "" && len(got) != limit {
				t.Errorf("%s(%+v) = %d items and a next page, want a full page", what, p, len(got))
			}
			ids = append(ids, got...)
			if next == "" {
				return ids
			}
			p.Before = next
		}
		t.Fatalf("%s: more than 100 pages", what)
		return nil
	}
	ids := func(n int, id func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = id(i)
		}
		return out
	}
	newestFirst := func(s []string) []string {
		s = slices.Clone(s)
		slices.SortFunc(s, func(a, b string) int { return strings.Compare(b, a) })
		return s
	}
	users := append(append(slices.Clone(fixtureUsers), notesUsers...), parentBoth)
	nonEmpty := 0
	for _, indexed := range []bool{false, true} {
		st.Indexer = nil
		if indexed {
			st.Indexer = ent.IndexTerms
		}
		for _, u := range users {
			msgs, err := svc.ListMessages(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			abs, err := svc.ListAbsences(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			hw, err := svc.ListHomework(ctx, u, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) > 2 && len(abs) > 2 && len(hw) > 2 {
				nonEmpty++
			}
			for _, limit := range []int{1, 2, 5, 100} {
				got := pages(t, "ListMessagesPage", limit, func(p ent.Page) ([]string, string, error) {
					l, next, err := svc.ListMessagesPage(ctx, u, p)
					return ids(len(l), func(i int) string { return l[i].ID }), next, err
				})
				if want := newestFirst(ids(len(msgs), func(i int) string { return msgs[i].ID })); !slices.Equal(got, want) {
					t.Errorf("ListMessagesPage(%s, limit %d, index %t) pages = %q, want %q", u.Login, limit, indexed, got, want)
				}
				got = pages(t, "ListAbsencesPage", limit, func(p ent.Page) ([]string, string, error) {
					l, next, err := svc.ListAbsencesPage(ctx, u, ent.AbsenceFilter{}, p)
					return ids(len(l), func(i int) string { return l[i].ID }), next, err
				})
				if want := ids(len(abs), func(i int) string { return abs[i].ID }); !cmpSet(got, want) {
					t.Errorf("ListAbsencesPage(%s, limit %d, index %t) pages = %q, want the ids %q", u.Login, limit, indexed, got, want)
				}
				// A filter refuses records the index gives: the pages
				// still hold every absence it keeps.
				f := ent.AbsenceFilter{From: "2026-01-06"}
				got = pages(t, "ListAbsencesPage", limit, func(p ent.Page) ([]string, string, error) {
					l, next, err := svc.ListAbsencesPage(ctx, u, f, p)
					return ids(len(l), func(i int) string { return l[i].ID }), next, err
				})
				var kept []string
				for _, a := range abs {
					if a.Date >= f.From {
						kept = append(kept, a.ID)
					}
				}
				if !cmpSet(got, kept) {
					t.Errorf("ListAbsencesPage(%s, %+v, limit %d, index %t) pages = %q, want the ids %q", u.Login, f, limit, indexed, got, kept)
				}
				got = pages(t, "ListHomeworkPage", limit, func(p ent.Page) ([]string, string, error) {
					l, next, err := svc.ListHomeworkPage(ctx, u, "", p)
					return ids(len(l), func(i int) string { return l[i].ID }), next, err
				})
				if want := ids(len(hw), func(i int) string { return hw[i].ID }); !cmpSet(got, want) {
					t.Errorf("ListHomeworkPage(%s, limit %d, index %t) pages = %q, want the ids %q", u.Login, limit, indexed, got, want)
				}
			}
		}
	}
	if nonEmpty < 4 {
		t.Errorf("%d users have more than 2 messages, absences and entries, want at least 4 (the test would prove nothing)", nonEmpty)
	}

	// The filters of the absences: a class, dates, the unjustified ones.
	st.Indexer = ent.IndexTerms
	for _, tt := range []struct {
		f    ent.AbsenceFilter
		want int
	}{
		{ent.AbsenceFilter{}, 21},
		{ent.AbsenceFilter{Class: "2C"}, 7},
		{ent.AbsenceFilter{From: "2026-01-06"}, 12},
		{ent.AbsenceFilter{From: "2026-01-06", To: "2026-01-06"}, 6},
		{ent.AbsenceFilter{Class: "1B", To: "2026-01-05"}, 6},
		{ent.AbsenceFilter{Unjustified: true}, 21},
	} {
		l, next, err := svc.ListAbsencesPage(ctx, staffA, tt.f, ent.Page{Limit: 100})
		if err != nil || next != "" || len(l) != tt.want {
			t.Errorf("ListAbsencesPage(staff, %+v) = %d absences, next %q, %v; want %d", tt.f, len(l), next, err, tt.want)
		}
		for _, a := range l {
			if (tt.f.Class != "" && a.Class != tt.f.Class) || (tt.f.From != "" && a.Date < tt.f.From) || (tt.f.To != "" && a.Date > tt.f.To) {
				t.Errorf("ListAbsencesPage(staff, %+v) has %s %s", tt.f, a.Class, a.Date)
			}
		}
	}
}

// cmpSet reports whether got and want hold the same ids, got with none
// twice.
func cmpSet(got, want []string) bool {
	return len(got) == len(want) && slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

// TestListForumsCountsThroughIndex: the forums' topic counts the index
// gives are those a store without one gives.
func TestListForumsCountsThroughIndex(t *testing.T) {
	svc, st, _ := newService(t)
	ctx := t.Context()
	for _, u := range notesUsers {
		if err := st.Submit(ctx, userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	for i, class := range []string{"1B", "2C", "1B"} {
		f, err := svc.CreateForum(ctx, staffA, ent.ForumArgs{Title: fmt.Sprintf("Forum %d", i), Audience: ent.AudienceClass, Class: class})
		if err != nil {
			t.Fatalf("CreateForum: %v", err)
		}
		for j := range i + 1 {
			if _, err := svc.CreateForumTopic(ctx, staffA, ent.ForumTopicArgs{ForumID: f.ID, Title: fmt.Sprintf("Sujet %d", j), Body: "Texte"}); err != nil {
				t.Fatalf("CreateForumTopic: %v", err)
			}
		}
	}
	for _, u := range append(slices.Clone(fixtureUsers), notesUsers...) {
		st.Indexer = nil
		want, err := svc.ListForums(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		st.Indexer = ent.IndexTerms
		got, err := svc.ListForums(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(a, b ent.Forum) bool { return a.ID == b.ID && a.Topics == b.Topics }) {
			t.Errorf("ListForums(%s) through the index = %+v, want %+v", u.Login, got, want)
		}
		if u.ID == staffA.ID && (len(got) != 3 || got[0].Topics+got[1].Topics+got[2].Topics != 6) {
			t.Errorf("ListForums(staff) = %+v, want 3 forums and 6 topics", got)
		}
	}
}

// TestListNewsPages: the actualités of a lycée and of the region, merged,
// page after page: every item once, the newest id first.
func TestListNewsPages(t *testing.T) {
	svc, _, clk := newService(t)
	ctx := t.Context()
	for i := range 7 {
		if _, err := svc.PublishNews(ctx, staffA, fmt.Sprintf("Lycée %d", i), "Texte", false); err != nil {
			t.Fatalf("PublishNews(lycée): %v", err)
		}
		clk.t = clk.t.Add(time.Second)
		if i%2 == 0 {
			if _, err := svc.PublishNews(ctx, regionUser, fmt.Sprintf("Région %d", i), "Texte", true); err != nil {
				t.Fatalf("PublishNews(region): %v", err)
			}
			clk.t = clk.t.Add(time.Second)
		}
	}
	all, err := svc.ListNews(ctx, studentA)
	if err != nil || len(all) != 11 {
		t.Fatalf("ListNews(student) = %d news, %v; want 11", len(all), err)
	}
	var want []string
	for _, n := range all {
		want = append(want, n.ID)
	}
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(b, a) })
	for _, limit := range []int{1, 2, 4, 11, 30} {
		var got []string
		p := ent.Page{Limit: limit}
		for range 20 {
			ns, next, err := svc.ListNewsPage(ctx, studentA, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(ns) > limit || (next != "" && len(ns) != limit) {
				t.Errorf("ListNewsPage(%+v) = %d news, next %q", p, len(ns), next)
			}
			for _, n := range ns {
				got = append(got, n.ID)
			}
			if next == "" {
				break
			}
			p.Before = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListNewsPage pages of %d = %q, want %q", limit, got, want)
		}
	}
}
