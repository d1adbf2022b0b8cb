package portal

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"atrium/ent"
	"atrium/record"
)

// Absences (vie scolaire): pages under /absences, JSON under
// /api/v1/absences. ent decides who records, justifies and sets the status
// of what (absences.go); the pages only hide what a user could not do
// anyway.

// absenceRow is an absence as the pages show it, its date in French.
type absenceRow struct {
	ent.Absence
	DateText string
}

// absencePage is what the absences' templates read.
type absencePage struct {
	*view
	CanRecord bool
	// List.
	Absences template.HTML // rows.go
	Pager    pager
	// The list's filters (the lycée's staff, a teacher of several
	// classes): Filter the one shown, Classes those to choose from.
	Filters bool
	Filter  ent.AbsenceFilter
	Classes []string
	// FromText and ToText are the filter's dates in French.
	FromText, ToText string
	// Read.
	Entry      absenceRow
	CanJustify bool // the user is a relative of the student
	CanStatus  bool // the user is of the lycée's staff
	Motifs     []ent.Choice
	Statuses   []ent.Choice
	// Form.
	Students []ent.User
	Kinds    []ent.Choice
}

func newAbsenceRow(a ent.Absence) absenceRow { return absenceRow{Absence: a, DateText: frDate(a.Date)} }

func (p *Portal) absencePage(r *http.Request, title string, s *session) *absencePage {
	return &absencePage{view: p.newView(r, title, s), CanRecord: ent.CanRecordAbsences(s.user),
		Motifs: ent.AbsenceMotifs(), Statuses: ent.AbsenceStatuses(), Kinds: ent.AbsenceKinds()}
}

func (p *Portal) absenceList(w http.ResponseWriter, r *http.Request, s *session) {
	f, classes, err := p.absenceFilter(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	list, next, err := p.cfg.Service.ListAbsencesPage(r.Context(), s.user, f, htmlPage(r))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.absencePage(r, "Absences", s)
	pg.Filters, pg.Filter, pg.Classes, pg.Pager = classes != nil, f, classes, newPager(r, next)
	if f.From != "" {
		pg.FromText = frDate(f.From)
	}
	if f.To != "" {
		pg.ToText = frDate(f.To)
	}
	pg.Absences = absenceRows(list)
	p.render(w, http.StatusOK, "absences_list", pg)
}

// absenceFilter reads the list's filters: classe, du, au (AAAA-MM-JJ) and
// nonjustifiees. The lycée's staff, who read every absence, see by default
// those of the last 7 days; the others, all of theirs. classes are the
// classes to choose from, nil when the user gets no filters (a student, a
// relative, a teacher of one class).
func (p *Portal) absenceFilter(r *http.Request, s *session) (f ent.AbsenceFilter, classes []string, err error) {
	q := r.URL.Query()
	switch s.user.Profile {
	case ent.Personnel:
		if classes, err = p.lyceeClasses(r.Context(), s.user); err != nil {
			return f, nil, err
		}
	case ent.Teacher:
		if len(s.user.Classes) > 1 {
			classes = slices.Sorted(slices.Values(s.user.Classes))
		}
	}
	if classes == nil {
		return f, nil, nil
	}
	f.Class = q.Get("classe")
	f.From, f.To = dateParam(q.Get("du")), dateParam(q.Get("au"))
	f.Unjustified = q.Get("nonjustifiees") != ""
	if _, chosen := q["du"]; !chosen && s.user.Profile == ent.Personnel {
		f.From = time.Now().In(p.paris).AddDate(0, 0, -6).Format(time.DateOnly)
	}
	return f, classes, nil
}

// dateParam returns s if it is a date AAAA-MM-JJ, "" otherwise.
func dateParam(s string) string {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return ""
	}
	return s
}

// absenceReadPage fills the page of absence a.
func (p *Portal) absenceReadPage(r *http.Request, s *session, a ent.Absence) *absencePage {
	pg := p.absencePage(r, a.KindLabel()+" de "+a.StudentName, s)
	pg.Entry = newAbsenceRow(a)
	pg.CanJustify = s.user.Profile == ent.Relative && slices.Contains(s.user.Children, a.StudentID)
	pg.CanStatus = ent.CanSetAbsenceStatus(s.user)
	pg.Form["motif"], pg.Form["comment"], pg.Form["status"] = a.Motif, a.Comment, a.Status
	return pg
}

func (p *Portal) absenceRead(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := p.cfg.Service.GetAbsence(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, http.StatusOK, "absences_read", p.absenceReadPage(r, s, a))
}

// absenceForm fills the recording form; its students are those the user
// may record an absence for.
func (p *Portal) absenceForm(r *http.Request, s *session) (*absencePage, error) {
	students, err := p.cfg.Service.AbsenceStudents(r.Context(), s.user)
	if err != nil {
		return nil, err
	}
	pg := p.absencePage(r, "Signaler une absence ou un retard", s)
	pg.Students = students
	return pg, nil
}

func (p *Portal) absenceNew(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanRecordAbsences(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Un enseignant enregistre les absences des élèves de ses classes ; la vie scolaire, celles de tout élève du lycée."))
		return
	}
	pg, err := p.absenceForm(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg.Form["date"] = time.Now().In(p.paris).Format("2006-01-02")
	pg.Form["kind"] = ent.AbsenceAbsent
	p.render(w, http.StatusOK, "absences_form", pg)
}

func (p *Portal) absencePost(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.AbsenceArgs{Student: f.Get("student"), Date: f.Get("date"), Start: f.Get("start"), End: f.Get("end"), Kind: f.Get("kind")}
	e, err := p.cfg.Service.RecordAbsence(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError {
			p.fail(w, r, s, err)
			return
		}
		pg, ferr := p.absenceForm(r, s)
		if ferr != nil {
			p.fail(w, r, s, ferr)
			return
		}
		pg.Error = msg
		pg.Form["student"], pg.Form["date"], pg.Form["start"], pg.Form["end"], pg.Form["kind"] = a.Student, a.Date, a.Start, a.End, a.Kind
		p.render(w, code, "absences_form", pg)
		return
	}
	http.Redirect(w, r, "/absences/"+url.PathEscape(e.ID), http.StatusSeeOther)
}

// absenceChange posts a justification or a status change of {id} and
// shows the absence again, with the refusal if there is one.
func (p *Portal) absenceChange(w http.ResponseWriter, r *http.Request, s *session, change func(id string) (ent.Absence, error)) {
	id := r.PathValue("id")
	if _, err := change(id); err != nil {
		code, msg := status(err)
		a, gerr := p.cfg.Service.GetAbsence(r.Context(), s.user, id)
		if code == http.StatusInternalServerError || gerr != nil {
			p.fail(w, r, s, err)
			return
		}
		pg := p.absenceReadPage(r, s, a)
		pg.Error = msg
		pg.Form["motif"], pg.Form["comment"] = r.PostForm.Get("motif"), r.PostForm.Get("comment")
		p.render(w, code, "absences_read", pg)
		return
	}
	http.Redirect(w, r, "/absences/"+url.PathEscape(id), http.StatusSeeOther)
}

func (p *Portal) absenceJustifyPost(w http.ResponseWriter, r *http.Request, s *session) {
	p.absenceChange(w, r, s, func(id string) (ent.Absence, error) {
		return p.cfg.Service.JustifyAbsence(r.Context(), s.user, id, r.PostForm.Get("motif"), r.PostForm.Get("comment"))
	})
}

func (p *Portal) absenceStatusPost(w http.ResponseWriter, r *http.Request, s *session) {
	p.absenceChange(w, r, s, func(id string) (ent.Absence, error) {
		return p.cfg.Service.SetAbsenceStatus(r.Context(), s.user, id, r.PostForm.Get("status"))
	})
}

// apiAbsence is an absence as the API shows it.
type apiAbsence struct {
	ID          string `json:"id"`
	StudentID   string `json:"studentId"`
	Student     string `json:"student"`
	Class       string `json:"class"`
	Date        string `json:"date"`
	Start       string `json:"start"`
	End         string `json:"end"`
	Kind        string `json:"kind"`
	RecordedBy  string `json:"recordedBy"`
	Recorded    string `json:"recorded"`
	Status      string `json:"status"`
	StatusBy    string `json:"statusBy,omitempty"`
	StatusAt    string `json:"statusAt,omitempty"`
	Motif       string `json:"motif,omitempty"`
	Comment     string `json:"comment,omitempty"`
	JustifiedBy string `json:"justifiedBy,omitempty"`
	JustifiedAt string `json:"justifiedAt,omitempty"`
}

func absenceTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func toAPIAbsence(a ent.Absence) apiAbsence {
	return apiAbsence{ID: a.ID, StudentID: a.StudentID, Student: a.StudentName, Class: a.Class, Date: a.Date,
		Start: a.Start, End: a.End, Kind: a.Kind, RecordedBy: a.RecorderName, Recorded: absenceTime(a.Recorded),
		Status: a.Status, StatusBy: a.StatusByName, StatusAt: absenceTime(a.StatusAt),
		Motif: a.Motif, Comment: a.Comment, JustifiedBy: a.JustifiedBy, JustifiedAt: absenceTime(a.JustifiedAt)}
}

func (p *Portal) apiAbsenceList(w http.ResponseWriter, r *http.Request, s *session) {
	pg, paged, err := apiPage(r)
	var list []ent.Absence
	var next string
	if err == nil && paged {
		q := r.URL.Query()
		f := ent.AbsenceFilter{Class: q.Get("class"), From: dateParam(q.Get("from")), To: dateParam(q.Get("to")), Unjustified: q.Get("unjustified") == "true"}
		list, next, err = p.cfg.Service.ListAbsencesPage(r.Context(), s.user, f, pg)
	} else if err == nil {
		list, err = p.cfg.Service.ListAbsences(r.Context(), s.user)
	}
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	setNextLink(w, r, pg, next)
	out := make([]apiAbsence, 0, len(list))
	for _, a := range list {
		out = append(out, toAPIAbsence(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiAbsenceGet(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := p.cfg.Service.GetAbsence(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIAbsence(a))
}

func (p *Portal) apiAbsencePost(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Student string `json:"studentId"`
		Date    string `json:"date"`
		Start   string `json:"start"`
		End     string `json:"end"`
		Kind    string `json:"kind"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	a, err := p.cfg.Service.RecordAbsence(r.Context(), s.user, ent.AbsenceArgs{Student: in.Student, Date: in.Date, Start: in.Start, End: in.End, Kind: in.Kind})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIAbsence(a))
}

func (p *Portal) apiAbsenceJustify(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Motif   string `json:"motif"`
		Comment string `json:"comment"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	a, err := p.cfg.Service.JustifyAbsence(r.Context(), s.user, r.PathValue("id"), in.Motif, in.Comment)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIAbsence(a))
}

func (p *Portal) apiAbsenceStatus(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Status string `json:"status"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	a, err := p.cfg.Service.SetAbsenceStatus(r.Context(), s.user, r.PathValue("id"), in.Status)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIAbsence(a))
}
