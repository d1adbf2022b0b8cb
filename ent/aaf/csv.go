package aaf

// The CSV import of agricultural lycées. Their directory belongs to
// another ministry and its format is not public, so the DRAAF writes one
// CSV file per export, which a CSVReader turns into the operations an AAF
// Complet set would carry. docs/csv-import.md is the format's reference,
// written for the people who produce the files; keep the two in step.

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"atrium/ent/uai"
)

// MaxCSVBytes bounds a CSV file. A CSVReader reads and checks the whole
// file before it returns the first operation, so the file is held in
// memory: 32 MiB is some 300,000 rows, a hundred times an agricultural
// lycée's people.
const MaxCSVBytes = 32 << 20

// The CSV columns, by their normalised header name.
const (
	colProfil        = "profil"
	colIdentifiant   = "identifiant"
	colNom           = "nom"
	colPrenom        = "prenom"
	colDateNaissance = "date_naissance"
	colUAI           = "uai"
	colEtablissement = "etablissement"
	colClasses       = "classes"
	colResponsables  = "responsables"
	colFonctions     = "fonctions"
	colMatieres      = "matieres"
)

// csvColumns lists every column a CSV file may have; the required ones
// must be in its header.
var csvColumns = []struct {
	name     string
	required bool
}{
	{colProfil, true}, {colIdentifiant, true}, {colNom, true}, {colPrenom, true},
	{colDateNaissance, false}, {colUAI, true}, {colEtablissement, true},
	{colClasses, false}, {colResponsables, false}, {colFonctions, false}, {colMatieres, false},
}

// The profils of a CSV row and the AAF category each maps to.
var csvProfils = map[string]string{
	"eleve":       Eleve,
	"responsable": PersRelEleve,
	"enseignant":  PersEducNat,
	"personnel":   PersEducNat,
}

// csvAllowed says which profils may fill the columns that do not apply
// to everyone; a value elsewhere is an error, not silently dropped.
var csvAllowed = map[string][]string{
	colClasses:      {"eleve", "enseignant"},
	colResponsables: {"eleve"},
	colFonctions:    {"enseignant", "personnel"},
	colMatieres:     {"enseignant"},
}

// csvLinks are the words accepted for a responsable's lien, with the AAF
// link codes they stand for; a two-digit code is accepted as is.
var csvLinks = map[string]string{"mere": "10", "pere": "20", "autre": "90"}

const (
	maxCSVID    = 64 // bytes of an identifiant
	maxCSVValue = 64 // bytes of a class, function code or subject
)

// A CSVReader reads the operations of an agricultural lycées' CSV file
// (docs/csv-import.md): the structures (EtabEducNat) first, then the
// students (Eleve), their relatives (PersRelEleve) and the staff
// (PersEducNat), in CategoryOrder, every one an Add with its Category
// set, so that a directory import applies them as it applies a Complet
// set. It is not safe for concurrent use.
type CSVReader struct {
	src  io.Reader
	file string
	ops  []Op
	read bool
	err  error // sticky
}

// NewCSVReader returns a CSVReader that reads from r. Nothing is read
// before the first Next.
func NewCSVReader(r io.Reader) *CSVReader { return &CSVReader{src: r} }

// SetFile names the file being read, for errors. Call it before the first
// Next.
func (r *CSVReader) SetFile(name string) { r.file = name }

// Next returns the next operation, or io.EOF after the last one. The
// first call reads and checks the whole file: a file with any error gives
// no operation at all. Errors for bad input wrap ErrMalformed (as a
// *ParseError naming the file, the line, the column and the reason);
// errors of the underlying reader are returned wrapped. Any error is
// final: Next returns it again on every later call.
func (r *CSVReader) Next() (Op, error) {
	if !r.read {
		r.read = true
		r.ops, r.err = r.load()
	}
	if r.err != nil {
		return Op{}, r.err
	}
	if len(r.ops) == 0 {
		r.err = io.EOF
		return Op{}, r.err
	}
	op := r.ops[0]
	r.ops = r.ops[1:]
	return op, nil
}

// csvRow is one checked row.
type csvRow struct {
	line      int
	profil    string
	id        string
	nom       string
	prenom    string
	birth     string // JJ/MM/AAAA, or ""
	uai       string // "" only for a responsable
	classes   []string
	subjectOf map[string]string // a teacher's class -> subject, from CLASSE:MATIERE
	links     []csvLink
	fonctions [][2]string // code, label
	matieres  []string
}

type csvLink struct {
	id, code string
	legal    bool
}

// csvParser holds what load needs while it reads the rows.
type csvParser struct {
	file   string
	bom    int64
	cr     *csv.Reader
	cols   map[string]int // column name -> index in the header
	rec    []string
	offset int64 // of the current record, in the file
}

func (p *csvParser) fail(col, id, reason string, cause error) error {
	line := 1
	var pe *csv.ParseError
	if errors.As(cause, &pe) {
		line = pe.Line
	} else if p.rec != nil {
		i := 0
		if col != "" {
			i = p.cols[col]
		}
		line, _ = p.cr.FieldPos(i)
	}
	elem := ""
	if col != "" {
		elem = "column " + col
	}
	return &ParseError{File: p.file, Line: line, Offset: p.offset, Element: elem, ID: id, Reason: reason, Err: cause}
}

// get returns a column's value, trimmed; "" for an absent optional column.
func (p *csvParser) get(col string) string {
	i, ok := p.cols[col]
	if !ok {
		return ""
	}
	return strings.TrimSpace(p.rec[i])
}

// load reads and checks the whole file and returns its operations.
func (r *CSVReader) load() ([]Op, error) {
	data, err := io.ReadAll(io.LimitReader(r.src, MaxCSVBytes+1))
	if err != nil {
		pre := ""
		if r.file != "" {
			pre = r.file + ": "
		}
		return nil, fmt.Errorf("aaf: %sread: %w", pre, err)
	}
	p := &csvParser{file: r.file}
	if len(data) > MaxCSVBytes {
		return nil, p.fail("", "", fmt.Sprintf("file larger than %d bytes", MaxCSVBytes), nil)
	}
	if rest, ok := bytes.CutPrefix(data, []byte("\uFEFF")); ok {
		data, p.bom = rest, 3
	}
	if !utf8.Valid(data) {
		bad := 0
		for bad < len(data) {
			c, n := utf8.DecodeRune(data[bad:])
			if c == utf8.RuneError && n == 1 {
				break
			}
			bad += n
		}
		e := p.fail("", "", "not UTF-8 text (save the file as \"CSV UTF-8\")", nil).(*ParseError)
		e.Line, e.Offset = 1+bytes.Count(data[:bad], []byte("\n")), p.bom+int64(bad)
		return nil, e
	}
	p.cr = csv.NewReader(bytes.NewReader(data))
	p.cr.Comma = ';'
	p.cr.FieldsPerRecord = -1
	if err := p.header(); err != nil {
		return nil, err
	}
	var rows []csvRow
	seen := map[string]int{}     // identifiant -> line
	names := map[string]string{} // UAI -> etablissement
	nameLine := map[string]int{} // UAI -> line that named it, or its first line
	for {
		p.offset = p.bom + p.cr.InputOffset()
		rec, err := p.cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, p.fail("", "", "bad CSV", err)
		}
		p.rec = rec
		if blank(rec) {
			continue
		}
		if len(rec) != len(p.cols) {
			return nil, p.fail("", "", fmt.Sprintf("%d fields, want %d as in the header (separator ';')", len(rec), len(p.cols)), nil)
		}
		row, err := p.row()
		if err != nil {
			return nil, err
		}
		if first, dup := seen[row.id]; dup {
			return nil, p.fail(colIdentifiant, row.id, fmt.Sprintf("identifiant already on line %d", first), nil)
		}
		seen[row.id] = row.line
		if row.profil != "responsable" {
			name := strings.Join(strings.Fields(p.get(colEtablissement)), " ")
			prev, ok := names[row.uai]
			switch {
			case !ok || (prev == "" && name != ""):
				names[row.uai], nameLine[row.uai] = name, row.line
			case name != "" && name != prev:
				return nil, p.fail(colEtablissement, row.id, fmt.Sprintf("%q differs from %q given for UAI %s on line %d", name, prev, row.uai, nameLine[row.uai]), nil)
			}
		}
		rows = append(rows, row)
	}
	uais := slices.Sorted(maps.Keys(names))
	for _, u := range uais {
		if names[u] == "" {
			return nil, &ParseError{File: r.file, Line: nameLine[u], Element: "column " + colEtablissement,
				Reason: fmt.Sprintf("no row names the lycée %s (fill etablissement on at least one of its rows)", u)}
		}
	}
	return csvOps(rows, uais, names), nil
}

// header reads the header row and maps the columns.
func (p *csvParser) header() error {
	rec, err := p.cr.Read()
	if err == io.EOF {
		return p.fail("", "", "empty file: the header row is required", nil)
	}
	if err != nil {
		return p.fail("", "", "bad CSV in the header row", err)
	}
	p.rec = rec
	p.cols = map[string]int{}
	known := map[string]bool{}
	for _, c := range csvColumns {
		known[c.name] = true
	}
	for i, h := range rec {
		name := foldCSV(h)
		_, dup := p.cols[name]
		switch {
		case !known[name]:
			return p.fail("", "", fmt.Sprintf("unknown column %q in the header (want %s)", strings.TrimSpace(h), columnNames()), nil)
		case dup:
			return p.fail("", "", fmt.Sprintf("column %s twice in the header", name), nil)
		}
		p.cols[name] = i
	}
	for _, c := range csvColumns {
		if _, ok := p.cols[c.name]; c.required && !ok {
			return p.fail("", "", fmt.Sprintf("missing column %s in the header", c.name), nil)
		}
	}
	return nil
}

func columnNames() string {
	var s []string
	for _, c := range csvColumns {
		s = append(s, c.name)
	}
	return strings.Join(s, ";")
}

// row checks the current record.
func (p *csvParser) row() (csvRow, error) {
	line, _ := p.cr.FieldPos(0)
	row := csvRow{line: line, profil: foldCSV(p.get(colProfil)), id: p.get(colIdentifiant)}
	if _, ok := csvProfils[row.profil]; !ok {
		return row, p.fail(colProfil, "", fmt.Sprintf("unknown profil %q (want eleve, responsable, enseignant or personnel)", p.get(colProfil)), nil)
	}
	if err := checkCSVID(row.id); err != "" {
		return row, p.fail(colIdentifiant, "", err, nil)
	}
	fail := func(col, reason string) (csvRow, error) { return row, p.fail(col, row.id, reason, nil) }
	row.nom, row.prenom = p.get(colNom), p.get(colPrenom)
	if row.nom == "" {
		return fail(colNom, "empty nom")
	}
	if d := p.get(colDateNaissance); d != "" {
		t, err := time.Parse("2/1/2006", d)
		if err != nil {
			if t, err = time.Parse("2006-01-02", d); err != nil {
				return fail(colDateNaissance, fmt.Sprintf("bad date %q (want JJ/MM/AAAA)", d))
			}
		}
		row.birth = t.Format("02/01/2006")
	}
	row.uai = strings.ToUpper(p.get(colUAI))
	switch {
	case row.uai == "" && row.profil != "responsable":
		return fail(colUAI, "empty uai (the lycée's UAI, e.g. 0130583N)")
	case row.uai != "" && !uai.Valid(row.uai):
		return fail(colUAI, fmt.Sprintf("bad UAI %q (seven digits and the check letter, e.g. 0130583N)", p.get(colUAI)))
	}
	if row.profil == "responsable" {
		row.uai = "" // a relative's lycée is their children's
	}
	for col, profils := range csvAllowed {
		if p.get(col) != "" && !slices.Contains(profils, row.profil) {
			return fail(col, fmt.Sprintf("a %s has no %s (leave the column empty)", row.profil, col))
		}
	}
	dup := map[string]bool{} // entries already met in the current column
	dup1 := func(v string) bool { d := dup[v]; dup[v] = true; return d }
	for _, c := range listCSV(p.get(colClasses)) {
		class, subject, has := strings.Cut(c, ":")
		class, subject = strings.TrimSpace(class), strings.TrimSpace(subject)
		if err := checkCSVValue(class); err != "" {
			return fail(colClasses, fmt.Sprintf("class %q: %s", c, err))
		}
		if has {
			if row.profil != "enseignant" {
				return fail(colClasses, fmt.Sprintf("class %q: only a teacher's class names a subject (CLASSE:MATIERE)", c))
			}
			if err := checkCSVValue(subject); err != "" {
				return fail(colClasses, fmt.Sprintf("subject of %q: %s", c, err))
			}
			if row.subjectOf == nil {
				row.subjectOf = map[string]string{}
			}
			row.subjectOf[class] = subject
		}
		if dup1(class) {
			return fail(colClasses, fmt.Sprintf("class %s twice", class))
		}
		row.classes = append(row.classes, class)
	}
	clear(dup)
	for _, v := range listCSV(p.get(colResponsables)) {
		f := strings.Split(v, ":")
		l := csvLink{id: strings.TrimSpace(f[0]), legal: true}
		if err := checkCSVID(l.id); err != "" || len(f) > 3 {
			return fail(colResponsables, fmt.Sprintf("%q: want identifiant[:lien[:legal]]", v))
		}
		if len(f) > 1 {
			w := foldCSV(f[1])
			switch code, ok := csvLinks[w]; {
			case ok:
				l.code = code
			case len(w) == 2 && w[0] >= '0' && w[0] <= '9' && w[1] >= '0' && w[1] <= '9', w == "":
				l.code = w
			default:
				return fail(colResponsables, fmt.Sprintf("%q: bad lien %q (want mere, pere, autre or a two-digit AAF code)", v, strings.TrimSpace(f[1])))
			}
		}
		if len(f) > 2 {
			switch foldCSV(f[2]) {
			case "", "1", "o", "oui":
			case "0", "n", "non":
				l.legal = false
			default:
				return fail(colResponsables, fmt.Sprintf("%q: bad legal %q (want 1 or 0)", v, strings.TrimSpace(f[2])))
			}
		}
		if dup1(l.id) {
			return fail(colResponsables, fmt.Sprintf("responsable %s twice", l.id))
		}
		row.links = append(row.links, l)
	}
	for _, v := range listCSV(p.get(colFonctions)) {
		code, label, _ := strings.Cut(v, ":")
		code, label = strings.ToUpper(strings.TrimSpace(code)), strings.Join(strings.Fields(label), " ")
		if err := checkCSVValue(code); err != "" || strings.ContainsAny(code, " ") {
			return fail(colFonctions, fmt.Sprintf("%q: want CODE or CODE:LIBELLE, the code without spaces", v))
		}
		if strings.Contains(label, "$") {
			return fail(colFonctions, fmt.Sprintf("%q: the libellé contains $", v))
		}
		if code == "ENS" {
			return fail(colFonctions, "function ENS: write profil enseignant instead")
		}
		if label == "" {
			label = code
		}
		row.fonctions = append(row.fonctions, [2]string{code, label})
	}
	clear(dup)
	for _, m := range listCSV(p.get(colMatieres)) {
		if err := checkCSVValue(m); err != "" {
			return fail(colMatieres, fmt.Sprintf("subject %q: %s", m, err))
		}
		if !dup1(m) {
			row.matieres = append(row.matieres, m)
		}
	}
	return row, nil
}

// csvOps turns checked rows into operations in CategoryOrder.
func csvOps(rows []csvRow, uais []string, names map[string]string) []Op {
	var ops []Op
	for _, u := range uais {
		ops = append(ops, Op{Kind: Add, ID: u, Category: EtabEducNat, Attrs: map[string][]string{
			"ENTStructureUAI":        {u},
			"ENTStructureNomCourant": {names[u]},
		}})
	}
	person := func(row csvRow, cat string) Op {
		a := map[string][]string{"sn": {row.nom}, "givenName": {row.prenom}}
		if row.birth != "" {
			a["ENTPersonDateNaissance"] = []string{row.birth}
		}
		if row.uai != "" {
			a["ENTPersonStructRattach"] = []string{row.uai}
		}
		return Op{Kind: Add, ID: row.id, Category: cat, Attrs: a}
	}
	children := map[string][]string{} // responsable id -> students naming them
	for _, row := range rows {
		if row.profil != "eleve" {
			continue
		}
		op := person(row, Eleve)
		for _, c := range row.classes {
			op.Attrs["ENTEleveClasses"] = append(op.Attrs["ENTEleveClasses"], row.uai+"$"+c)
		}
		for _, l := range row.links {
			legal := "0"
			if l.legal {
				legal = "1"
				op.Attrs["ENTEleveAutoriteParentale"] = append(op.Attrs["ENTEleveAutoriteParentale"], l.id)
			}
			// relative$link$financial$legal$contact$payment: the file
			// says nothing of the other flags.
			op.Attrs["ENTElevePersRelEleve"] = append(op.Attrs["ENTElevePersRelEleve"], l.id+"$"+l.code+"$0$"+legal+"$0$0")
			children[l.id] = append(children[l.id], row.id)
		}
		ops = append(ops, op)
	}
	for _, row := range rows {
		if row.profil != "responsable" {
			continue
		}
		op := person(row, PersRelEleve)
		if ids := children[row.id]; len(ids) > 0 {
			op.Attrs["ENTAuxPersRelEleveEleve"] = ids
		}
		ops = append(ops, op)
	}
	for _, row := range rows {
		if row.profil != "enseignant" && row.profil != "personnel" {
			continue
		}
		op := person(row, PersEducNat)
		fns := op.Attrs["ENTPersonFonctions"]
		if row.profil == "enseignant" {
			op.Attrs["title"] = []string{"ENS"}
			fns = append(fns, row.uai+"$ENS$ENSEIGNEMENT$-$-")
		} else if len(row.fonctions) > 0 {
			op.Attrs["title"] = []string{row.fonctions[0][0]}
		}
		for _, f := range row.fonctions {
			fns = append(fns, row.uai+"$"+f[0]+"$"+f[1]+"$-$-")
		}
		if len(fns) > 0 {
			op.Attrs["ENTPersonFonctions"] = fns
		}
		subjects := row.matieres
		has := map[string]bool{}
		for _, s := range subjects {
			has[s] = true
		}
		for _, c := range row.classes {
			op.Attrs["ENTAuxEnsClasses"] = append(op.Attrs["ENTAuxEnsClasses"], row.uai+"$"+c)
			if s, ok := row.subjectOf[c]; ok {
				op.Attrs["ENTAuxEnsClassesMatieres"] = append(op.Attrs["ENTAuxEnsClassesMatieres"], row.uai+"$"+c+"$"+s)
				if !has[s] {
					has[s] = true
					subjects = append(slices.Clip(subjects), s)
				}
			}
		}
		for _, s := range subjects {
			op.Attrs["ENTAuxEnsMatiereEnseignEtab"] = append(op.Attrs["ENTAuxEnsMatiereEnseignEtab"], row.uai+"$"+s)
		}
		ops = append(ops, op)
	}
	return ops
}

// checkCSVID says what is wrong with an identifiant, or "".
func checkCSVID(id string) string {
	if id == "" {
		return "empty identifiant"
	}
	if len(id) > maxCSVID {
		return fmt.Sprintf("identifiant longer than %d characters", maxCSVID)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Sprintf("identifiant %q: only letters without accents, digits, '.', '-' and '_'", id)
		}
	}
	return ""
}

// checkCSVValue says what is wrong with a class, function code or
// subject, or "".
func checkCSVValue(v string) string {
	switch {
	case v == "":
		return "empty"
	case len(v) > maxCSVValue:
		return fmt.Sprintf("longer than %d characters", maxCSVValue)
	case strings.ContainsAny(v, "$:|"):
		return "contains $, : or |"
	}
	return ""
}

// listCSV splits a |-separated list, trimming entries and dropping empty
// ones.
func listCSV(v string) []string {
	var out []string
	for _, s := range strings.Split(v, "|") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// foldCSV normalises a header name or a keyword: trimmed, lower-case,
// French accents dropped, spaces as '_'.
func foldCSV(s string) string {
	return csvFolder.Replace(strings.ToLower(strings.TrimSpace(s)))
}

var csvFolder = strings.NewReplacer("é", "e", "è", "e", "ê", "e", "ë", "e", "à", "a", "â", "a", "î", "i", "ï", "i", "ô", "o", "ù", "u", "û", "u", "ç", "c", " ", "_")

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}
