package ent

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"atrium/record"
)

// Absences (vie scolaire): the absences and latenesses of a lycée's
// students. Its rules:
//
//   - A Teacher records an absence or a lateness for a student of a class
//     they teach (the class is stored with it); a Personnel of the lycée
//     (the CPE, the vie scolaire) records one for any student of the
//     lycée. It opens "à justifier".
//   - Only the lycée's Personnel set the status (à justifier, justifiée,
//     non justifiée); only a Relative of the student (User.Children)
//     writes the justification (a motif and a comment).
//   - A student reads their own absences, a relative their children's, a
//     teacher those of the classes they teach and those they recorded, a
//     Personnel every one of the lycée. Région staff read none.
//
// Field ownership makes a cut harmless: the status belongs to the staff,
// the justification to the relatives. A justification never changes the
// status and a status change never touches the justification, so both may
// be written on either side of a cut and both stand, whatever order central
// applies them in. Within one side, the later write (by the command's time)
// wins; a retransmitted or older write is a no-op.

// Kinds of an absence.
const (
	AbsenceAbsent = "absence"
	AbsenceLate   = "retard"
)

// Statuses of an absence, set by the lycée's staff. It opens "a-justifier".
const (
	AbsencePending     = "a-justifier"
	AbsenceJustified   = "justifiee"
	AbsenceUnjustified = "non-justifiee"
)

// Motifs of a justification.
const (
	MotifIllness   = "maladie"
	MotifMedical   = "rendez-vous-medical"
	MotifFamily    = "familial"
	MotifTransport = "transport"
	MotifOther     = "autre"
)

// AbsenceKinds returns the kinds of an absence.
func AbsenceKinds() []Choice {
	return []Choice{{AbsenceAbsent, "Absence"}, {AbsenceLate, "Retard"}}
}

// AbsenceStatuses returns the statuses of an absence.
func AbsenceStatuses() []Choice {
	return []Choice{{AbsencePending, "À justifier"}, {AbsenceJustified, "Justifiée"}, {AbsenceUnjustified, "Non justifiée"}}
}

// AbsenceMotifs returns the motifs of a justification.
func AbsenceMotifs() []Choice {
	return []Choice{{MotifIllness, "Maladie"}, {MotifMedical, "Rendez-vous médical"},
		{MotifFamily, "Raison familiale"}, {MotifTransport, "Transport"}, {MotifOther, "Autre"}}
}

// Absence is an absence or a lateness of a student.
type Absence struct {
	ID           string
	Partition    string // the lycée's UAI
	StudentID    string
	StudentName  string
	Class        string // the class it was recorded for; "" if the student has none
	Date         string // AAAA-MM-JJ
	Start, End   string // the créneau, HH:MM
	Kind         string // AbsenceAbsent or AbsenceLate
	RecorderID   string
	RecorderName string
	Recorded     time.Time
	// The status, owned by the lycée's staff.
	Status       string
	StatusByName string
	StatusAt     time.Time // zero while nobody changed it
	// The justification, owned by the student's relatives; Motif is "" until
	// one justifies it.
	Motif         string
	Comment       string
	JustifiedBy   string // the relative's name
	JustifiedAt   time.Time
	JustifiedByID string
}

// KindLabel, StatusLabel and MotifLabel are the French labels of the codes.
func (a Absence) KindLabel() string   { l, _ := choiceLabel(AbsenceKinds(), a.Kind); return l }
func (a Absence) StatusLabel() string { l, _ := choiceLabel(AbsenceStatuses(), a.Status); return l }
func (a Absence) MotifLabel() string  { l, _ := choiceLabel(AbsenceMotifs(), a.Motif); return l }

// Slot is the créneau as users read it: "08:00–09:00".
func (a Absence) Slot() string { return a.Start + "–" + a.End }

// AbsenceArgs are the arguments of "absence.record". ID is minted by the
// Service.
type AbsenceArgs struct {
	ID      string `json:"id"`
	Student string `json:"student"` // the student's user id
	Date    string `json:"date"`
	Start   string `json:"start"`
	End     string `json:"end"`
	Kind    string `json:"kind"`
}

// AbsenceJustifyArgs are the arguments of "absence.justify".
type AbsenceJustifyArgs struct {
	ID      string `json:"id"`
	Motif   string `json:"motif"`
	Comment string `json:"comment,omitempty"`
}

// AbsenceStatusArgs are the arguments of "absence.status".
type AbsenceStatusArgs struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// absenceBody is the stored document; times are unix milliseconds from the
// commands. Each side's time orders the writes of that side only.
type absenceBody struct {
	StudentID    string `json:"studentId"`
	StudentName  string `json:"studentName"`
	Class        string `json:"class,omitempty"`
	Date         string `json:"date"`
	Start        string `json:"start"`
	End          string `json:"end"`
	Kind         string `json:"kind"`
	RecorderID   string `json:"recorderId"`
	RecorderName string `json:"recorderName"`
	Recorded     int64  `json:"recorded"`

	Status       string `json:"status"`
	StatusByID   string `json:"statusById,omitempty"`
	StatusByName string `json:"statusByName,omitempty"`
	StatusAt     int64  `json:"statusAt,omitempty"`

	Motif         string `json:"motif,omitempty"`
	Comment       string `json:"comment,omitempty"`
	JustifiedByID string `json:"justifiedById,omitempty"`
	JustifiedBy   string `json:"justifiedBy,omitempty"`
	JustifiedAt   int64  `json:"justifiedAt,omitempty"`
}

const maxAbsenceComment = 2000

var slotTime = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// CanRecordAbsences reports whether u records absences: a teacher with
// classes, or the staff of a lycée.
func CanRecordAbsences(u User) bool {
	return u.UAI != "" && (u.Profile == Personnel || (u.Profile == Teacher && len(u.Classes) > 0))
}

// CanSetAbsenceStatus reports whether u sets the status of absences: the
// lycée's staff.
func CanSetAbsenceStatus(u User) bool { return u.Profile == Personnel && u.UAI != "" }

// CanUseAbsences reports whether u has the service: anyone of a lycée.
func CanUseAbsences(u User) bool { return u.Profile != Region && u.UAI != "" }

// checkAbsence checks the fields of a recording and returns the French
// refusal of the first wrong one.
func checkAbsence(a AbsenceArgs) error {
	switch {
	case a.Student == "":
		return rejectInvalid("Choisissez l'élève.")
	case !validDate(a.Date):
		return rejectInvalid("La date est obligatoire (AAAA-MM-JJ).")
	case !slotTime.MatchString(a.Start) || !slotTime.MatchString(a.End):
		return rejectInvalid("Le créneau est obligatoire (début et fin, HH:MM).")
	case a.End <= a.Start:
		return rejectInvalid("La fin du créneau doit suivre son début.")
	}
	if _, ok := choiceLabel(AbsenceKinds(), a.Kind); !ok {
		return rejectInvalid("Type inconnu : choisissez absence ou retard.")
	}
	return nil
}

// absenceClass returns the class an absence of student by recorder is
// recorded for, and whether recorder may record it.
func absenceClass(recorder, student User) (string, bool) {
	if student.Profile != Student || student.UAI != recorder.UAI {
		return "", false
	}
	switch recorder.Profile {
	case Personnel:
		if len(student.Classes) > 0 {
			return student.Classes[0], true
		}
		return "", true
	case Teacher:
		for _, c := range student.Classes {
			if c != "" && slices.Contains(recorder.Classes, c) {
				return c, true
			}
		}
	}
	return "", false
}

func errRecordAbsence() error {
	return rejectForbidden("Un enseignant enregistre les absences des élèves de ses classes ; la vie scolaire, celles de tout élève du lycée.")
}

func errNoAbsence() error { return record.Reject("not_found", "Absence introuvable.") }

func execAbsenceRecord(tx record.Tx, cmd record.Command) error {
	var a AbsenceArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return rejectForbidden("Les absences sont celles d'un lycée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindAbsence); done || err != nil {
		return err // already recorded: a retransmission
	}
	if err := checkAbsence(a); err != nil {
		return err
	}
	by, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok {
		return errRecordAbsence()
	}
	student, ok, err := liveUser(tx, cmd.Partition, a.Student)
	if err != nil {
		return err
	}
	if !ok || student.Profile != Student {
		return record.Reject("not_found", "Élève inconnu dans ce lycée.")
	}
	class, ok := absenceClass(by, student)
	if !ok {
		return errRecordAbsence()
	}
	return putAbsence(tx, cmd.Partition, a.ID, absenceBody{
		StudentID: student.ID, StudentName: student.Name, Class: class, Date: a.Date, Start: a.Start, End: a.End,
		Kind: a.Kind, RecorderID: by.ID, RecorderName: by.Name, Recorded: cmd.Time, Status: AbsencePending,
	})
}

func putAbsence(tx record.Tx, partition, id string, b absenceBody) error {
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: partition, ID: id, Kind: KindAbsence, Body: body})
}

// absenceIn reads absence id of partition; ok=false if there is none.
func absenceIn(r record.Reader, partition, id string) (absenceBody, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindAbsence {
		return absenceBody{}, false, err
	}
	var b absenceBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return absenceBody{}, false, fmt.Errorf("decode absence %s: %w", id, err)
	}
	return b, true, nil
}

func execAbsenceJustify(tx record.Tx, cmd record.Command) error {
	var a AbsenceJustifyArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	b, ok, err := absenceIn(tx, cmd.Partition, a.ID)
	if err != nil {
		return err
	}
	if !ok {
		return errNoAbsence()
	}
	if b.JustifiedAt >= cmd.Time {
		return nil // a retransmission, or an older justification arriving late
	}
	if err := checkJustification(a); err != nil {
		return err
	}
	by, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || by.Profile != Relative || !slices.Contains(by.Children, b.StudentID) {
		return rejectForbidden("Seul un responsable légal de l'élève justifie son absence.")
	}
	b.Motif, b.Comment = a.Motif, strings.TrimSpace(a.Comment)
	b.JustifiedByID, b.JustifiedBy, b.JustifiedAt = by.ID, by.Name, cmd.Time
	return putAbsence(tx, cmd.Partition, a.ID, b)
}

func checkJustification(a AbsenceJustifyArgs) error {
	if _, ok := choiceLabel(AbsenceMotifs(), a.Motif); !ok {
		return rejectInvalid("Motif inconnu : choisissez maladie, rendez-vous médical, raison familiale, transport ou autre.")
	}
	if !optionalText(a.Comment, maxAbsenceComment) {
		return rejectInvalid("Le commentaire est trop long.")
	}
	if a.Motif == MotifOther && strings.TrimSpace(a.Comment) == "" {
		return rejectInvalid("Précisez le motif dans le commentaire.")
	}
	return nil
}

func execAbsenceStatus(tx record.Tx, cmd record.Command) error {
	var a AbsenceStatusArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	b, ok, err := absenceIn(tx, cmd.Partition, a.ID)
	if err != nil {
		return err
	}
	if !ok {
		return errNoAbsence()
	}
	if b.StatusAt >= cmd.Time {
		return nil // a retransmission, or an older change arriving late
	}
	if _, ok := choiceLabel(AbsenceStatuses(), a.Status); !ok {
		return rejectInvalid("Statut inconnu : à justifier, justifiée ou non justifiée.")
	}
	by, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanSetAbsenceStatus(by) {
		return rejectForbidden("Seule la vie scolaire du lycée fixe le statut d'une absence.")
	}
	b.Status, b.StatusByID, b.StatusByName, b.StatusAt = a.Status, by.ID, by.Name, cmd.Time
	return putAbsence(tx, cmd.Partition, a.ID, b)
}

func decodeAbsence(rec record.Record) (Absence, error) {
	var b absenceBody
	if err := b.unmarshal(rec.Body); err != nil {
		return Absence{}, fmt.Errorf("decode absence %s: %w", rec.ID, err)
	}
	a := Absence{
		ID: rec.ID, Partition: rec.Partition, StudentID: b.StudentID, StudentName: b.StudentName, Class: b.Class,
		Date: b.Date, Start: b.Start, End: b.End, Kind: b.Kind, RecorderID: b.RecorderID, RecorderName: b.RecorderName,
		Recorded: time.UnixMilli(b.Recorded), Status: b.Status, StatusByName: b.StatusByName,
		Motif: b.Motif, Comment: b.Comment, JustifiedBy: b.JustifiedBy, JustifiedByID: b.JustifiedByID,
	}
	if b.StatusAt > 0 {
		a.StatusAt = time.UnixMilli(b.StatusAt)
	}
	if b.JustifiedAt > 0 {
		a.JustifiedAt = time.UnixMilli(b.JustifiedAt)
	}
	return a, nil
}

// SeesAbsence reports whether u reads absence a: the student, their
// relatives, the teachers of its class and its recorder, the lycée's
// staff.
func SeesAbsence(u User, a Absence) bool {
	if !CanUseAbsences(u) || u.UAI != a.Partition {
		return false
	}
	switch u.Profile {
	case Personnel:
		return true
	case Student:
		return u.ID == a.StudentID
	case Relative:
		return slices.Contains(u.Children, a.StudentID)
	case Teacher:
		return a.RecorderID == u.ID || (a.Class != "" && slices.Contains(u.Classes, a.Class))
	}
	return false
}

// ListAbsences returns the absences u reads, the latest first (by date,
// then créneau).
func (s *Service) ListAbsences(ctx context.Context, u User) ([]Absence, error) {
	if !CanUseAbsences(u) {
		return nil, nil
	}
	var out []Absence
	// Only the lycée's staff read every absence: the others' are found by
	// the index (IndexTerms) — a student's own, a relative's children's,
	// a teacher's classes' and those the teacher recorded.
	var terms []string
	switch u.Profile {
	case Student:
		terms = []string{userTerm(u.ID)}
	case Relative:
		for _, c := range u.Children {
			terms = append(terms, userTerm(c))
		}
	case Teacher:
		terms = []string{userTerm(u.ID)}
		for _, c := range u.Classes {
			if c != "" {
				terms = append(terms, classTerm(c))
			}
		}
	}
	err := s.store.View(func(r record.Reader) error {
		scan := func(fn func(record.Record) error) error { return r.Scan(u.UAI, KindAbsence, fn) }
		if u.Profile != Personnel {
			scan = func(fn func(record.Record) error) error { return scanTerms(r, u.UAI, KindAbsence, terms, fn) }
		}
		return scan(func(rec record.Record) error {
			a, err := decodeAbsence(rec)
			if err != nil {
				return err
			}
			if SeesAbsence(u, a) {
				out = append(out, a)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list absences: %w", err)
	}
	sortAbsences(out)
	return out, nil
}

// AbsenceFilter narrows a list of absences: to a class, to the dates
// From to To (AAAA-MM-JJ, each "" for no bound), to those no relative has
// justified yet.
type AbsenceFilter struct {
	Class       string
	From, To    string
	Unjustified bool
}

func (f AbsenceFilter) keeps(a Absence) bool {
	return (f.Class == "" || a.Class == f.Class) && (f.From == "" || a.Date >= f.From) &&
		(f.To == "" || a.Date <= f.To) && (!f.Unjustified || a.Motif == "")
}

// mayKeep reports whether f may keep the absence of body, reading only its
// date and class: a filtered list of the staff, which scans the lycée's
// absences, decodes only those it may show. When in doubt (a body
// scanFields does not read), it says yes: the caller decodes and checks.
func (f AbsenceFilter) mayKeep(body []byte) bool {
	if f.From == "" && f.To == "" && f.Class == "" {
		return true
	}
	var date, class string
	if !scanFields(body, &date, "date", &class, "class") {
		return true
	}
	return f.keeps(Absence{Date: date, Class: class})
}

// ListAbsencesPage returns the page p of the absences u reads that f
// keeps, the last recorded first (by id), and the cursor of the next page
// ("" for none); within the page, the latest date and créneau first. It
// reads no further than the page: the lycée's staff scan every absence
// (or, for a class, the class's) only until the page is full.
func (s *Service) ListAbsencesPage(ctx context.Context, u User, f AbsenceFilter, p Page) (list []Absence, next string, err error) {
	if !CanUseAbsences(u) {
		return nil, "", nil
	}
	var terms []string
	whole := false
	switch u.Profile {
	case Student:
		terms = []string{userTerm(u.ID)}
	case Relative:
		for _, c := range u.Children {
			terms = append(terms, userTerm(c))
		}
	case Teacher:
		terms = []string{userTerm(u.ID)}
		for _, c := range u.Classes {
			if c != "" && (f.Class == "" || c == f.Class) {
				terms = append(terms, classTerm(c))
			}
		}
	case Personnel:
		if f.Class != "" {
			terms = []string{classTerm(f.Class)}
		} else {
			whole = true
		}
	}
	err = s.store.View(func(r record.Reader) error {
		list, next, err = scanPage(r, u.UAI, KindAbsence, terms, whole, p, func(rec record.Record) (Absence, bool, error) {
			if !f.mayKeep(rec.Body) {
				return Absence{}, false, nil
			}
			a, err := decodeAbsence(rec)
			return a, err == nil && SeesAbsence(u, a) && f.keeps(a), err
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list absences: %w", err)
	}
	sortAbsences(list)
	return list, next, nil
}

func sortAbsences(list []Absence) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.Date != b.Date {
			return a.Date > b.Date
		}
		if a.Start != b.Start {
			return a.Start > b.Start
		}
		return a.ID > b.ID
	})
}

// GetAbsence returns absence id if u reads it, or ErrNotFound.
func (s *Service) GetAbsence(ctx context.Context, u User, id string) (Absence, error) {
	if !CanUseAbsences(u) {
		return Absence{}, ErrNotFound
	}
	var a Absence
	var found bool
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(u.UAI, id)
		if err != nil || !ok || rec.Deleted || rec.Kind != KindAbsence {
			return err
		}
		a, err = decodeAbsence(rec)
		found = err == nil && SeesAbsence(u, a)
		return err
	})
	if err != nil {
		return Absence{}, fmt.Errorf("get absence: %w", err)
	}
	if !found {
		return Absence{}, ErrNotFound
	}
	return a, nil
}

// AbsenceStudents returns the students u may record an absence for: those
// of the classes a teacher teaches, every student of the lycée for its
// staff; sorted as the accounts list is.
func (s *Service) AbsenceStudents(ctx context.Context, u User) ([]User, error) {
	if !CanRecordAbsences(u) {
		return nil, nil
	}
	var out []User
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(u.UAI, KindUser, func(rec record.Record) error {
			if rec.Deleted {
				return nil
			}
			st, err := decodeUser(rec.Body)
			if err != nil {
				return nil
			}
			if _, ok := absenceClass(u, st); ok && !st.Departed {
				out = append(out, st)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("absence students: %w", err)
	}
	sortUsers(out)
	return out, nil
}

// RecordAbsence records an absence or a lateness by u. Refusals are
// *record.Rejection.
func (s *Service) RecordAbsence(ctx context.Context, u User, a AbsenceArgs) (Absence, error) {
	a.Student, a.Date, a.Start, a.End = strings.TrimSpace(a.Student), strings.TrimSpace(a.Date), strings.TrimSpace(a.Start), strings.TrimSpace(a.End)
	if !CanRecordAbsences(u) {
		return Absence{}, errRecordAbsence()
	}
	if err := checkAbsence(a); err != nil {
		return Absence{}, err
	}
	a.ID = record.NewID()
	if err := s.submit(ctx, u, OpAbsenceRecord, u.UAI, a, s.now()); err != nil {
		return Absence{}, err
	}
	return s.GetAbsence(ctx, u, a.ID)
}

// JustifyAbsence writes the justification of absence id by u, a relative
// of the student. An absence u cannot read is ErrNotFound.
func (s *Service) JustifyAbsence(ctx context.Context, u User, id, motif, comment string) (Absence, error) {
	if _, err := s.GetAbsence(ctx, u, id); err != nil {
		return Absence{}, err
	}
	if u.Profile != Relative {
		return Absence{}, rejectForbidden("Seul un responsable légal de l'élève justifie son absence.")
	}
	a := AbsenceJustifyArgs{ID: id, Motif: motif, Comment: strings.TrimSpace(comment)}
	if err := checkJustification(a); err != nil {
		return Absence{}, err
	}
	if err := s.submit(ctx, u, OpAbsenceJustify, u.UAI, a, s.now()); err != nil {
		return Absence{}, err
	}
	return s.GetAbsence(ctx, u, id)
}

// SetAbsenceStatus sets the status of absence id by u, of the lycée's
// staff. An absence u cannot read is ErrNotFound.
func (s *Service) SetAbsenceStatus(ctx context.Context, u User, id, status string) (Absence, error) {
	if _, err := s.GetAbsence(ctx, u, id); err != nil {
		return Absence{}, err
	}
	if !CanSetAbsenceStatus(u) {
		return Absence{}, rejectForbidden("Seule la vie scolaire du lycée fixe le statut d'une absence.")
	}
	if _, ok := choiceLabel(AbsenceStatuses(), status); !ok {
		return Absence{}, rejectInvalid("Statut inconnu : à justifier, justifiée ou non justifiée.")
	}
	if err := s.submit(ctx, u, OpAbsenceStatus, u.UAI, AbsenceStatusArgs{ID: id, Status: status}, s.now()); err != nil {
		return Absence{}, err
	}
	return s.GetAbsence(ctx, u, id)
}
