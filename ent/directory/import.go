package directory

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
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
	BirthDate string     // AAAA-MM-JJ from ENTPersonDateNaissance (JJ/MM/AAAA); "" if absent or malformed
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
	switch {
	case p.Given == "":
		return clean(p.Surname)
	case p.Surname == "":
		return clean(p.Given)
	}
	return clean(p.Given + " " + p.Surname)
}

// keptAttrs are the attributes of a person the view keeps: those derive
// reads. The others (mail, addresses, MEF, …) are dropped when an
// operation is applied. Only ever append: the index is the attribute's
// code in an entry's blob.
var keptAttrs = [...]string{
	"ENTPersonJointure", "sn", "givenName", "ENTPersonNomPatro", "ENTPersonDateNaissance",
	"ENTPersonStructRattach", "ENTEleveStructRattachId", "ENTEleveClasses", "ENTElevePersRelEleve",
	"ENTAuxPersRelEleveEleve", "title", "ENTPersonFonctions", "ENTAuxEnsClasses",
	"ENTAuxEnsClassesMatieres", "ENTAuxEnsMatiereEnseignEtab",
}

const (
	aJointure = iota
	aSn
	aGiven
	aNomPatro
	aBirth
	aStructRattach
	aEleveStructRattachID
	aEleveClasses
	aElevePersRelEleve
	aPersRelEleveEleve
	aTitle
	aFonctions
	aEnsClasses
	aEnsClassesMatieres
	aEnsMatiere
	nKept
)

// attrs holds a person's kept attributes by code.
type attrs [nKept][]string

func (a *attrs) first(k int) string {
	if vs := a[k]; len(vs) > 0 {
		return strings.TrimSpace(vs[0])
	}
	return ""
}

// entry is a person of the view: the kept attributes, encoded in one
// string (see encode), and what sorting and resolving need.
type entry struct {
	key  string // the join key; the AAF id is key[len(academie)+1:]
	file string // the file that last set it
	cat  uint8  // index in aaf.CategoryOrder
	prof uint8  // profileRank of the derived profile
	blob string
}

// encode packs a's values: for each attribute with values, its code, the
// number of values and each value's length (uvarints) and bytes.
func encode(buf []byte, a *attrs) ([]byte, string) {
	buf = buf[:0]
	for k, vs := range a {
		if len(vs) == 0 {
			continue
		}
		buf = append(buf, byte(k))
		buf = binary.AppendUvarint(buf, uint64(len(vs)))
		for _, v := range vs {
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			buf = append(buf, v...)
		}
	}
	return buf, string(buf)
}

// decode unpacks a blob into a; the values are substrings of the blob,
// the slices taken from *scratch (reused: a is valid until the next
// decode with the same scratch).
func decode(blob string, a *attrs, scratch *[]string) {
	*a = attrs{}
	vals := (*scratch)[:0]
	for i := 0; i < len(blob); {
		k := int(blob[i])
		i++
		n, w := uvarint(blob[i:])
		i += w
		first := len(vals)
		for range n {
			l, w := uvarint(blob[i:])
			i += w
			vals = append(vals, blob[i:i+int(l)])
			i += int(l)
		}
		a[k] = vals[first:len(vals):len(vals)]
	}
	*scratch = vals
}

func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<(7*i), i + 1
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return x, len(s)
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
	order      []*entry          // people sorted for People and Users; nil when stale

	reserved map[string]string // login -> user id, from Reserve
	logins   map[string]string // user id -> login, from Reserve

	rejected []Problem
	warnings []Problem // raised while applying; reference warnings are computed by Warnings

	buf  []byte   // encode's scratch
	vals []string // decode's scratch
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
	im.order = nil
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
	im.apply(op, cat)
	return nil
}

// apply applies an operation of a known category.
func (im *Import) apply(op aaf.Op, cat string) {
	switch op.Kind {
	case aaf.Add, aaf.Modify, aaf.Delete:
	default:
		im.reject(op.ID, fmt.Sprintf("unknown operation %s", op.Kind))
		return
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
	ci := uint8(categoryIndex(cat))
	prev, had := im.people[op.ID]
	if had && prev.cat != ci {
		im.reject(op.ID, fmt.Sprintf("id already used by a %s record", aaf.CategoryOrder()[prev.cat]))
		return
	}
	var a attrs
	switch op.Kind {
	case aaf.Delete:
		if !had {
			im.warn(op.ID, "delete of a person missing from the set")
			return
		}
		delete(im.people, op.ID)
		im.order = nil
		return
	case aaf.Modify:
		if !had {
			im.warn(op.ID, "modify of a person missing from the set")
			return
		}
		decode(prev.blob, &a, &im.vals)
		for k, name := range keptAttrs {
			if vs, ok := op.Attrs[name]; ok {
				a[k] = vs
			}
		}
	case aaf.Add:
		if had {
			im.warn(op.ID, "added again: the new record replaces the previous one")
		}
		for k, name := range keptAttrs {
			a[k] = op.Attrs[name]
		}
	}
	key := ""
	if had {
		key = prev.key
	} else {
		key = im.Key(op.ID) // a copy: the operation's strings may share memory
	}
	p, reason := im.derive(key, cat, &a, im.warn)
	if reason != "" {
		im.reject(op.ID, reason)
		return
	}
	e := &entry{key: key, file: im.file, cat: ci, prof: uint8(profileRank(p.Profile))}
	im.buf, e.blob = encode(im.buf, &a)
	im.people[key[len(im.academie)+1:]] = e
	im.order = nil
}

func categoryIndex(cat string) int {
	for i, c := range aaf.CategoryOrder() {
		if c == cat {
			return i
		}
	}
	return -1
}

// person derives the Person of an entry; problems were reported when it
// was applied.
func (im *Import) person(e *entry) Person {
	var a attrs
	decode(e.blob, &a, &im.vals)
	p, _ := im.derive(e.key, aaf.CategoryOrder()[e.cat], &a, nil)
	return p
}

// derive builds a Person from a record's attributes, or says why the
// record is malformed. Malformed values that do not stop the record are
// given to warn, if not nil.
func (im *Import) derive(key, cat string, a *attrs, warn func(id, reason string)) (Person, string) {
	id := key[len(im.academie)+1:]
	if warn == nil {
		warn = func(string, string) {}
	}
	p := Person{
		Key:      key,
		AAFID:    id,
		Jointure: a.first(aJointure),
		Category: cat,
		Given:    clean(a.first(aGiven)),
		Surname:  clean(a.first(aSn)),
	}
	if p.Surname == "" {
		p.Surname = clean(a.first(aNomPatro))
	}
	switch {
	case p.Surname == "":
		return p, "no surname (sn, ENTPersonNomPatro)"
	case !utf8.ValidString(p.Given) || !utf8.ValidString(p.Surname):
		return p, "name is not valid UTF-8"
	case utf8.RuneCountInString(p.Given)+utf8.RuneCountInString(p.Surname)+1 > maxName:
		if utf8.RuneCountInString(p.Name()) > maxName {
			return p, fmt.Sprintf("name longer than %d characters", maxName)
		}
	}
	if d := a.first(aBirth); d != "" {
		if p.BirthDate = isoDate(d); p.BirthDate == "" {
			warn(id, fmt.Sprintf("malformed ENTPersonDateNaissance %q (want JJ/MM/AAAA)", d))
		}
	}
	var f [8]string
	switch cat {
	case aaf.Eleve:
		p.Profile = ent.Student
		p.UAI = strings.ToUpper(a.first(aStructRattach))
		if p.UAI == "" {
			p.UAI = strings.ToUpper(a.first(aEleveStructRattachID))
		}
		if !uai.Valid(p.UAI) {
			return p, fmt.Sprintf("invalid UAI %q", p.UAI)
		}
		p.Classes = classes(id, a[aEleveClasses], warn)
		for _, v := range a[aElevePersRelEleve] {
			f := split(v, f[:0])
			if len(f) < 4 || f[0] == "" {
				if v != "" {
					warn(id, fmt.Sprintf("malformed ENTElevePersRelEleve %q (want relative$link$financial$legal…)", v))
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
		for _, s := range a[aPersRelEleveEleve] {
			if s = strings.TrimSpace(s); s != "" {
				p.Students = append(p.Students, s)
			}
		}
	case aaf.PersEducNat:
		p.Profile = ent.Personnel
		teacher := a.first(aTitle) == "ENS"
		for _, v := range a[aFonctions] {
			if v == "" {
				continue
			}
			p.Functions = append(p.Functions, v)
			f := split(v, f[:0])
			if (len(f) > 1 && f[1] == "ENS") || (len(f) > 2 && f[2] == "ENSEIGNEMENT") {
				teacher = true
			}
		}
		if teacher {
			p.Profile = ent.Teacher
		}
		p.UAI = strings.ToUpper(a.first(aStructRattach))
		if p.UAI == "" && len(p.Functions) > 0 {
			p.UAI = strings.ToUpper(split(p.Functions[0], f[:0])[0])
		}
		if !uai.Valid(p.UAI) {
			return p, fmt.Sprintf("invalid UAI %q", p.UAI)
		}
		if teacher {
			for _, v := range a[aEnsClassesMatieres] {
				f := split(v, f[:0])
				if len(f) < 3 || f[1] == "" {
					if v != "" {
						warn(id, fmt.Sprintf("malformed ENTAuxEnsClassesMatieres %q (want UAI$CLASS$SUBJECT)", v))
					}
					continue
				}
				c := Class{UAI: strings.ToUpper(f[0]), Name: f[1]}
				p.Teachings = append(p.Teachings, Teaching{Class: c, Subject: f[2]})
			}
			n := len(p.Teachings)
			for _, c := range classes(id, a[aEnsClasses], warn) {
				if !slices.ContainsFunc(p.Teachings[:n], func(t Teaching) bool { return t.Class == c }) {
					p.Teachings = append(p.Teachings, Teaching{Class: c})
				}
			}
			for _, v := range a[aEnsMatiere] {
				if f := split(v, f[:0]); len(f) >= 2 && f[1] != "" {
					p.Subjects = append(p.Subjects, f[1])
				}
			}
		}
	}
	return p, ""
}

// split cuts a $-separated composite value as aaf.Split does, appending
// the fields to dst.
func split(v string, dst []string) []string {
	if v == "" {
		return dst
	}
	for {
		i := strings.IndexByte(v, '$')
		if i < 0 {
			return append(dst, v)
		}
		dst = append(dst, v[:i])
		v = v[i+1:]
	}
}

// isoDate turns JJ/MM/AAAA into AAAA-MM-JJ; "" if d is not a date in that
// form.
func isoDate(d string) string {
	if len(d) != 10 || d[2] != '/' || d[5] != '/' {
		return ""
	}
	num := func(s string) int {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return -1
			}
			n = 10*n + int(s[i]-'0')
		}
		return n
	}
	day, month, year := num(d[:2]), num(d[3:5]), num(d[6:])
	if day < 1 || month < 1 || month > 12 || year < 1 {
		return ""
	}
	if t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC); t.Day() != day {
		return ""
	}
	return d[6:] + "-" + d[3:5] + "-" + d[:2]
}

// classes parses UAI$CLASS composites; malformed ones are warned about.
func classes(id string, vs []string, warn func(id, reason string)) []Class {
	var out []Class
	var f [4]string
	for _, v := range vs {
		f := split(v, f[:0])
		if len(f) < 2 || f[1] == "" {
			if v != "" {
				warn(id, fmt.Sprintf("malformed class %q (want UAI$CLASS)", v))
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

// clean joins the words of s with single spaces, as
// strings.Join(strings.Fields(s), " "), without a copy when s is clean.
func clean(s string) string {
	prev := true // after a space, or at the start
	for i := 0; i < len(s); {
		r, n := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(s[i:])
		}
		sp := unicode.IsSpace(r)
		if sp && (r != ' ' || prev) {
			return strings.Join(strings.Fields(s), " ")
		}
		prev = sp
		i += n
	}
	if prev && s != "" {
		return strings.Join(strings.Fields(s), " ")
	}
	return s
}

// Rejected returns the records rejected so far, in the order met.
func (im *Import) Rejected() []Problem { return append([]Problem(nil), im.rejected...) }

// Entry is one entry of the view as the export gave it: a structure, a
// subject, a MEF or a person.
//
// Attrs holds what the view keeps, which is all Load needs to rebuild it:
// for a structure ENTStructureUAI and ENTStructureNomCourant, for a
// subject ENTLibelleMatiere, for a MEF ENTLibelleMef, for a person the
// attributes that make its Person (ENTPersonJointure, sn, givenName,
// ENTPersonNomPatro, ENTPersonDateNaissance, ENTPersonStructRattach,
// ENTEleveStructRattachId, ENTEleveClasses, ENTElevePersRelEleve,
// ENTAuxPersRelEleveEleve, title, ENTPersonFonctions, ENTAuxEnsClasses,
// ENTAuxEnsClassesMatieres, ENTAuxEnsMatiereEnseignEtab), those with
// values only, as exported.
type Entry struct {
	Category string              // aaf.EtabEducNat, aaf.MatiereEducNat, aaf.MefEducNat, aaf.Eleve, aaf.PersRelEleve or aaf.PersEducNat
	ID       string              // the operation's identifier (a structure's UAI)
	Attrs    map[string][]string // the attributes the view keeps
}

// Entries calls fn for every entry of the view, in aaf.CategoryOrder, then
// by id (numeric ids in numeric order). It stops at fn's first error and
// returns it. The view must not change during the call.
func (im *Import) Entries(fn func(Entry) error) error {
	refs := []struct {
		cat   string
		m     map[string]string
		label string
	}{
		{aaf.EtabEducNat, im.structures, "ENTStructureNomCourant"},
		{aaf.MatiereEducNat, im.subjects, "ENTLibelleMatiere"},
		{aaf.MefEducNat, im.mefs, "ENTLibelleMef"},
	}
	for _, ref := range refs {
		keys := slices.SortedFunc(maps.Keys(ref.m), compareIDs)
		for _, k := range keys {
			e := Entry{Category: ref.cat, ID: k, Attrs: map[string][]string{ref.label: {ref.m[k]}}}
			if ref.cat == aaf.EtabEducNat {
				e.Attrs["ENTStructureUAI"] = []string{k}
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	n := len(im.academie) + 1
	people := make([]*entry, 0, len(im.people))
	for _, e := range im.people {
		people = append(people, e)
	}
	slices.SortFunc(people, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.cat, b.cat), compareIDs(a.key[n:], b.key[n:]))
	})
	for _, p := range people {
		var a attrs
		var vals []string
		decode(p.blob, &a, &vals)
		e := Entry{Category: aaf.CategoryOrder()[p.cat], ID: p.key[n:], Attrs: map[string][]string{}}
		for k, vs := range a {
			if len(vs) > 0 {
				e.Attrs[keptAttrs[k]] = vs
			}
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Load adds an entry to the view as if an addRequest of its category had
// been applied in an earlier set: the importer seeds a view with what
// central holds before applying a Delta set. Load does not take part in
// the category order of the set being applied. A malformed entry is
// rejected (see Rejected) as the operation would be; an unknown category
// is an error wrapping ErrCategory.
func (im *Import) Load(e Entry) error {
	if categoryIndex(e.Category) < 0 {
		return fmt.Errorf("load %s: %w %q", e.ID, ErrCategory, e.Category)
	}
	file := im.file
	im.file = ""
	im.apply(aaf.Op{Kind: aaf.Add, ID: e.ID, Category: e.Category, Attrs: e.Attrs}, e.Category)
	im.file = file
	return nil
}
