package portal

import (
	"net/http"

	"atrium/ent"
)

// Notices: what the regional server refused of what a user did at their
// lycée's edge (a slot taken meanwhile, a grade changed on both sides).
// The page /avis lists them newest first, each with a "Marquer comme lu"
// form; JSON under /api/v1/notices. The navigation shows the count of
// unread ones (view.UnreadNotices).

// noticeView is what notices.html reads.
type noticeView struct {
	*view
	Notices []ent.Notice
}

func (p *Portal) noticeList(w http.ResponseWriter, r *http.Request, s *session) {
	ns, err := p.cfg.Service.Notices(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, http.StatusOK, "notices", &noticeView{view: p.newView(r, "Avis", s), Notices: ns})
}

func (p *Portal) noticeReadPost(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.MarkNoticeRead(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/avis", http.StatusSeeOther)
}

// JSON API.

type apiNotice struct {
	ID      string `json:"id"`
	Service string `json:"service"`
	Op      string `json:"op"`
	Text    string `json:"text"`
	Link    string `json:"link,omitempty"`
	Made    string `json:"made,omitempty"`
	Read    bool   `json:"read"`
}

func toAPINotice(n ent.Notice) apiNotice {
	a := apiNotice{ID: n.ID, Service: n.Service, Op: n.Op, Text: n.Text, Link: n.Link, Read: n.Read}
	if !n.Made.IsZero() {
		a.Made = rfc3339(n.Made)
	}
	return a
}

func (p *Portal) apiNoticeList(w http.ResponseWriter, r *http.Request, s *session) {
	ns, err := p.cfg.Service.Notices(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := struct {
		Unread  int         `json:"unread"`
		Notices []apiNotice `json:"notices"`
	}{Notices: make([]apiNotice, 0, len(ns))}
	for _, n := range ns {
		out.Notices = append(out.Notices, toAPINotice(n))
		if !n.Read {
			out.Unread++
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiNoticeRead(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct{}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	if err := p.cfg.Service.MarkNoticeRead(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.apiError(w, r, err)
		return
	}
	n, err := p.cfg.Service.UnreadNotices(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"unread": n})
}
