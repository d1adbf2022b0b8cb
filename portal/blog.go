package portal

import (
	"html/template"
	"net/http"
	"net/url"
	"time"

	"atrium/ent"
	"atrium/record"
)

// The blog: pages under /blog, JSON under /api/v1/blog. ent decides who
// reads, publishes, comments and deletes what (blog.go); the pages only
// hide what a user could not do anyway. Texts are plain: templates escape
// them and split them into paragraphs.

// blogComment is a comment as the read page shows it.
type blogComment struct {
	ent.BlogComment
	CanDelete bool
}

// blogPage is what the blog's templates read.
type blogPage struct {
	*view
	CanPublish bool
	// List.
	Rows template.HTML // rows.go
	// Read.
	Post      ent.BlogPost
	Comments  []blogComment
	CanDelete bool // the post
	// Form.
	Classes []string
}

func (p *Portal) blogPage(r *http.Request, title string, s *session) *blogPage {
	return &blogPage{view: p.newView(r, title, s), CanPublish: ent.CanPublishBlog(s.user)}
}

func (p *Portal) blogList(w http.ResponseWriter, r *http.Request, s *session) {
	posts, err := p.cfg.Service.ListBlog(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.blogPage(r, "Blog", s)
	pg.Rows = p.blogRows(posts)
	p.render(w, http.StatusOK, "blog_list", pg)
}

// blogShow renders post {id} with code and msg (a refused comment, its
// text kept in the form).
func (p *Portal) blogShow(w http.ResponseWriter, r *http.Request, s *session, code int, msg, body string) {
	post, err := p.cfg.Service.GetBlogPost(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.blogPage(r, post.Title, s)
	pg.Post, pg.CanDelete, pg.Error = post, ent.CanDeleteBlogPost(s.user, post), msg
	pg.Form["body"] = body
	for _, c := range post.Comments {
		pg.Comments = append(pg.Comments, blogComment{BlogComment: c, CanDelete: ent.CanDeleteBlogComment(s.user, post, c)})
	}
	p.render(w, code, "blog_read", pg)
}

func (p *Portal) blogRead(w http.ResponseWriter, r *http.Request, s *session) {
	p.blogShow(w, r, s, http.StatusOK, "", "")
}

// blogForm renders the new-post form with code and msg.
func (p *Portal) blogForm(w http.ResponseWriter, r *http.Request, s *session, code int, msg string, a ent.BlogPostArgs) {
	if !ent.CanPublishBlog(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les enseignants et les personnels du lycée publient sur le blog."))
		return
	}
	classes, err := p.cfg.Service.BlogClasses(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.blogPage(r, "Nouvel article du blog", s)
	pg.Classes, pg.Error = classes, msg
	pg.Form["class"], pg.Form["title"], pg.Form["body"] = a.Class, a.Title, a.Body
	p.render(w, code, "blog_form", pg)
}

func (p *Portal) blogNew(w http.ResponseWriter, r *http.Request, s *session) {
	p.blogForm(w, r, s, http.StatusOK, "", ent.BlogPostArgs{Class: r.URL.Query().Get("classe")})
}

func (p *Portal) blogPost(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.BlogPostArgs{Class: f.Get("class"), Title: f.Get("title"), Body: f.Get("body")}
	post, err := p.cfg.Service.PublishBlog(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusNotFound {
			p.fail(w, r, s, err)
			return
		}
		p.blogForm(w, r, s, code, msg, a)
		return
	}
	http.Redirect(w, r, "/blog/"+url.PathEscape(post.ID), http.StatusSeeOther)
}

func (p *Portal) blogCommentPost(w http.ResponseWriter, r *http.Request, s *session) {
	id, body := r.PathValue("id"), r.PostForm.Get("body")
	if _, err := p.cfg.Service.CommentBlog(r.Context(), s.user, id, body); err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusNotFound {
			p.fail(w, r, s, err)
			return
		}
		p.blogShow(w, r, s, code, msg, body)
		return
	}
	http.Redirect(w, r, "/blog/"+url.PathEscape(id)+"#commentaires", http.StatusSeeOther)
}

func (p *Portal) blogDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.DeleteBlogPost(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/blog", http.StatusSeeOther)
}

func (p *Portal) blogCommentDelete(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if err := p.cfg.Service.DeleteBlogComment(r.Context(), s.user, id, r.PathValue("cid")); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/blog/"+url.PathEscape(id)+"#commentaires", http.StatusSeeOther)
}

// JSON API.

// apiBlogPost is a post as the API shows it; Comments only on a single
// post.
type apiBlogPost struct {
	ID        string           `json:"id"`
	Class     string           `json:"class"`
	Title     string           `json:"title"`
	Body      string           `json:"body"`
	Author    string           `json:"author"`
	AuthorID  string           `json:"authorId"`
	Published string           `json:"published"`
	Count     int              `json:"commentCount"`
	Comments  []apiBlogComment `json:"comments,omitempty"`
}

type apiBlogComment struct {
	ID       string `json:"id"`
	Body     string `json:"body"`
	Author   string `json:"author"`
	AuthorID string `json:"authorId"`
	Posted   string `json:"posted"`
}

func toAPIBlogComment(c ent.BlogComment) apiBlogComment {
	return apiBlogComment{ID: c.ID, Body: c.Body, Author: c.Author, AuthorID: c.AuthorID, Posted: c.Posted.UTC().Format(time.RFC3339)}
}

func toAPIBlogPost(p ent.BlogPost) apiBlogPost {
	out := apiBlogPost{ID: p.ID, Class: p.Class, Title: p.Title, Body: p.Body, Author: p.Author, AuthorID: p.AuthorID,
		Published: p.Published.UTC().Format(time.RFC3339), Count: p.CommentCount}
	for _, c := range p.Comments {
		out.Comments = append(out.Comments, toAPIBlogComment(c))
	}
	return out
}

func (p *Portal) apiBlogList(w http.ResponseWriter, r *http.Request, s *session) {
	posts, err := p.cfg.Service.ListBlog(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiBlogPost, 0, len(posts))
	for _, post := range posts {
		out = append(out, toAPIBlogPost(post))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiBlogGet(w http.ResponseWriter, r *http.Request, s *session) {
	post, err := p.cfg.Service.GetBlogPost(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIBlogPost(post))
}

func (p *Portal) apiBlogPublish(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Class string `json:"class"`
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	post, err := p.cfg.Service.PublishBlog(r.Context(), s.user, ent.BlogPostArgs{Class: in.Class, Title: in.Title, Body: in.Body})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIBlogPost(post))
}

func (p *Portal) apiBlogComment(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Body string `json:"body"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	c, err := p.cfg.Service.CommentBlog(r.Context(), s.user, r.PathValue("id"), in.Body)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIBlogComment(c))
}

func (p *Portal) apiBlogDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.DeleteBlogPost(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (p *Portal) apiBlogCommentDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.DeleteBlogComment(r.Context(), s.user, r.PathValue("id"), r.PathValue("cid")); err != nil {
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
