package directory

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"atrium/ent"
	"atrium/ent/aaf"

	"github.com/google/uuid"
)

// namespace is the UUID namespace of the ids of imported users. Never
// change it: ids derive from it.
var namespace = uuid.MustParse("6f1d5a2e-3c4b-5e8f-9a0b-a7c1e2d3f405")

// UserID returns the id of the user whose join key is key: the version 5
// UUID of "aaf:" + key in Atrium's namespace.
func UserID(key string) string { return uuid.NewSHA1(namespace, []byte("aaf:"+key)).String() }

// maxLoginBase leaves room for a suffix under ent's 64-byte login limit.
const maxLoginBase = 56

// Reserve declares users that already exist (typically every user of the
// region, read from the store): an imported user whose id is among them
// keeps its login, and no other imported user is given one of their
// logins. Later calls add to earlier ones.
func (im *Import) Reserve(existing []ent.User) {
	for _, u := range existing {
		if u.Login == "" {
			continue
		}
		im.reserved[u.Login] = u.ID
		im.logins[u.ID] = u.Login
	}
}

// profileRank orders Users: students first, so that the relatives who
// name them come after them.
func profileRank(p string) int {
	switch p {
	case ent.Student:
		return 0
	case ent.Teacher:
		return 1
	case ent.Personnel:
		return 2
	}
	return 3
}

// compareIDs orders AAF ids numerically when they are numbers (shorter
// first), then as strings.
func compareIDs(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// People returns the view's people, students first, then teachers, staff
// and relatives, each by AAF id. A relative's UAI is the lycée of their
// first (lowest id) legal child, and Children the legal children in that
// lycée: a User belongs to one lycée. A relative without a legal child in
// the set has no UAI and yields no user (Warnings says so).
func (im *Import) People() []Person {
	ps := make([]Person, 0, len(im.people))
	im.walk(func(p *Person, _ []int32) { ps = append(ps, *p) }, nil)
	return ps
}

// Warnings returns the problems that did not stop a record: malformed
// values met while applying, then references to people, lycées or
// subjects missing from the set, by record.
func (im *Import) Warnings() []Problem {
	ws := append([]Problem(nil), im.warnings...)
	im.walk(func(*Person, []int32) {}, func(p Problem) { ws = append(ws, p) })
	return ws
}

// Len returns the number of persons in the view.
func (im *Import) Len() int { return len(im.people) }

// sorted returns the people in People's order.
func (im *Import) sorted() []*entry {
	if im.order != nil {
		return im.order
	}
	order := make([]*entry, 0, len(im.people))
	for _, e := range im.people {
		order = append(order, e)
	}
	n := len(im.academie) + 1
	slices.SortFunc(order, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.prof, b.prof), compareIDs(a.key[n:], b.key[n:]))
	})
	im.order = order
	return order
}

// walk derives the people in People's order and resolves their
// references: fn gets each person, with a relative's UAI and Children set
// and, for a relative, the positions (in this walk) of those children.
// Problems with references go to warn if not nil.
func (im *Import) walk(fn func(p *Person, children []int32), warn func(Problem)) {
	order := im.sorted()
	problem := func(e *entry, reason string) {
		if warn != nil {
			warn(Problem{File: e.file, Record: e.key[len(im.academie)+1:], Reason: reason})
		}
	}
	lycee := func(e *entry, u string) {
		if _, ok := im.structures[u]; len(im.structures) > 0 && !ok {
			problem(e, fmt.Sprintf("lycée %s missing from EtabEducNat", u))
		}
	}
	is := func(id string, cat string) bool {
		e, ok := im.people[id]
		return ok && aaf.CategoryOrder()[e.cat] == cat
	}
	legal := map[string][]int32{} // relative id -> positions of their legal children, by id
	var uais []string             // the students' UAIs, by position
	var kids []int32
	for i, e := range order {
		p := im.person(e)
		kids = kids[:0]
		switch p.Profile {
		case ent.Student:
			lycee(e, p.UAI)
			uais = append(uais, p.UAI)
			for _, l := range p.Links {
				if !is(l.Relative, aaf.PersRelEleve) {
					problem(e, fmt.Sprintf("relative %s missing from the set", l.Relative))
					continue
				}
				if k := legal[l.Relative]; l.Legal && (len(k) == 0 || k[len(k)-1] != int32(i)) {
					legal[l.Relative] = append(k, int32(i))
				}
			}
		case ent.Teacher, ent.Personnel:
			lycee(e, p.UAI)
			for _, s := range p.Subjects {
				if _, ok := im.subjects[s]; len(im.subjects) > 0 && !ok {
					problem(e, fmt.Sprintf("subject %s missing from MatiereEducNat", s))
				}
			}
		case ent.Relative:
			for _, s := range p.Students {
				if !is(s, aaf.Eleve) {
					problem(e, fmt.Sprintf("student %s missing from the set", s))
				}
			}
			all := legal[p.AAFID]
			if len(all) == 0 {
				problem(e, "no legal child in the set: no account")
				break
			}
			p.UAI = uais[all[0]]
			for _, k := range all {
				c := order[k]
				if u := uais[k]; u == p.UAI {
					p.Children = append(p.Children, c.key[len(im.academie)+1:])
					kids = append(kids, k)
				} else {
					problem(e, fmt.Sprintf("child %s is in another lycée (%s): not linked", c.key[len(im.academie)+1:], u))
				}
			}
		}
		fn(&p, kids)
	}
}

// Users returns the view's people as ent.User values ready for user.put,
// in People's order (students before the relatives who name them). ID is
// UserID of the join key; Login is the reserved one for a known id, else
// prenom.nom with the smallest free suffix (2, 3, …), allocated in this
// order; Active is false and PasswordHash empty (activation comes later);
// a relative's Children are their legal children's ids. People without a
// lycée (relatives without a legal child) are left out.
//
// The directory fields: JoinKey is the join key, Jointure, Surname,
// GivenName and BirthDate as People gives them; Classes the names of the
// person's classes in their lycée (a student's ENTEleveClasses, a
// teacher's classes), sorted, without duplicates; Subjects a teacher's
// subject codes, sorted, without duplicates; Functions the function codes
// (second field of ENTPersonFonctions: DIR, EDU, ENS, …) of a teacher or
// staff member in their lycée, sorted, without duplicates; Admin is set
// for those whose functions include DIR (the direction).
func (im *Import) Users() []ent.User { return im.users(nil) }

// UsersAndWarnings returns Users and Warnings, deriving the people once
// for both (the importer needs both, and a region's walk costs seconds).
func (im *Import) UsersAndWarnings() ([]ent.User, []Problem) {
	ws := append([]Problem(nil), im.warnings...)
	us := im.users(func(p Problem) { ws = append(ws, p) })
	return us, ws
}

// users is Users; the problems with references go to warn if not nil.
func (im *Import) users(warn func(Problem)) []ent.User {
	taken := make(map[string]string, len(im.reserved)+len(im.people))
	for l, id := range im.reserved {
		taken[l] = id
	}
	next := map[string]int{} // login base -> smallest suffix that may be free
	out := make([]ent.User, 0, len(im.people))
	ids := make([]string, 0, len(im.people)) // user ids by walk position; "" if left out
	im.walk(func(p *Person, kids []int32) {
		if p.UAI == "" {
			ids = append(ids, "")
			return
		}
		u := ent.User{
			ID: UserID(p.Key), Name: p.Name(), Profile: p.Profile, UAI: p.UAI,
			JoinKey: p.Key, Jointure: p.Jointure, Surname: p.Surname, GivenName: p.Given, BirthDate: p.BirthDate,
		}
		ids = append(ids, u.ID)
		for _, k := range kids {
			u.Children = append(u.Children, ids[k])
		}
		switch p.Profile {
		case ent.Student:
			for _, c := range p.Classes {
				if c.UAI == p.UAI {
					u.Classes = append(u.Classes, c.Name)
				}
			}
		case ent.Teacher, ent.Personnel:
			for _, t := range p.Teachings {
				if t.Class.UAI == p.UAI {
					u.Classes = append(u.Classes, t.Class.Name)
				}
			}
			u.Subjects = sortedSet(append([]string(nil), p.Subjects...))
			var f [8]string
			for _, v := range p.Functions {
				if f := split(v, f[:0]); len(f) > 1 && f[1] != "" && strings.EqualFold(f[0], p.UAI) {
					u.Functions = append(u.Functions, f[1])
				}
			}
			u.Functions = sortedSet(u.Functions)
			u.Admin = slices.Contains(u.Functions, "DIR")
		}
		u.Classes = sortedSet(u.Classes)
		if l, ok := im.logins[u.ID]; ok {
			u.Login = l
		} else {
			base := loginBase(p.Given, p.Surname)
			u.Login = base
			if t := taken[base]; t != "" && t != u.ID {
				// Every suffix below next[base] was taken when tried, and
				// logins are never freed: start there.
				n := max(next[base], 2)
				for u.Login = base + strconv.Itoa(n); taken[u.Login] != "" && taken[u.Login] != u.ID; n++ {
					u.Login = base + strconv.Itoa(n+1)
				}
				next[base] = n + 1
			}
		}
		taken[u.Login] = u.ID
		out = append(out, u)
	}, warn)
	return out
}

// sortedSet sorts s and removes duplicates, in place; nil stays nil.
func sortedSet(s []string) []string {
	if len(s) < 2 {
		return s
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// loginBase is prenom.nom in lower-case ASCII: accents dropped, spaces
// and hyphens as '-', other characters removed.
func loginBase(given, surname string) string {
	g, s := slug(given), slug(surname)
	base := s
	if g != "" {
		base = g + "." + s
	}
	if s == "" {
		base = cmp.Or(g, "user")
	}
	if len(base) > maxLoginBase {
		base = strings.TrimRight(base[:maxLoginBase], "-.")
	}
	return base
}

var folds = map[rune]string{
	'à': "a", 'â': "a", 'ä': "a", 'á': "a", 'ã': "a", 'å': "a",
	'ç': "c", 'é': "e", 'è': "e", 'ê': "e", 'ë': "e",
	'î': "i", 'ï': "i", 'í': "i", 'ì': "i", 'ñ': "n",
	'ô': "o", 'ö': "o", 'ó': "o", 'ò': "o", 'õ': "o", 'ø': "o",
	'ù': "u", 'û': "u", 'ü': "u", 'ú': "u", 'ý': "y", 'ÿ': "y",
	'œ': "oe", 'æ': "ae", 'ß': "ss",
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case folds[r] != "":
			b.WriteString(folds[r])
			dash = false
		case r == ' ' || r == '-' || r == '_':
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	return strings.TrimRight(b.String(), "-")
}
