package ent

import (
	"bytes"
	"slices"
	"sort"

	"atrium/record"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// CanReach reports whether from may send a message to to: the
// communication rules that protect minors. Within one lycée (the messaging
// never crosses lycées, and Région staff have none):
//
//   - A Teacher or a Personnel reaches everyone of their lycée: they are the
//     adults the lycée employs and answers for, and their work (a class
//     council, the vie scolaire, the direction) concerns any pupil and any
//     family.
//   - A Student reaches the students who share one of their classes, the
//     teachers of one of their classes, every Personnel of the lycée, and
//     their own relatives (a Relative who lists the student among their
//     children). Never a student of another class, a teacher of none of
//     their classes (that teacher may write to them first), or another
//     family's relative.
//   - A Relative reaches the teachers of one of their children's classes,
//     every Personnel of the lycée and their own children. Never another
//     family's child, never another relative.
//
// Personnel count among "the adults of the class": the CPE and the vie
// scolaire, the direction, the nurse, the librarian and the secretariat
// serve every class, a pupil or a parent must reach them (to report a
// problem, to justify an absence) without knowing which of them is in
// charge, and they are staff of the lycée, not strangers. The directory's
// function codes are too uneven across académies to narrow this safely.
//
// Classes are compared by name within the lycée, as the directory import
// fills User.Classes for students and teachers; a student or a teacher
// without classes (not yet in the directory) is reached only through what
// needs no class.
//
// fromChildren are from's children when from is a Relative (the users whose
// ids from.Children lists; nil otherwise): their classes decide which
// teachers the relative reaches. Users of fromChildren that from.Children
// does not list are ignored. The caller checks that both users exist and
// are active. CanReach is pure.
func CanReach(from, to User, fromChildren []User) bool {
	if from.Profile == Region || to.Profile == Region || from.UAI == "" || from.UAI != to.UAI || from.ID == to.ID {
		return false
	}
	switch from.Profile {
	case Teacher, Personnel:
		return true
	case Student:
		switch to.Profile {
		case Student, Teacher:
			return shareClass(from.Classes, to.Classes)
		case Personnel:
			return true
		case Relative:
			return slices.Contains(to.Children, from.ID)
		}
	case Relative:
		switch to.Profile {
		case Student:
			return slices.Contains(from.Children, to.ID)
		case Teacher:
			for _, c := range fromChildren {
				if c.Profile == Student && c.UAI == from.UAI && slices.Contains(from.Children, c.ID) && shareClass(c.Classes, to.Classes) {
					return true
				}
			}
			return false
		case Personnel:
			return true
		}
	}
	return false
}

// shareClass reports whether two lists of class names have one in common.
func shareClass(a, b []string) bool {
	for _, c := range a {
		if c != "" && slices.Contains(b, c) {
			return true
		}
	}
	return false
}

// reachRule is the French refusal a user reads when CanReach says no: the
// rule of their profile, nothing about the recipient (not even whether
// they are a student or in which class).
func reachRule(profile string) string {
	switch profile {
	case Student:
		return "Vous ne pouvez pas écrire à ce destinataire : un élève écrit aux élèves et aux enseignants de ses classes, aux personnels du lycée et à ses responsables légaux."
	case Relative:
		return "Vous ne pouvez pas écrire à ce destinataire : un responsable légal écrit aux enseignants des classes de ses enfants, aux personnels du lycée et à ses enfants."
	}
	return "Vous ne pouvez pas écrire à ce destinataire."
}

// childrenOf returns the live children of a Relative u, as read in
// partition (their lycée); nil for any other profile.
func childrenOf(r record.Reader, u User) ([]User, error) {
	if u.Profile != Relative {
		return nil, nil
	}
	var out []User
	for _, id := range u.Children {
		c, ok, err := userByID(r, u.UAI, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// sortUsers sorts users as the accounts list does: by profile (staff,
// teachers, students, relatives), then surname and given name in French
// order, then login. Collation keys are computed once per user: a lycée
// has thousands.
func sortUsers(us []User) {
	col := collate.New(language.French, collate.Loose) // not safe for concurrent use: one per call
	var buf collate.Buffer
	keys := make(map[string][]byte, len(us))
	for _, u := range us {
		keys[u.ID] = bytes.Clone(col.KeyFromString(&buf, sortName(u)))
		buf.Reset()
	}
	sort.SliceStable(us, func(i, j int) bool {
		a, b := us[i], us[j]
		if pa, pb := profileOrder[a.Profile], profileOrder[b.Profile]; pa != pb {
			return pa < pb
		}
		if c := bytes.Compare(keys[a.ID], keys[b.ID]); c != 0 {
			return c < 0
		}
		return a.Login < b.Login
	})
}
