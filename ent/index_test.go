package ent_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"atrium/ent"
	"atrium/record"
)

// parentBoth is the legal relative of two students of 1B: their lists
// merge two index terms.
var parentBoth = ent.User{ID: "01890000-0000-7000-8000-000000000031", Login: "parent2.a", Name: "Marc Garcia", Profile: ent.Relative, UAI: uaiA, Active: true, Children: []string{studentA.ID, tomA.ID}}

func TestIndexTerms(t *testing.T) {
	body := func(v any) []byte { return mustJSON(t, v) }
	tests := []struct {
		rec  record.Record
		want []string
	}{
		{record.Record{Kind: ent.KindMessage, Body: body(map[string]any{"fromId": "a", "toId": "b", "body": "u:c"})}, []string{"u:a", "u:b"}},
		{record.Record{Kind: ent.KindGrade, Body: body(map[string]any{"student": "s", "evaluation": "e"})}, []string{"u:s"}},
		{record.Record{Kind: ent.KindAbsence, Body: body(map[string]any{"studentId": "s", "recorderId": "r", "class": "1B"})}, []string{"u:s", "u:r", "c:1B"}},
		{record.Record{Kind: ent.KindAbsence, Body: body(map[string]any{"studentId": "s", "recorderId": "r"})}, []string{"u:s", "u:r"}},
		{record.Record{Kind: ent.KindHomework, Body: body(map[string]any{"class": "1B", "authorId": "t"})}, []string{"c:1B", "u:t"}},
		{record.Record{Kind: ent.KindEvaluation, Body: body(map[string]any{"class": "1B", "teacherId": "t"})}, []string{"c:1B", "u:t"}},
		{record.Record{Kind: ent.KindMessage, Body: []byte(`{"fromId":"a\u0062","toId":"c"}`)}, []string{"u:ab", "u:c"}}, // escaped: json.Unmarshal reads it
		{record.Record{Kind: ent.KindMessage, Body: []byte(`{"fromId":"a","toId":"b","toId":"c"}`)}, []string{"u:a", "u:c"}},
		{record.Record{Kind: ent.KindMessage, Body: []byte(`{"fromId":"","toId":"b"}`)}, []string{"u:b"}},
		{record.Record{Kind: ent.KindMessage, Body: body(map[string]any{"fromId": "b", "toId": "a"})}, []string{"u:a", "u:b"}},
		{record.Record{Kind: ent.KindMessage, Body: body(map[string]any{"fromId": "ab", "toId": "a"})}, []string{"u:a", "u:ab"}},
		{record.Record{Kind: ent.KindMessage, Body: body(map[string]any{"fromId": "a", "toId": "a"})}, []string{"u:a", "u:a"}},
		{record.Record{Kind: ent.KindForumPost, Body: body(map[string]any{"forumId": "f"})}, []string{"f:f"}},
		{record.Record{Kind: ent.KindForumPost, Body: body(map[string]any{"forumId": "f", "topicId": "t"})}, []string{"f:f", "t:t"}},
		{record.Record{Kind: ent.KindHomework, Body: body(map[string]any{"authorId": "t"})}, []string{"u:t"}},
		{record.Record{Kind: ent.KindGrade, Body: []byte(`{"student":1}`)}, nil},
		{record.Record{Kind: ent.KindMessage, Body: []byte("{not json")}, nil},
		{record.Record{Kind: ent.KindNews, Body: body(map[string]any{"authorId": "a"})}, nil},
	}
	for _, tt := range tests {
		if got := ent.IndexTerms(tt.rec); !cmp.Equal(got, tt.want) {
			t.Errorf("IndexTerms(%s %s) = %q, want %q", tt.rec.Kind, tt.rec.Body, got, tt.want)
		}
	}
}

// TestListsThroughIndex: the lists that read through the index return
// exactly what they return from a store without one (which scans the
// lycée and filters), for every kind of user.
func TestListsThroughIndex(t *testing.T) {
	svc, st, clk := newService(t)
	ctx := t.Context()
	for _, u := range append(slices.Clone(notesUsers), parentBoth) {
		if err := st.Submit(ctx, userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	tick := func() { clk.t = clk.t.Add(time.Second) }
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for i, w := range []struct {
		by    ent.User
		class string
	}{{teacherA, "1B"}, {colleagueA, "TG2"}, {colleagueA, "1B"}, {teacher2CA, "2C"}, {teacherA, "1B"}} {
		_, err := svc.WriteHomework(ctx, w.by, hwArgs("", w.class, fmt.Sprintf("Entrée %d", i)))
		must("WriteHomework", err)
		tick()
	}
	for _, a := range []struct {
		by      ent.User
		student ent.User
		start   string
	}{{teacherA, studentA, "08:00"}, {staffA, student2CA, "10:00"}, {teacherA, tomA, "09:00"}, {staffA, studentA, "11:00"}} {
		_, err := svc.RecordAbsence(ctx, a.by, ent.AbsenceArgs{Student: a.student.ID, Date: "2026-01-05", Start: a.start, End: "12:00", Kind: ent.AbsenceAbsent})
		must("RecordAbsence", err)
		tick()
	}
	for i, class := range []string{"1B", "1B"} {
		e, err := svc.CreateEvaluation(ctx, teacherA, ent.EvaluationArgs{Class: class, Subject: "Maths", Title: fmt.Sprintf("Éval %d", i),
			Date: "2026-01-05", OutOf: "20", Coefficient: "1"})
		must("CreateEvaluation", err)
		tick()
		for j, s := range []ent.User{studentA, tomA} {
			_, err := svc.SetGrade(ctx, teacherA, e.ID, s.ID, "", fmt.Sprint(10+i+j))
			must("SetGrade", err)
			tick()
		}
	}
	for _, m := range [][2]ent.User{{teacherA, studentA}, {studentA, teacherA}, {relativeA, teacherA}, {staffA, tomA}, {tomA, studentA}} {
		_, err := svc.SendMessage(ctx, m[0], m[1].Login, "Objet", "Texte")
		must("SendMessage", err)
		tick()
	}

	var forums []ent.Forum
	var topics []ent.ForumTopic
	for _, class := range []string{"1B", "2C"} {
		f, err := svc.CreateForum(ctx, staffA, ent.ForumArgs{Title: "Forum " + class, Audience: ent.AudienceClass, Class: class})
		must("CreateForum", err)
		forums = append(forums, f)
		tick()
		for i := range 2 {
			tp, err := svc.CreateForumTopic(ctx, staffA, ent.ForumTopicArgs{ForumID: f.ID, Title: fmt.Sprintf("Sujet %d", i), Body: "Texte"})
			must("CreateForumTopic", err)
			topics = append(topics, tp)
			tick()
			for range 2 {
				_, err := svc.ReplyForumTopic(ctx, staffA, ent.ForumPostArgs{TopicID: tp.ID, Body: "Réponse"})
				must("ReplyForumTopic", err)
				tick()
			}
		}
	}

	type forumView struct {
		Forum  ent.Forum
		Topics []ent.ForumTopic
		Err    string
	}
	type topicView struct {
		Topic ent.ForumTopic
		Posts []ent.ForumPost
		Err   string
	}
	type lists struct {
		Evaluations []ent.Evaluation
		Forums      []forumView
		Topics      []topicView
		Messages    []ent.Message
		Grades      []ent.StudentGrade
		Absences    []ent.Absence
		Homework    []ent.Homework
		Homework1   []ent.Homework
	}
	read := func(u ent.User) lists {
		var l lists
		var err error
		if l.Messages, err = svc.ListMessages(ctx, u); err != nil {
			t.Fatal(err)
		}
		if l.Grades, err = svc.ListGrades(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
		if l.Absences, err = svc.ListAbsences(ctx, u); err != nil {
			t.Fatal(err)
		}
		if l.Homework, err = svc.ListHomework(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
		if l.Homework1, err = svc.ListHomework(ctx, u, "1B"); err != nil {
			t.Fatal(err)
		}
		if l.Evaluations, err = svc.ListEvaluations(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
		for _, f := range forums {
			var v forumView
			v.Forum, v.Topics, err = svc.GetForum(ctx, u, f.ID)
			if err != nil {
				v.Err = err.Error()
			}
			l.Forums = append(l.Forums, v)
		}
		for _, tp := range topics {
			var v topicView
			v.Topic, _, v.Posts, err = svc.GetForumTopic(ctx, u, tp.ID)
			if err != nil {
				v.Err = err.Error()
			}
			l.Topics = append(l.Topics, v)
		}
		return l
	}
	users := append(append(slices.Clone(fixtureUsers), notesUsers...), parentBoth)
	nonEmpty := 0
	for _, u := range users {
		st.Indexer = nil
		want := read(u)
		st.Indexer = ent.IndexTerms
		got := read(u)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lists of %s through the index (-without +with):\n%s", u.Login, diff)
		}
		if len(got.Messages) > 0 && len(got.Grades) > 0 && len(got.Absences) > 0 && len(got.Homework) > 0 &&
			len(got.Evaluations) > 0 && len(got.Forums[0].Topics) == 2 && len(got.Topics[0].Posts) == 2 {
			nonEmpty++
		}
	}
	if nonEmpty < 3 {
		t.Errorf("%d users have messages, grades, absences and homework, want at least 3 (the test would prove nothing)", nonEmpty)
	}
	// The relative of two students sees both children's grades and absences.
	st.Indexer = ent.IndexTerms
	l := read(parentBoth)
	if len(l.Grades) != 4 || len(l.Absences) != 3 {
		t.Errorf("parent of two: %d grades, %d absences, want 4 and 3", len(l.Grades), len(l.Absences))
	}
}
