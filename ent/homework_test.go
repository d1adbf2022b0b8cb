package ent_test

import (
	"errors"
	"testing"
	"time"

	"atrium/ent"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

// More users of lycée A for the cahier de textes: a second teacher of 1B,
// a teacher and a student of 2C.
var (
	colleagueA = ent.User{ID: "01890000-0000-7000-8000-000000000011", Login: "prof2.a", Name: "Marie Leroy", Profile: ent.Teacher, UAI: uaiA, Active: true, Classes: []string{"1B", "TG2"}}
	teacher2CA = ent.User{ID: "01890000-0000-7000-8000-000000000012", Login: "prof3.a", Name: "Luc Petit", Profile: ent.Teacher, UAI: uaiA, Active: true, Classes: []string{"2C"}}
	student2CA = ent.User{ID: "01890000-0000-7000-8000-000000000013", Login: "eleve2.a", Name: "Hugo Bernard", Profile: ent.Student, UAI: uaiA, Active: true, Classes: []string{"2C"}}
)

var homeworkUsers = []ent.User{colleagueA, teacher2CA, student2CA}

func hwArgs(id, class, title string) ent.HomeworkArgs {
	return ent.HomeworkArgs{ID: id, Class: class, Subject: "Mathématiques", Date: "2026-01-05", Title: title,
		Content: "Suites numériques.", Work: "Exercices 1 à 3 p. 42", Due: "2026-01-08"}
}

func hwWrite(t testing.TB, by ent.User, partition string, a ent.HomeworkArgs, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpHomeworkWrite, Partition: partition,
		Args: mustJSON(t, a), Time: at}
}

func hwDelete(t testing.TB, by ent.User, partition, id string, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpHomeworkDelete, Partition: partition,
		Args: mustJSON(t, ent.HomeworkDeleteArgs{ID: id}), Time: at}
}

func homeworkTx(t *testing.T) *countingTx {
	t.Helper()
	tx := fixtureTx(t)
	for _, u := range homeworkUsers {
		if err := ent.Exec(tx, userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	return &countingTx{Tx: tx}
}

const (
	hw1 = "01890000-0000-7000-8000-0000000000b1"
	hw2 = "01890000-0000-7000-8000-0000000000b2"
)

// TestHomeworkExecRules runs commands in order on one store: each is
// accepted or refused with its code, and a refusal writes nothing.
func TestHomeworkExecRules(t *testing.T) {
	tx := homeworkTx(t)
	noWork := hwArgs(hw2, "1B", "Sans travail")
	noWork.Work, noWork.Due = "", ""
	edited := hwArgs(hw1, "1B", "Suites, suite")
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"student writes", hwWrite(t, studentA, uaiA, hwArgs(hw1, "1B", "Séance"), t0), "forbidden"},
		{"relative writes", hwWrite(t, relativeA, uaiA, hwArgs(hw1, "1B", "Séance"), t0), "forbidden"},
		{"staff writes", hwWrite(t, staffA, uaiA, hwArgs(hw1, "1B", "Séance"), t0), "forbidden"},
		{"former teacher writes", hwWrite(t, formerA, uaiA, hwArgs(hw1, "1B", "Séance"), t0), "forbidden"},
		{"teacher of another class", hwWrite(t, teacher2CA, uaiA, hwArgs(hw1, "1B", "Séance"), t0), "forbidden"},
		{"teacher of another lycée", hwWrite(t, teacherB, uaiA, hwArgs(hw1, "1B", "Séance"), t0), "forbidden"},
		{"region partition", hwWrite(t, teacherA, record.Region, hwArgs(hw1, "1B", "Séance"), t0), "forbidden"},
		{"bad id", hwWrite(t, teacherA, uaiA, hwArgs("x", "1B", "Séance"), t0), "invalid"},
		{"no title", hwWrite(t, teacherA, uaiA, hwArgs(hw1, "1B", " "), t0), "invalid"},
		{"bad date", hwWrite(t, teacherA, uaiA, ent.HomeworkArgs{ID: hw1, Class: "1B", Subject: "Maths", Date: "05/01/2026", Title: "T"}, t0), "invalid"},
		{"work without due date", hwWrite(t, teacherA, uaiA, ent.HomeworkArgs{ID: hw1, Class: "1B", Subject: "Maths", Date: "2026-01-05", Title: "T", Work: "Lire"}, t0), "invalid"},
		{"due before session", hwWrite(t, teacherA, uaiA, ent.HomeworkArgs{ID: hw1, Class: "1B", Subject: "Maths", Date: "2026-01-05", Title: "T", Work: "Lire", Due: "2026-01-04"}, t0), "invalid"},
		{"teacher of the class", hwWrite(t, teacherA, uaiA, hwArgs(hw1, "1B", "Séance"), t0), ""},
		{"entry without work", hwWrite(t, teacherA, uaiA, noWork, t0), ""},
		{"colleague edits", hwWrite(t, colleagueA, uaiA, edited, t0+1000), "forbidden"},
		{"author moves it to a class not theirs", hwWrite(t, teacherA, uaiA, hwArgs(hw1, "2C", "Séance"), t0+1000), "forbidden"},
		{"author edits", hwWrite(t, teacherA, uaiA, edited, t0+1000), ""},
		{"colleague deletes", hwDelete(t, colleagueA, uaiA, hw1, t0+2000), "forbidden"},
		{"delete unknown", hwDelete(t, teacherA, uaiA, "01890000-0000-7000-8000-0000000000ff", t0+2000), "not_found"},
		{"delete a user", hwDelete(t, teacherA, uaiA, studentA.ID, t0+2000), "not_found"},
		{"author deletes", hwDelete(t, teacherA, uaiA, hw1, t0+2000), ""},
	}
	for _, tt := range tests {
		before := tx.puts
		err := ent.Exec(tx, tt.cmd)
		if got := code(err); got != tt.want {
			t.Errorf("%s: Exec = %q (%v), want %q", tt.name, got, err, tt.want)
		}
		if tt.want != "" && tx.puts != before {
			t.Errorf("%s: refused command wrote %d records", tt.name, tx.puts-before)
		}
	}
}

// TestHomeworkExecIdempotent: a retransmitted or older write, a repeated
// delete and a write to a deleted entry write nothing.
func TestHomeworkExecIdempotent(t *testing.T) {
	tx := homeworkTx(t)
	first := hwWrite(t, teacherA, uaiA, hwArgs(hw1, "1B", "Première"), t0)
	second := hwWrite(t, teacherA, uaiA, hwArgs(hw1, "1B", "Seconde"), t0+1000)
	del := hwDelete(t, teacherA, uaiA, hw1, t0+2000)
	steps := []struct {
		name string
		cmd  record.Command
		puts int
	}{
		{"write", first, 1},
		{"write again", first, 0},
		{"edit", second, 1},
		{"older write late", first, 0},
		{"edit again", second, 0},
		{"delete", del, 1},
		{"delete again", del, 0},
		{"write after delete", hwWrite(t, teacherA, uaiA, hwArgs(hw1, "1B", "Troisième"), t0+3000), 0},
	}
	for _, s := range steps {
		before := tx.puts
		if err := ent.Exec(tx, s.cmd); err != nil {
			t.Fatalf("%s: Exec = %v, want nil", s.name, err)
		}
		if got := tx.puts - before; got != s.puts {
			t.Errorf("%s: wrote %d records, want %d", s.name, got, s.puts)
		}
	}
}

func homeworkService(t *testing.T) (*ent.Service, *clock) {
	t.Helper()
	svc, st, clk := newService(t)
	for _, u := range homeworkUsers {
		if err := st.Submit(t.Context(), userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	return svc, clk
}

func titles(es []ent.Homework) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Title)
	}
	return out
}

// TestHomeworkReaders checks who reads which class's entries.
func TestHomeworkReaders(t *testing.T) {
	svc, _ := homeworkService(t)
	ctx := t.Context()
	for _, w := range []struct {
		by    ent.User
		class string
		title string
	}{{teacherA, "1B", "Maths 1B"}, {colleagueA, "TG2", "Physique TG2"}, {teacher2CA, "2C", "Histoire 2C"}} {
		if _, err := svc.WriteHomework(ctx, w.by, hwArgs("", w.class, w.title)); err != nil {
			t.Fatalf("WriteHomework(%s, %s) = %v", w.by.Login, w.class, err)
		}
	}
	tests := []struct {
		user ent.User
		want []string
	}{
		{studentA, []string{"Maths 1B"}},
		{relativeA, []string{"Maths 1B"}},
		{student2CA, []string{"Histoire 2C"}},
		{teacherA, []string{"Maths 1B"}},
		{colleagueA, []string{"Maths 1B", "Physique TG2"}},
		{teacher2CA, []string{"Histoire 2C"}},
		{staffA, []string{"Maths 1B", "Physique TG2", "Histoire 2C"}},
		{studentB, nil},
		{teacherB, nil},
		{regionUser, nil},
	}
	sortTitles := cmp.Transformer("sort", func(in []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range in {
			m[s] = true
		}
		return m
	})
	for _, tt := range tests {
		got, err := svc.ListHomework(ctx, tt.user, "")
		if err != nil {
			t.Fatalf("ListHomework(%s) = %v", tt.user.Login, err)
		}
		if diff := cmp.Diff(tt.want, titles(got), sortTitles); diff != "" {
			t.Errorf("ListHomework(%s) titles = %q, want %q", tt.user.Login, titles(got), tt.want)
		}
		for _, e := range got {
			if _, err := svc.GetHomework(ctx, tt.user, e.ID); err != nil {
				t.Errorf("GetHomework(%s, %q) = %v, want the entry", tt.user.Login, e.Title, err)
			}
		}
	}
	all, _ := svc.ListHomework(ctx, staffA, "")
	for _, e := range all {
		if e.Class == "2C" {
			if _, err := svc.GetHomework(ctx, studentA, e.ID); !errors.Is(err, ent.ErrNotFound) {
				t.Errorf("GetHomework(eleve.a, 2C entry) = %v, want ErrNotFound", err)
			}
		}
	}
	if got, _ := svc.ListHomework(ctx, staffA, "TG2"); len(got) != 1 || got[0].Class != "TG2" {
		t.Errorf("ListHomework(staff, TG2) = %q, want the TG2 entry only", titles(got))
	}
}

// TestHomeworkOrder: the work still to do comes first by due date, then
// the other entries, latest session first.
func TestHomeworkOrder(t *testing.T) {
	svc, _ := homeworkService(t) // today is 2026-01-05
	ctx := t.Context()
	entries := []ent.HomeworkArgs{
		{Class: "1B", Subject: "Maths", Date: "2026-01-02", Title: "Passé", Work: "Rendu", Due: "2026-01-04"},
		{Class: "1B", Subject: "Maths", Date: "2026-01-05", Title: "Pour le 9", Work: "Lire", Due: "2026-01-09"},
		{Class: "1B", Subject: "Maths", Date: "2026-01-03", Title: "Séance du 3"},
		{Class: "1B", Subject: "Maths", Date: "2026-01-05", Title: "Pour aujourd'hui", Work: "Finir", Due: "2026-01-05"},
		{Class: "1B", Subject: "Maths", Date: "2026-01-04", Title: "Séance du 4"},
	}
	for _, a := range entries {
		if _, err := svc.WriteHomework(ctx, teacherA, a); err != nil {
			t.Fatalf("WriteHomework(%q) = %v", a.Title, err)
		}
	}
	got, err := svc.ListHomework(ctx, studentA, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Pour aujourd'hui", "Pour le 9", "Séance du 4", "Séance du 3", "Passé"}
	if diff := cmp.Diff(want, titles(got)); diff != "" {
		t.Errorf("ListHomework order (-want +got):\n%s", diff)
	}
	if !got[0].ToDo || got[2].ToDo || got[4].ToDo {
		t.Errorf("ToDo flags = %v %v %v, want true false false", got[0].ToDo, got[2].ToDo, got[4].ToDo)
	}
}

// TestHomeworkEditDelete: only the author edits and deletes; an edit
// replaces the entry, a deleted entry is gone for everyone.
func TestHomeworkEditDelete(t *testing.T) {
	svc, clk := homeworkService(t)
	ctx := t.Context()
	e, err := svc.WriteHomework(ctx, teacherA, hwArgs("", "1B", "Suites"))
	if err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	edit := hwArgs(e.ID, "1B", "Suites arithmétiques")
	edit.Work = "" // no more work: the due date goes with it
	if _, err := svc.WriteHomework(ctx, colleagueA, edit); code(err) != "forbidden" {
		t.Errorf("WriteHomework by a colleague = %v, want forbidden", err)
	}
	if _, err := svc.WriteHomework(ctx, student2CA, edit); code(err) != "forbidden" {
		t.Errorf("WriteHomework by a student = %v, want forbidden", err)
	}
	if _, err := svc.WriteHomework(ctx, teacherA, edit); err != nil {
		t.Fatalf("WriteHomework by the author = %v", err)
	}
	got, err := svc.GetHomework(ctx, studentA, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Suites arithmétiques" || got.Work != "" || got.Due != "" || !got.Created.Equal(e.Created) || !got.Updated.After(e.Updated) {
		t.Errorf("edited entry = %+v, want the new title, no work, created kept, updated later", got)
	}
	if err := svc.DeleteHomework(ctx, colleagueA, e.ID); code(err) != "forbidden" {
		t.Errorf("DeleteHomework by a colleague = %v, want forbidden", err)
	}
	if err := svc.DeleteHomework(ctx, student2CA, e.ID); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("DeleteHomework by a student of another class = %v, want ErrNotFound", err)
	}
	if err := svc.DeleteHomework(ctx, teacherA, e.ID); err != nil {
		t.Fatalf("DeleteHomework by the author = %v", err)
	}
	if _, err := svc.GetHomework(ctx, staffA, e.ID); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("GetHomework after delete = %v, want ErrNotFound", err)
	}
	if _, err := svc.WriteHomework(ctx, teacherA, edit); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("WriteHomework on a deleted entry = %v, want ErrNotFound", err)
	}
}
