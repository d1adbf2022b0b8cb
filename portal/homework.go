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

// The cahier de textes: pages under /cahier-de-textes, JSON under
// /api/v1/homework. ent decides who reads and writes what (homework.go);
// the pages only hide what a user could not do anyway.

// homeworkRow is an entry as the pages show it, its dates in French.
type homeworkRow struct {
	ent.Homework
	DateText string
	DueText  string
}

// homeworkPage is what the cahier de textes' templates read: the common
// view and the service's own data.
type homeworkPage struct {
	*view
	CanWrite bool
	// List.
	ToDo     template.HTML // work due today or later, by due date (rows.go)
	Sessions template.HTML // every other entry, latest session first
	Classes  []string      // the classes of the list (filter) or the teacher's (form)
	Class    string        // the class filter; "" for all
	Pager    pager
	// Read.
	Entry   homeworkRow
	CanEdit bool // the user is the entry's author
	// Form.
	Action string // where the form posts
	Edit   bool
}

// frDate writes a date AAAA-MM-JJ as JJ/MM/AAAA; anything else as is.
func frDate(s string) string {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return s
	}
	return t.Format("02/01/2006")
}

func newHomeworkRow(e ent.Homework) homeworkRow {
	r := homeworkRow{Homework: e, DateText: frDate(e.Date)}
	if e.Due != "" {
		r.DueText = frDate(e.Due)
	}
	return r
}

func (p *Portal) homeworkPage(r *http.Request, title string, s *session) *homeworkPage {
	return &homeworkPage{view: p.newView(r, title, s), CanWrite: ent.CanWriteHomework(s.user)}
}

func (p *Portal) homeworkList(w http.ResponseWriter, r *http.Request, s *session) {
	class := r.URL.Query().Get("classe")
	entries, next, err := p.cfg.Service.ListHomeworkPage(r.Context(), s.user, class, htmlPage(r))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.homeworkPage(r, "Cahier de textes", s)
	pg.Class, pg.Pager = class, newPager(r, next)
	// The classes to choose from: the staff's, every class of the lycée;
	// the others', their own and those of the page (a relative's children's).
	if s.user.Profile == ent.Personnel {
		if pg.Classes, err = p.lyceeClasses(r.Context(), s.user); err != nil {
			p.fail(w, r, s, err)
			return
		}
	} else {
		pg.Classes = slices.Clone(s.user.Classes)
	}
	for _, e := range entries {
		if !slices.Contains(pg.Classes, e.Class) {
			pg.Classes = append(pg.Classes, e.Class)
		}
	}
	if class != "" && !slices.Contains(pg.Classes, class) {
		pg.Classes = append(pg.Classes, class)
	}
	pg.ToDo, pg.Sessions = homeworkRows(entries)
	slices.Sort(pg.Classes)
	p.render(w, http.StatusOK, "homework_list", pg)
}

func (p *Portal) homeworkRead(w http.ResponseWriter, r *http.Request, s *session) {
	e, err := p.cfg.Service.GetHomework(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.homeworkPage(r, e.Title, s)
	pg.Entry = newHomeworkRow(e)
	pg.CanEdit = e.AuthorID == s.user.ID
	p.render(w, http.StatusOK, "homework_read", pg)
}

// homeworkForm fills the form page: a new entry (e nil) or an edit.
func (p *Portal) homeworkForm(r *http.Request, s *session, e *ent.Homework) *homeworkPage {
	title := "Nouvelle entrée du cahier de textes"
	if e != nil {
		title = "Modifier l'entrée du cahier de textes"
	}
	pg := p.homeworkPage(r, title, s)
	pg.Classes = s.user.Classes
	pg.Action = "/cahier-de-textes/nouvelle"
	if e != nil {
		pg.Edit = true
		pg.Action = "/cahier-de-textes/" + url.PathEscape(e.ID) + "/modifier"
	}
	return pg
}

// setForm fills the form's fields from an entry.
func setHomeworkForm(f map[string]string, a ent.HomeworkArgs) {
	f["class"], f["subject"], f["date"], f["title"] = a.Class, a.Subject, a.Date, a.Title
	f["content"], f["work"], f["due"] = a.Content, a.Work, a.Due
}

func homeworkArgsOf(e ent.Homework) ent.HomeworkArgs {
	return ent.HomeworkArgs{ID: e.ID, Class: e.Class, Subject: e.Subject, Date: e.Date, Title: e.Title,
		Content: e.Content, Work: e.Work, Due: e.Due}
}

func (p *Portal) homeworkNew(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanWriteHomework(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les enseignants du lycée écrivent dans le cahier de textes."))
		return
	}
	pg := p.homeworkForm(r, s, nil)
	pg.Form["date"] = time.Now().In(p.paris).Format("2006-01-02")
	pg.Form["class"] = r.URL.Query().Get("classe")
	p.render(w, http.StatusOK, "homework_form", pg)
}

// ownEntry returns entry id if the user wrote it.
func (p *Portal) ownEntry(r *http.Request, s *session) (ent.Homework, error) {
	e, err := p.cfg.Service.GetHomework(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		return ent.Homework{}, err
	}
	if e.AuthorID != s.user.ID {
		return ent.Homework{}, record.Reject("forbidden", "Seul l'auteur d'une entrée du cahier de textes la modifie.")
	}
	return e, nil
}

func (p *Portal) homeworkEdit(w http.ResponseWriter, r *http.Request, s *session) {
	e, err := p.ownEntry(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.homeworkForm(r, s, &e)
	setHomeworkForm(pg.Form, homeworkArgsOf(e))
	p.render(w, http.StatusOK, "homework_form", pg)
}

// homeworkPost writes the form's entry: new, or the edit of {id}.
func (p *Portal) homeworkPost(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.HomeworkArgs{ID: r.PathValue("id"), Class: f.Get("class"), Subject: f.Get("subject"), Date: f.Get("date"),
		Title: f.Get("title"), Content: f.Get("content"), Work: f.Get("work"), Due: f.Get("due")}
	e, err := p.cfg.Service.WriteHomework(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusNotFound {
			p.fail(w, r, s, err)
			return
		}
		var prev *ent.Homework
		if a.ID != "" {
			prev = &ent.Homework{ID: a.ID}
		}
		pg := p.homeworkForm(r, s, prev)
		pg.Error = msg
		setHomeworkForm(pg.Form, a)
		p.render(w, code, "homework_form", pg)
		return
	}
	http.Redirect(w, r, "/cahier-de-textes/"+url.PathEscape(e.ID), http.StatusSeeOther)
}

func (p *Portal) homeworkDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.DeleteHomework(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/cahier-de-textes", http.StatusSeeOther)
}

// apiHomework is an entry of the cahier de textes as the API shows it.
type apiHomework struct {
	ID       string `json:"id"`
	Class    string `json:"class"`
	Subject  string `json:"subject"`
	Date     string `json:"date"`
	Title    string `json:"title"`
	Content  string `json:"content"`
	Work     string `json:"work"`
	Due      string `json:"due"`
	ToDo     bool   `json:"todo"`
	Author   string `json:"author"`
	AuthorID string `json:"authorId"`
	Created  string `json:"created"`
	Updated  string `json:"updated"`
}

// apiHomeworkIn is what a teacher sends to write an entry.
type apiHomeworkIn struct {
	Class   string `json:"class"`
	Subject string `json:"subject"`
	Date    string `json:"date"`
	Title   string `json:"title"`
	Content string `json:"content"`
	Work    string `json:"work"`
	Due     string `json:"due"`
}

func toAPIHomework(e ent.Homework) apiHomework {
	return apiHomework{ID: e.ID, Class: e.Class, Subject: e.Subject, Date: e.Date, Title: e.Title,
		Content: e.Content, Work: e.Work, Due: e.Due, ToDo: e.ToDo, Author: e.Author, AuthorID: e.AuthorID,
		Created: e.Created.UTC().Format(time.RFC3339), Updated: e.Updated.UTC().Format(time.RFC3339)}
}

func (p *Portal) apiHomeworkList(w http.ResponseWriter, r *http.Request, s *session) {
	pg, paged, err := apiPage(r)
	var entries []ent.Homework
	var next string
	if err == nil && paged {
		entries, next, err = p.cfg.Service.ListHomeworkPage(r.Context(), s.user, r.URL.Query().Get("class"), pg)
	} else if err == nil {
		entries, err = p.cfg.Service.ListHomework(r.Context(), s.user, r.URL.Query().Get("class"))
	}
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	setNextLink(w, r, pg, next)
	out := make([]apiHomework, 0, len(entries))
	for _, e := range entries {
		out = append(out, toAPIHomework(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiHomeworkGet(w http.ResponseWriter, r *http.Request, s *session) {
	e, err := p.cfg.Service.GetHomework(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIHomework(e))
}

// apiHomeworkWrite creates an entry (POST) or replaces {id} (PUT).
func (p *Portal) apiHomeworkWrite(w http.ResponseWriter, r *http.Request, s *session) {
	var in apiHomeworkIn
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	id := r.PathValue("id")
	e, err := p.cfg.Service.WriteHomework(r.Context(), s.user, ent.HomeworkArgs{ID: id, Class: in.Class,
		Subject: in.Subject, Date: in.Date, Title: in.Title, Content: in.Content, Work: in.Work, Due: in.Due})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	code := http.StatusOK
	if id == "" {
		code = http.StatusCreated
	}
	writeJSON(w, code, toAPIHomework(e))
}

func (p *Portal) apiHomeworkDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.DeleteHomework(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
