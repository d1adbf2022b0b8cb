package ent_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"atrium/ent"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

// Absences reuse the cahier de textes' users of lycée A (homework_test.go):
// teacherA teaches 1B (studentA), teacher2CA teaches 2C (student2CA),
// relativeA is studentA's relative, staffA is the vie scolaire.

const (
	abs1 = "01890000-0000-7000-8000-0000000000c1"
	abs2 = "01890000-0000-7000-8000-0000000000c2"
)

func absArgs(id string, student ent.User) ent.AbsenceArgs {
	return ent.AbsenceArgs{ID: id, Student: student.ID, Date: "2026-01-05", Start: "08:00", End: "09:00", Kind: ent.AbsenceAbsent}
}

func absCmd(t testing.TB, by ent.User, op string, args any, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: op, Partition: uaiA, Args: mustJSON(t, args), Time: at}
}

func absGet(t *testing.T, tx record.Tx, id string) map[string]any {
	t.Helper()
	r, ok, err := tx.Get(uaiA, id)
	if err != nil || !ok {
		t.Fatalf("get %s = %v, %v", id, ok, err)
	}
	return decodeMap(t, r.Body)
}

// TestAbsenceExecRules runs commands in order on one store: each is
// accepted or refused with its code, and a refusal writes nothing.
func TestAbsenceExecRules(t *testing.T) {
	tx := homeworkTx(t)
	late := absArgs(abs2, student2CA)
	late.Kind = ent.AbsenceLate
	bad := func(f func(*ent.AbsenceArgs)) ent.AbsenceArgs { a := absArgs(abs1, studentA); f(&a); return a }
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"student records", absCmd(t, studentA, ent.OpAbsenceRecord, absArgs(abs1, studentA), t0), "forbidden"},
		{"relative records", absCmd(t, relativeA, ent.OpAbsenceRecord, absArgs(abs1, studentA), t0), "forbidden"},
		{"teacher of another class", absCmd(t, teacher2CA, ent.OpAbsenceRecord, absArgs(abs1, studentA), t0), "forbidden"},
		{"former teacher", absCmd(t, formerA, ent.OpAbsenceRecord, absArgs(abs1, studentA), t0), "forbidden"},
		{"teacher of another lycée", absCmd(t, teacherB, ent.OpAbsenceRecord, absArgs(abs1, studentA), t0), "forbidden"},
		{"not a student", absCmd(t, staffA, ent.OpAbsenceRecord, absArgs(abs1, teacherA), t0), "not_found"},
		{"bad id", absCmd(t, teacherA, ent.OpAbsenceRecord, absArgs("x", studentA), t0), "invalid"},
		{"bad date", absCmd(t, teacherA, ent.OpAbsenceRecord, bad(func(a *ent.AbsenceArgs) { a.Date = "05/01/2026" }), t0), "invalid"},
		{"bad slot", absCmd(t, teacherA, ent.OpAbsenceRecord, bad(func(a *ent.AbsenceArgs) { a.Start = "8h" }), t0), "invalid"},
		{"slot ends before it starts", absCmd(t, teacherA, ent.OpAbsenceRecord, bad(func(a *ent.AbsenceArgs) { a.End = "07:00" }), t0), "invalid"},
		{"bad kind", absCmd(t, teacherA, ent.OpAbsenceRecord, bad(func(a *ent.AbsenceArgs) { a.Kind = "sortie" }), t0), "invalid"},
		{"teacher of the class", absCmd(t, teacherA, ent.OpAbsenceRecord, absArgs(abs1, studentA), t0), ""},
		{"staff, any student", absCmd(t, staffA, ent.OpAbsenceRecord, late, t0), ""},
		{"teacher justifies", absCmd(t, teacherA, ent.OpAbsenceJustify, ent.AbsenceJustifyArgs{ID: abs1, Motif: ent.MotifIllness}, t0+1), "forbidden"},
		{"student justifies", absCmd(t, studentA, ent.OpAbsenceJustify, ent.AbsenceJustifyArgs{ID: abs1, Motif: ent.MotifIllness}, t0+1), "forbidden"},
		{"another family's relative", absCmd(t, relativeA, ent.OpAbsenceJustify, ent.AbsenceJustifyArgs{ID: abs2, Motif: ent.MotifIllness}, t0+1), "forbidden"},
		{"unknown motif", absCmd(t, relativeA, ent.OpAbsenceJustify, ent.AbsenceJustifyArgs{ID: abs1, Motif: "flemme"}, t0+1), "invalid"},
		{"other without comment", absCmd(t, relativeA, ent.OpAbsenceJustify, ent.AbsenceJustifyArgs{ID: abs1, Motif: ent.MotifOther}, t0+1), "invalid"},
		{"unknown absence", absCmd(t, relativeA, ent.OpAbsenceJustify, ent.AbsenceJustifyArgs{ID: hw1, Motif: ent.MotifIllness}, t0+1), "not_found"},
		{"relative justifies", absCmd(t, relativeA, ent.OpAbsenceJustify, ent.AbsenceJustifyArgs{ID: abs1, Motif: ent.MotifIllness, Comment: "Fièvre"}, t0+1), ""},
		{"teacher sets status", absCmd(t, teacherA, ent.OpAbsenceStatus, ent.AbsenceStatusArgs{ID: abs1, Status: ent.AbsenceJustified}, t0+2), "forbidden"},
		{"relative sets status", absCmd(t, relativeA, ent.OpAbsenceStatus, ent.AbsenceStatusArgs{ID: abs1, Status: ent.AbsenceJustified}, t0+2), "forbidden"},
		{"unknown status", absCmd(t, staffA, ent.OpAbsenceStatus, ent.AbsenceStatusArgs{ID: abs1, Status: "excusee"}, t0+2), "invalid"},
		{"staff sets status", absCmd(t, staffA, ent.OpAbsenceStatus, ent.AbsenceStatusArgs{ID: abs1, Status: ent.AbsenceJustified}, t0+2), ""},
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
	got := absGet(t, tx, abs1)
	for k, want := range map[string]any{"class": "1B", "status": ent.AbsenceJustified, "motif": ent.MotifIllness, "comment": "Fièvre", "justifiedBy": relativeA.Name} {
		if got[k] != want {
			t.Errorf("absence %s = %v, want %v", k, got[k], want)
		}
	}
	if got := absGet(t, tx, abs2)["class"]; got != "2C" {
		t.Errorf("class of the absence staff recorded = %v, want 2C", got)
	}
}

// TestAbsenceOwnership: the justification and the status, written on either
// side of a cut and applied in either order, both stand; each side's
// retransmitted or older write is a no-op.
func TestAbsenceOwnership(t *testing.T) {
	justify := func(at int64, comment string) record.Command {
		return absCmd(t, relativeA, ent.OpAbsenceJustify, ent.AbsenceJustifyArgs{ID: abs1, Motif: ent.MotifMedical, Comment: comment}, at)
	}
	status := func(at int64, s string) record.Command {
		return absCmd(t, staffA, ent.OpAbsenceStatus, ent.AbsenceStatusArgs{ID: abs1, Status: s}, at)
	}
	orders := map[string][]record.Command{
		"justify first": {justify(t0+10, "Dentiste"), status(t0+20, ent.AbsenceUnjustified)},
		"status first":  {status(t0+20, ent.AbsenceUnjustified), justify(t0+10, "Dentiste")},
		"with retransmissions and late writes": {status(t0+20, ent.AbsenceUnjustified), justify(t0+10, "Dentiste"),
			status(t0+20, ent.AbsenceUnjustified), status(t0+15, ent.AbsencePending), justify(t0+5, "Ancien"), justify(t0+10, "Dentiste")},
	}
	for name, cmds := range orders {
		tx := homeworkTx(t)
		if err := ent.Exec(tx, absCmd(t, teacherA, ent.OpAbsenceRecord, absArgs(abs1, studentA), t0)); err != nil {
			t.Fatal(err)
		}
		if err := ent.Exec(tx, absCmd(t, teacherA, ent.OpAbsenceRecord, absArgs(abs1, studentA), t0+30)); err != nil {
			t.Errorf("%s: retransmitted record = %v, want nil", name, err)
		}
		for _, c := range cmds {
			if err := ent.Exec(tx, c); err != nil {
				t.Fatalf("%s: %s = %v", name, c.Op, err)
			}
		}
		got := absGet(t, tx, abs1)
		want := map[string]any{"status": ent.AbsenceUnjustified, "motif": ent.MotifMedical, "comment": "Dentiste", "recorded": float64(t0)}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: absence %s = %v, want %v", name, k, got[k], w)
			}
		}
	}
}

func absenceIDs(as []ent.Absence) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// TestAbsenceReaders: who reads which absence, through the Service.
func TestAbsenceReaders(t *testing.T) {
	svc, clk := homeworkService(t)
	ctx := t.Context()
	a1, err := svc.RecordAbsence(ctx, teacherA, ent.AbsenceArgs{Student: studentA.ID, Date: "2026-01-05", Start: "08:00", End: "09:00", Kind: ent.AbsenceAbsent})
	if err != nil {
		t.Fatalf("RecordAbsence(teacher) = %v", err)
	}
	clk.t = clk.t.Add(time.Second)
	a2, err := svc.RecordAbsence(ctx, staffA, ent.AbsenceArgs{Student: student2CA.ID, Date: "2026-01-06", Start: "10:00", End: "10:15", Kind: ent.AbsenceLate})
	if err != nil {
		t.Fatalf("RecordAbsence(staff) = %v", err)
	}
	if a1.Status != ent.AbsencePending || a1.Class != "1B" || a1.StudentName != studentA.Name || a1.Slot() != "08:00–09:00" {
		t.Errorf("RecordAbsence = %+v, want pending, 1B, %s, 08:00–09:00", a1, studentA.Name)
	}
	tests := []struct {
		who  ent.User
		want []string
	}{
		{staffA, []string{a2.ID, a1.ID}},
		{teacherA, []string{a1.ID}},
		{colleagueA, []string{a1.ID}},
		{teacher2CA, []string{a2.ID}},
		{studentA, []string{a1.ID}},
		{student2CA, []string{a2.ID}},
		{relativeA, []string{a1.ID}},
		{teacherB, nil},
		{regionUser, nil},
	}
	for _, tt := range tests {
		got, err := svc.ListAbsences(ctx, tt.who)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, absenceIDs(got)); diff != "" {
			t.Errorf("ListAbsences(%s) (-want +got):\n%s", tt.who.Login, diff)
		}
		_, err = svc.GetAbsence(ctx, tt.who, a2.ID)
		if seen := err == nil; seen != (len(tt.want) > 0 && tt.want[0] == a2.ID) {
			t.Errorf("GetAbsence(%s, a2) = %v", tt.who.Login, err)
		}
	}
	if _, err := svc.JustifyAbsence(ctx, relativeA, a2.ID, ent.MotifIllness, ""); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("JustifyAbsence(another family's) = %v, want ErrNotFound", err)
	}
	if _, err := svc.SetAbsenceStatus(ctx, teacherA, a1.ID, ent.AbsenceJustified); code(err) != "forbidden" {
		t.Errorf("SetAbsenceStatus(teacher) = %v, want forbidden", err)
	}
	if _, err := svc.RecordAbsence(ctx, teacherA, ent.AbsenceArgs{Student: student2CA.ID, Date: "2026-01-05", Start: "08:00", End: "09:00", Kind: ent.AbsenceAbsent}); code(err) != "forbidden" {
		t.Errorf("RecordAbsence(teacher, another class's student) = %v, want forbidden", err)
	}
	clk.t = clk.t.Add(time.Second)
	j, err := svc.JustifyAbsence(ctx, relativeA, a1.ID, ent.MotifTransport, "Grève des bus")
	if err != nil || j.Motif != ent.MotifTransport || j.Status != ent.AbsencePending || j.JustifiedBy != relativeA.Name {
		t.Errorf("JustifyAbsence = %+v, %v, want transport, still pending", j, err)
	}
	clk.t = clk.t.Add(time.Second)
	st, err := svc.SetAbsenceStatus(ctx, staffA, a1.ID, ent.AbsenceJustified)
	if err != nil || st.Status != ent.AbsenceJustified || st.Comment != "Grève des bus" || st.StatusLabel() != "Justifiée" {
		t.Errorf("SetAbsenceStatus = %+v, %v, want justifiée, justification kept", st, err)
	}
	students, err := svc.AbsenceStudents(ctx, teacherA)
	if err != nil {
		t.Fatal(err)
	}
	var logins []string
	for _, u := range students {
		logins = append(logins, u.Login)
	}
	if diff := cmp.Diff([]string{studentA.Login}, logins); diff != "" {
		t.Errorf("AbsenceStudents(teacher) (-want +got):\n%s", diff)
	}
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
