package portal

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"atrium/ent"
	"atrium/record"
)

// The forum: pages under /forum, JSON under /api/v1/forums. ent decides
// who reads, writes and moderates what (forum.go); the pages only hide
// what a user could not do anyway.

// forumPage is what the forum's templates read.
type forumPage struct {
	*view
	CanCreate   bool
	CanModerate bool
	HiddenText  string
	// List.
	Forums template.HTML // rows.go
	// Forum and topic.
	Forum  forumRow
	Topics template.HTML // rows.go
	Topic  ent.ForumTopic
	Posts  []ent.ForumPost
	// Creation form.
	Audiences []choice
	Classes   []string
	AnyClass  bool // staff type the class; a teacher chooses one of theirs
}

// forumRow is a forum with its audience in French.
type forumRow struct {
	ent.Forum
	AudienceText string
}

// choice is an option of a select.
type choice struct{ Code, Label string }

func newForumRow(f ent.Forum) forumRow {
	r := forumRow{Forum: f, AudienceText: ent.AudienceLabel(f.Audience)}
	if f.Audience == ent.AudienceClass {
		r.AudienceText = "Classe " + f.Class
	}
	return r
}

func (p *Portal) forumPage(r *http.Request, title string, s *session) *forumPage {
	return &forumPage{view: p.newView(r, title, s), CanCreate: ent.CanCreateForum(s.user),
		CanModerate: ent.CanModerateForum(s.user), HiddenText: ent.HiddenPostText}
}

func (p *Portal) forumList(w http.ResponseWriter, r *http.Request, s *session) {
	forums, err := p.cfg.Service.ListForums(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.forumPage(r, "Forum", s)
	pg.Forums = forumRows(forums)
	p.render(w, http.StatusOK, "forum_list", pg)
}

// forumNewPage is the creation form for u.
func (p *Portal) forumNewPage(r *http.Request, s *session) *forumPage {
	pg := p.forumPage(r, "Nouveau forum", s)
	pg.Audiences = []choice{{ent.AudienceClass, ent.AudienceLabel(ent.AudienceClass)}}
	if s.user.Profile == ent.Personnel {
		pg.AnyClass = true
		pg.Audiences = append(pg.Audiences, choice{ent.AudienceAdults, ent.AudienceLabel(ent.AudienceAdults)},
			choice{ent.AudienceAll, ent.AudienceLabel(ent.AudienceAll)})
	}
	pg.Classes = s.user.Classes
	return pg
}

func (p *Portal) forumNew(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanCreateForum(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les enseignants et les personnels du lycée créent des forums."))
		return
	}
	pg := p.forumNewPage(r, s)
	pg.Form["audience"] = ent.AudienceClass
	p.render(w, http.StatusOK, "forum_form", pg)
}

func (p *Portal) forumCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.ForumArgs{Title: f.Get("title"), Audience: f.Get("audience"), Class: f.Get("class")}
	forum, err := p.cfg.Service.CreateForum(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || !ent.CanCreateForum(s.user) {
			p.fail(w, r, s, err)
			return
		}
		pg := p.forumNewPage(r, s)
		pg.Error = msg
		pg.Form["title"], pg.Form["audience"], pg.Form["class"] = a.Title, a.Audience, a.Class
		p.render(w, code, "forum_form", pg)
		return
	}
	http.Redirect(w, r, "/forum/"+url.PathEscape(forum.ID), http.StatusSeeOther)
}

// renderForum renders forum id's page with code; form holds what the new
// topic form shows, and msg its error.
func (p *Portal) renderForum(w http.ResponseWriter, r *http.Request, s *session, code int, msg string, form map[string]string) {
	f, topics, err := p.cfg.Service.GetForum(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.forumPage(r, f.Title, s)
	pg.Forum, pg.Topics, pg.Error = newForumRow(f), p.topicRows(topics), msg
	for k, v := range form {
		pg.Form[k] = v
	}
	p.render(w, code, "forum_read", pg)
}

func (p *Portal) forumRead(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderForum(w, r, s, http.StatusOK, "", nil)
}

func (p *Portal) forumTopicPost(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.ForumTopicArgs{ForumID: r.PathValue("id"), Title: f.Get("title"), Body: f.Get("body")}
	t, err := p.cfg.Service.CreateForumTopic(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code != http.StatusBadRequest {
			p.fail(w, r, s, err)
			return
		}
		p.renderForum(w, r, s, code, msg, map[string]string{"title": a.Title, "body": a.Body})
		return
	}
	http.Redirect(w, r, topicPath(t), http.StatusSeeOther)
}

func topicPath(t ent.ForumTopic) string {
	return "/forum/" + url.PathEscape(t.ForumID) + "/sujets/" + url.PathEscape(t.ID)
}

// forumTopic returns the topic of the request's path ({id}/{topic}): its
// forum must be {id}, else ErrNotFound.
func (p *Portal) forumTopic(r *http.Request, s *session) (ent.ForumTopic, ent.Forum, []ent.ForumPost, error) {
	t, f, posts, err := p.cfg.Service.GetForumTopic(r.Context(), s.user, r.PathValue("topic"))
	if err == nil && f.ID != r.PathValue("id") {
		err = ent.ErrNotFound
	}
	return t, f, posts, err
}

func (p *Portal) renderTopic(w http.ResponseWriter, r *http.Request, s *session, code int, msg, body string) {
	t, f, posts, err := p.forumTopic(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.forumPage(r, t.Title, s)
	pg.Forum, pg.Topic, pg.Posts, pg.Error = newForumRow(f), t, posts, msg
	pg.Form["body"] = body
	p.render(w, code, "forum_topic", pg)
}

func (p *Portal) forumTopicRead(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderTopic(w, r, s, http.StatusOK, "", "")
}

func (p *Portal) forumReplyPost(w http.ResponseWriter, r *http.Request, s *session) {
	t, _, _, err := p.forumTopic(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	body := r.PostForm.Get("body")
	post, err := p.cfg.Service.ReplyForumTopic(r.Context(), s.user, ent.ForumPostArgs{TopicID: t.ID, Body: body})
	if err != nil {
		code, msg := status(err)
		if code != http.StatusBadRequest {
			p.fail(w, r, s, err)
			return
		}
		p.renderTopic(w, r, s, code, msg, body)
		return
	}
	http.Redirect(w, r, topicPath(t)+"#message-"+url.PathEscape(post.ID), http.StatusSeeOther)
}

func (p *Portal) forumHidePost(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanModerateForum(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les personnels du lycée modèrent le forum."))
		return
	}
	t, _, posts, err := p.forumTopic(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	id := r.PostForm.Get("message")
	if !slices.ContainsFunc(posts, func(p ent.ForumPost) bool { return p.ID == id }) {
		p.fail(w, r, s, ent.ErrNotFound)
		return
	}
	if err := p.cfg.Service.HideForumPost(r.Context(), s.user, id); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, topicPath(t)+"#message-"+url.PathEscape(id), http.StatusSeeOther)
}

// The API's shapes.
type apiForum struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Audience string `json:"audience"`
	Class    string `json:"class"`
	Author   string `json:"author"`
	AuthorID string `json:"authorId"`
	Created  string `json:"created"`
	Topics   int    `json:"topics"`
}

type apiForumTopic struct {
	ID           string `json:"id"`
	ForumID      string `json:"forumId"`
	Title        string `json:"title"`
	Body         string `json:"body"`
	Author       string `json:"author"`
	AuthorID     string `json:"authorId"`
	Created      string `json:"created"`
	Replies      int    `json:"replies"`
	LastActivity string `json:"lastActivity"`
}

type apiForumPost struct {
	ID       string `json:"id"`
	TopicID  string `json:"topicId"`
	Body     string `json:"body"` // "" when hidden
	Hidden   bool   `json:"hidden"`
	Author   string `json:"author"`
	AuthorID string `json:"authorId"`
	Created  string `json:"created"`
}

func toAPIForum(f ent.Forum) apiForum {
	return apiForum{ID: f.ID, Title: f.Title, Audience: f.Audience, Class: f.Class, Author: f.Author,
		AuthorID: f.AuthorID, Created: rfc3339(f.Created), Topics: f.Topics}
}

func toAPIForumTopic(t ent.ForumTopic) apiForumTopic {
	return apiForumTopic{ID: t.ID, ForumID: t.ForumID, Title: t.Title, Body: t.Body, Author: t.Author,
		AuthorID: t.AuthorID, Created: rfc3339(t.Created), Replies: t.Replies, LastActivity: rfc3339(t.LastPost)}
}

func toAPIForumPost(p ent.ForumPost) apiForumPost {
	return apiForumPost{ID: p.ID, TopicID: p.TopicID, Body: p.Body, Hidden: p.Hidden, Author: p.Author,
		AuthorID: p.AuthorID, Created: rfc3339(p.Created)}
}

func (p *Portal) apiForumList(w http.ResponseWriter, r *http.Request, s *session) {
	forums, err := p.cfg.Service.ListForums(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiForum, 0, len(forums))
	for _, f := range forums {
		out = append(out, toAPIForum(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiForumCreate(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Title    string `json:"title"`
		Audience string `json:"audience"`
		Class    string `json:"class"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	f, err := p.cfg.Service.CreateForum(r.Context(), s.user, ent.ForumArgs{Title: in.Title, Audience: in.Audience, Class: in.Class})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIForum(f))
}

func (p *Portal) apiForumGet(w http.ResponseWriter, r *http.Request, s *session) {
	f, topics, err := p.cfg.Service.GetForum(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	f.Topics = len(topics)
	out := struct {
		Forum  apiForum        `json:"forum"`
		Topics []apiForumTopic `json:"topics"`
	}{Forum: toAPIForum(f), Topics: make([]apiForumTopic, 0, len(topics))}
	for _, t := range topics {
		out.Topics = append(out.Topics, toAPIForumTopic(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiForumTopicCreate(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	t, err := p.cfg.Service.CreateForumTopic(r.Context(), s.user, ent.ForumTopicArgs{ForumID: r.PathValue("id"), Title: in.Title, Body: in.Body})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIForumTopic(t))
}

func (p *Portal) apiForumTopicGet(w http.ResponseWriter, r *http.Request, s *session) {
	t, f, posts, err := p.forumTopic(r, s)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := struct {
		Forum apiForum       `json:"forum"`
		Topic apiForumTopic  `json:"topic"`
		Posts []apiForumPost `json:"posts"`
	}{Forum: toAPIForum(f), Topic: toAPIForumTopic(t), Posts: make([]apiForumPost, 0, len(posts))}
	for _, p := range posts {
		out.Posts = append(out.Posts, toAPIForumPost(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiForumReply(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Body string `json:"body"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	t, _, _, err := p.forumTopic(r, s)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	post, err := p.cfg.Service.ReplyForumTopic(r.Context(), s.user, ent.ForumPostArgs{TopicID: t.ID, Body: in.Body})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIForumPost(post))
}

func (p *Portal) apiForumHide(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanModerateForum(s.user) {
		p.apiError(w, r, record.Reject("forbidden", "Seuls les personnels du lycée modèrent le forum."))
		return
	}
	_, _, posts, err := p.forumTopic(r, s)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	id := r.PathValue("post")
	if !slices.ContainsFunc(posts, func(p ent.ForumPost) bool { return p.ID == id }) {
		p.apiError(w, r, ent.ErrNotFound)
		return
	}
	if err := p.cfg.Service.HideForumPost(r.Context(), s.user, id); err != nil {
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
