package directory

import (
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/uai"
)

// maxName bounds a person's display name, as ent's user.put does.
const maxName = 200

// Problem is a record the import rejected or warns about.
type Problem struct {
	File   string // the file given to SetFile; "" if none was
	Record string // the AAF identifier id
	Reason string
}

func (p Problem) String() string {
	f := p.File
	if f == "" {
		f = "-"
	}
	return f + ": " + p.Record + ": " + p.Reason
}

// Class is a class (or group) of a lycée, as the composites UAI$CLASS name
// it.
type Class struct {
	UAI  string
	Name string
}

// Link is a student's relation to one of their relatives, from
// ENTElevePersRelEleve (relative$link$financial$legal$contact$payment).
type Link struct {
	Relative  string // the relative's AAF id
	Code      string // the link code: 10 mother, 20 father, …
	Financial bool
	Legal     bool // legal representative: only these see the child
	Contact   bool
	Payment   bool
}

// Teaching is a class a teacher teaches and the subject, from
// ENTAuxEnsClassesMatieres (UAI$CLASS$SUBJECT); Subject is empty when the
// export gives only ENTAuxEnsClasses.
type Teaching struct {
	Class   Class
	Subject string
}

// Person is one person of the view, as the export describes them.
type Person struct {
	Key       string // ACADEMIE:id, the join key
	AAFID     string // the identifier id
	Jointure  string // ENTPersonJointure, as exported
	Category  string // aaf.Eleve, aaf.PersRelEleve or aaf.PersEducNat
	Profile   string // ent.Student, ent.Relative, ent.Teacher or ent.Personnel
	Given     string
	Surname   string
	UAI       string     // the lycée; for a relative, derived from the children (see Users)
	Classes   []Class    // a student's classes
	Links     []Link     // a student's relatives
	Students  []string   // a relative's ENTAuxPersRelEleveEleve (AAF ids)
	Children  []string   // a relative's legal children in their lycée (AAF ids); set by People
	Teachings []Teaching // a teacher's classes and subjects
	Subjects  []string   // a teacher's subject codes (ENTAuxEnsMatiereEnseignEtab)
	Functions []string   // ENTPersonFonctions, raw
}

// Name is the display name: given name then surname.
func (p Person) Name() string {
	return strings.Join(strings.Fields(p.Given+" "+p.Surname), " ")
}

type entry struct {
	file  string
	attrs map[string][]string
	p     Person
}

type setID struct {
	prefix  string
	complet bool
	date    time.Time
}

// Import is one académie's view of its people, built from AAF operations.
// Its zero value is not usable: call NewImport. It is not safe for
// concurrent use.
type Import struct {
	academie string
	file     string
	fileCat  string
	set      setID
	hasSet   bool
	cursor   int // index in aaf.CategoryOrder of the last category applied; -1 before any

	structures map[string]string // UAI -> name
	subjects   map[string]string // MatiereEducNat code -> label
	mefs       map[string]string // MefEducNat code -> label
	people     map[string]*entry // AAF id -> entry

	reserved map[string]string // login -> user id, from Reserve
	logins   map[string]string // user id -> login, from Reserve

	rejected []Problem
	warnings []Problem // raised while applying; reference warnings are computed by Warnings
}

// NewImport returns an empty view of the académie's people. The académie
// name (e.g. "AIX-MARSEILLE", "NICE") namespaces the join keys; it is
// upper-cased and must not contain ':' or white space.
func NewImport(academie string) (*Import, error) {
	a := strings.ToUpper(strings.TrimSpace(academie))
	if a == "" || strings.ContainsAny(a, ": \t\r\n$") {
		return nil, fmt.Errorf("%w: %q", ErrAcademie, academie)
	}
	im := &Import{academie: a, reserved: map[string]string{}, logins: map[string]string{}}
	im.reset()
	return im, nil
}

func (im *Import) reset() {
	im.cursor = -1
	im.structures = map[string]string{}
	im.subjects = map[string]string{}
	im.mefs = map[string]string{}
	im.people = map[string]*entry{}
}

// Academie returns the académie name the keys are namespaced with.
func (im *Import) Academie() string { return im.academie }

// Key returns the join key of an AAF identifier id.
func (im *Import) Key(aafID string) string { return im.academie + ":" + aafID }

// SetFile names the file whose operations come next: problems carry the
// name, and its category (if ParseFileName recognises it) is the default
// of operations that carry none. A file of another set than the previous
// one (another prefix, kind or date) starts a new set: categories start
// again from the first, and a Complet set replaces the whole view.
func (im *Import) SetFile(name string) {
	im.file, im.fileCat = name, ""
	fi, err := aaf.ParseFileName(name)
	if err != nil {
		return
	}
	im.fileCat = fi.Category
	s := setID{prefix: fi.Prefix, complet: fi.Complet, date: fi.Date}
	if im.hasSet && s == im.set {
		return
	}
	im.set, im.hasSet = s, true
	if s.complet {
		im.reset()
	} else {
		im.cursor = -1
	}
}

// Apply applies one operation. Operations must come in aaf.CategoryOrder
// within a set; an unknown or out-of-order category is an error (wrapping
// ErrCategory or ErrOrder) and applies nothing. Malformed records and
// dangling references are not errors: see Rejected and Warnings.
func (im *Import) Apply(op aaf.Op) error {
	cat := op.Category
	if cat == "" {
		cat = im.fileCat
	}
	idx := -1
	for i, c := range aaf.CategoryOrder() {
		if c == cat {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("apply %s %s in %s: %w %q", op.Kind, op.ID, im.fileName(), ErrCategory, cat)
	}
	if idx < im.cursor {
		return fmt.Errorf("apply %s %s in %s: %w: %s after %s (want %s)", op.Kind, op.ID, im.fileName(),
			ErrOrder, cat, aaf.CategoryOrder()[im.cursor], strings.Join(aaf.CategoryOrder(), ", "))
	}
	im.cursor = idx
	switch op.Kind {
	case aaf.Add, aaf.Modify, aaf.Delete:
	default:
		im.reject(op.ID, fmt.Sprintf("unknown operation %s", op.Kind))
		return nil
	}
	switch cat {
	case aaf.EtabEducNat:
		im.applyRef(op, im.structures, "ENTStructureNomCourant", true)
	case aaf.MatiereEducNat:
		im.applyRef(op, im.subjects, "ENTLibelleMatiere", false)
	case aaf.MefEducNat:
		im.applyRef(op, im.mefs, "ENTLibelleMef", false)
	default:
		im.applyPerson(op, cat)
	}
	return nil
}

func (im *Import) fileName() string {
	if im.file == "" {
		return "(no file)"
	}
	return im.file
}

func (im *Import) reject(id, reason string) {
	im.rejected = append(im.rejected, Problem{File: im.file, Record: id, Reason: reason})
}

func (im *Import) warn(id, reason string) {
	im.warnings = append(im.warnings, Problem{File: im.file, Record: id, Reason: reason})
}

// applyRef keeps a reference table (structures, subjects, MEFs): key ->
// label. A structure's key is its UAI, which must be valid.
func (im *Import) applyRef(op aaf.Op, m map[string]string, label string, isUAI bool) {
	key := strings.TrimSpace(op.ID)
	if isUAI {
		if u := first(op.Attrs, "ENTStructureUAI"); u != "" {
			key = u
		}
		key = strings.ToUpper(key)
	}
	switch op.Kind {
	case aaf.Delete:
		if _, ok := m[key]; !ok {
			im.warn(op.ID, "delete of an entry missing from the set")
		}
		delete(m, key)
		return
	case aaf.Modify:
		if _, ok := m[key]; !ok {
			im.warn(op.ID, "modify of an entry missing from the set")
			return
		}
		if _, ok := op.Attrs[label]; !ok {
			return
		}
	}
	if isUAI && !uai.Valid(key) {
		im.reject(op.ID, fmt.Sprintf("invalid UAI %q", key))
		return
	}
	m[key] = first(op.Attrs, label)
}

func (im *Import) applyPerson(op aaf.Op, cat string) {
	prev, had := im.people[op.ID]
	if had && prev.p.Category != cat {
		im.reject(op.ID, fmt.Sprintf("id already used by a %s record", prev.p.Category))
		return
	}
	var attrs map[string][]string
	switch op.Kind {
	case aaf.Delete:
		if !had {
			im.warn(op.ID, "delete of a person missing from the set")
			return
		}
		delete(im.people, op.ID)
		return
	case aaf.Modify:
		if !had {
			im.warn(op.ID, "modify of a person missing from the set")
			return
		}
		attrs = maps.Clone(prev.attrs)
		maps.Copy(attrs, op.Attrs)
	case aaf.Add:
		if had {
			im.warn(op.ID, "added again: the new record replaces the previous one")
		}
		attrs = op.Attrs
	}
	p, reason := im.derive(op.ID, cat, attrs)
	if reason != "" {
		im.reject(op.ID, reason)
		return
	}
	im.people[op.ID] = &entry{file: im.file, attrs: attrs, p: p}
}

// derive builds a Person from a record's attributes, or says why the
// record is malformed.
func (im *Import) derive(id, cat string, attrs map[string][]string) (Person, string) {
	p := Person{
		Key:      im.Key(id),
		AAFID:    id,
		Jointure: first(attrs, "ENTPersonJointure"),
		Category: cat,
		Given:    clean(first(attrs, "givenName")),
		Surname:  clean(first(attrs, "sn")),
	}
	if p.Surname == "" {
		p.Surname = clean(first(attrs, "ENTPersonNomPatro"))
	}
	switch {
	case p.Surname == "":
		return p, "no surname (sn, ENTPersonNomPatro)"
	case !utf8.ValidString(p.Name()):
		return p, "name is not valid UTF-8"
	case utf8.RuneCountInString(p.Name()) > maxName:
		return p, fmt.Sprintf("name longer than %d characters", maxName)
	}
	switch cat {
	case aaf.Eleve:
		p.Profile = ent.Student
		p.UAI = strings.ToUpper(first(attrs, "ENTPersonStructRattach"))
		if p.UAI == "" {
			p.UAI = strings.ToUpper(first(attrs, "ENTEleveStructRattachId"))
		}
		if !uai.Valid(p.UAI) {
			return p, fmt.Sprintf("invalid UAI %q", p.UAI)
		}
		p.Classes = im.classes(id, attrs["ENTEleveClasses"])
		for _, v := range attrs["ENTElevePersRelEleve"] {
			f := aaf.Split(v)
			if len(f) < 4 || f[0] == "" {
				if v != "" {
					im.warn(id, fmt.Sprintf("malformed ENTElevePersRelEleve %q (want relative$link$financial$legal…)", v))
				}
				continue
			}
			l := Link{Relative: f[0], Code: f[1], Financial: f[2] == "1", Legal: f[3] == "1"}
			if len(f) > 4 {
				l.Contact = f[4] == "1"
			}
			if len(f) > 5 {
				l.Payment = f[5] == "1"
			}
			p.Links = append(p.Links, l)
		}
	case aaf.PersRelEleve:
		p.Profile = ent.Relative
		for _, s := range attrs["ENTAuxPersRelEleveEleve"] {
			if s = strings.TrimSpace(s); s != "" {
				p.Students = append(p.Students, s)
			}
		}
	case aaf.PersEducNat:
		p.Profile = ent.Personnel
		teacher := first(attrs, "title") == "ENS"
		for _, v := range attrs["ENTPersonFonctions"] {
			if v == "" {
				continue
			}
			p.Functions = append(p.Functions, v)
			f := aaf.Split(v)
			if (len(f) > 1 && f[1] == "ENS") || (len(f) > 2 && f[2] == "ENSEIGNEMENT") {
				teacher = true
			}
		}
		if teacher {
			p.Profile = ent.Teacher
		}
		p.UAI = strings.ToUpper(first(attrs, "ENTPersonStructRattach"))
		if p.UAI == "" && len(p.Functions) > 0 {
			p.UAI = strings.ToUpper(aaf.Split(p.Functions[0])[0])
		}
		if !uai.Valid(p.UAI) {
			return p, fmt.Sprintf("invalid UAI %q", p.UAI)
		}
		if teacher {
			seen := map[Class]bool{}
			for _, v := range attrs["ENTAuxEnsClassesMatieres"] {
				f := aaf.Split(v)
				if len(f) < 3 || f[1] == "" {
					if v != "" {
						im.warn(id, fmt.Sprintf("malformed ENTAuxEnsClassesMatieres %q (want UAI$CLASS$SUBJECT)", v))
					}
					continue
				}
				c := Class{UAI: strings.ToUpper(f[0]), Name: f[1]}
				seen[c] = true
				p.Teachings = append(p.Teachings, Teaching{Class: c, Subject: f[2]})
			}
			for _, c := range im.classes(id, attrs["ENTAuxEnsClasses"]) {
				if !seen[c] {
					p.Teachings = append(p.Teachings, Teaching{Class: c})
				}
			}
			for _, v := range attrs["ENTAuxEnsMatiereEnseignEtab"] {
				if f := aaf.Split(v); len(f) >= 2 && f[1] != "" {
					p.Subjects = append(p.Subjects, f[1])
				}
			}
		}
	}
	return p, ""
}

// classes parses UAI$CLASS composites; malformed ones are warned about.
func (im *Import) classes(id string, vs []string) []Class {
	var out []Class
	for _, v := range vs {
		f := aaf.Split(v)
		if len(f) < 2 || f[1] == "" {
			if v != "" {
				im.warn(id, fmt.Sprintf("malformed class %q (want UAI$CLASS)", v))
			}
			continue
		}
		out = append(out, Class{UAI: strings.ToUpper(f[0]), Name: f[1]})
	}
	return out
}

func first(attrs map[string][]string, name string) string {
	if vs := attrs[name]; len(vs) > 0 {
		return strings.TrimSpace(vs[0])
	}
	return ""
}

func clean(s string) string { return strings.Join(strings.Fields(s), " ") }

// Rejected returns the records rejected so far, in the order met.
func (im *Import) Rejected() []Problem { return append([]Problem(nil), im.rejected...) }
