package ent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"atrium/record"
)

// The cahier de textes is a class's log of sessions: for each session, the
// teacher records what was done and, optionally, the work to do for a due
// date. Its rules:
//
//   - A Teacher writes entries for the classes they teach (User.Classes),
//     in their lycée. Only the author edits or deletes an entry; an edit
//     replaces the entry (last write by the author, ordered by the
//     command's time: a retransmitted or older write is a no-op).
//   - A Student reads the entries of their classes; a Relative those of
//     their children's classes; a Teacher those of the classes they teach
//     (every teacher's, so that the work given is balanced) and their own;
//     a Personnel of the lycée every class's. Région staff read none.
//   - Deleting leaves a tombstone: a deleted entry stays deleted, and a
//     write to it is a no-op.
//
// Entries live in the lycée's partition, so the edge holds them and they
// are written there while the link is down.

// Homework is an entry of a class's cahier de textes.
type Homework struct {
	ID        string    `json:"id"`
	Partition string    `json:"partition"` // the lycée's UAI
	Class     string    `json:"class"`
	Subject   string    `json:"subject"` // matière, as the teacher writes it
	Date      string    `json:"date"`    // the session's, AAAA-MM-JJ
	Title     string    `json:"title"`
	Content   string    `json:"content,omitempty"`
	Work      string    `json:"work,omitempty"` // travail à faire; "" for none
	Due       string    `json:"due,omitempty"`  // AAAA-MM-JJ, set with Work
	AuthorID  string    `json:"authorId"`
	Author    string    `json:"author"` // the author's name
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	// ToDo is set by ListHomework and GetHomework on work due today or
	// later.
	ToDo bool `json:"-"`
}

// HomeworkArgs are the arguments of "homework.write", and what a teacher
// fills in. ID is the entry's: minted by the Service for a new entry, the
// entry's own for an edit.
type HomeworkArgs struct {
	ID      string `json:"id"`
	Class   string `json:"class"`
	Subject string `json:"subject"`
	Date    string `json:"date"`
	Title   string `json:"title"`
	Content string `json:"content,omitempty"`
	Work    string `json:"work,omitempty"`
	Due     string `json:"due,omitempty"`
}

// HomeworkDeleteArgs are the arguments of "homework.delete".
type HomeworkDeleteArgs struct {
	ID string `json:"id"`
}

// homeworkBody is the stored document; times are unix milliseconds from
// the commands.
type homeworkBody struct {
	HomeworkArgs
	AuthorID string `json:"authorId"`
	Author   string `json:"author"`
	Created  int64  `json:"created"`
	Updated  int64  `json:"updated"`
}

const (
	maxClass   = 64
	maxMatiere = 100
	dateLayout = "2006-01-02"
)

// CanWriteHomework reports whether u writes in the cahier de textes: a
// teacher of a lycée with at least one class.
func CanWriteHomework(u User) bool {
	return u.Profile == Teacher && u.UAI != "" && len(u.Classes) > 0
}

// validDate reports whether s is a date written AAAA-MM-JJ.
func validDate(s string) bool {
	t, err := time.Parse(dateLayout, s)
	return err == nil && t.Format(dateLayout) == s
}

// optionalText checks an optional user-written field.
func optionalText(s string, max int) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(strings.TrimSpace(s)) <= max
}

// checkHomework checks the fields of an entry, trimmed, and returns the
// French refusal of the first wrong one.
func checkHomework(a HomeworkArgs) error {
	switch {
	case !text(a.Class, maxClass):
		return rejectInvalid("La classe est obligatoire.")
	case !text(a.Subject, maxMatiere):
		return rejectInvalid("La matière est obligatoire.")
	case !validDate(a.Date):
		return rejectInvalid("La date de la séance est obligatoire (AAAA-MM-JJ).")
	case !text(a.Title, maxTitle):
		return rejectInvalid("Le titre de la séance est obligatoire.")
	case !optionalText(a.Content, maxBody) || !optionalText(a.Work, maxBody):
		return rejectInvalid("Le contenu de la séance ou le travail à faire est trop long.")
	case strings.TrimSpace(a.Work) == "" && a.Due != "":
		return rejectInvalid("Une date de remise accompagne un travail à faire.")
	case strings.TrimSpace(a.Work) != "" && !validDate(a.Due):
		return rejectInvalid("Le travail à faire demande une date de remise (AAAA-MM-JJ).")
	case a.Due != "" && a.Due < a.Date:
		return rejectInvalid("La date de remise ne peut précéder la séance.")
	}
	return nil
}

// trimHomework trims the user-written fields of a.
func trimHomework(a HomeworkArgs) HomeworkArgs {
	for _, f := range []*string{&a.Class, &a.Subject, &a.Date, &a.Title, &a.Content, &a.Work, &a.Due} {
		*f = strings.TrimSpace(*f)
	}
	return a
}

func execHomeworkWrite(tx record.Tx, cmd record.Command) error {
	var a HomeworkArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return rejectForbidden("Le cahier de textes est celui d'un lycée.")
	}
	prev, exists, err := tx.Get(cmd.Partition, a.ID)
	if err != nil {
		return err
	}
	var before homeworkBody
	if exists {
		if prev.Kind != KindHomework {
			return rejectInvalid("Identifiant déjà utilisé.")
		}
		if prev.Deleted {
			return nil // a deleted entry stays deleted
		}
		if err := json.Unmarshal(prev.Body, &before); err != nil {
			return fmt.Errorf("decode homework %s: %w", prev.ID, err)
		}
		if before.Updated >= cmd.Time {
			return nil // a retransmission, or an older write arriving late
		}
	}
	a = trimHomework(a)
	if err := checkHomework(a); err != nil {
		return err
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	switch {
	case !ok || author.Profile != Teacher:
		return rejectForbidden("Seuls les enseignants du lycée écrivent dans le cahier de textes.")
	case exists && before.AuthorID != author.ID:
		return rejectForbidden("Seul l'auteur d'une entrée du cahier de textes la modifie.")
	case !slices.Contains(author.Classes, a.Class):
		return rejectForbidden("Vous n'écrivez que dans le cahier de textes des classes où vous enseignez.")
	}
	created := cmd.Time
	if exists {
		created = before.Created
	}
	body, err := json.Marshal(homeworkBody{HomeworkArgs: a, AuthorID: author.ID, Author: author.Name, Created: created, Updated: cmd.Time})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindHomework, Body: body})
}

func execHomeworkDelete(tx record.Tx, cmd record.Command) error {
	prev, err := deletionTarget(tx, cmd, "Entrée du cahier de textes introuvable.", KindHomework)
	if err != nil {
		return err
	}
	if prev.Deleted {
		return nil // already deleted: a retransmission
	}
	var before homeworkBody
	if err := json.Unmarshal(prev.Body, &before); err != nil {
		return fmt.Errorf("decode homework %s: %w", prev.ID, err)
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || author.ID != before.AuthorID {
		return rejectForbidden("Seul l'auteur d'une entrée du cahier de textes la supprime.")
	}
	prev.Deleted, prev.Body = true, nil
	return tx.Put(prev)
}

func decodeHomework(rec record.Record) (Homework, error) {
	var b homeworkBody
	if err := b.unmarshal(rec.Body); err != nil {
		return Homework{}, fmt.Errorf("decode homework %s: %w", rec.ID, err)
	}
	return Homework{
		ID: rec.ID, Partition: rec.Partition, Class: b.Class, Subject: b.Subject, Date: b.Date,
		Title: b.Title, Content: b.Content, Work: b.Work, Due: b.Due,
		AuthorID: b.AuthorID, Author: b.Author,
		Created: time.UnixMilli(b.Created), Updated: time.UnixMilli(b.Updated),
	}, nil
}

// homeworkReader decides which entries u reads: every class's (staff), or
// those of the listed classes and u's own.
type homeworkReader struct {
	user    User
	all     bool
	classes []string
}

func newHomeworkReader(r record.Reader, u User) (homeworkReader, error) {
	h := homeworkReader{user: u}
	if u.UAI == "" || u.Profile == Region {
		return h, nil
	}
	switch u.Profile {
	case Personnel:
		h.all = true
	case Teacher, Student:
		h.classes = u.Classes
	case Relative:
		children, err := childrenOf(r, u)
		if err != nil {
			return h, err
		}
		for _, c := range children {
			h.classes = append(h.classes, c.Classes...)
		}
	}
	return h, nil
}

func (h homeworkReader) reads(e Homework) bool {
	if h.user.UAI == "" || e.Partition != h.user.UAI {
		return false
	}
	return h.all || e.AuthorID == h.user.ID || slices.Contains(h.classes, e.Class)
}

// paris is the time zone of the lycées' calendar.
var paris = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return time.UTC
	}
	return loc
})

// today is the service's date in the lycées' calendar, AAAA-MM-JJ.
func (s *Service) today() string { return s.now().In(paris()).Format(dateLayout) }

// toDo reports whether e gives work due today or later.
func (e Homework) toDo(today string) bool { return e.Work != "" && e.Due >= today }

// ListHomework returns the entries of the cahier de textes u reads, of
// class only unless it is "": first the work due today or later (ToDo),
// by due date, then every other entry, the latest session first.
func (s *Service) ListHomework(ctx context.Context, u User, class string) ([]Homework, error) {
	if u.UAI == "" || u.Profile == Region {
		return nil, nil
	}
	var out []Homework
	err := s.store.View(func(r record.Reader) error {
		h, err := newHomeworkReader(r, u)
		if err != nil {
			return err
		}
		scan := func(fn func(record.Record) error) error { return r.Scan(u.UAI, KindHomework, fn) }
		if !h.all {
			// The others read their classes' entries and their own: the
			// index finds those (IndexTerms).
			terms := []string{userTerm(u.ID)}
			for _, c := range h.classes {
				if class == "" || c == class {
					terms = append(terms, classTerm(c))
				}
			}
			scan = func(fn func(record.Record) error) error { return scanTerms(r, u.UAI, KindHomework, terms, fn) }
		}
		return scan(func(rec record.Record) error {
			e, err := decodeHomework(rec)
			if err != nil {
				return err
			}
			if h.reads(e) && (class == "" || e.Class == class) {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list homework: %w", err)
	}
	s.sortHomework(out)
	return out, nil
}

// sortHomework sets the entries' ToDo and orders them as ListHomework
// does.
func (s *Service) sortHomework(out []Homework) {
	today := s.today()
	for i := range out {
		out[i].ToDo = out[i].toDo(today)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ToDo != b.ToDo {
			return a.ToDo
		}
		if a.ToDo && a.Due != b.Due {
			return a.Due < b.Due
		}
		if a.Date != b.Date {
			return a.Date > b.Date
		}
		return a.ID > b.ID
	})
}

// ListHomeworkPage returns the page p of the entries of the cahier de
// textes u reads (of class only unless it is ""), the last written first
// (by id), and the cursor of the next page ("" for none). Within the page,
// the entries are ordered as ListHomework orders them: the work due today
// or later (ToDo) first, by due date, then the latest session first. It
// reads no further than the page.
func (s *Service) ListHomeworkPage(ctx context.Context, u User, class string, p Page) (out []Homework, next string, err error) {
	if u.UAI == "" || u.Profile == Region {
		return nil, "", nil
	}
	err = s.store.View(func(r record.Reader) error {
		h, err := newHomeworkReader(r, u)
		if err != nil {
			return err
		}
		var terms []string
		whole := h.all && class == ""
		switch {
		case h.all:
			terms = []string{classTerm(class)}
		default:
			terms = []string{userTerm(u.ID)}
			for _, c := range h.classes {
				if class == "" || c == class {
					terms = append(terms, classTerm(c))
				}
			}
		}
		out, next, err = scanPage(r, u.UAI, KindHomework, terms, whole, p, func(rec record.Record) (Homework, bool, error) {
			e, err := decodeHomework(rec)
			return e, err == nil && h.reads(e) && (class == "" || e.Class == class), err
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list homework: %w", err)
	}
	s.sortHomework(out)
	return out, next, nil
}

// GetHomework returns entry id if u reads it, or ErrNotFound.
func (s *Service) GetHomework(ctx context.Context, u User, id string) (Homework, error) {
	if u.UAI == "" || u.Profile == Region {
		return Homework{}, ErrNotFound
	}
	var e Homework
	var found bool
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(u.UAI, id)
		if err != nil || !ok || rec.Deleted || rec.Kind != KindHomework {
			return err
		}
		if e, err = decodeHomework(rec); err != nil {
			return err
		}
		h, err := newHomeworkReader(r, u)
		found = err == nil && h.reads(e)
		return err
	})
	if err != nil {
		return Homework{}, fmt.Errorf("get homework: %w", err)
	}
	if !found {
		return Homework{}, ErrNotFound
	}
	e.ToDo = e.toDo(s.today())
	return e, nil
}

// WriteHomework writes an entry by u: a new one when a.ID is "", else an
// edit of u's entry a.ID (which replaces it). Refusals are
// *record.Rejection; an entry u cannot read is ErrNotFound.
func (s *Service) WriteHomework(ctx context.Context, u User, a HomeworkArgs) (Homework, error) {
	a = trimHomework(a)
	if a.Work == "" {
		a.Due = ""
	}
	if !CanWriteHomework(u) {
		return Homework{}, rejectForbidden("Seuls les enseignants du lycée écrivent dans le cahier de textes.")
	}
	created := s.now()
	if a.ID == "" {
		a.ID = record.NewID()
	} else {
		prev, err := s.GetHomework(ctx, u, a.ID)
		if err != nil {
			return Homework{}, err
		}
		if prev.AuthorID != u.ID {
			return Homework{}, rejectForbidden("Seul l'auteur d'une entrée du cahier de textes la modifie.")
		}
		created = prev.Created
	}
	if err := checkHomework(a); err != nil {
		return Homework{}, err
	}
	if !slices.Contains(u.Classes, a.Class) {
		return Homework{}, rejectForbidden("Vous n'écrivez que dans le cahier de textes des classes où vous enseignez.")
	}
	at := s.now()
	if err := s.submit(ctx, u, OpHomeworkWrite, u.UAI, a, at); err != nil {
		return Homework{}, err
	}
	return Homework{
		ID: a.ID, Partition: u.UAI, Class: a.Class, Subject: a.Subject, Date: a.Date,
		Title: a.Title, Content: a.Content, Work: a.Work, Due: a.Due, AuthorID: u.ID, Author: u.Name,
		Created: time.UnixMilli(created.UnixMilli()), Updated: time.UnixMilli(at.UnixMilli()),
	}, nil
}

// DeleteHomework deletes u's entry id. An entry u cannot read is
// ErrNotFound; another's is refused ("forbidden").
func (s *Service) DeleteHomework(ctx context.Context, u User, id string) error {
	prev, err := s.GetHomework(ctx, u, id)
	if err != nil {
		return err
	}
	if prev.AuthorID != u.ID {
		return rejectForbidden("Seul l'auteur d'une entrée du cahier de textes la supprime.")
	}
	return s.submit(ctx, u, OpHomeworkDelete, u.UAI, HomeworkDeleteArgs{ID: id}, s.now())
}
