package ent_test

import (
	"errors"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

// tomA is a second student of 1B, whose grades Léa and her parent must
// never read.
var tomA = ent.User{ID: "01890000-0000-7000-8000-000000000021", Login: "eleve3.a", Name: "Tom Garcia", Profile: ent.Student, UAI: uaiA, Active: true, Classes: []string{"1B"}}

var notesUsers = append(append([]ent.User{}, homeworkUsers...), tomA)

const (
	eval1 = "01890000-0000-7000-8000-0000000000e1"
	eval2 = "01890000-0000-7000-8000-0000000000e2"
	chg1  = "01890000-0000-7000-8000-0000000000f1"
	chg2  = "01890000-0000-7000-8000-0000000000f2"
	chg3  = "01890000-0000-7000-8000-0000000000f3"
)

func evalArgs(id, class string) ent.EvaluationArgs {
	return ent.EvaluationArgs{ID: id, Class: class, Subject: "Mathématiques", Title: "Suites", Date: "2026-01-05",
		OutOf: "20", Coefficient: "2"}
}

func notesCmd(t testing.TB, by ent.User, op string, args any, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: op, Partition: uaiA, Args: mustJSON(t, args), Time: at}
}

func gradeCmd(t testing.TB, by ent.User, change string, student ent.User, base, value string) record.Command {
	return notesCmd(t, by, ent.OpGradeSet, ent.GradeArgs{ID: change, Evaluation: eval1, Student: student.ID, Base: base, Value: value}, t0+1000)
}

func notesTx(t *testing.T) *countingTx {
	t.Helper()
	tx := fixtureTx(t)
	for _, u := range notesUsers {
		if err := ent.Exec(tx, userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	return &countingTx{Tx: tx}
}

// TestNotesExecRules runs commands in order on one store: each is accepted
// or refused with its code, and a refusal writes nothing.
func TestNotesExecRules(t *testing.T) {
	tx := notesTx(t)
	bad := func(f func(*ent.EvaluationArgs)) ent.EvaluationArgs { a := evalArgs(eval2, "1B"); f(&a); return a }
	create := func(by ent.User, a ent.EvaluationArgs) record.Command {
		return notesCmd(t, by, ent.OpEvaluationCreate, a, t0)
	}
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"student creates", create(studentA, evalArgs(eval1, "1B")), "forbidden"},
		{"relative creates", create(relativeA, evalArgs(eval1, "1B")), "forbidden"},
		{"staff creates", create(staffA, evalArgs(eval1, "1B")), "forbidden"},
		{"former teacher creates", create(formerA, evalArgs(eval1, "1B")), "forbidden"},
		{"teacher of another class", create(teacher2CA, evalArgs(eval1, "1B")), "forbidden"},
		{"teacher of another lycée", create(teacherB, evalArgs(eval1, "1B")), "forbidden"},
		{"bad id", create(teacherA, evalArgs("x", "1B")), "invalid"},
		{"no title", create(teacherA, bad(func(a *ent.EvaluationArgs) { a.Title = " " })), "invalid"},
		{"bad date", create(teacherA, bad(func(a *ent.EvaluationArgs) { a.Date = "05/01/2026" })), "invalid"},
		{"sur zero", create(teacherA, bad(func(a *ent.EvaluationArgs) { a.OutOf = "0" })), "invalid"},
		{"sur three decimals", create(teacherA, bad(func(a *ent.EvaluationArgs) { a.OutOf = "20.125" })), "invalid"},
		{"coefficient negative", create(teacherA, bad(func(a *ent.EvaluationArgs) { a.Coefficient = "-1" })), "invalid"},
		{"teacher of the class", create(teacherA, evalArgs(eval1, "1B")), ""},
		{"grade by a colleague of the class", gradeCmd(t, colleagueA, chg1, studentA, "", "12"), "forbidden"},
		{"grade by staff", gradeCmd(t, staffA, chg1, studentA, "", "12"), "forbidden"},
		{"grade by the student", gradeCmd(t, studentA, chg1, studentA, "", "20"), "forbidden"},
		{"grade of a student of another class", gradeCmd(t, teacherA, chg1, student2CA, "", "12"), "not_found"},
		{"grade of a teacher", gradeCmd(t, teacherA, chg1, colleagueA, "", "12"), "not_found"},
		{"grade above sur", gradeCmd(t, teacherA, chg1, studentA, "", "20.5"), "invalid"},
		{"grade negative", gradeCmd(t, teacherA, chg1, studentA, "", "-1"), "invalid"},
		{"grade three decimals", gradeCmd(t, teacherA, chg1, studentA, "", "12.125"), "invalid"},
		{"unknown mention", gradeCmd(t, teacherA, chg1, studentA, "", "malade"), "invalid"},
		{"unknown evaluation", notesCmd(t, teacherA, ent.OpGradeSet, ent.GradeArgs{ID: chg1, Evaluation: eval2, Student: studentA.ID, Value: "12"}, t0), "not_found"},
		{"first grade from a base", gradeCmd(t, teacherA, chg1, studentA, "10", "12"), "conflict"},
		{"first grade", gradeCmd(t, teacherA, chg1, studentA, "", "12,5"), ""},
		{"mention", gradeCmd(t, teacherA, chg2, tomA, "", "ABS"), ""},
		{"change from a stale base", gradeCmd(t, teacherA, chg3, studentA, "", "14"), "conflict"},
		{"change from the current value", gradeCmd(t, teacherA, chg3, studentA, "12.50", "14"), ""},
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

// A write from a stale base names both values in French.
func TestGradeConflictMessage(t *testing.T) {
	tx := notesTx(t)
	for _, c := range []record.Command{
		notesCmd(t, teacherA, ent.OpEvaluationCreate, evalArgs(eval1, "1B"), t0),
		gradeCmd(t, teacherA, chg1, studentA, "", "12.5"),
	} {
		if err := ent.Exec(tx, c); err != nil {
			t.Fatal(err)
		}
	}
	err := ent.Exec(tx, gradeCmd(t, teacherA, chg2, studentA, "", "15"))
	r, ok := record.AsRejection(err)
	want := "La note de Léa Martin a changé entre-temps : elle est maintenant « 12,5 » (vous partiez de aucune note)."
	if !ok || r.Code != "conflict" || !strings.HasPrefix(r.Message, want) {
		t.Errorf("grade from a stale base = %v, want a conflict starting %q", err, want)
	}
}

// Retransmitted commands change nothing, even once the grade moved on.
func TestNotesExecIdempotent(t *testing.T) {
	tx := notesTx(t)
	cmds := []record.Command{
		notesCmd(t, teacherA, ent.OpEvaluationCreate, evalArgs(eval1, "1B"), t0),
		gradeCmd(t, teacherA, chg1, studentA, "", "12"),
	}
	for _, c := range cmds {
		if err := ent.Exec(tx, c); err != nil {
			t.Fatalf("Exec(%s): %v", c.Op, err)
		}
	}
	if err := ent.Exec(tx, gradeCmd(t, teacherA, chg2, studentA, "12", "13")); err != nil {
		t.Fatal(err)
	}
	tx.puts = 0
	for _, c := range append(cmds, gradeCmd(t, teacherA, chg2, studentA, "12", "13")) {
		if err := ent.Exec(tx, c); err != nil {
			t.Errorf("retransmitted %s = %v, want nil", c.Op, err)
		}
	}
	if tx.puts != 0 {
		t.Errorf("retransmissions wrote %d records, want 0", tx.puts)
	}
}

func TestGradeID(t *testing.T) {
	a, b := ent.GradeID(eval1, studentA.ID), ent.GradeID(eval1, tomA.ID)
	if a == b || a != ent.GradeID(eval1, studentA.ID) || !strings.HasPrefix(a, eval1[:13]) || a[14] != '7' {
		t.Errorf("GradeID = %s, %s; want distinct, stable UUIDv7s keeping %s's time", a, b, eval1)
	}
}

// TestServiceNotes: who reads which evaluations and grades. Never another
// student's grade to a student or a relative.
func TestServiceNotes(t *testing.T) {
	svc, st, _ := newService(t)
	ctx := t.Context()
	for _, u := range notesUsers {
		if err := st.Submit(ctx, userPut(t, u)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateEvaluation(ctx, studentA, evalArgs("", "1B")); code(err) != "forbidden" {
		t.Errorf("CreateEvaluation by a student = %v, want forbidden", err)
	}
	if _, err := svc.CreateEvaluation(ctx, teacherA, evalArgs("", "2C")); code(err) != "forbidden" {
		t.Errorf("CreateEvaluation for a class not taught = %v, want forbidden", err)
	}
	a := evalArgs("", "1B")
	a.OutOf, a.Coefficient = "20,0", "0,5"
	e, err := svc.CreateEvaluation(ctx, teacherA, a)
	if err != nil || e.OutOf != "20" || e.Coefficient != "0.5" || e.Teacher != teacherA.Name {
		t.Fatalf("CreateEvaluation = %+v, %v; want sur 20, coefficient 0.5", e, err)
	}
	e2, err := svc.CreateEvaluation(ctx, teacher2CA, evalArgs("", "2C"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct {
		student    ent.User
		eval, want string
	}{{studentA, e.ID, "15.5"}, {tomA, e.ID, "8"}, {student2CA, e2.ID, "disp"}} {
		by := teacherA
		if g.eval == e2.ID {
			by = teacher2CA
		}
		got, err := svc.SetGrade(ctx, by, g.eval, g.student.ID, "", g.want)
		if err != nil || got.Value != g.want {
			t.Fatalf("SetGrade(%s) = %+v, %v; want %s", g.student.Login, got, err, g.want)
		}
	}
	if _, err := svc.SetGrade(ctx, colleagueA, e.ID, studentA.ID, "15.5", "20"); code(err) != "forbidden" {
		t.Errorf("SetGrade by a colleague = %v, want forbidden", err)
	}
	if _, err := svc.SetGrade(ctx, teacherA, e.ID, studentA.ID, "", "20"); code(err) != "conflict" {
		t.Errorf("SetGrade from a stale base = %v, want conflict", err)
	}

	rows := func(u ent.User, id string) map[string]string {
		t.Helper()
		sh, err := svc.GetEvaluation(ctx, u, id)
		if err != nil {
			t.Fatalf("GetEvaluation(%s) = %v", u.Login, err)
		}
		out := map[string]string{}
		for _, r := range sh.Rows {
			out[r.StudentName] = r.Value
		}
		return out
	}
	class1B := map[string]string{"Léa Martin": "15.5", "Tom Garcia": "8"}
	for _, c := range []struct {
		u    ent.User
		want map[string]string
	}{
		{teacherA, class1B}, {colleagueA, class1B}, {staffA, class1B},
		{studentA, map[string]string{"Léa Martin": "15.5"}},
		{tomA, map[string]string{"Tom Garcia": "8"}},
		{relativeA, map[string]string{"Léa Martin": "15.5"}},
	} {
		if diff := cmp.Diff(c.want, rows(c.u, e.ID)); diff != "" {
			t.Errorf("grades of %s's evaluation read by %s (-want +got):\n%s", e.Class, c.u.Login, diff)
		}
	}
	for _, u := range []ent.User{student2CA, teacher2CA, teacherB, regionUser} {
		if _, err := svc.GetEvaluation(ctx, u, e.ID); !errors.Is(err, ent.ErrNotFound) {
			t.Errorf("GetEvaluation(%s) = %v, want ErrNotFound", u.Login, err)
		}
	}

	grades := func(u ent.User) []string {
		t.Helper()
		gs, err := svc.ListGrades(ctx, u, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.StudentName+" "+g.ValueLabel())
		}
		return out
	}
	for _, c := range []struct {
		u    ent.User
		want []string
	}{
		{studentA, []string{"Léa Martin 15,5"}},
		{relativeA, []string{"Léa Martin 15,5"}},
		{student2CA, []string{"Hugo Bernard Dispensé"}},
		{teacher2CA, []string{"Hugo Bernard Dispensé"}},
		{regionUser, nil},
	} {
		if diff := cmp.Diff(c.want, grades(c.u)); diff != "" {
			t.Errorf("ListGrades(%s) (-want +got):\n%s", c.u.Login, diff)
		}
	}
	if n := len(grades(staffA)); n != 3 {
		t.Errorf("ListGrades(staff) = %d grades, want 3", n)
	}
	evals, err := svc.ListEvaluations(ctx, studentA, "")
	if err != nil || len(evals) != 1 || evals[0].ID != e.ID {
		t.Errorf("ListEvaluations(student) = %+v, %v; want her class's one", evals, err)
	}
}
