package ent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"atrium/record"
)

// Notes: a class's evaluations and their grades. Its rules:
//
//   - A Teacher creates an evaluation for a class they teach (User.Classes)
//     in their lycée: subject, title, date, the value it is marked out of
//     ("sur") and its coefficient. Only that teacher enters its grades.
//   - A grade is a number between 0 and the evaluation's "sur", with at
//     most two decimals, or a mention: GradeAbsent, GradeExempt,
//     GradeNotGraded. There is one grade record per evaluation and student,
//     its id derived from both, so entries made on either side of a cut
//     land on the same record.
//   - Each grade write names the value it replaces (its base, "" for a
//     first entry). A write whose base is not the current value is refused
//     as a "conflict": a grade changed on both sides of a cut is never
//     silently overwritten (central keeps the first it executed and
//     leaves a notice for the other's author, who enters it again). The
//     record keeps the ids of its last changes: a retransmitted write is a
//     no-op.
//   - A Student reads the evaluations of their classes and only their own
//     grades; a Relative those of their children (Children); the teachers
//     of the class (and the evaluation's author) and the lycée's Personnel
//     read every grade of the class. Région staff read none.
//
// Evaluations and grades live in the lycée's partition: the edge holds them
// and they are written there while the link is down.

// Grade mentions, as stored and as the API names them.
const (
	GradeAbsent    = "abs"  // absent
	GradeExempt    = "disp" // dispensé
	GradeNotGraded = "nn"   // non noté
)

// Limits of the notes.
const (
	maxOutOf        = 10000 // hundredths: "sur" is at most 100
	maxCoefficient  = 10000 // hundredths: a coefficient is at most 100
	maxGradeChanges = 32    // change ids a grade remembers
)

// Evaluation is an evaluation of a class.
type Evaluation struct {
	ID          string    `json:"id"`
	Partition   string    `json:"partition"` // the lycée's UAI
	Class       string    `json:"class"`
	Subject     string    `json:"subject"`
	Title       string    `json:"title"`
	Date        string    `json:"date"`        // AAAA-MM-JJ
	OutOf       string    `json:"outOf"`       // decimal, "." separator: "20"
	Coefficient string    `json:"coefficient"` // decimal: "1", "0.5"
	TeacherID   string    `json:"teacherId"`
	Teacher     string    `json:"teacher"` // the author's name
	Created     time.Time `json:"created"`
}

// EvaluationArgs are the arguments of "evaluation.create", and what a
// teacher fills in; the Service mints ID. OutOf and Coefficient accept a
// decimal comma.
type EvaluationArgs struct {
	ID          string `json:"id"`
	Class       string `json:"class"`
	Subject     string `json:"subject"`
	Title       string `json:"title"`
	Date        string `json:"date"`
	OutOf       string `json:"outOf"`
	Coefficient string `json:"coefficient"`
}

// GradeArgs are the arguments of "grade.set": the grade of Student in
// Evaluation goes from Base (its current value, "" if none) to Value.
type GradeArgs struct {
	ID         string `json:"id"` // the change's id, minted once at the origin
	Evaluation string `json:"evaluation"`
	Student    string `json:"student"`
	Base       string `json:"base"`
	Value      string `json:"value"`
}

// Grade is a student's grade in an evaluation.
type Grade struct {
	ID          string    `json:"id"`
	Evaluation  string    `json:"evaluation"`
	Student     string    `json:"student"`
	StudentName string    `json:"studentName"`
	Value       string    `json:"value"` // decimal with "." or a mention
	Updated     time.Time `json:"updated"`
}

// ValueLabel is the grade as users read it: "12,5" or "Absent".
func (g Grade) ValueLabel() string { return GradeLabel(g.Value) }

// GradeRow is a line of an evaluation's sheet: a student and their grade
// ("" while none is entered).
type GradeRow struct {
	Student     string
	StudentName string
	Value       string
	Updated     time.Time
}

// ValueLabel is the row's grade as users read it; "" while none.
func (r GradeRow) ValueLabel() string { return GradeLabel(r.Value) }

// EvaluationSheet is an evaluation and the grades a user reads in it.
type EvaluationSheet struct {
	Evaluation
	Rows []GradeRow // by student name
	// CanGrade is set when the user enters this evaluation's grades.
	CanGrade bool
}

// StudentGrade is a grade with its evaluation, as a student's report reads.
type StudentGrade struct {
	Evaluation
	Student     string
	StudentName string
	Value       string
}

// ValueLabel is the grade as users read it.
func (g StudentGrade) ValueLabel() string { return GradeLabel(g.Value) }

// GradeLabel writes a stored grade in French: a decimal comma, or the
// mention's label.
func GradeLabel(v string) string {
	switch v {
	case GradeAbsent:
		return "Absent"
	case GradeExempt:
		return "Dispensé"
	case GradeNotGraded:
		return "Non noté"
	}
	return strings.ReplaceAll(v, ".", ",")
}

// Stored bodies; times are unix milliseconds from the commands.
type evaluationBody struct {
	Class       string `json:"class"`
	Subject     string `json:"subject"`
	Title       string `json:"title"`
	Date        string `json:"date"`
	OutOf       string `json:"outOf"`
	Coefficient string `json:"coefficient"`
	TeacherID   string `json:"teacherId"`
	Teacher     string `json:"teacher"`
	Created     int64  `json:"created"`
}

type gradeBody struct {
	Evaluation  string   `json:"evaluation"`
	Student     string   `json:"student"`
	StudentName string   `json:"studentName"`
	Value       string   `json:"value"`
	Updated     int64    `json:"updated"`
	Changes     []string `json:"changes"` // ids of the last changes, oldest first
}

// parseDecimal reads a non-negative decimal with at most two decimals and
// four integer digits ("12", "12.5", "12,50") as hundredths.
func parseDecimal(s string) (int64, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", ".")
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > 4 || len(frac) > 2 || (hasFrac && frac == "") {
		return 0, false
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
	}
	return w*100 + f, true
}

// formatDecimal writes hundredths as the canonical decimal: "12", "12.5",
// "12.25".
func formatDecimal(h int64) string {
	s := strconv.FormatInt(h/100, 10)
	if f := h % 100; f != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%02d", f), "0")
	}
	return s
}

func isMention(v string) bool {
	return v == GradeAbsent || v == GradeExempt || v == GradeNotGraded
}

// normalizeGrade returns the canonical form of a grade of an evaluation
// out of outOf, or the French refusal.
func normalizeGrade(v, outOf string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if isMention(v) {
		return v, nil
	}
	h, ok := parseDecimal(v)
	max, _ := parseDecimal(outOf)
	if !ok || h > max {
		return "", rejectInvalid(fmt.Sprintf(
			"Note invalide « %s » : un nombre entre 0 et %s (deux décimales au plus), ou abs (absent), disp (dispensé), nn (non noté).",
			v, GradeLabel(outOf)))
	}
	return formatDecimal(h), nil
}

// normalizeBase returns the canonical form of a base: "" or a grade.
func normalizeBase(v string) (string, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || isMention(v) {
		return v, true
	}
	h, ok := parseDecimal(v)
	if !ok {
		return "", false
	}
	return formatDecimal(h), true
}

// checkEvaluation checks and normalizes what a teacher writes.
func checkEvaluation(a EvaluationArgs) (EvaluationArgs, error) {
	for _, f := range []*string{&a.Class, &a.Subject, &a.Title, &a.Date, &a.OutOf, &a.Coefficient} {
		*f = strings.TrimSpace(*f)
	}
	switch {
	case !text(a.Class, maxClass):
		return a, rejectInvalid("La classe est obligatoire.")
	case !text(a.Subject, maxMatiere):
		return a, rejectInvalid("La matière est obligatoire.")
	case !text(a.Title, maxTitle):
		return a, rejectInvalid("L'intitulé de l'évaluation est obligatoire.")
	case !validDate(a.Date):
		return a, rejectInvalid("La date de l'évaluation est obligatoire (AAAA-MM-JJ).")
	}
	out, ok := parseDecimal(a.OutOf)
	if !ok || out <= 0 || out > maxOutOf {
		return a, rejectInvalid("La note maximale (sur) est un nombre supérieur à 0 et au plus 100, deux décimales au plus.")
	}
	coef, ok := parseDecimal(a.Coefficient)
	if !ok || coef <= 0 || coef > maxCoefficient {
		return a, rejectInvalid("Le coefficient est un nombre supérieur à 0 et au plus 100, deux décimales au plus.")
	}
	a.OutOf, a.Coefficient = formatDecimal(out), formatDecimal(coef)
	return a, nil
}

// CanGrade reports whether u creates evaluations: a teacher of a lycée with
// at least one class.
func CanGrade(u User) bool { return u.Profile == Teacher && u.UAI != "" && len(u.Classes) > 0 }

// CanReadNotes reports whether u has notes to read: any user of a lycée.
func CanReadNotes(u User) bool { return u.Profile != Region && u.UAI != "" }

func errNoRegionNotes() error {
	return rejectForbidden("Les notes sont celles d'un lycée.")
}

func errNoEvaluation() error { return record.Reject("not_found", "Évaluation introuvable.") }

func errNotAuthor() error {
	return rejectForbidden("Seul l'enseignant qui a créé l'évaluation en saisit les notes.")
}

// GradeID is the id of the grade record of student in evaluation: derived
// from both, so that every node writes a student's grade to one record.
// It keeps the evaluation's UUIDv7 time.
func GradeID(evaluation, student string) string {
	h := sha256.Sum256([]byte(evaluation + "/" + student))
	var u [16]byte
	copy(u[6:], h[:])
	hex := strings.ReplaceAll(evaluation, "-", "")
	for i := 0; i < 6 && len(hex) >= 12; i++ {
		b, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		u[i] = byte(b)
	}
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func execEvaluationCreate(tx record.Tx, cmd record.Command) error {
	var a EvaluationArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return errNoRegionNotes()
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindEvaluation); done || err != nil {
		return err // already created: a retransmission
	}
	a, err := checkEvaluation(a)
	if err != nil {
		return err
	}
	t, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	switch {
	case !ok || t.Profile != Teacher:
		return rejectForbidden("Seuls les enseignants du lycée créent des évaluations.")
	case !slices.Contains(t.Classes, a.Class):
		return rejectForbidden("Vous ne créez d'évaluations que pour les classes où vous enseignez.")
	}
	body, err := json.Marshal(evaluationBody{Class: a.Class, Subject: a.Subject, Title: a.Title, Date: a.Date,
		OutOf: a.OutOf, Coefficient: a.Coefficient, TeacherID: t.ID, Teacher: t.Name, Created: cmd.Time})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindEvaluation, Body: body})
}

// evaluationIn reads evaluation id of partition; ok=false if there is none.
func evaluationIn(r record.Reader, partition, id string) (Evaluation, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindEvaluation {
		return Evaluation{}, false, err
	}
	e, err := decodeEvaluation(rec)
	return e, err == nil, err
}

func decodeEvaluation(rec record.Record) (Evaluation, error) {
	var b evaluationBody
	if err := b.unmarshal(rec.Body); err != nil {
		return Evaluation{}, fmt.Errorf("decode evaluation %s: %w", rec.ID, err)
	}
	return Evaluation{ID: rec.ID, Partition: rec.Partition, Class: b.Class, Subject: b.Subject, Title: b.Title,
		Date: b.Date, OutOf: b.OutOf, Coefficient: b.Coefficient, TeacherID: b.TeacherID, Teacher: b.Teacher,
		Created: time.UnixMilli(b.Created)}, nil
}

func gradeIn(r record.Reader, partition, id string) (gradeBody, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindGrade {
		return gradeBody{}, false, err
	}
	var b gradeBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return gradeBody{}, false, fmt.Errorf("decode grade %s: %w", id, err)
	}
	return b, true, nil
}

// gradeConflict is the refusal of a write whose base is not the current
// value.
func gradeConflict(student, current, base string) error {
	label := func(v string) string {
		if v == "" {
			return "aucune note"
		}
		return "« " + GradeLabel(v) + " »"
	}
	return record.Reject("conflict", fmt.Sprintf(
		"La note de %s a changé entre-temps : elle est maintenant %s (vous partiez de %s). Votre saisie n'a pas été appliquée : vérifiez la note et saisissez-la de nouveau si besoin.",
		student, label(current), label(base)))
}

func execGradeSet(tx record.Tx, cmd record.Command) error {
	var a GradeArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || !validID(a.Evaluation) || !validID(a.Student) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return errNoRegionNotes()
	}
	e, ok, err := evaluationIn(tx, cmd.Partition, a.Evaluation)
	if err != nil {
		return err
	}
	if !ok {
		return errNoEvaluation()
	}
	id := GradeID(a.Evaluation, a.Student)
	if _, err := existing(tx, cmd.Partition, id, KindGrade); err != nil {
		return err
	}
	g, exists, err := gradeIn(tx, cmd.Partition, id)
	if err != nil {
		return err
	}
	if exists && slices.Contains(g.Changes, a.ID) {
		return nil // already applied: a retransmission
	}
	t, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || t.Profile != Teacher || t.ID != e.TeacherID {
		return errNotAuthor()
	}
	st, ok, err := liveUser(tx, cmd.Partition, a.Student)
	if err != nil {
		return err
	}
	if !ok || st.Profile != Student || !slices.Contains(st.Classes, e.Class) {
		return record.Reject("not_found", "Élève inconnu dans la classe "+e.Class+".")
	}
	value, err := normalizeGrade(a.Value, e.OutOf)
	if err != nil {
		return err
	}
	base, ok := normalizeBase(a.Base)
	if !ok {
		return rejectInvalid("Commande mal formée.")
	}
	if base != g.Value {
		return gradeConflict(st.Name, g.Value, base)
	}
	if value == g.Value {
		return nil // unchanged
	}
	changes := append(slices.Clone(g.Changes), a.ID)
	if n := len(changes); n > maxGradeChanges {
		changes = changes[n-maxGradeChanges:]
	}
	body, err := json.Marshal(gradeBody{Evaluation: a.Evaluation, Student: st.ID, StudentName: st.Name,
		Value: value, Updated: cmd.Time, Changes: changes})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: id, Kind: KindGrade, Body: body})
}

// notesReader decides what of the notes u reads.
type notesReader struct {
	user     User
	all      bool     // the lycée's staff
	classes  []string // a teacher's classes: every grade of them
	students []User   // a student or a relative's children: their own grades
}

func newNotesReader(r record.Reader, u User) (notesReader, error) {
	n := notesReader{user: u}
	if !CanReadNotes(u) {
		return n, nil
	}
	switch u.Profile {
	case Personnel:
		n.all = true
	case Teacher:
		n.classes = u.Classes
	case Student:
		n.students = []User{u}
	case Relative:
		children, err := childrenOf(r, u)
		if err != nil {
			return n, err
		}
		n.students = children
	}
	return n, nil
}

// allGrades reports whether u reads every grade of e.
func (n notesReader) allGrades(e Evaluation) bool {
	if !CanReadNotes(n.user) || e.Partition != n.user.UAI {
		return false
	}
	return n.all || e.TeacherID == n.user.ID || slices.Contains(n.classes, e.Class)
}

// ownStudents returns the students (self or children) of e's class whose
// grades u reads in e.
func (n notesReader) ownStudents(e Evaluation) []User {
	var out []User
	for _, s := range n.students {
		if e.Partition == n.user.UAI && slices.Contains(s.Classes, e.Class) {
			out = append(out, s)
		}
	}
	return out
}

func (n notesReader) reads(e Evaluation) bool {
	return n.allGrades(e) || len(n.ownStudents(e)) > 0
}

// ListEvaluations returns the evaluations u reads, of class only unless it
// is "", the latest first.
func (s *Service) ListEvaluations(ctx context.Context, u User, class string) ([]Evaluation, error) {
	if !CanReadNotes(u) {
		return nil, nil
	}
	var out []Evaluation
	err := s.store.View(func(r record.Reader) error {
		n, err := newNotesReader(r, u)
		if err != nil {
			return err
		}
		scan := func(fn func(record.Record) error) error { return r.Scan(u.UAI, KindEvaluation, fn) }
		if !n.all {
			// The others read their own evaluations and those of their
			// classes or their students' classes: the index finds those
			// (IndexTerms).
			terms := []string{userTerm(u.ID)}
			for _, c := range n.classes {
				terms = append(terms, classTerm(c))
			}
			for _, st := range n.students {
				for _, c := range st.Classes {
					terms = append(terms, classTerm(c))
				}
			}
			scan = func(fn func(record.Record) error) error { return scanTerms(r, u.UAI, KindEvaluation, terms, fn) }
		}
		return scan(func(rec record.Record) error {
			e, err := decodeEvaluation(rec)
			if err != nil {
				return err
			}
			if n.reads(e) && (class == "" || e.Class == class) {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list evaluations: %w", err)
	}
	sortEvaluations(out, func(i int) Evaluation { return out[i] })
	return out, nil
}

func sortEvaluations[T any](s []T, at func(int) Evaluation) {
	sort.SliceStable(s, func(i, j int) bool {
		a, b := at(i), at(j)
		if a.Date != b.Date {
			return a.Date > b.Date
		}
		return a.ID > b.ID
	})
}

// NotesPage is a page of the notes as u's notes page shows it.
type NotesPage struct {
	// Evaluations are those u reads, of the page.
	Evaluations []Evaluation
	// Grades are, for a student or a relative, the grades entered in the
	// page's evaluations for the student or the relative's children; nil
	// for the other profiles.
	Grades []StudentGrade
	// Next is the cursor of the next page, "" for none.
	Next string
}

// ListNotesPage returns the page p of the evaluations u reads, the last
// created first (by id), with the grades a student or a relative reads in
// them. Within the page, the evaluations and the grades are ordered as
// ListEvaluations and ListGrades order them, the latest evaluation first.
// It reads no further than the page: the evaluations through the index,
// the grades by their ids (GradeID), not the lycée's grades.
func (s *Service) ListNotesPage(ctx context.Context, u User, p Page) (NotesPage, error) {
	var out NotesPage
	if !CanReadNotes(u) {
		return out, nil
	}
	err := s.store.View(func(r record.Reader) error {
		n, err := newNotesReader(r, u)
		if err != nil {
			return err
		}
		terms := []string{userTerm(u.ID)}
		for _, c := range n.classes {
			terms = append(terms, classTerm(c))
		}
		for _, st := range n.students {
			for _, c := range st.Classes {
				terms = append(terms, classTerm(c))
			}
		}
		out.Evaluations, out.Next, err = scanPage(r, u.UAI, KindEvaluation, terms, n.all, p, func(rec record.Record) (Evaluation, bool, error) {
			e, err := decodeEvaluation(rec)
			return e, err == nil && n.reads(e), err
		})
		if err != nil {
			return err
		}
		sortEvaluations(out.Evaluations, func(i int) Evaluation { return out.Evaluations[i] })
		if u.Profile != Student && u.Profile != Relative {
			return nil
		}
		out.Grades = []StudentGrade{}
		for _, e := range out.Evaluations {
			for _, st := range n.ownStudents(e) {
				rec, ok, err := r.Get(u.UAI, GradeID(e.ID, st.ID))
				if err != nil {
					return err
				}
				if !ok || rec.Deleted || rec.Kind != KindGrade {
					continue
				}
				var g gradeSummary
				if err := g.unmarshal(rec.Body); err != nil {
					return fmt.Errorf("decode grade %s: %w", rec.ID, err)
				}
				out.Grades = append(out.Grades, StudentGrade{Evaluation: e, Student: g.Student, StudentName: g.StudentName, Value: g.Value})
			}
		}
		return nil
	})
	if err != nil {
		return NotesPage{}, fmt.Errorf("list notes: %w", err)
	}
	return out, nil
}

// GetEvaluation returns evaluation id and the grades u reads in it: the
// class's teachers and the lycée's staff every student of the class, a
// student their own line, a relative their
// children's. An evaluation u does not read is ErrNotFound.
func (s *Service) GetEvaluation(ctx context.Context, u User, id string) (EvaluationSheet, error) {
	if !CanReadNotes(u) {
		return EvaluationSheet{}, ErrNotFound
	}
	var sh EvaluationSheet
	var found bool
	err := s.store.View(func(r record.Reader) error {
		e, ok, err := evaluationIn(r, u.UAI, id)
		if err != nil || !ok {
			return err
		}
		n, err := newNotesReader(r, u)
		if err != nil || !n.reads(e) {
			return err
		}
		found = true
		sh.Evaluation = e
		sh.CanGrade = u.Profile == Teacher && u.ID == e.TeacherID
		var students []User
		if n.allGrades(e) {
			err = r.Scan(u.UAI, KindUser, func(rec record.Record) error {
				st, err := decodeUser(rec.Body)
				if err == nil && st.Profile == Student && slices.Contains(st.Classes, e.Class) {
					students = append(students, st)
				}
				return err
			})
			if err != nil {
				return err
			}
		} else {
			students = n.ownStudents(e)
		}
		for _, st := range students {
			row := GradeRow{Student: st.ID, StudentName: st.Name}
			g, ok, err := gradeIn(r, u.UAI, GradeID(e.ID, st.ID))
			if err != nil {
				return err
			}
			if ok {
				row.Value, row.Updated = g.Value, time.UnixMilli(g.Updated)
			}
			sh.Rows = append(sh.Rows, row)
		}
		return nil
	})
	if err != nil {
		return EvaluationSheet{}, fmt.Errorf("get evaluation: %w", err)
	}
	if !found {
		return EvaluationSheet{}, ErrNotFound
	}
	sort.SliceStable(sh.Rows, func(i, j int) bool {
		if a, b := sh.Rows[i].StudentName, sh.Rows[j].StudentName; a != b {
			return a < b
		}
		return sh.Rows[i].Student < sh.Rows[j].Student
	})
	return sh, nil
}

// ListGrades returns the grades u reads (entered ones only), of student
// only unless it is "", the latest evaluation first: a student's own, a
// relative's children's, the grades of a teacher's classes, every grade
// of the lycée for its staff.
func (s *Service) ListGrades(ctx context.Context, u User, student string) ([]StudentGrade, error) {
	if !CanReadNotes(u) {
		return nil, nil
	}
	var out []StudentGrade
	err := s.store.View(func(r record.Reader) error {
		n, err := newNotesReader(r, u)
		if err != nil {
			return err
		}
		evals := map[string]Evaluation{}
		scan := func(fn func(record.Record) error) error { return r.Scan(u.UAI, KindGrade, fn) }
		if u.Profile == Student || u.Profile == Relative {
			// They read only their own students' grades: the index finds
			// those (IndexTerms) rather than every grade of the lycée.
			var terms []string
			for _, st := range n.students {
				terms = append(terms, userTerm(st.ID))
			}
			scan = func(fn func(record.Record) error) error { return scanTerms(r, u.UAI, KindGrade, terms, fn) }
		}
		return scan(func(rec record.Record) error {
			var g gradeBody
			if err := json.Unmarshal(rec.Body, &g); err != nil {
				return fmt.Errorf("decode grade %s: %w", rec.ID, err)
			}
			if student != "" && g.Student != student {
				return nil
			}
			e, ok := evals[g.Evaluation]
			if !ok {
				var err error
				if e, ok, err = evaluationIn(r, u.UAI, g.Evaluation); err != nil || !ok {
					return err
				}
				evals[g.Evaluation] = e
			}
			own := slices.ContainsFunc(n.ownStudents(e), func(st User) bool { return st.ID == g.Student })
			if own || n.allGrades(e) {
				out = append(out, StudentGrade{Evaluation: e, Student: g.Student, StudentName: g.StudentName, Value: g.Value})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list grades: %w", err)
	}
	sortEvaluations(out, func(i int) Evaluation { return out[i].Evaluation })
	return out, nil
}

// CreateEvaluation creates an evaluation by u, a teacher of its class.
// Refusals are *record.Rejection.
func (s *Service) CreateEvaluation(ctx context.Context, u User, a EvaluationArgs) (Evaluation, error) {
	if !CanGrade(u) {
		return Evaluation{}, rejectForbidden("Seuls les enseignants du lycée créent des évaluations.")
	}
	a, err := checkEvaluation(a)
	if err != nil {
		return Evaluation{}, err
	}
	if !slices.Contains(u.Classes, a.Class) {
		return Evaluation{}, rejectForbidden("Vous ne créez d'évaluations que pour les classes où vous enseignez.")
	}
	a.ID = record.NewID()
	at := s.now()
	if err := s.submit(ctx, u, OpEvaluationCreate, u.UAI, a, at); err != nil {
		return Evaluation{}, err
	}
	return Evaluation{ID: a.ID, Partition: u.UAI, Class: a.Class, Subject: a.Subject, Title: a.Title, Date: a.Date,
		OutOf: a.OutOf, Coefficient: a.Coefficient, TeacherID: u.ID, Teacher: u.Name,
		Created: time.UnixMilli(at.UnixMilli())}, nil
}

// SetGrade sets the grade of student in evaluation to value, from base (the
// value u saw, "" for a first entry); u is the evaluation's author. A base
// that is no longer the grade is refused ("conflict"). Refusals are
// *record.Rejection.
func (s *Service) SetGrade(ctx context.Context, u User, evaluation, student, base, value string) (Grade, error) {
	sh, err := s.GetEvaluation(ctx, u, evaluation)
	if errors.Is(err, ErrNotFound) {
		return Grade{}, errNoEvaluation()
	}
	if err != nil {
		return Grade{}, err
	}
	if !sh.CanGrade {
		return Grade{}, errNotAuthor()
	}
	i := slices.IndexFunc(sh.Rows, func(r GradeRow) bool { return r.Student == student })
	if i < 0 {
		return Grade{}, record.Reject("not_found", "Élève inconnu dans la classe "+sh.Class+".")
	}
	row := sh.Rows[i]
	v, err := normalizeGrade(value, sh.OutOf)
	if err != nil {
		return Grade{}, err
	}
	b, ok := normalizeBase(base)
	if !ok {
		return Grade{}, rejectInvalid("Note de départ invalide.")
	}
	if b != row.Value {
		return Grade{}, gradeConflict(row.StudentName, row.Value, b)
	}
	at := s.now()
	g := Grade{ID: GradeID(evaluation, student), Evaluation: evaluation, Student: student, StudentName: row.StudentName,
		Value: v, Updated: time.UnixMilli(at.UnixMilli())}
	if v == row.Value {
		g.Updated = row.Updated
		return g, nil
	}
	args := GradeArgs{ID: record.NewID(), Evaluation: evaluation, Student: student, Base: b, Value: v}
	if err := s.submit(ctx, u, OpGradeSet, u.UAI, args, at); err != nil {
		return Grade{}, err
	}
	return g, nil
}
