package portal

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"atrium/ent"
	"atrium/record"
)

type apiUser struct {
	ID      string `json:"id"`
	Login   string `json:"login"`
	Name    string `json:"name"`
	Profile string `json:"profile"`
	UAI     string `json:"uai,omitempty"`
}

type apiNews struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	Author    string `json:"author"`
	Region    bool   `json:"region"`
	UAI       string `json:"uai,omitempty"`
	Published string `json:"published"`
}

type apiMessage struct {
	ID       string `json:"id"`
	From     string `json:"from"`
	FromName string `json:"fromName"`
	To       string `json:"to"`
	ToName   string `json:"toName"`
	Subject  string `json:"subject"`
	Body     string `json:"body"`
	Sent     string `json:"sent"`
}

func toAPIUser(u ent.User) apiUser {
	return apiUser{ID: u.ID, Login: u.Login, Name: u.Name, Profile: u.Profile, UAI: u.UAI}
}

func toAPINews(n ent.News) apiNews {
	a := apiNews{ID: n.ID, Title: n.Title, Body: n.Body, Author: n.AuthorName, Region: n.RegionWide(),
		Published: n.Published.UTC().Format(time.RFC3339)}
	if !a.Region {
		a.UAI = n.Partition
	}
	return a
}

func toAPIMessage(m ent.Message) apiMessage {
	return apiMessage{ID: m.ID, From: m.FromLogin, FromName: m.FromName, To: m.ToLogin, ToName: m.ToName,
		Subject: m.Subject, Body: m.Body, Sent: m.Sent.UTC().Format(time.RFC3339)}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (p *Portal) apiError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := status(err)
	if code == http.StatusInternalServerError {
		p.log.Error("api request", "path", r.URL.Path, "err", err)
	}
	setRetryAfter(w, err)
	writeJSON(w, code, map[string]string{"error": msg})
}

// decodeJSON reads a JSON request body into v. Requiring the JSON content
// type keeps cross-site forms out: a browser cannot send it to another
// site without a CORS preflight, which the API never grants.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return record.Reject("invalid", "Le corps de la requête doit être du JSON (Content-Type: application/json).")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxForm))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return record.Reject("invalid", "JSON invalide : "+err.Error())
	}
	return nil
}

// api wraps a handler that needs a session: 401 without one.
func (p *Portal) api(fn func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := p.authenticate(r)
		if err != nil {
			if errors.Is(err, ent.ErrBadSession) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="atrium"`)
			}
			p.apiError(w, r, err)
			return
		}
		fn(p.counted(w, r, s.user), r, &s)
	}
}

func (p *Portal) apiLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	tok, u, err := p.cfg.Service.Login(r.Context(), in.Login, in.Password, client(r))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	p.setSessionCookie(w, r, tok, 0)
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": toAPIUser(u)})
}

func (p *Portal) apiNewsList(w http.ResponseWriter, r *http.Request, s *session) {
	pg, paged, err := apiPage(r)
	var news []ent.News
	var next string
	if err == nil && paged {
		news, next, err = p.cfg.Service.ListNewsPage(r.Context(), s.user, pg)
	} else if err == nil {
		news, err = p.cfg.Service.ListNews(r.Context(), s.user)
	}
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	setNextLink(w, r, pg, next)
	out := make([]apiNews, 0, len(news))
	for _, n := range news {
		out = append(out, toAPINews(n))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiNewsPost(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Title  string `json:"title"`
		Body   string `json:"body"`
		Region bool   `json:"region"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	n, err := p.cfg.Service.PublishNews(r.Context(), s.user, in.Title, in.Body, in.Region)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPINews(n))
}

func (p *Portal) apiMessageList(w http.ResponseWriter, r *http.Request, s *session) {
	pg, paged, err := apiPage(r)
	var msgs []ent.Message
	var next string
	if err == nil && paged {
		msgs, next, err = p.cfg.Service.ListMessagesPage(r.Context(), s.user, pg)
	} else if err == nil {
		msgs, err = p.cfg.Service.ListMessages(r.Context(), s.user)
	}
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	setNextLink(w, r, pg, next)
	out := make([]apiMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, toAPIMessage(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiMessagePost(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		To      string `json:"to"`
		Subject string `json:"subject"`
		Body    string `json:"body"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	m, err := p.cfg.Service.SendMessage(r.Context(), s.user, in.To, in.Subject, in.Body)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIMessage(m))
}

// apiRecipient is a user the caller may write to.
type apiRecipient struct {
	ID      string   `json:"id"`
	Login   string   `json:"login"`
	Name    string   `json:"name"`
	Profile string   `json:"profile"`
	Classes []string `json:"classes,omitempty"` // a student's or a teacher's
}

// apiRecipients lists the users the caller may write to (ent.CanReach),
// by profile then name; q narrows it as the form's search does.
func (p *Portal) apiRecipients(w http.ResponseWriter, r *http.Request, s *session) {
	us, err := p.cfg.Service.Recipients(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	names := make(map[string]string, len(us))
	for _, u := range us {
		names[u.ID] = u.Name
	}
	terms := strings.Fields(fold(r.URL.Query().Get("q")))
	out := make([]apiRecipient, 0, len(us))
	for _, u := range us {
		if matches(terms, u, names) {
			out = append(out, apiRecipient{ID: u.ID, Login: u.Login, Name: u.Name, Profile: u.Profile, Classes: u.Classes})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
