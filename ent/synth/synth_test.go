package synth_test

import (
	"context"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/ent/synth"
	"atrium/ent/uai"
	"atrium/record"
)

func TestRegionExecutes(t *testing.T) {
	cmds, accounts := synth.Region(1)
	st := enttest.New(ent.Exec)
	for i, c := range cmds {
		if c.Origin != record.OriginCentral {
			t.Errorf("command %d origin = %q, want %q", i, c.Origin, record.OriginCentral)
		}
		if err := st.Submit(context.Background(), c); err != nil {
			t.Fatalf("command %d (%s): %v", i, c.Op, err)
		}
	}
	for _, l := range synth.Lycees {
		if !uai.Valid(l.UAI) {
			t.Errorf("lycée %s has an invalid UAI", l.UAI)
		}
	}
	// Every profile in every lycée, one Région account, passwords that log in.
	have := map[[2]string]bool{}
	for _, a := range accounts {
		have[[2]string{a.UAI, a.Profile}] = true
	}
	for _, l := range synth.Lycees {
		for _, p := range []string{ent.Student, ent.Relative, ent.Teacher, ent.Personnel} {
			if !have[[2]string{l.UAI, p}] {
				t.Errorf("no %s account in %s", p, l.UAI)
			}
		}
	}
	if !have[[2]string{"", ent.Region}] {
		t.Error("no Région account")
	}
	svc, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: record.OriginCentral, SessionKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts[:2] {
		if _, u, err := svc.Login(t.Context(), a.Login, a.Password, ent.Client{}); err != nil || u.Profile != a.Profile {
			t.Errorf("Login(%s) = %v, %v; want profile %s", a.Login, u.Profile, err, a.Profile)
		}
	}
	// Hashes only in the commands.
	for _, c := range cmds {
		for _, a := range accounts {
			if strings.Contains(string(c.Args), a.Password) {
				t.Fatalf("command %s carries the clear password of %s", c.Op, a.Login)
			}
		}
	}
	// Re-executing the whole set duplicates nothing.
	before := len(st.Records())
	for _, c := range cmds {
		if err := st.Submit(context.Background(), c); err != nil {
			t.Fatalf("replay %s: %v", c.Op, err)
		}
	}
	if after := len(st.Records()); after != before {
		t.Errorf("replay: %d records, want %d", after, before)
	}
}

func TestRegionDeterministicIDs(t *testing.T) {
	a, _ := synth.Region(7)
	b, _ := synth.Region(7)
	for i := range a {
		if a[i].Op == ent.OpUserPut {
			continue // salted hashes differ
		}
		if string(a[i].Args) != string(b[i].Args) || a[i].Time != b[i].Time {
			t.Fatalf("command %d differs between two runs with one seed", i)
		}
	}
}
