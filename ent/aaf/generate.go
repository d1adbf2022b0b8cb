package aaf

// The synthetic region: AAF files for tests, benchmarks and the demo.
//
// Generate writes, for each académie that has lycées, a Complet set of six
// files (ENT_<ACADEMIE>_Complet_AAAAMMJJ_<Category>_0000.xml, categories in
// CategoryOrder) and then one Delta set of six files per day
// (ENT_<ACADEMIE>_Delta_AAAAMMJJ_<Category>_0000.xml; the categories with
// nothing to say that day hold an empty root). Lycée i belongs to Nice when
// i%3 == 1, to Aix-Marseille otherwise. Every file is UTF-8 with an XML
// declaration, except the last académie's PersRelEleve file of the first
// Complet set, which is ISO-8859-15 (and declares it), so that importers
// meet both.
//
// The attributes follow real exports as far as we know them; they are
// plausible, not exhaustive. Values of several fields are $-separated.
//
//	EtabEducNat (id = UAI): ENTStructureJointure, ENTStructureUAI,
//	  ENTStructureNomCourant, ENTStructureTypeStruct, ENTEtablissementContrat,
//	  street, postalCode, l, telephoneNumber, ENTServAcAcademie.
//	MatiereEducNat (id = code): ENTMatJointure, ENTLibelleMatiere.
//	MefEducNat (id = MEF code): ENTMefJointure, ENTLibelleMef.
//	Eleve: ENTPersonJointure (ACADEMIE$id), ENTPersonNomPatro, sn, givenName,
//	  personalTitle (M./Mme), ENTPersonDateNaissance (JJ/MM/AAAA),
//	  ENTPersonProfils (National_1), ENTPersonStructRattach (UAI),
//	  ENTEleveStructRattachId (UAI), ENTEleveClasses (UAI$CLASS), ENTEleveMEF,
//	  ENTEleveMajeur (O/N), ENTElevePersRelEleve
//	  (relative$link$financial$legal$contact$payment; link 10 mother, 20
//	  father; flags 1/0), ENTEleveAutoriteParentale (relative ids).
//	PersRelEleve: ENTPersonJointure, ENTPersonNomPatro, sn, givenName,
//	  personalTitle, mail, homePhone, ENTPersonAdresse, ENTPersonCodePostal,
//	  ENTPersonVille, ENTPersonPays, ENTPersonProfils (National_2),
//	  ENTAuxPersRelEleveEleve (student ids).
//	PersEducNat: ENTPersonJointure, ENTPersonNomPatro, sn, givenName,
//	  personalTitle, ENTPersonDateNaissance, mail, title (ENS for a teacher,
//	  the function code otherwise), ENTPersonProfils (National_3 teacher,
//	  National_4 staff), ENTPersonStructRattach, ENTPersonFonctions
//	  (UAI$ENS$ENSEIGNEMENT$Lxxxx$DISCIPLINE for a teacher,
//	  UAI$CODE$LABEL$-$- otherwise); teachers also ENTAuxEnsClasses
//	  (UAI$CLASS), ENTAuxEnsClassesMatieres (UAI$CLASS$SUBJECT label) and
//	  ENTAuxEnsMatiereEnseignEtab (UAI$subject code).
//
// A Delta day brings, in every lycée, arrivals (Eleve addRequest with new
// relatives in PersRelEleve), class changes (Eleve modifyRequest replacing
// ENTEleveClasses) and departures (Eleve deleteRequest; a relative left
// without a child here is deleted, one left with a sibling gets
// ENTAuxPersRelEleveEleve replaced). Staff and structures do not change.
//
// With GenConfig.NextComplet, Generate also writes the Complet set of the
// day after the last Delta (ENT_<ACADEMIE>_Complet_<that day>_…): the
// state the Delta sets produced, as a full export, with the same people
// under the same ids and attributes. Importing the Complet and every Delta
// must give what importing that next Complet alone gives (the directory
// package's property test).

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"atrium/ent/uai"
)

// GenConfig sizes a synthetic region. Zero values mean the defaults given
// with each field.
type GenConfig struct {
	Lycees           int       // lycées; zero means 4
	StudentsPerLycee int       // students in each lycée's Complet; zero means 100
	DeltaDays        int       // daily Delta sets after the Complet; zero means none
	Seed             uint64    // the same config and seed give byte-identical files
	Date             time.Time // the Complet's day; zero means 2025-09-01
	// NextComplet also writes a Complet set dated the day after the last
	// Delta (the day after the Complet when DeltaDays is zero) holding the
	// state the Delta sets produced.
	NextComplet bool
}

// GenSummary counts what Generate wrote. People counts are those of the
// Complet set; the Delta counts are totals over all days.
type GenSummary struct {
	Files      []string // file names written, in order
	Academies  int
	Lycees     int
	Students   int
	Relatives  int
	Teachers   int
	Staff      int
	DeltaDays  int
	Arrivals   int // Eleve addRequests in Delta sets
	Changes    int // Eleve modifyRequests (class changes) in Delta sets
	Departures int // Eleve deleteRequests in Delta sets
	// NextComplet is the day of the Complet set written after the Delta
	// sets (GenConfig.NextComplet), zero if none was; NextStudents and
	// NextRelatives count its people (staff do not change).
	NextComplet   time.Time
	NextStudents  int
	NextRelatives int
}

// Generate writes a synthetic region's AAF files into dir, creating it if
// needed and overwriting files of the same names. See the file comment of
// generate.go for what the files hold.
func Generate(dir string, cfg GenConfig) (GenSummary, error) {
	if cfg.Lycees < 0 || cfg.StudentsPerLycee < 0 || cfg.DeltaDays < 0 {
		return GenSummary{}, fmt.Errorf("generate: negative size in %+v", cfg)
	}
	if cfg.Lycees == 0 {
		cfg.Lycees = 4
	}
	if cfg.StudentsPerLycee == 0 {
		cfg.StudentsPerLycee = 100
	}
	if cfg.Date.IsZero() {
		cfg.Date = time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	}
	if limit := 9000 * len(genAcademies); cfg.Lycees > limit {
		return GenSummary{}, fmt.Errorf("generate: at most %d lycées", limit)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return GenSummary{}, fmt.Errorf("generate: %w", err)
	}
	g := newGenerator(cfg)
	g.populate()
	as := g.academies()
	g.sum.Academies, g.sum.Lycees = len(as), len(g.lycees)
	n, err := g.writeComplet(dir, cfg.Date, true)
	if err != nil {
		return g.sum, err
	}
	g.sum.Students, g.sum.Relatives, g.sum.Teachers, g.sum.Staff = n.students, n.relatives, n.teachers, n.staff
	for d := 1; d <= cfg.DeltaDays; d++ {
		if err := g.writeDelta(dir, d); err != nil {
			return g.sum, err
		}
	}
	if cfg.NextComplet {
		day := cfg.Date.AddDate(0, 0, cfg.DeltaDays+1)
		n, err := g.writeComplet(dir, day, false)
		if err != nil {
			return g.sum, err
		}
		g.sum.NextComplet, g.sum.NextStudents, g.sum.NextRelatives = day, n.students, n.relatives
	}
	return g.sum, nil
}

type genLycee struct {
	uai, name string
	acad      int
	city      genCity
	classes   [][]string // by level
	students  []*genStudent
	staff     []*genStaff
}

type genStudent struct {
	id             string
	lyc            *genLycee
	sn, given, tit string
	birth          time.Time
	level, class   int
	rels           []*genRelative
}

type genRelative struct {
	id                  string
	acad                int
	sn, patro, given    string
	title, link         string
	street, mail, phone string
	city                genCity
	children            []*genStudent
}

type genStaff struct {
	id, sn, patro, given, title string
	birth                       time.Time
	fn                          int // index in genFunctions; -1 for a teacher
	subject                     int // index in genSubjects, for a teacher
	classes                     []string
}

type generator struct {
	cfg      GenConfig
	rnd      *rand.Rand
	lycees   []*genLycee
	families [][][]*genRelative // per académie, in creation order
	nextID   int
	sum      GenSummary
}

func newGenerator(cfg GenConfig) *generator {
	return &generator{
		cfg:      cfg,
		rnd:      rand.New(rand.NewPCG(cfg.Seed, 0x617472697561616)),
		families: make([][][]*genRelative, len(genAcademies)),
		nextID:   1000000,
	}
}

func (g *generator) pick(s []string) string { return s[g.rnd.IntN(len(s))] }

func (g *generator) id() string {
	g.nextID++
	return strconv.Itoa(g.nextID)
}

// populate draws the lycées, their students, relatives and staff.
func (g *generator) populate() {
	used := map[string]bool{}
	for i := 0; i < g.cfg.Lycees; i++ {
		a := 0
		if i%3 == 1 {
			a = 1
		}
		acad := genAcademies[a]
		dept := acad.depts[g.rnd.IntN(len(acad.depts))]
		var u string
		for {
			digits := dept.code + fmt.Sprintf("%04d", 1+g.rnd.IntN(9999))
			u = digits + string(uai.CheckLetter(digits))
			if !used[u] {
				used[u] = true
				break
			}
		}
		l := &genLycee{uai: u, acad: a, city: dept.cities[g.rnd.IntN(len(dept.cities))]}
		l.name = "LYCEE " + g.pick(genPatrons)
		perLevel := max(1, (g.cfg.StudentsPerLycee+3*32-1)/(3*32))
		for _, lv := range genLevels {
			var cs []string
			for k := 1; k <= perLevel; k++ {
				cs = append(cs, lv.class+strconv.Itoa(k))
			}
			l.classes = append(l.classes, cs)
		}
		for j := 0; j < g.cfg.StudentsPerLycee; j++ {
			l.students = append(l.students, g.newStudent(l, j%3, (j/3)%perLevel, true))
		}
		g.newStaff(l)
		g.lycees = append(g.lycees, l)
	}
}

// newStudent draws a student of l in the given level and class, with a new
// family or (if siblings) sometimes joining a recent family of the académie.
func (g *generator) newStudent(l *genLycee, level, class int, siblings bool) *genStudent {
	s := &genStudent{id: g.id(), lyc: l, level: level, class: class}
	if g.rnd.IntN(2) == 0 {
		s.tit, s.given = "Mme", g.pick(genGivenF[:20])
	} else {
		s.tit, s.given = "M.", g.pick(genGivenM[:20])
	}
	age := 15 + level
	s.birth = time.Date(g.cfg.Date.Year()-age, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.rnd.IntN(365))
	fams := g.families[l.acad]
	if siblings && len(fams) > 0 && g.rnd.IntN(100) < 12 {
		// A sibling: share the relatives of one of the last families.
		f := fams[len(fams)-1-g.rnd.IntN(min(40, len(fams)))]
		if len(f[0].children) < 4 {
			s.rels = f
			s.sn = f[0].children[0].sn
			for _, r := range f {
				r.children = append(r.children, s)
			}
			return s
		}
	}
	s.sn = g.pick(genSurnames)
	city := l.city
	street := strconv.Itoa(1+g.rnd.IntN(120)) + " " + g.pick(genStreets)
	n := 2
	if g.rnd.IntN(100) < 20 {
		n = 1
	}
	first := g.rnd.IntN(2) // with one relative: mother or father
	for k := 0; k < n; k++ {
		r := &genRelative{id: g.id(), acad: l.acad, sn: s.sn, patro: s.sn, city: city, street: street, children: []*genStudent{s}}
		if (k+first)%2 == 0 {
			r.title, r.link, r.given = "Mme", "10", g.pick(genGivenF[10:])
			r.patro = g.pick(genSurnames)
		} else {
			r.title, r.link, r.given = "M.", "20", g.pick(genGivenM[10:])
		}
		r.mail = mailLocal(r.given) + "." + mailLocal(r.sn) + r.id[len(r.id)-3:] + "@example.org"
		r.phone = city.phone + fmt.Sprintf(" %02d %02d %02d", g.rnd.IntN(100), g.rnd.IntN(100), g.rnd.IntN(100))
		s.rels = append(s.rels, r)
	}
	g.families[l.acad] = append(fams, s.rels)
	return s
}

// newStaff draws l's teachers (about one per 12 students) and other staff
// (about one per 60, at least two).
func (g *generator) newStaff(l *genLycee) {
	m := g.cfg.StudentsPerLycee
	var all []string
	for _, cs := range l.classes {
		all = append(all, cs...)
	}
	teachers, others := max(4, m/12), max(2, m/60)
	for k := 0; k < teachers+others; k++ {
		p := &genStaff{id: g.id(), sn: g.pick(genSurnames), fn: -1}
		p.patro = p.sn
		if g.rnd.IntN(2) == 0 {
			p.title, p.given = "Mme", g.pick(genGivenF[10:])
		} else {
			p.title, p.given = "M.", g.pick(genGivenM[10:])
		}
		p.birth = time.Date(g.cfg.Date.Year()-25-g.rnd.IntN(38), 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.rnd.IntN(365))
		if k < teachers {
			p.subject = k % len(genSubjects)
			// Two to five classes, in the lycée's order.
			n := min(len(all), 2+g.rnd.IntN(4))
			for _, i := range g.rnd.Perm(len(all))[:n] {
				p.classes = append(p.classes, all[i])
			}
			sortStrings(p.classes, all)
		} else {
			p.fn = (k - teachers) % len(genFunctions)
		}
		l.staff = append(l.staff, p)
	}
}

// sortStrings orders s (a subset of order) as order does.
func sortStrings(s, order []string) {
	pos := map[string]int{}
	for i, v := range order {
		pos[v] = i
	}
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && pos[s[j]] < pos[s[j-1]]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// mailLocal turns a name into the ASCII of a mail address's local part.
func mailLocal(s string) string {
	var b []byte
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b = append(b, byte(r))
		case r >= 'A' && r <= 'Z':
			b = append(b, byte(r-'A'+'a'))
		case r == ' ' || r == '\'' || r == '-':
			b = append(b, '-')
		default:
			if a, ok := asciiFold[r]; ok {
				b = append(b, a...)
			}
		}
	}
	return string(b)
}

var asciiFold = map[rune]string{
	'à': "a", 'â': "a", 'ç': "c", 'é': "e", 'è': "e", 'ê': "e", 'ë': "e", 'É': "e", 'î': "i", 'ï': "i",
	'ô': "o", 'ö': "o", 'ù': "u", 'û': "u", 'ü': "u", 'Œ': "oe", 'œ': "oe",
}

func (g *generator) fileName(dir string, acad int, set string, day time.Time, cat string) string {
	return filepath.Join(dir, "ENT_"+genAcademies[acad].name+"_"+set+"_"+day.Format("20060102")+"_"+cat+"_0000.xml")
}

// academies returns the indexes of the académies that have lycées.
func (g *generator) academies() []int {
	var as []int
	for a := range genAcademies {
		for _, l := range g.lycees {
			if l.acad == a {
				as = append(as, a)
				break
			}
		}
	}
	return as
}

// writeSet writes one file per category for académie a; body writes the
// operations of one category.
func (g *generator) writeSet(dir string, a int, set string, day time.Time, latin9 func(cat string) bool, body func(f *genFile, cat string)) error {
	for _, cat := range CategoryOrder() {
		path := g.fileName(dir, a, set, day, cat)
		f, err := createGenFile(path, cat, genAcademies[a].name, g.cfg.Seed, latin9(cat))
		if err != nil {
			return err
		}
		body(f, cat)
		if err := f.close(); err != nil {
			return err
		}
		g.sum.Files = append(g.sum.Files, filepath.Base(path))
	}
	return nil
}

// genCounts counts the people of a Complet set.
type genCounts struct{ students, relatives, teachers, staff int }

// writeComplet writes a Complet set of the current state, dated day. In
// the first one, the last académie's PersRelEleve file is ISO-8859-15.
func (g *generator) writeComplet(dir string, day time.Time, first bool) (genCounts, error) {
	var n genCounts
	as := g.academies()
	for i, a := range as {
		last := first && i == len(as)-1
		latin9 := func(cat string) bool { return last && cat == PersRelEleve }
		err := g.writeSet(dir, a, "Complet", day, latin9, func(f *genFile, cat string) {
			g.writeCompletCategory(f, a, cat, &n)
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (g *generator) writeCompletCategory(f *genFile, a int, cat string, n *genCounts) {
	acad := genAcademies[a]
	switch cat {
	case EtabEducNat:
		for _, l := range g.lycees {
			if l.acad != a {
				continue
			}
			f.add(l.uai, []genAttr{
				attr("ENTStructureJointure", l.uai),
				attr("ENTStructureUAI", l.uai),
				attr("ENTStructureNomCourant", l.name+" - "+l.city.name),
				attr("ENTStructureTypeStruct", "LYCEE GENERAL ET TECHNOLOGIQUE"),
				attr("ENTEtablissementContrat", "PU"),
				attr("street", "1 avenue "+titleCase(l.name[len("LYCEE "):])),
				attr("postalCode", l.city.postal),
				attr("l", l.city.name),
				attr("telephoneNumber", l.city.phone+" 00 00 "+l.uai[5:7]),
				attr("ENTServAcAcademie", acad.name),
			})
		}
	case MatiereEducNat:
		for _, s := range genSubjects {
			f.add(s.code, []genAttr{attr("ENTMatJointure", s.code), attr("ENTLibelleMatiere", s.label)})
		}
	case MefEducNat:
		for _, lv := range genLevels {
			f.add(lv.mef, []genAttr{attr("ENTMefJointure", lv.mef), attr("ENTLibelleMef", lv.label)})
		}
	case Eleve:
		for _, l := range g.lycees {
			if l.acad != a {
				continue
			}
			for _, s := range l.students {
				f.add(s.id, g.studentAttrs(s))
				n.students++
			}
		}
	case PersRelEleve:
		seen := map[*genRelative]bool{}
		for _, l := range g.lycees {
			if l.acad != a {
				continue
			}
			for _, s := range l.students {
				for _, r := range s.rels {
					if !seen[r] {
						seen[r] = true
						f.add(r.id, g.relativeAttrs(r))
						n.relatives++
					}
				}
			}
		}
	case PersEducNat:
		for _, l := range g.lycees {
			if l.acad != a {
				continue
			}
			for _, p := range l.staff {
				f.add(p.id, g.staffAttrs(l, p))
				if p.fn < 0 {
					n.teachers++
				} else {
					n.staff++
				}
			}
		}
	}
}

func titleCase(s string) string {
	b := []byte(s)
	up := true
	for i, c := range b {
		if c >= 'A' && c <= 'Z' && !up {
			b[i] = c - 'A' + 'a'
		}
		up = c == ' ' || c == '-' || c == '\''
	}
	return string(b)
}

func (g *generator) jointure(a int, id string) string { return "AC-" + genAcademies[a].name + "$" + id }

func (g *generator) studentAttrs(s *genStudent) []genAttr {
	l := s.lyc
	var links, legal []string
	for i, r := range s.rels {
		pay := "0"
		if i == 0 {
			pay = "1"
		}
		links = append(links, r.id+"$"+r.link+"$"+pay+"$1$1$"+pay)
		legal = append(legal, r.id)
	}
	majeur := "N"
	if !s.birth.AddDate(18, 0, 0).After(g.cfg.Date) {
		majeur = "O"
	}
	return []genAttr{
		attr("ENTPersonJointure", g.jointure(l.acad, s.id)),
		attr("ENTPersonNomPatro", s.sn),
		attr("sn", s.sn),
		attr("givenName", s.given),
		attr("personalTitle", s.tit),
		attr("ENTPersonDateNaissance", s.birth.Format("02/01/2006")),
		attr("ENTPersonProfils", "National_1"),
		attr("ENTPersonStructRattach", l.uai),
		attr("ENTEleveStructRattachId", l.uai),
		g.classAttr(s),
		attr("ENTEleveMEF", genLevels[s.level].mef),
		attr("ENTEleveMajeur", majeur),
		attr("ENTElevePersRelEleve", links...),
		attr("ENTEleveAutoriteParentale", legal...),
		attr("mail", ""),
	}
}

func (g *generator) classAttr(s *genStudent) genAttr {
	return attr("ENTEleveClasses", s.lyc.uai+"$"+s.lyc.classes[s.level][s.class])
}

func (g *generator) relativeAttrs(r *genRelative) []genAttr {
	return []genAttr{
		attr("ENTPersonJointure", g.jointure(r.acad, r.id)),
		attr("ENTPersonNomPatro", r.patro),
		attr("sn", r.sn),
		attr("givenName", r.given),
		attr("personalTitle", r.title),
		attr("mail", r.mail),
		attr("homePhone", r.phone),
		attr("ENTPersonAdresse", r.street),
		attr("ENTPersonCodePostal", r.city.postal),
		attr("ENTPersonVille", r.city.name),
		attr("ENTPersonPays", "FRANCE"),
		attr("ENTPersonProfils", "National_2"),
		g.childrenAttr(r),
	}
}

func (g *generator) childrenAttr(r *genRelative) genAttr {
	ids := make([]string, len(r.children))
	for i, c := range r.children {
		ids[i] = c.id
	}
	return attr("ENTAuxPersRelEleveEleve", ids...)
}

func (g *generator) staffAttrs(l *genLycee, p *genStaff) []genAttr {
	attrs := []genAttr{
		attr("ENTPersonJointure", g.jointure(l.acad, p.id)),
		attr("ENTPersonNomPatro", p.patro),
		attr("sn", p.sn),
		attr("givenName", p.given),
		attr("personalTitle", p.title),
		attr("ENTPersonDateNaissance", p.birth.Format("02/01/2006")),
		attr("mail", mailLocal(p.given)+"."+mailLocal(p.sn)+p.id[len(p.id)-2:]+"@"+genAcademies[l.acad].domain),
	}
	if p.fn >= 0 {
		fn := genFunctions[p.fn]
		return append(attrs,
			attr("title", fn.title),
			attr("ENTPersonProfils", "National_4"),
			attr("ENTPersonStructRattach", l.uai),
			attr("ENTPersonFonctions", l.uai+"$"+fn.code+"$"+fn.label+"$-$-"),
		)
	}
	sub := genSubjects[p.subject]
	var classes, cm []string
	for _, c := range p.classes {
		classes = append(classes, l.uai+"$"+c)
		cm = append(cm, l.uai+"$"+c+"$"+sub.label)
	}
	return append(attrs,
		attr("title", "ENS"),
		attr("ENTPersonProfils", "National_3"),
		attr("ENTPersonStructRattach", l.uai),
		attr("ENTPersonFonctions", l.uai+"$ENS$ENSEIGNEMENT$"+sub.discipline+"$"+sub.dlabel),
		attr("ENTAuxEnsClasses", classes...),
		attr("ENTAuxEnsClassesMatieres", cm...),
		attr("ENTAuxEnsMatiereEnseignEtab", l.uai+"$"+sub.code),
	)
}

// writeDelta draws day d's changes and writes them as a Delta set per
// académie.
func (g *generator) writeDelta(dir string, d int) error {
	day := g.cfg.Date.AddDate(0, 0, d)
	g.sum.DeltaDays++
	m := g.cfg.StudentsPerLycee
	for _, a := range g.academies() {
		type change struct {
			kind Kind
			s    *genStudent
		}
		var changes []change
		var touchedRels []*genRelative
		touchedRel := map[*genRelative]bool{}
		for _, l := range g.lycees {
			if l.acad != a {
				continue
			}
			touched := map[*genStudent]bool{}
			pickUntouched := func() *genStudent {
				for try := 0; try < 20 && len(l.students) > 0; try++ {
					if s := l.students[g.rnd.IntN(len(l.students))]; !touched[s] {
						return s
					}
				}
				return nil
			}
			for k := 0; k < max(1, m/150); k++ {
				s := pickUntouched()
				if s == nil {
					break
				}
				touched[s] = true
				for i, t := range l.students {
					if t == s {
						l.students = append(l.students[:i], l.students[i+1:]...)
						break
					}
				}
				for _, r := range s.rels {
					for i, c := range r.children {
						if c == s {
							r.children = append(r.children[:i], r.children[i+1:]...)
							break
						}
					}
					if !touchedRel[r] {
						touchedRel[r] = true
						touchedRels = append(touchedRels, r)
					}
				}
				changes = append(changes, change{Delete, s})
			}
			for k := 0; k < max(1, m/100); k++ {
				s := pickUntouched()
				if s == nil {
					break
				}
				touched[s] = true
				n := len(l.classes[s.level])
				if n > 1 {
					s.class = (s.class + 1 + g.rnd.IntN(n-1)) % n
				} else {
					// A single class per level: a change of level
					// (redoublement or passage).
					s.level = (s.level + 1 + g.rnd.IntN(len(genLevels)-1)) % len(genLevels)
					s.class = 0
				}
				changes = append(changes, change{Modify, s})
			}
			for k := 0; k < max(1, m/100); k++ {
				level := g.rnd.IntN(len(genLevels))
				s := g.newStudent(l, level, g.rnd.IntN(len(l.classes[level])), false)
				touched[s] = true
				l.students = append(l.students, s)
				changes = append(changes, change{Add, s})
			}
		}
		err := g.writeSet(dir, a, "Delta", day, func(string) bool { return false }, func(f *genFile, cat string) {
			switch cat {
			case Eleve:
				for _, c := range changes {
					switch c.kind {
					case Add:
						f.add(c.s.id, g.studentAttrs(c.s))
						g.sum.Arrivals++
					case Modify:
						f.modify(c.s.id, []genAttr{g.classAttr(c.s), attr("ENTEleveMEF", genLevels[c.s.level].mef)})
						g.sum.Changes++
					case Delete:
						f.delete(c.s.id)
						g.sum.Departures++
					}
				}
			case PersRelEleve:
				for _, c := range changes {
					if c.kind == Add {
						for _, r := range c.s.rels {
							f.add(r.id, g.relativeAttrs(r))
						}
					}
				}
				for _, r := range touchedRels {
					if len(r.children) == 0 {
						f.delete(r.id)
					} else {
						f.modify(r.id, []genAttr{g.childrenAttr(r)})
					}
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}
