package portal

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"atrium/ent"
	"atrium/record"
)

// Notes: pages under /notes, JSON under /api/v1/evaluations and
// /api/v1/grades. ent decides who reads and writes what (notes.go); the
// pages only hide what a user could not do anyway.

// notesPage is what the notes' templates read: the common view and the
// service's own data.
type notesPage struct {
	*view
	CanCreate bool
	// List.
	Evaluations template.HTML // rows.go
	Grades      template.HTML // a student's own, a relative's children's
	ShowGrades  bool          // the user is a student or a relative
	Pager       pager
	// Read.
	Sheet ent.EvaluationSheet
	// Errors lists the grades the last entry refused, one line each.
	Errors []string
	// Form.
	Classes []string
}

// FrDate writes a date AAAA-MM-JJ as JJ/MM/AAAA.
func (pg *notesPage) FrDate(s string) string { return frDate(s) }

// Num writes a decimal with a French comma.
func (pg *notesPage) Num(s string) string { return ent.GradeLabel(s) }

func (p *Portal) notesPage(r *http.Request, title string, s *session) *notesPage {
	return &notesPage{view: p.newView(r, title, s), CanCreate: ent.CanGrade(s.user)}
}

// notesList shows a page of the evaluations (30, the last created first,
// ?avant= for older ones) and, to a student or a relative, the grades
// entered in them.
func (p *Portal) notesList(w http.ResponseWriter, r *http.Request, s *session) {
	notes, err := p.cfg.Service.ListNotesPage(r.Context(), s.user, htmlPage(r))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.notesPage(r, "Notes", s)
	pg.Pager = newPager(r, notes.Next)
	pg.Evaluations = evaluationRows(notes.Evaluations)
	if s.user.Profile == ent.Student || s.user.Profile == ent.Relative {
		pg.ShowGrades = true
		pg.Grades = gradeRows(notes.Grades, s.user.Profile == ent.Relative)
	}
	p.render(w, http.StatusOK, "notes_list", pg)
}

func (p *Portal) notesRead(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderSheet(w, r, s, http.StatusOK, nil)
}

// renderSheet renders the evaluation {id} as it stands, with errors.
func (p *Portal) renderSheet(w http.ResponseWriter, r *http.Request, s *session, code int, errs []string) {
	sh, err := p.cfg.Service.GetEvaluation(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.notesPage(r, sh.Title, s)
	pg.Sheet, pg.Errors = sh, errs
	p.render(w, code, "notes_read", pg)
}

func (p *Portal) notesForm(r *http.Request, s *session) *notesPage {
	pg := p.notesPage(r, "Nouvelle évaluation", s)
	pg.Classes = s.user.Classes
	return pg
}

func (p *Portal) notesNew(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanGrade(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les enseignants du lycée créent des évaluations."))
		return
	}
	pg := p.notesForm(r, s)
	pg.Form["date"] = time.Now().In(p.paris).Format("2006-01-02")
	pg.Form["outOf"], pg.Form["coefficient"] = "20", "1"
	p.render(w, http.StatusOK, "notes_form", pg)
}

func (p *Portal) notesCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.EvaluationArgs{Class: f.Get("class"), Subject: f.Get("subject"), Title: f.Get("title"), Date: f.Get("date"),
		OutOf: f.Get("outOf"), Coefficient: f.Get("coefficient")}
	e, err := p.cfg.Service.CreateEvaluation(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError {
			p.fail(w, r, s, err)
			return
		}
		pg := p.notesForm(r, s)
		pg.Error = msg
		for _, k := range []string{"class", "subject", "title", "date", "outOf", "coefficient"} {
			pg.Form[k] = f.Get(k)
		}
		p.render(w, code, "notes_form", pg)
		return
	}
	http.Redirect(w, r, "/notes/"+url.PathEscape(e.ID), http.StatusSeeOther)
}

// notesGradesPost enters the grades of the sheet's form: for each student,
// "grade-ID" is the value entered and "base-ID" the value the form showed.
// An empty field changes nothing. Refused grades are listed on the sheet,
// which shows the values as they now stand.
func (p *Portal) notesGradesPost(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	sh, err := p.cfg.Service.GetEvaluation(r.Context(), s.user, id)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	if !sh.CanGrade {
		p.fail(w, r, s, record.Reject("forbidden", "Seul l'enseignant qui a créé l'évaluation en saisit les notes."))
		return
	}
	var errs []string
	code := http.StatusBadRequest
	for _, row := range sh.Rows {
		v := strings.TrimSpace(r.PostForm.Get("grade-" + row.Student))
		base := r.PostForm.Get("base-" + row.Student)
		if v == "" || v == base {
			continue
		}
		if _, err := p.cfg.Service.SetGrade(r.Context(), s.user, id, row.Student, base, v); err != nil {
			c, msg := status(err)
			if c == http.StatusInternalServerError {
				p.fail(w, r, s, err)
				return
			}
			if c == http.StatusConflict {
				code = c
			}
			errs = append(errs, row.StudentName+" : "+msg)
		}
	}
	if len(errs) > 0 {
		p.renderSheet(w, r, s, code, errs)
		return
	}
	http.Redirect(w, r, "/notes/"+url.PathEscape(id), http.StatusSeeOther)
}

// apiEvaluation is an evaluation as the API shows it; Grades only on GET
// /api/v1/evaluations/{id}.
type apiEvaluation struct {
	ID          string      `json:"id"`
	Class       string      `json:"class"`
	Subject     string      `json:"subject"`
	Title       string      `json:"title"`
	Date        string      `json:"date"`
	OutOf       json.Number `json:"outOf"`
	Coefficient json.Number `json:"coefficient"`
	Teacher     string      `json:"teacher"`
	TeacherID   string      `json:"teacherId"`
	Created     string      `json:"created"`
	CanGrade    *bool       `json:"canGrade,omitempty"`
	Grades      []apiGrade  `json:"grades,omitempty"`
}

// apiGrade is a student's grade; Value is "" while none is entered.
type apiGrade struct {
	Evaluation  string `json:"evaluation,omitempty"`
	Student     string `json:"student"`
	StudentName string `json:"studentName"`
	Value       string `json:"value"`
	Updated     string `json:"updated,omitempty"`
}

// apiStudentGrade is a grade with its evaluation (GET /api/v1/grades).
type apiStudentGrade struct {
	Evaluation  apiEvaluation `json:"evaluation"`
	Student     string        `json:"student"`
	StudentName string        `json:"studentName"`
	Value       string        `json:"value"`
}

// apiEvaluationIn is what a teacher sends to create an evaluation; outOf
// and coefficient are numbers or decimal strings.
type apiEvaluationIn struct {
	Class       string      `json:"class"`
	Subject     string      `json:"subject"`
	Title       string      `json:"title"`
	Date        string      `json:"date"`
	OutOf       json.Number `json:"outOf"`
	Coefficient json.Number `json:"coefficient"`
}

// apiGradeIn is a grade write: from base ("" for a first entry) to value.
type apiGradeIn struct {
	Evaluation string `json:"evaluation"`
	Student    string `json:"student"`
	Base       string `json:"base"`
	Value      string `json:"value"`
}

func toAPIEvaluation(e ent.Evaluation) apiEvaluation {
	return apiEvaluation{ID: e.ID, Class: e.Class, Subject: e.Subject, Title: e.Title, Date: e.Date,
		OutOf: json.Number(e.OutOf), Coefficient: json.Number(e.Coefficient), Teacher: e.Teacher, TeacherID: e.TeacherID,
		Created: e.Created.UTC().Format(time.RFC3339)}
}

func apiTime(t time.Time) string {
	if t.IsZero() || t.UnixMilli() == 0 {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (p *Portal) apiEvaluationList(w http.ResponseWriter, r *http.Request, s *session) {
	evals, err := p.cfg.Service.ListEvaluations(r.Context(), s.user, r.URL.Query().Get("class"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiEvaluation, 0, len(evals))
	for _, e := range evals {
		out = append(out, toAPIEvaluation(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiEvaluationGet(w http.ResponseWriter, r *http.Request, s *session) {
	sh, err := p.cfg.Service.GetEvaluation(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := toAPIEvaluation(sh.Evaluation)
	out.CanGrade = &sh.CanGrade
	out.Grades = []apiGrade{}
	for _, row := range sh.Rows {
		out.Grades = append(out.Grades, apiGrade{Student: row.Student, StudentName: row.StudentName, Value: row.Value, Updated: apiTime(row.Updated)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiEvaluationPost(w http.ResponseWriter, r *http.Request, s *session) {
	var in apiEvaluationIn
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	e, err := p.cfg.Service.CreateEvaluation(r.Context(), s.user, ent.EvaluationArgs{Class: in.Class, Subject: in.Subject,
		Title: in.Title, Date: in.Date, OutOf: in.OutOf.String(), Coefficient: in.Coefficient.String()})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIEvaluation(e))
}

func (p *Portal) apiGradeList(w http.ResponseWriter, r *http.Request, s *session) {
	gs, err := p.cfg.Service.ListGrades(r.Context(), s.user, r.URL.Query().Get("student"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiStudentGrade, 0, len(gs))
	for _, g := range gs {
		out = append(out, apiStudentGrade{Evaluation: toAPIEvaluation(g.Evaluation), Student: g.Student, StudentName: g.StudentName, Value: g.Value})
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiGradePost(w http.ResponseWriter, r *http.Request, s *session) {
	var in apiGradeIn
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	g, err := p.cfg.Service.SetGrade(r.Context(), s.user, in.Evaluation, in.Student, in.Base, in.Value)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiGrade{Evaluation: g.Evaluation, Student: g.Student, StudentName: g.StudentName,
		Value: g.Value, Updated: apiTime(g.Updated)})
}
