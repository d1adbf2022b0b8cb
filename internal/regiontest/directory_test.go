package regiontest_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/importer"
	"atrium/internal/regiontest"
	"atrium/record"
)

// setPaths lists the files of dir whose names contain part.
func setPaths(t *testing.T, dir, part string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), part) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// The académies' export set goes through the operator API (as `atrium ctl
// aaf import` sends it) into the three-node cluster; the same set twice
// changes nothing; a Delta day applies on top of what central kept; a dry
// run and a truncated set change nothing; the imported accounts reach
// their lycée's edge.
func TestDirectoryImportThroughTheCluster(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{NoEdges: true})
	ctx := t.Context()
	dir := t.TempDir()
	sum, err := aaf.Generate(dir, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 30, DeltaDays: 1, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	client := r.Admin()
	var progress []importer.Progress
	rep, err := client.ImportFiles(ctx, setPaths(t, dir, "_Complet_"), false, func(p importer.Progress) { progress = append(progress, p) })
	if err != nil {
		t.Fatalf("import Complet: %v", err)
	}
	persons := sum.Students + sum.Relatives + sum.Teachers + sum.Staff
	if rep.Created == 0 || rep.Rejected != 0 || rep.Persons != persons || len(rep.UAIs) != 2 {
		t.Fatalf("Complet: %s; want accounts created for %d persons in 2 lycées, none rejected", rep, persons)
	}
	if len(progress) == 0 || progress[len(progress)-1].Stage != "write" {
		t.Errorf("progress lines %v: want some, the last of the write stage", progress)
	}
	uai := rep.UAIs[0]
	before, err := client.Users(ctx, uai)
	if err != nil {
		t.Fatal(err)
	}
	var student ent.User
	for _, u := range before {
		if u.Profile == ent.Student {
			student = u
			break
		}
	}
	if student.ID == "" || student.Active || len(student.Classes) == 0 || student.JoinKey == "" {
		t.Fatalf("imported student %+v: want an inactive student with classes and a join key", student)
	}

	again, err := client.ImportFiles(ctx, setPaths(t, dir, "_Complet_"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Created != 0 || again.Updated != 0 || again.Unchanged != rep.Created {
		t.Errorf("same set again: %s; want nothing created or updated", again)
	}

	// A dry run of the Delta day, then a truncated copy of it: nothing changes.
	dry, err := client.ImportFiles(ctx, setPaths(t, dir, "_Delta_"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.Created+dry.Updated+dry.Disappeared == 0 {
		t.Errorf("dry run of a Delta day: %s; want changes announced", dry)
	}
	bad := t.TempDir()
	var badPaths []string
	for _, p := range setPaths(t, dir, "_Delta_") {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p, "_Eleve_") {
			b = b[:len(b)/2]
		}
		np := filepath.Join(bad, filepath.Base(p))
		if err := os.WriteFile(np, b, 0o600); err != nil {
			t.Fatal(err)
		}
		badPaths = append(badPaths, np)
	}
	if _, err := client.ImportFiles(ctx, badPaths, false, nil); err == nil || !strings.Contains(err.Error(), "_Eleve_") {
		t.Errorf("truncated Delta set: %v; want an error naming the Eleve file", err)
	}
	after, err := client.Users(ctx, uai)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("a dry run and a failed run changed the accounts of %s", uai)
	}

	delta, err := client.ImportFiles(ctx, setPaths(t, dir, "_Delta_"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if delta.Created != dry.Created || delta.Updated != dry.Updated || delta.Disappeared != dry.Disappeared {
		t.Errorf("Delta day: %s; the dry run announced %s", delta, dry)
	}
	reps, err := client.Imports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 3 || reps[0].ID != delta.ID {
		t.Errorf("stored reports: %d, newest %v; want 3 (dry runs are not stored), newest the Delta's", len(reps), reps)
	}

	// The lycée's edge receives its accounts, and only its own.
	r.AddEdge(uai)
	r.WaitSynced(uai)
	now, err := client.Users(ctx, uai)
	if err != nil {
		t.Fatal(err)
	}
	regiontest.Eventually(t, 10*time.Second, func() error {
		seen := map[string]bool{}
		err := r.Edge(uai).Node.Store().View(func(rd record.Reader) error {
			return rd.Scan(uai, ent.KindUser, func(rec record.Record) error {
				var u ent.User
				if err := json.Unmarshal(rec.Body, &u); err != nil {
					return err
				}
				seen[u.ID] = true
				return nil
			})
		})
		if err != nil {
			return err
		}
		for _, u := range now {
			if !seen[u.ID] {
				return fmt.Errorf("edge %s lacks account %s", uai, u.Login)
			}
		}
		if len(seen) != len(now) {
			return fmt.Errorf("edge %s holds %d accounts, central %d", uai, len(seen), len(now))
		}
		return nil
	})
}

// An imported student activates their account at the lycée's edge while
// its link is cut, writes to a teacher, and — once the link is back — logs
// in from home with the password chosen at school.
func TestActivationAtAnOfflineEdge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{NoEdges: true})
	ctx := t.Context()
	dir := t.TempDir()
	if _, err := aaf.Generate(dir, aaf.GenConfig{Lycees: 1, StudentsPerLycee: 20, Seed: 12}); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Admin().ImportFiles(ctx, setPaths(t, dir, "_Complet_"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	uai := rep.UAIs[0]
	users, err := r.Admin().Users(ctx, uai)
	if err != nil {
		t.Fatal(err)
	}
	// A student and a teacher of one of the student's classes (the rules
	// that protect minors let a student write only to those).
	var student, teacher ent.User
	for _, u := range users {
		if u.Profile == ent.Student && student.ID == "" {
			student = u
		}
	}
	for _, u := range users {
		if u.Profile == ent.Teacher && teacher.ID == "" && slices.ContainsFunc(u.Classes, func(c string) bool { return slices.Contains(student.Classes, c) }) {
			teacher = u
		}
	}
	if teacher.ID == "" {
		t.Fatalf("no teacher of %s's classes %v in the generated lycée", student.Login, student.Classes)
	}
	svc := r.Central(r.Leader()).Service()
	// The teacher activates at central (from home); the student's code is
	// on the letter the lycée printed at central.
	if _, err := regiontest.Activate(ctx, r.Central(0).URL(), teacher.Login, svc.ActivationCode(teacher.ID), "prof-password"); err != nil {
		t.Fatal(err)
	}
	code := svc.ActivationCode(student.ID)
	edge := r.AddEdge(uai)
	r.WaitSynced(uai)
	r.CutWAN(uai)
	r.WaitOffline(uai)

	if _, err := regiontest.Login(ctx, edge.URL(), student.Login, "eleve-password"); err == nil {
		t.Fatal("login before activation succeeded at the edge")
	}
	s, err := regiontest.Activate(ctx, edge.URL(), student.Login, code, "eleve-password")
	if err != nil {
		t.Fatalf("activation at the offline edge: %v", err)
	}
	if _, err := s.Send(ctx, teacher.Login, "Question sur le devoir", "Bonjour, pour quand est le devoir ?"); err != nil {
		t.Fatalf("message from the newly activated student at the offline edge: %v", err)
	}
	if _, err := regiontest.Activate(ctx, edge.URL(), student.Login, code, "other-password"); err == nil {
		t.Error("the activation code worked twice")
	}

	r.RestoreWAN(uai)
	r.WaitSynced(uai)
	home := r.Central((r.Leader() + 1) % 3).URL()
	regiontest.Eventually(t, 15*time.Second, func() error {
		_, err := regiontest.Login(ctx, home, student.Login, "eleve-password")
		return err
	})
	prof, err := regiontest.Login(ctx, home, teacher.Login, "prof-password")
	if err != nil {
		t.Fatal(err)
	}
	regiontest.Eventually(t, 10*time.Second, func() error {
		msgs, err := prof.Messages(ctx)
		if err != nil {
			return err
		}
		if countSubject(msgs, "Question sur le devoir") != 1 {
			return fmt.Errorf("teacher sees %d copies of the student's message, want 1", countSubject(msgs, "Question sur le devoir"))
		}
		return nil
	})
}
