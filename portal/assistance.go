package portal

import (
	"net/http"
	"net/url"
	"time"

	"atrium/ent"
	"atrium/record"
)

// The assistance (helpdesk tickets): pages under /assistance, JSON under
// /api/v1/tickets. Any user of a lycée opens tickets and reads their own;
// the lycée's staff read them all and change their status.

// ticketView is what the assistance's templates read: the common view and
// the tickets.
type ticketView struct {
	*view
	Tickets    []ent.Ticket
	Ticket     ent.Ticket
	Comments   []ent.TicketComment
	Categories []ent.Choice
	Statuses   []ent.Choice
	Filter     string // the list's status filter, "" for all
	CanManage  bool   // the lycée's staff: every ticket, status changes
}

func (p *Portal) ticketView(r *http.Request, title string, s *session) *ticketView {
	return &ticketView{view: p.newView(r, title, s), Categories: ent.TicketCategories(),
		Statuses: ent.TicketStatuses(), CanManage: ent.CanManageTickets(s.user)}
}

// errNoAssistance refuses the assistance to Région staff.
func errNoAssistance() error {
	return record.Reject("forbidden", "L'assistance est celle d'un lycée : votre compte n'y a pas accès.")
}

func (p *Portal) ticketList(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanUseTickets(s.user) {
		p.fail(w, r, s, errNoAssistance())
		return
	}
	filter := r.URL.Query().Get("statut")
	if ent.TicketStatusLabel(filter) == filter {
		filter = "" // unknown: every status
	}
	ts, err := p.cfg.Service.ListTickets(r.Context(), s.user, filter)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.ticketView(r, "Assistance", s)
	v.Tickets, v.Filter = ts, filter
	p.render(w, http.StatusOK, "assistance_list", v)
}

func (p *Portal) ticketForm(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanUseTickets(s.user) {
		p.fail(w, r, s, errNoAssistance())
		return
	}
	p.render(w, http.StatusOK, "assistance_new", p.ticketView(r, "Ouvrir un ticket", s))
}

func (p *Portal) ticketPost(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	t, err := p.cfg.Service.OpenTicket(r.Context(), s.user, f.Get("title"), f.Get("description"), f.Get("category"))
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusForbidden {
			p.fail(w, r, s, err)
			return
		}
		v := p.ticketView(r, "Ouvrir un ticket", s)
		v.Error = msg
		v.Form["title"], v.Form["description"], v.Form["category"] = f.Get("title"), f.Get("description"), f.Get("category")
		p.render(w, code, "assistance_new", v)
		return
	}
	http.Redirect(w, r, "/assistance/"+url.PathEscape(t.ID), http.StatusSeeOther)
}

// ticketPage renders ticket id with its comments; msg, if any, is a
// refusal shown above it with status code.
func (p *Portal) ticketPage(w http.ResponseWriter, r *http.Request, s *session, code int, msg string) {
	t, comments, err := p.cfg.Service.GetTicket(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.ticketView(r, t.Title, s)
	v.Ticket, v.Comments, v.Error = t, comments, msg
	p.render(w, code, "assistance_read", v)
}

func (p *Portal) ticketRead(w http.ResponseWriter, r *http.Request, s *session) {
	p.ticketPage(w, r, s, http.StatusOK, "")
}

func (p *Portal) ticketCommentPost(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := p.cfg.Service.CommentTicket(r.Context(), s.user, id, r.PostForm.Get("body")); err != nil {
		p.ticketRefused(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/assistance/"+url.PathEscape(id), http.StatusSeeOther)
}

func (p *Portal) ticketStatusPost(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := p.cfg.Service.SetTicketStatus(r.Context(), s.user, id, r.PostForm.Get("base"), r.PostForm.Get("status")); err != nil {
		p.ticketRefused(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/assistance/"+url.PathEscape(id), http.StatusSeeOther)
}

// ticketRefused shows the ticket again (as it is now) with the refusal of
// a comment or a status change; a ticket the user does not see is an error
// page.
func (p *Portal) ticketRefused(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code, msg := status(err)
	if code == http.StatusInternalServerError || code == http.StatusNotFound {
		p.fail(w, r, s, err)
		return
	}
	p.ticketPage(w, r, s, code, msg)
}

// JSON API.

type apiTicketChange struct {
	From string `json:"from"`
	To   string `json:"to"`
	By   string `json:"by"`
	At   string `json:"at"`
}

type apiTicket struct {
	ID          string            `json:"id"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Category    string            `json:"category"`
	Status      string            `json:"status"`
	Author      string            `json:"author"`
	AuthorName  string            `json:"authorName"`
	Opened      string            `json:"opened"`
	Updated     string            `json:"updated"`
	Changes     []apiTicketChange `json:"changes"`
	Comments    []apiTicketNote   `json:"comments,omitempty"`
}

type apiTicketNote struct {
	ID         string `json:"id"`
	Author     string `json:"author"`
	AuthorName string `json:"authorName"`
	Body       string `json:"body"`
	Posted     string `json:"posted"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func toAPITicket(t ent.Ticket) apiTicket {
	a := apiTicket{ID: t.ID, Title: t.Title, Description: t.Description, Category: t.Category, Status: t.Status,
		Author: t.AuthorLogin, AuthorName: t.AuthorName, Opened: rfc3339(t.Opened), Updated: rfc3339(t.Updated()),
		Changes: []apiTicketChange{}}
	for _, c := range t.Changes {
		a.Changes = append(a.Changes, apiTicketChange{From: c.From, To: c.To, By: c.ByName, At: rfc3339(c.At)})
	}
	return a
}

func toAPITicketNote(c ent.TicketComment) apiTicketNote {
	return apiTicketNote{ID: c.ID, Author: c.AuthorLogin, AuthorName: c.AuthorName, Body: c.Body, Posted: rfc3339(c.Posted)}
}

func (p *Portal) apiTicketList(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanUseTickets(s.user) {
		p.apiError(w, r, errNoAssistance())
		return
	}
	ts, err := p.cfg.Service.ListTickets(r.Context(), s.user, r.URL.Query().Get("status"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiTicket, 0, len(ts))
	for _, t := range ts {
		out = append(out, toAPITicket(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiTicketPost(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Category    string `json:"category"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	t, err := p.cfg.Service.OpenTicket(r.Context(), s.user, in.Title, in.Description, in.Category)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPITicket(t))
}

func (p *Portal) apiTicketGet(w http.ResponseWriter, r *http.Request, s *session) {
	t, comments, err := p.cfg.Service.GetTicket(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	a := toAPITicket(t)
	a.Comments = make([]apiTicketNote, 0, len(comments))
	for _, c := range comments {
		a.Comments = append(a.Comments, toAPITicketNote(c))
	}
	writeJSON(w, http.StatusOK, a)
}

func (p *Portal) apiTicketComment(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Body string `json:"body"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	c, err := p.cfg.Service.CommentTicket(r.Context(), s.user, r.PathValue("id"), in.Body)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPITicketNote(c))
}

func (p *Portal) apiTicketStatus(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Base   string `json:"base"`
		Status string `json:"status"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	t, err := p.cfg.Service.SetTicketStatus(r.Context(), s.user, r.PathValue("id"), in.Base, in.Status)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPITicket(t))
}
