package directory

import (
	"fmt"
	"slices"
	"strings"

	"atrium/ent"
)

// Report is what an import run changes and what it met.
type Report struct {
	Created     []ent.User // in new, not in old
	Updated     []ent.User // in both, with directory fields changed (the new value)
	Unchanged   int
	Disappeared []ent.User // in old, not in new (the old value): reported, not deleted
	Rejected    []Problem
	Warnings    []Problem
}

// Diff compares the users of a previous run (old: the users previously
// imported from this académie, not the whole region) with those of this
// one (new), by ID. Only the fields the directory owns are compared:
// Login, Name, Profile, UAI, Children (as a set), JoinKey, Jointure,
// Surname, GivenName, BirthDate, Classes, Subjects and Functions (as
// sets); the account's fields (PasswordHash, Active, ActivationHash,
// MissingSince, Admin) belong to the account's life, not to the export.
// Created and Updated keep new's order, Disappeared old's. Rejected and
// Warnings are left for the caller (see Import.Report).
func Diff(old, new []ent.User) Report {
	var r Report
	prev := make(map[string]*ent.User, len(old))
	for i := range old {
		prev[old[i].ID] = &old[i]
	}
	seen := make(map[string]bool, len(new))
	for _, u := range new {
		seen[u.ID] = true
		p, ok := prev[u.ID]
		switch {
		case !ok:
			r.Created = append(r.Created, u)
		case sameDirectory(p, &u):
			r.Unchanged++
		default:
			r.Updated = append(r.Updated, u)
		}
	}
	for _, u := range old {
		if !seen[u.ID] {
			r.Disappeared = append(r.Disappeared, u)
		}
	}
	return r
}

func sameDirectory(a, b *ent.User) bool {
	return a.Login == b.Login && a.Name == b.Name && a.Profile == b.Profile && a.UAI == b.UAI &&
		a.JoinKey == b.JoinKey && a.Jointure == b.Jointure && a.Surname == b.Surname &&
		a.GivenName == b.GivenName && a.BirthDate == b.BirthDate &&
		sameSet(a.Children, b.Children) && sameSet(a.Classes, b.Classes) &&
		sameSet(a.Subjects, b.Subjects) && sameSet(a.Functions, b.Functions)
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if slices.Equal(a, b) {
		return true
	}
	ac, bc := slices.Clone(a), slices.Clone(b)
	slices.Sort(ac)
	slices.Sort(bc)
	return slices.Equal(ac, bc)
}

// Report diffs old against the view's Users and adds the problems met.
func (im *Import) Report(old []ent.User) Report {
	r := Diff(old, im.Users())
	r.Rejected, r.Warnings = im.Rejected(), im.Warnings()
	return r
}

// String is the run's report: a summary line with each word followed by
// its count (created N, updated N, unchanged N, disappeared N, rejected N,
// warnings N), then one line per rejected record and per warning.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "created %d, updated %d, unchanged %d, disappeared %d, rejected %d, warnings %d\n",
		len(r.Created), len(r.Updated), r.Unchanged, len(r.Disappeared), len(r.Rejected), len(r.Warnings))
	for _, p := range r.Rejected {
		fmt.Fprintf(&b, "rejected: %s\n", p)
	}
	for _, p := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", p)
	}
	return b.String()
}
