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
	ps, _ := im.resolve()
	return ps
}

// Warnings returns the problems that did not stop a record: malformed
// values met while applying, then references to people, lycées or
// subjects missing from the set, by record.
func (im *Import) Warnings() []Problem {
	_, ws := im.resolve()
	return append(append([]Problem(nil), im.warnings...), ws...)
}

func (im *Import) resolve() ([]Person, []Problem) {
	var ps []Person
	for _, e := range im.people {
		p := e.p
		p.Children = nil
		if p.Category == aaf.PersRelEleve {
			p.UAI = ""
		}
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b Person) int {
		return cmp.Or(cmp.Compare(profileRank(a.Profile), profileRank(b.Profile)), compareIDs(a.AAFID, b.AAFID))
	})
	var ws []Problem
	warn := func(id, reason string) {
		ws = append(ws, Problem{File: im.people[id].file, Record: id, Reason: reason})
	}
	lycee := func(id, u string) {
		if _, ok := im.structures[u]; len(im.structures) > 0 && !ok {
			warn(id, fmt.Sprintf("lycée %s missing from EtabEducNat", u))
		}
	}
	index := map[string]int{}
	for i, p := range ps {
		index[p.AAFID] = i
	}
	// Legal children of each relative, in student order (by id).
	legal := map[string][]string{}
	for _, p := range ps {
		switch p.Profile {
		case ent.Student:
			lycee(p.AAFID, p.UAI)
			for _, l := range p.Links {
				i, ok := index[l.Relative]
				if !ok || ps[i].Profile != ent.Relative {
					warn(p.AAFID, fmt.Sprintf("relative %s missing from the set", l.Relative))
					continue
				}
				if l.Legal && !slices.Contains(legal[l.Relative], p.AAFID) {
					legal[l.Relative] = append(legal[l.Relative], p.AAFID)
				}
			}
		case ent.Teacher, ent.Personnel:
			lycee(p.AAFID, p.UAI)
			for _, s := range p.Subjects {
				if _, ok := im.subjects[s]; len(im.subjects) > 0 && !ok {
					warn(p.AAFID, fmt.Sprintf("subject %s missing from MatiereEducNat", s))
				}
			}
		}
	}
	for i := range ps {
		p := &ps[i]
		if p.Profile != ent.Relative {
			continue
		}
		for _, s := range p.Students {
			if j, ok := index[s]; !ok || ps[j].Profile != ent.Student {
				warn(p.AAFID, fmt.Sprintf("student %s missing from the set", s))
			}
		}
		kids := legal[p.AAFID]
		if len(kids) == 0 {
			warn(p.AAFID, "no legal child in the set: no account")
			continue
		}
		p.UAI = ps[index[kids[0]]].UAI
		for _, k := range kids {
			if u := ps[index[k]].UAI; u == p.UAI {
				p.Children = append(p.Children, k)
			} else {
				warn(p.AAFID, fmt.Sprintf("child %s is in another lycée (%s): not linked", k, u))
			}
		}
	}
	return ps, ws
}

// Users returns the view's people as ent.User values ready for user.put,
// in People's order (students before the relatives who name them). ID is
// UserID of the join key; Login is the reserved one for a known id, else
// prenom.nom with the smallest free suffix (2, 3, …), allocated in this
// order; Active is false and PasswordHash empty (activation comes later);
// a relative's Children are their legal children's ids. People without a
// lycée (relatives without a legal child) are left out.
func (im *Import) Users() []ent.User {
	ps, _ := im.resolve()
	taken := make(map[string]string, len(im.reserved)+len(ps))
	for l, id := range im.reserved {
		taken[l] = id
	}
	out := make([]ent.User, 0, len(ps))
	for _, p := range ps {
		if p.UAI == "" {
			continue
		}
		u := ent.User{ID: UserID(p.Key), Name: p.Name(), Profile: p.Profile, UAI: p.UAI}
		for _, c := range p.Children {
			u.Children = append(u.Children, UserID(im.Key(c)))
		}
		if l, ok := im.logins[u.ID]; ok {
			u.Login = l
		} else {
			base := loginBase(p.Given, p.Surname)
			u.Login = base
			for n := 2; taken[u.Login] != "" && taken[u.Login] != u.ID; n++ {
				u.Login = base + strconv.Itoa(n)
			}
		}
		taken[u.Login] = u.ID
		out = append(out, u)
	}
	return out
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
