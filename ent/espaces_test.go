package ent_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/record"
)

// The espaces' tests reuse the users of the cahier de textes' tests:
// colleagueA teaches 1B and TG2, teacher2CA and student2CA are of 2C.

const (
	spaceGrp  = "01890000-0000-7000-8000-0000000000e1"
	spaceAdu  = "01890000-0000-7000-8000-0000000000e2"
	spaceDoc  = "01890000-0000-7000-8000-0000000000e3"
	spaceV1   = "01890000-0000-7000-8000-0000000000e4"
	spaceV2   = "01890000-0000-7000-8000-0000000000e5"
	spaceDoc2 = "01890000-0000-7000-8000-0000000000e6"
	spaceV3   = "01890000-0000-7000-8000-0000000000e7"
)

func spaceCmd(t testing.TB, by ent.User, op string, args any, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: op, Partition: uaiA, Args: mustJSON(t, args), Time: at}
}

// testRef is a well-formed FileRef of a one-chunk file (Exec checks only
// its shape).
func testRef(name string) ent.FileRef {
	h := strings.Repeat("ab", 32)
	return ent.FileRef{Name: name, Type: "application/pdf", Size: 10, SHA256: h, Chunks: []string{h}}
}

// TestSpaceExecRules runs commands in order on one store: each is accepted
// or refused with its code, and a refusal writes nothing.
func TestSpaceExecRules(t *testing.T) {
	tx := homeworkTx(t)
	class1B := ent.ClassSpaceID(uaiA, "1B")
	group := func(members ...ent.User) ent.SpaceArgs {
		a := ent.SpaceArgs{ID: spaceGrp, Kind: ent.SpaceGroup, Name: "Projet théâtre"}
		for _, m := range members {
			a.Members = append(a.Members, m.ID)
		}
		return a
	}
	deposit := func(id, v, space, class string) ent.SpaceDepositArgs {
		return ent.SpaceDepositArgs{ID: id, VersionID: v, SpaceID: space, Class: class, Description: "Plan de l'exposé", File: testRef("plan.pdf")}
	}
	version := func(id, doc string) ent.SpaceVersionArgs {
		return ent.SpaceVersionArgs{ID: id, DocumentID: doc, File: testRef("plan-v2.pdf")}
	}
	del := func(id string) ent.SpaceDeleteArgs { return ent.SpaceDeleteArgs{ID: id} }
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"student creates", spaceCmd(t, studentA, ent.OpSpaceCreate, group(), t0), "forbidden"},
		{"relative creates", spaceCmd(t, relativeA, ent.OpSpaceCreate, group(), t0), "forbidden"},
		{"former teacher creates", spaceCmd(t, formerA, ent.OpSpaceCreate, group(), t0), "forbidden"},
		{"teacher of another lycée", spaceCmd(t, teacherB, ent.OpSpaceCreate, group(), t0), "forbidden"},
		{"teacher adds a student of another class", spaceCmd(t, teacherA, ent.OpSpaceCreate, group(studentA, student2CA), t0), "forbidden"},
		{"teacher adds a relative", spaceCmd(t, teacherA, ent.OpSpaceCreate, group(relativeA), t0), "forbidden"},
		{"member of another lycée", spaceCmd(t, teacherA, ent.OpSpaceCreate, group(studentB), t0), "invalid"},
		{"class kind", spaceCmd(t, teacherA, ent.OpSpaceCreate, ent.SpaceArgs{ID: spaceGrp, Kind: ent.SpaceClass, Name: "1B"}, t0), "invalid"},
		{"no name", spaceCmd(t, teacherA, ent.OpSpaceCreate, ent.SpaceArgs{ID: spaceGrp, Kind: ent.SpaceGroup, Name: " "}, t0), "invalid"},
		{"teacher: own student and a colleague", spaceCmd(t, teacherA, ent.OpSpaceCreate, group(studentA, teacher2CA), t0), ""},
		{"teacher: adults space", spaceCmd(t, teacherA, ent.OpSpaceCreate, ent.SpaceArgs{ID: spaceAdu, Kind: ent.SpaceAdults, Name: "Salle des profs"}, t0), ""},
		{"relative deposits in class space", spaceCmd(t, relativeA, ent.OpSpaceDeposit, deposit(spaceDoc, spaceV1, class1B, "1B"), t0+1), "forbidden"},
		{"other class deposits", spaceCmd(t, student2CA, ent.OpSpaceDeposit, deposit(spaceDoc, spaceV1, class1B, "1B"), t0+1), "forbidden"},
		{"class id of another class", spaceCmd(t, student2CA, ent.OpSpaceDeposit, deposit(spaceDoc, spaceV1, class1B, "2C"), t0+1), "not_found"},
		{"student in adults space", spaceCmd(t, studentA, ent.OpSpaceDeposit, deposit(spaceDoc, spaceV1, spaceAdu, ""), t0+1), "forbidden"},
		{"non-member in group", spaceCmd(t, colleagueA, ent.OpSpaceDeposit, deposit(spaceDoc, spaceV1, spaceGrp, ""), t0+1), "forbidden"},
		{"bad file", spaceCmd(t, studentA, ent.OpSpaceDeposit, ent.SpaceDepositArgs{ID: spaceDoc, VersionID: spaceV1, SpaceID: class1B, Class: "1B", Description: "x", File: ent.FileRef{Name: "a"}}, t0+1), "invalid"},
		{"no description", spaceCmd(t, studentA, ent.OpSpaceDeposit, ent.SpaceDepositArgs{ID: spaceDoc, VersionID: spaceV1, SpaceID: class1B, Class: "1B", File: testRef("a.pdf")}, t0+1), "invalid"},
		{"student of the class deposits", spaceCmd(t, studentA, ent.OpSpaceDeposit, deposit(spaceDoc, spaceV1, class1B, "1B"), t0+1), ""},
		{"group member deposits", spaceCmd(t, teacher2CA, ent.OpSpaceDeposit, deposit(spaceDoc2, spaceV3, spaceGrp, ""), t0+1), ""},
		{"other class versions", spaceCmd(t, student2CA, ent.OpSpaceVersion, version(spaceV2, spaceDoc), t0+2), "forbidden"},
		{"version of unknown document", spaceCmd(t, studentA, ent.OpSpaceVersion, version(spaceV2, spaceGrp), t0+2), "not_found"},
		{"teacher of the class versions", spaceCmd(t, colleagueA, ent.OpSpaceVersion, version(spaceV2, spaceDoc), t0+2), ""},
		{"other class deletes", spaceCmd(t, student2CA, ent.OpSpaceDelete, del(spaceDoc), t0+3), "forbidden"},
		{"group's student deletes a teacher's", spaceCmd(t, studentA, ent.OpSpaceDelete, del(spaceDoc2), t0+3), "forbidden"},
		{"group creator deletes", spaceCmd(t, teacherA, ent.OpSpaceDelete, del(spaceDoc2), t0+3), ""},
		{"teacher of the class deletes", spaceCmd(t, colleagueA, ent.OpSpaceDelete, del(spaceDoc), t0+3), ""},
		{"version of a deleted document", spaceCmd(t, studentA, ent.OpSpaceVersion, version("01890000-0000-7000-8000-0000000000e8", spaceDoc), t0+4), "not_found"},
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

// TestSpaceExecIdempotent: a retransmitted creation, deposit, version or
// delete writes nothing.
func TestSpaceExecIdempotent(t *testing.T) {
	tx := homeworkTx(t)
	create := spaceCmd(t, staffA, ent.OpSpaceCreate, ent.SpaceArgs{ID: spaceGrp, Kind: ent.SpaceGroup, Name: "CVL", Members: []string{student2CA.ID}}, t0)
	dep := spaceCmd(t, student2CA, ent.OpSpaceDeposit, ent.SpaceDepositArgs{ID: spaceDoc, VersionID: spaceV1, SpaceID: spaceGrp, Description: "Compte rendu", File: testRef("cr.pdf")}, t0+1)
	ver := spaceCmd(t, student2CA, ent.OpSpaceVersion, ent.SpaceVersionArgs{ID: spaceV2, DocumentID: spaceDoc, File: testRef("cr2.pdf")}, t0+2)
	del := spaceCmd(t, student2CA, ent.OpSpaceDelete, ent.SpaceDeleteArgs{ID: spaceDoc}, t0+3)
	steps := []struct {
		name string
		cmd  record.Command
		puts int
	}{
		{"create", create, 1}, {"create again", create, 0},
		{"deposit", dep, 2}, {"deposit again", dep, 0},
		{"version", ver, 1}, {"version again", ver, 0},
		{"delete", del, 1}, {"delete again", del, 0},
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

func spaceNames(sps []ent.Space) []string {
	var out []string
	for _, sp := range sps {
		out = append(out, sp.Name)
	}
	return out
}

// TestSpaceMembership checks who has which space, per profile, through the
// Service.
func TestSpaceMembership(t *testing.T) {
	svc, _ := homeworkService(t)
	ctx := t.Context()
	if _, err := svc.CreateSpace(ctx, teacherA, ent.SpaceArgs{Kind: ent.SpaceGroup, Name: "Théâtre", Members: []string{studentA.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateSpace(ctx, teacher2CA, ent.SpaceArgs{Kind: ent.SpaceAdults, Name: "Salle des profs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateSpace(ctx, teacherA, ent.SpaceArgs{Kind: ent.SpaceGroup, Name: "X", Members: []string{student2CA.ID}}); code(err) != "forbidden" {
		t.Errorf("CreateSpace(teacher of 1B, student of 2C) = %v, want forbidden", err)
	}
	if _, err := svc.CreateSpace(ctx, studentA, ent.SpaceArgs{Kind: ent.SpaceGroup, Name: "X"}); code(err) != "forbidden" {
		t.Errorf("CreateSpace(student) = %v, want forbidden", err)
	}
	if _, err := svc.CreateSpace(ctx, staffA, ent.SpaceArgs{Kind: ent.SpaceGroup, Name: "CVL", Members: []string{student2CA.ID, studentA.ID}}); err != nil {
		t.Errorf("CreateSpace(staff, students of two classes) = %v, want nil", err)
	}
	tests := []struct {
		user ent.User
		want []string
	}{
		{studentA, []string{"Classe 1B", "CVL", "Théâtre"}},
		{student2CA, []string{"Classe 2C", "CVL"}},
		{relativeA, nil},
		{teacherA, []string{"Classe 1B", "Salle des profs", "Théâtre"}},
		{colleagueA, []string{"Classe 1B", "Classe TG2", "Salle des profs"}},
		{teacher2CA, []string{"Classe 2C", "Salle des profs"}},
		{staffA, []string{"Classe 1B", "Classe 2C", "Classe TG2", "CVL", "Salle des profs", "Théâtre"}},
		{teacherB, nil},
		{regionUser, nil},
	}
	all, _ := svc.ListSpaces(ctx, staffA)
	for _, tt := range tests {
		got, err := svc.ListSpaces(ctx, tt.user)
		if err != nil {
			t.Fatalf("ListSpaces(%s) = %v", tt.user.Login, err)
		}
		if !slices.Equal(spaceNames(got), tt.want) {
			t.Errorf("ListSpaces(%s) = %q, want %q", tt.user.Login, spaceNames(got), tt.want)
		}
		for _, sp := range all {
			_, _, err := svc.GetSpace(ctx, tt.user, sp.ID)
			reads := slices.Contains(tt.want, sp.Name)
			// Of its lycée, a non-member is refused; others find nothing.
			refused := code(err) == "forbidden" && tt.user.UAI == uaiA || errors.Is(err, ent.ErrNotFound) && tt.user.UAI != uaiA
			if reads != (err == nil) || (!reads && !refused) {
				t.Errorf("GetSpace(%s, %q) = %v, want readable %v", tt.user.Login, sp.Name, err, reads)
			}
		}
	}
	cands, err := svc.SpaceCandidates(ctx, teacherA)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if c.Profile == ent.Relative || (c.Profile == ent.Student && !slices.Contains(c.Classes, "1B")) {
			t.Errorf("SpaceCandidates(teacher of 1B) offers %s (%s %v)", c.Login, c.Profile, c.Classes)
		}
	}
}

// TestSpaceVersions: a document and its versions through the Service,
// the latest first, numbered from the oldest, each file readable; who
// deletes.
func TestSpaceVersions(t *testing.T) {
	svc, clk := homeworkService(t)
	ctx := t.Context()
	class := ent.ClassSpaceID(uaiA, "1B")
	store := func(u ent.User, name, content string) ent.FileRef {
		t.Helper()
		ref, err := svc.StoreFile(ctx, u, uaiA, name, "text/plain", strings.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	d, err := svc.DepositSpaceDocument(ctx, studentA, class, " ", "Plan de l'exposé", store(studentA, "plan.txt", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Folder != ent.DefaultFolder {
		t.Errorf("folder of a deposit without one = %q, want %q", d.Folder, ent.DefaultFolder)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := svc.AddSpaceVersion(ctx, teacherA, class, d.ID, store(teacherA, "plan.txt", "v2")); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := svc.AddSpaceVersion(ctx, colleagueA, class, d.ID, store(colleagueA, "plan.txt", "v3")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddSpaceVersion(ctx, student2CA, class, d.ID, store(student2CA, "plan.txt", "x")); code(err) != "forbidden" {
		t.Errorf("AddSpaceVersion(student of 2C) = %v, want forbidden", err)
	}
	_, got, err := svc.GetSpaceDocument(ctx, studentA, class, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var contents []string
	var numbers []int
	for _, v := range got.Versions {
		b, err := io.ReadAll(svc.OpenFile(uaiA, v.File))
		if err != nil {
			t.Fatal(err)
		}
		contents, numbers = append(contents, string(b)), append(numbers, v.Number)
	}
	if !slices.Equal(contents, []string{"v3", "v2", "v1"}) || !slices.Equal(numbers, []int{3, 2, 1}) {
		t.Errorf("versions = %q numbered %v, want v3 v2 v1 numbered 3 2 1", contents, numbers)
	}
	if err := svc.DeleteSpaceDocument(ctx, teacher2CA, class, d.ID); code(err) != "forbidden" {
		t.Errorf("DeleteSpaceDocument(teacher of 2C) = %v, want forbidden", err)
	}
	other, err := svc.DepositSpaceDocument(ctx, colleagueA, class, "Cours", "Chapitre 1", store(colleagueA, "ch1.txt", "cours"))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteSpaceDocument(ctx, studentA, class, other.ID); code(err) != "forbidden" {
		t.Errorf("DeleteSpaceDocument(student, a teacher's) = %v, want forbidden", err)
	}
	if err := svc.DeleteSpaceDocument(ctx, studentA, class, d.ID); err != nil {
		t.Errorf("DeleteSpaceDocument(depositor) = %v, want nil", err)
	}
	if _, docs, err := svc.GetSpace(ctx, staffA, class); err != nil || len(docs) != 1 || docs[0].ID != other.ID || docs[0].Folder != "Cours" {
		t.Errorf("GetSpace after delete = %+v, %v; want only Chapitre 1 in Cours", docs, err)
	}
	if err := svc.DeleteSpaceDocument(ctx, staffA, class, other.ID); err != nil {
		t.Errorf("DeleteSpaceDocument(staff) = %v, want nil", err)
	}
}
