package cas

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"atrium/ent"
)

// page is what the page templates read.
type page struct {
	Title   string
	Node    string
	Error   string
	Text    []string // paragraphs
	Link    string   // an http(s) URL, shown as a link labelled LinkText
	LinkTxt string

	// The login form.
	Login       string // the login typed, kept after a failure
	Service     string
	ServiceName string // the registry's name of the service
	Renew       bool
	CSRF        string
}

// loginGet serves GET /cas/login: straight back to the service with a
// ticket when the user has a session (single sign-on), else the form.
func (s *Server) loginGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	service := q.Get("service")
	renew, gateway := flag(q.Get("renew")), flag(q.Get("gateway"))
	var entry ent.CASService
	if service != "" {
		var ok bool
		var err error
		entry, ok, err = s.registry.match(r.Context(), service)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if !ok {
			s.forbiddenService(w, service)
			return
		}
	}
	tok, u, ok, err := s.session(r)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	switch {
	case ok && !renew && service == "":
		s.connected(w, u)
	case ok && !renew:
		s.redirectWithTicket(w, r, entry, service, u, tok, false)
	case gateway && !renew && service != "":
		// gateway: the service asks not to show the form; back without
		// a ticket, the user is anonymous there.
		http.Redirect(w, r, service, http.StatusSeeOther)
	default:
		s.loginForm(w, r, http.StatusOK, page{Service: service, ServiceName: entry.Name, Renew: renew})
	}
}

// loginPost serves POST /cas/login: checks the credentials, opens the
// portal session and goes back to the service with a ticket.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.message(w, http.StatusBadRequest, "Formulaire illisible", "Le formulaire de connexion est illisible : veuillez réessayer.")
		return
	}
	f := r.PostForm
	service, renew := f.Get("service"), flag(f.Get("renew"))
	var entry ent.CASService
	if service != "" {
		var ok bool
		var err error
		entry, ok, err = s.registry.match(r.Context(), service)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if !ok {
			s.forbiddenService(w, service)
			return
		}
	}
	form := page{Service: service, ServiceName: entry.Name, Renew: renew, Login: f.Get("login")}
	if !sameOrigin(r) || !s.checkFormToken(r, f.Get("csrf")) {
		form.Error = "Formulaire expiré ou d'origine inconnue : veuillez réessayer."
		s.loginForm(w, r, http.StatusForbidden, form)
		return
	}
	c := clientOf(r)
	tok, u, err := s.cfg.Service.Login(r.Context(), f.Get("login"), f.Get("password"), c)
	if err != nil {
		code, msg := loginFailure(err)
		if code == http.StatusInternalServerError {
			s.log.Error("cas login", "err", err)
		}
		setRetryAfter(w, err)
		form.Error = msg
		s.loginForm(w, r, code, form)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: tok, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
	s.sessions.loggedIn(tok, u, s.now())
	if service == "" {
		http.Redirect(w, r, "/cas/login", http.StatusSeeOther) // the "vous êtes connecté" page
		return
	}
	s.redirectWithTicket(w, r, entry, service, u, tok, true)
}

// logout serves GET /cas/logout[?service=S]: ends the session on this
// node (cookie, single logout, audit) and says so, with a link back to S
// when S is an allowed service.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
		})
		s.EndSessionFrom(r.Context(), c.Value, clientOf(r))
	}
	p := page{Title: "Déconnexion", Text: []string{
		"Vous êtes déconnecté de l'ENT.",
		"Les services où l'ENT vous avait connecté en sont avertis. Pour plus de sécurité, fermez votre navigateur.",
	}}
	q := r.URL.Query()
	service := q.Get("service")
	if service == "" {
		service = q.Get("url") // CAS 2
	}
	if service != "" {
		if entry, ok, err := s.registry.match(r.Context(), service); err == nil && ok {
			p.Link, p.LinkTxt = service, "Retourner à "+entry.Name
		}
	}
	s.render(w, http.StatusOK, "message", p)
}

// session returns the portal session of the request's cookie, if valid.
func (s *Server) session(r *http.Request) (token string, u ent.User, ok bool, err error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", ent.User{}, false, nil
	}
	u, err = s.cfg.Service.Authenticate(c.Value)
	if errors.Is(err, ent.ErrBadSession) {
		return "", ent.User{}, false, nil
	}
	if err != nil {
		return "", ent.User{}, false, err
	}
	return c.Value, u, true, nil
}

// redirectWithTicket issues a ticket for service and sends the browser
// there with it.
func (s *Server) redirectWithTicket(w http.ResponseWriter, r *http.Request, entry ent.CASService, service string, u ent.User, token string, fresh bool) {
	id, err := s.issue(r.Context(), clientOf(r), entry, service, u, token, fresh)
	if errors.Is(err, errTooManyTickets) {
		s.log.Warn("cas ticket store full")
		w.Header().Set("Retry-After", strconv.Itoa(int(ent.BusyRetryAfter/time.Second)))
		s.message(w, http.StatusServiceUnavailable, "Service surchargé", "Trop de connexions en cours : réessayez dans quelques secondes.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, withParam(service, "ticket", id), http.StatusSeeOther)
}

// issue mints a service ticket for u and service, remembers it for single
// logout under the session token, and audits it.
func (s *Server) issue(ctx context.Context, c ent.Client, entry ent.CASService, service string, u ent.User, token string, fresh bool) (string, error) {
	now := s.now()
	t := &ticket{id: s.newTicketID("ST-"), service: service, entry: entry, user: u, issued: now, fresh: fresh, token: token}
	if fresh {
		t.authTime = now
	} else {
		t.authTime = s.sessions.loginTime(token)
	}
	if err := s.tickets.add(t, now); err != nil {
		return "", err
	}
	s.sessions.record(token, u, sloEntry{service: service, ticket: t.id, issued: now}, now)
	s.audit(ctx, ent.AuditTicketIssued, u, c, service, "")
	return t.id, nil
}

// withParam appends name=value to the query of rawURL, before any
// fragment.
func withParam(rawURL, name, value string) string {
	base, frag, hasFrag := strings.Cut(rawURL, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	out := base + sep + url.QueryEscape(name) + "=" + url.QueryEscape(value)
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// The login form's anti-forgery token is a signed double submit: a random
// nonce in a cookie, and in the form the node's MAC of it (ent's CSRF
// token, under a "cas-login" purpose no session token can have). A forger
// can neither read the cookie nor compute the MAC, and the central nodes
// share the key, so the form may be posted to another node than the one
// that served it.

const csrfPurpose = "cas-login\n"

// formToken sets the nonce cookie if the request has none and returns the
// token the form carries.
func (s *Server) formToken(w http.ResponseWriter, r *http.Request) string {
	nonce := ""
	if c, err := r.Cookie(csrfCookie); err == nil && validNonce(c.Value) {
		nonce = c.Value
	} else {
		nonce = randomString(16)
		http.SetCookie(w, &http.Cookie{
			Name: csrfCookie, Value: nonce, Path: "/cas/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
		})
	}
	return s.cfg.Service.CSRFToken(csrfPurpose + nonce)
}

// checkFormToken reports whether token is the MAC of the request's nonce.
func (s *Server) checkFormToken(r *http.Request, token string) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validNonce(c.Value) {
		return false
	}
	return s.cfg.Service.CheckCSRF(csrfPurpose+c.Value, token)
}

// validNonce reports whether n looks like a nonce of formToken.
func validNonce(n string) bool {
	if len(n) != 22 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// sameOrigin rejects a cross-site post: browsers send Origin on POST.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	_, host, ok := strings.Cut(o, "://")
	return ok && host == r.Host
}

// loginFailure maps an error of Login to a status and the French message
// the user reads (ent's, as on the portal).
func loginFailure(err error) (int, string) {
	msg, ok := ent.LoginRefusal(err)
	switch {
	case !ok:
		return http.StatusInternalServerError, "Une erreur interne est survenue. Veuillez réessayer plus tard."
	case errors.Is(err, ent.ErrTooManyAttempts):
		return http.StatusTooManyRequests, msg
	case errors.Is(err, ent.ErrBusy):
		return http.StatusServiceUnavailable, msg
	}
	return http.StatusUnauthorized, msg
}

// setRetryAfter sets the Retry-After header (seconds, rounded up) of a
// refusal that passes with time.
func setRetryAfter(w http.ResponseWriter, err error) {
	if d := ent.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10))
	}
}

// Pages.

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, code int, p page) {
	p.Title = "Connexion"
	p.CSRF = s.formToken(w, r)
	s.render(w, code, "login", p)
}

func (s *Server) connected(w http.ResponseWriter, u ent.User) {
	s.render(w, http.StatusOK, "message", page{
		Title:   "Vous êtes connecté",
		Text:    []string{"Vous êtes connecté à l'ENT en tant que " + u.Name + " (" + u.Login + ")."},
		Link:    "/",
		LinkTxt: "Aller à l'accueil de l'ENT",
	})
}

func (s *Server) forbiddenService(w http.ResponseWriter, service string) {
	if len(service) > maxServiceURL {
		service = service[:maxServiceURL] + "…"
	}
	s.message(w, http.StatusForbidden, "Service non autorisé",
		"Ce service n'est pas autorisé à utiliser la connexion unique de l'ENT : "+service,
		"Si vous pensez qu'il devrait l'être, prévenez l'administrateur de l'outil ou de votre lycée.")
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("cas request", "path", r.URL.Path, "err", err)
	s.message(w, http.StatusInternalServerError, "Erreur interne", "Une erreur interne est survenue. Veuillez réessayer plus tard.")
}

func (s *Server) message(w http.ResponseWriter, code int, title string, text ...string) {
	s.render(w, code, "message", page{Title: title, Text: text})
}

func (s *Server) render(w http.ResponseWriter, code int, name string, p page) {
	p.Node = s.cfg.Node
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("cas render page", "page", name, "err", err)
		http.Error(w, "Erreur interne.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No form-action: after the login form, the browser follows a redirect
	// to the service, another origin, which form-action would block.
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}
