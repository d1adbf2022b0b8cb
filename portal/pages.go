package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sync"
	"time"

	"atrium/ent"
	"atrium/record"
)

func errRejection(err error) (*record.Rejection, bool) { return record.AsRejection(err) }

// view is what every page template reads.
type view struct {
	Title        string
	User         *ent.User
	ProfileLabel string
	LyceeName    string
	LyceeCity    string
	CSRF         string
	Node         string
	Offline      bool
	PendingText  string
	Error        string
	Form         map[string]string

	CanPublishLycee  bool
	CanPublishRegion bool
	CanMessage       bool
	// UnreadNotices counts the user's unread refusal notices (two reads
	// by id): the navigation's "Avis (n)".
	UnreadNotices int
	// PendingProposals counts, for Région staff, the lycées' proposals of
	// modification waiting for a decision (what /region/propositions
	// lists): the navigation's "Propositions (n)".
	PendingProposals int

	News     []ent.News
	Item     ent.News
	Messages []ent.Message
	Message  ent.Message
	// Recipients lists whom the user may write to (the new-message form).
	Recipients *recipientChoice
	// Nav says which links of the navigation the user gets; NavLinks and
	// NavServices are the navigation's fixed parts for those links
	// (navParts).
	Nav                   nav
	NavLinks, NavServices template.HTML

	// NewsRows are the lines of the actualités (rows.go).
	NewsRows template.HTML
	// MessageRows are the lines of the messagerie; Pager links the pages
	// of the messagerie or the actualités.
	MessageRows template.HTML
	Pager       pager
}

// dateText writes a time as the pages do (the templates' date function).
func (p *Portal) dateText(t time.Time) string { return t.In(p.paris).Format("02/01/2006 à 15:04") }

// nav says which links of the navigation (layout.html, home.html) a user
// gets, computed once rather than by the templates' eq, and and or, which
// go through reflection.
type nav struct {
	Admin   bool // a lycée's administrator: the accounts
	Audit   bool // the lycée's administrator or Région staff: the logs and the statistics
	Lycee   bool // a member of a lycée: its services
	Staff   bool // a teacher or staff member: reservation, parc
	Espaces bool // a student, teacher or staff member: the collaborative spaces
	Region  bool // Région staff: the lycées' proposals of modification
}

func newNav(u ent.User) nav {
	lycee := u.UAI != "" && u.Profile != ent.Region
	staff := u.UAI != "" && (u.Profile == ent.Teacher || u.Profile == ent.Personnel)
	return nav{Admin: u.Admin && u.UAI != "", Audit: (u.Admin && u.UAI != "") || u.Profile == ent.Region,
		Lycee: lycee, Staff: staff, Espaces: lycee && (staff || u.Profile == ent.Student), Region: ent.CanReviewDrafts(u)}
}

// navKey is what the navigation's fixed parts depend on: the templates
// nav-links and nav-services (layout.html) read it.
type navKey struct {
	CanMessage bool
	Nav        nav
}

// navCache holds the navigation's fixed parts rendered for each navKey
// met (a few dozen at most), and the count of pending proposals Région
// staff's navigation shows (pendingProposals). Safe for concurrent use.
type navCache struct {
	mu sync.RWMutex
	m  map[navKey][2]template.HTML
	// proposals is the count of pending proposals read at proposalsAt
	// (zero: never); proposalsGen changes whenever a proposal or a
	// decision goes through this portal, so that a count read before it
	// is not kept.
	proposals    int
	proposalsAt  time.Time
	proposalsGen uint64
}

// proposalCountTTL is how long the navigation's count of pending
// proposals is kept. Counting reads every proposal of every lycée (ent
// keeps no count; BenchmarkRegionNavCount, 300 lycées: 1.4 ms for 300
// proposals, 16 ms for 3 000, 100 ms for 30 000), too much for every page
// of Région staff. The proposals and decisions made through this portal, and
// /region/propositions, read it afresh; a proposal sent by an edge or a
// decision taken on another central node shows within this time.
const proposalCountTTL = 15 * time.Second

// proposalCount returns the kept count, whether it is fresh, and the
// generation to give setProposalCount.
func (c *navCache) proposalCount() (n int, fresh bool, gen uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.proposals, !c.proposalsAt.IsZero() && time.Since(c.proposalsAt) < proposalCountTTL, c.proposalsGen
}

// setProposalCount keeps n, read after proposalCount returned gen, unless
// a proposal or a decision went through since.
func (c *navCache) setProposalCount(gen uint64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proposalsGen == gen {
		c.proposals, c.proposalsAt = n, time.Now()
	}
}

// forgetProposalCount drops the kept count: a proposal or a decision just
// went through this portal.
func (c *navCache) forgetProposalCount() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proposalsGen++
	c.proposalsAt = time.Time{}
}

// navParts returns the navigation's fixed parts for k, rendered by
// layout.html's nav-links and nav-services the first time k is met: the
// layout then runs two actions for them instead of a dozen conditions.
func (p *Portal) navParts(k navKey) (links, services template.HTML) {
	c := &p.nav
	c.mu.RLock()
	parts, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return parts[0], parts[1]
	}
	t := p.pages["home"] // every page's set holds layout.html
	var b bytes.Buffer
	for i, name := range []string{"nav-links", "nav-services"} {
		b.Reset()
		if err := t.ExecuteTemplate(&b, name, k); err != nil {
			// The templates are fixed and their data plain booleans: only
			// a broken layout.html gets here, which
			// TestNavigationListsHomeServices catches. The page then shows
			// no navigation.
			p.log.Error("render navigation", "template", name, "err", err)
			return "", ""
		}
		parts[i] = template.HTML(b.String())
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[navKey][2]template.HTML{}
	}
	c.m[k] = parts
	c.mu.Unlock()
	return parts[0], parts[1]
}

// Layout is the view itself: the layout reads its fields through it, for
// a template reaching a field through an embedded struct (every service's
// page embeds its *view) goes through a slow reflect lookup on each use.
func (v *view) Layout() *view { return v }

func (p *Portal) newView(r *http.Request, title string, s *session) *view {
	v := &view{Title: title, Node: p.cfg.Node, Form: map[string]string{}}
	if p.cfg.Role == "edge" && p.cfg.Offline != nil {
		if off, n := p.cfg.Offline(); off {
			v.Offline = true
			v.PendingText = pendingText(n)
		}
	}
	if s == nil {
		// Signed out: the lycée of the node, at an edge.
		if p.cfg.UAI != "" {
			if l, err := p.cfg.Service.Lycee(r.Context(), p.cfg.UAI); err == nil {
				v.LyceeName, v.LyceeCity = l.Name, l.City
			}
		}
		return v
	}
	u := s.user
	v.User = &u
	v.ProfileLabel = ent.ProfileLabel(u.Profile)
	v.CSRF = p.cfg.Service.CSRFToken(s.token)
	v.CanPublishLycee, v.CanPublishRegion = ent.CanPublish(u)
	v.CanMessage = u.Profile != ent.Region
	v.Nav = newNav(u)
	v.NavLinks, v.NavServices = p.navParts(navKey{CanMessage: v.CanMessage, Nav: v.Nav})
	// The user's lycée and unread notices, in one read; a page renders
	// without them on a store error.
	var l ent.Lycee
	l, v.UnreadNotices, _ = p.cfg.Service.PageInfo(r.Context(), u)
	v.LyceeName, v.LyceeCity = l.Name, l.City
	if v.Nav.Region {
		v.PendingProposals = p.pendingProposals(r.Context(), u)
	}
	return v
}

// pendingProposals counts the proposals of modification waiting for
// Région staff u (what /region/propositions lists), kept for
// proposalCountTTL. A page renders without the count on a store error.
func (p *Portal) pendingProposals(ctx context.Context, u ent.User) int {
	n, fresh, gen := p.nav.proposalCount()
	if fresh {
		return n
	}
	ds, err := p.cfg.Service.PendingDrafts(ctx, u)
	if err != nil {
		p.log.Warn("count pending proposals", "err", err)
		return 0
	}
	p.nav.setProposalCount(gen, len(ds))
	return len(ds)
}

func pendingText(n int) string {
	switch n {
	case 0:
		return "aucune modification en attente d'envoi"
	case 1:
		return "1 modification en attente d'envoi"
	}
	return fmt.Sprintf("%d modifications en attente d'envoi", n)
}

// renderBufs holds the buffers pages are rendered into, reused rather
// than grown afresh for every page.
var renderBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledPage bounds the buffers kept in renderBufs.
const maxPooledPage = 1 << 20

// render writes page name with data (a *view, or a service's page type
// embedding one) in the layout; nothing is sent if the template fails.
func (p *Portal) render(w http.ResponseWriter, code int, name string, data any) {
	buf := renderBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledPage {
			buf.Reset()
			renderBufs.Put(buf)
		}
	}()
	if err := p.pages[name].ExecuteTemplate(buf, "layout", data); err != nil {
		p.log.Error("render page", "page", name, "err", err)
		http.Error(w, "Erreur interne.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (p *Portal) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code, msg := status(err)
	if code == http.StatusInternalServerError {
		p.log.Error("portal request", "path", r.URL.Path, "err", err)
	}
	v := p.newView(r, msg, s)
	p.render(w, code, "error", v)
}

// page wraps a handler that needs a session: without one the user is sent
// to the login page; posted forms must carry the session's CSRF token.
func (p *Portal) page(fn func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := p.authenticate(r)
		if err != nil {
			if errors.Is(err, ent.ErrBadSession) {
				http.Redirect(w, r, "/connexion", http.StatusSeeOther)
				return
			}
			p.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			if err := parsePost(w, r); err != nil {
				p.fail(w, r, &s, record.Reject("invalid", "Formulaire illisible."))
				return
			}
			if !p.cfg.Service.CheckCSRF(s.token, r.PostForm.Get("csrf")) {
				p.fail(w, r, &s, record.Reject("forbidden", "Formulaire expiré ou d'origine inconnue : veuillez réessayer."))
				return
			}
		}
		fn(p.counted(w, r, s.user), r, &s)
	}
}

func (p *Portal) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, err := p.authenticate(r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p.render(w, http.StatusOK, "login", p.newView(r, "Connexion", nil))
}

func (p *Portal) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !sameOrigin(r) || r.ParseForm() != nil {
		p.fail(w, r, nil, record.Reject("forbidden", "Formulaire d'origine inconnue."))
		return
	}
	login := r.PostForm.Get("login")
	tok, _, err := p.cfg.Service.Login(r.Context(), login, r.PostForm.Get("password"), client(r))
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError {
			p.log.Error("portal login", "err", err)
		}
		setRetryAfter(w, err)
		v := p.newView(r, "Connexion", nil)
		v.Error = msg
		v.Form["login"] = login
		p.render(w, code, "login", v)
		return
	}
	p.setSessionCookie(w, r, tok, 0)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *Portal) logoutForm(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, http.StatusOK, "logout", p.newView(r, "Déconnexion", s))
}

func (p *Portal) logoutPost(w http.ResponseWriter, r *http.Request, s *session) {
	if p.cfg.Logout != nil {
		p.cfg.Logout(r.Context(), s.token, client(r))
	}
	p.setSessionCookie(w, r, "", -1)
	http.Redirect(w, r, "/connexion", http.StatusSeeOther)
}

func (p *Portal) home(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, http.StatusOK, "home", p.newView(r, "Accueil", s))
}

func (p *Portal) newsList(w http.ResponseWriter, r *http.Request, s *session) {
	news, next, err := p.cfg.Service.ListNewsPage(r.Context(), s.user, htmlPage(r))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.newView(r, "Actualités", s)
	v.Pager = newPager(r, next)
	v.NewsRows = p.newsRows(news)
	p.render(w, http.StatusOK, "news_list", v)
}

func (p *Portal) newsRead(w http.ResponseWriter, r *http.Request, s *session) {
	n, err := p.cfg.Service.GetNews(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.newView(r, n.Title, s)
	v.Item = n
	p.render(w, http.StatusOK, "news_read", v)
}

func (p *Portal) newsForm(w http.ResponseWriter, r *http.Request, s *session) {
	if l, reg := ent.CanPublish(s.user); !l && !reg {
		p.fail(w, r, s, record.Reject("forbidden", "Votre profil ne permet pas de publier des actualités."))
		return
	}
	p.render(w, http.StatusOK, "news_new", p.newView(r, "Publier une actualité", s))
}

func (p *Portal) newsPost(w http.ResponseWriter, r *http.Request, s *session) {
	title, body := r.PostForm.Get("title"), r.PostForm.Get("body")
	n, err := p.cfg.Service.PublishNews(r.Context(), s.user, title, body, r.PostForm.Get("region") == "1")
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError {
			p.fail(w, r, s, err)
			return
		}
		v := p.newView(r, "Publier une actualité", s)
		v.Error = msg
		v.Form["title"], v.Form["body"] = title, body
		p.render(w, code, "news_new", v)
		return
	}
	http.Redirect(w, r, "/actualites/"+url.PathEscape(n.ID), http.StatusSeeOther)
}

func (p *Portal) messageList(w http.ResponseWriter, r *http.Request, s *session) {
	msgs, next, err := p.cfg.Service.ListMessagesPage(r.Context(), s.user, htmlPage(r))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.newView(r, "Messagerie", s)
	v.Pager = newPager(r, next)
	v.MessageRows = p.messageRows(msgs, s.user)
	p.render(w, http.StatusOK, "messages", v)
}

func (p *Portal) messageRead(w http.ResponseWriter, r *http.Request, s *session) {
	m, err := p.cfg.Service.GetMessage(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.newView(r, m.Subject, s)
	v.Message = m
	p.render(w, http.StatusOK, "message_read", v)
}

// messageForm shows the new-message form: the recipients the user may
// write to (ent.CanReach) in a list, narrowed by a search (q) when the
// lycée is too large to list; a= preselects a recipient (a reply), objet=
// fills the subject.
func (p *Portal) messageForm(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := p.newView(r, "Écrire un message", s)
	v.Form["to"], v.Form["subject"] = q.Get("a"), q.Get("objet")
	if err := p.recipients(r, s, v, q.Get("q")); err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, http.StatusOK, "message_new", v)
}

// recipients fills v.Recipients for the new-message form.
func (p *Portal) recipients(r *http.Request, s *session, v *view, query string) error {
	us, err := p.cfg.Service.Recipients(r.Context(), s.user)
	if err != nil {
		return err
	}
	v.Recipients = newRecipientChoice(us, query, v.Form["to"])
	return nil
}

// messagePost sends the form's message. to is a login: the form's list
// gives one, and the rules are checked again when the command executes.
func (p *Portal) messagePost(w http.ResponseWriter, r *http.Request, s *session) {
	to, subject, body := r.PostForm.Get("to"), r.PostForm.Get("subject"), r.PostForm.Get("body")
	m, err := p.cfg.Service.SendMessage(r.Context(), s.user, to, subject, body)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError {
			p.fail(w, r, s, err)
			return
		}
		v := p.newView(r, "Écrire un message", s)
		v.Error = msg
		v.Form["to"], v.Form["subject"], v.Form["body"] = to, subject, body
		if err := p.recipients(r, s, v, r.PostForm.Get("q")); err != nil {
			p.fail(w, r, s, err)
			return
		}
		p.render(w, code, "message_new", v)
		return
	}
	http.Redirect(w, r, "/messagerie/"+url.PathEscape(m.ID), http.StatusSeeOther)
}
