package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the appliance may lack a zoneinfo database

	"atrium/ent"
	"atrium/record"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/atrium.css
var staticFS embed.FS

// Config configures a Portal.
type Config struct {
	Service *ent.Service // required
	Node    string       // this node's name, shown in the footer; "" shows none
	Role    string       // "central" or "edge"; "" means "central"
	UAI     string       // the lycée of an edge; "" at central
	// Offline reports, at an edge, whether the link to the region is down
	// and how many local changes wait to be sent. nil: never offline.
	Offline func() (offline bool, pending int)
	// Logout, when set, is called when a user logs out of the portal with
	// the session's token: the CAS server runs single logout of the tools
	// the session signed in to (and records the logout). nil: none.
	Logout func(ctx context.Context, token string, c ent.Client)
	// Usage counts the visits of signed-in users (usage.go); nil counts
	// none.
	Usage  *ent.UsageCounter
	Logger *slog.Logger // nil means slog.Default()
}

// Portal serves the pages and the API.
type Portal struct {
	cfg   Config
	log   *slog.Logger
	pages map[string]*template.Template
	paris *time.Location
	// classes memoises the lycées' classes for the lists' filters (paging.go).
	classes classCache
	// nav holds the navigation's fixed parts (pages.go).
	nav navCache
}

const (
	sessionCookie = "atrium_session"
	maxForm       = 64 << 10
)

var pageNames = []string{"login", "home", "news_list", "news_read", "news_new", "messages", "message_read", "message_new", "logout", "error",
	"activation", "account", "accounts_admin", "account_letters", "audit", "usage",
	"assistance_list", "assistance_read", "assistance_new",
	"homework_list", "homework_read", "homework_form",
	"notes_list", "notes_read", "notes_form",
	"absences_list", "absences_read", "absences_form",
	"forum_list", "forum_read", "forum_topic", "forum_form",
	"blog_list", "blog_read", "blog_form",
	"reservation_list", "reservation_resource", "reservation_planning", "reservation_read",
	"parc_list", "parc_read", "parc_form",
	"espaces_list", "espaces_form", "espaces_read", "espaces_document", "notices",
	"ressources_list", "ressources_read", "ressources_form",
	"drafts_form", "drafts_mine", "drafts_read", "drafts_pending", "drafts_review"}

// New validates cfg and parses the templates.
func New(cfg Config) (*Portal, error) {
	if cfg.Service == nil {
		return nil, ErrNoService
	}
	if cfg.Role == "" {
		cfg.Role = "central"
	}
	if cfg.Role != "central" && cfg.Role != "edge" {
		return nil, fmt.Errorf("portal: Config.Role %q is neither central nor edge", cfg.Role)
	}
	p := &Portal{cfg: cfg, log: cfg.Logger, pages: map[string]*template.Template{}}
	if p.log == nil {
		p.log = slog.Default()
	}
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		return nil, fmt.Errorf("portal: load Paris time zone: %w", err)
	}
	p.paris = loc
	funcs := template.FuncMap{
		"date":       func(t time.Time) string { return t.In(p.paris).Format("02/01/2006 à 15:04") },
		"paragraphs": paragraphs,
		"paras":      paragraphsHTML,
		"size":       sizeText,
		// canPropose: the link "Proposer une modification" on region content.
		"canPropose": func(u *ent.User) bool { return u != nil && ent.CanProposeDraft(*u) },
	}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("portal: parse template %s: %w", name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// paragraphs splits a text into its non-empty lines.
func paragraphs(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Handler returns the portal's routes: the pages, /static/ and /api/v1/.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	mux.HandleFunc("GET /{$}", p.page(p.home))
	mux.HandleFunc("GET /connexion", p.loginForm)
	mux.HandleFunc("POST /connexion", p.loginPost)
	mux.HandleFunc("GET /deconnexion", p.page(p.logoutForm))
	mux.HandleFunc("POST /deconnexion", p.page(p.logoutPost))
	mux.HandleFunc("GET /actualites", p.page(p.newsList))
	mux.HandleFunc("GET /actualites/nouvelle", p.page(p.newsForm))
	mux.HandleFunc("POST /actualites/nouvelle", p.page(p.newsPost))
	mux.HandleFunc("GET /actualites/{id}", p.page(p.newsRead))
	mux.HandleFunc("GET /messagerie", p.page(p.messageList))
	mux.HandleFunc("GET /messagerie/nouveau", p.page(p.messageForm))
	mux.HandleFunc("POST /messagerie/nouveau", p.page(p.messagePost))
	mux.HandleFunc("GET /messagerie/{id}", p.page(p.messageRead))
	mux.HandleFunc("GET /activation", p.activationForm)
	mux.HandleFunc("POST /activation", p.activationPost)
	mux.HandleFunc("GET /compte", p.page(p.accountPage))
	mux.HandleFunc("POST /compte", p.page(p.accountPost))
	mux.HandleFunc("GET /gestion/comptes", p.page(p.accountsAdmin))
	mux.HandleFunc("GET /gestion/comptes/lettres", p.page(p.accountLetters))
	mux.HandleFunc("POST /gestion/comptes/{id}/reinitialiser", p.page(p.accountReset))
	mux.HandleFunc("GET /audit", p.page(p.auditPage))
	mux.HandleFunc("GET /audit.csv", p.page(p.auditCSV))
	mux.HandleFunc("GET /statistiques", p.page(p.usagePage))
	mux.HandleFunc("GET /statistiques.csv", p.page(p.usageCSV))
	mux.HandleFunc("GET /assistance", p.page(p.ticketList))
	mux.HandleFunc("GET /assistance/nouveau", p.page(p.ticketForm))
	mux.HandleFunc("POST /assistance/nouveau", p.page(p.ticketPost))
	mux.HandleFunc("GET /assistance/{id}", p.page(p.ticketRead))
	mux.HandleFunc("POST /assistance/{id}/commentaire", p.page(p.ticketCommentPost))
	mux.HandleFunc("POST /assistance/{id}/statut", p.page(p.ticketStatusPost))
	mux.HandleFunc("GET /cahier-de-textes", p.page(p.homeworkList))
	mux.HandleFunc("GET /cahier-de-textes/nouvelle", p.page(p.homeworkNew))
	mux.HandleFunc("POST /cahier-de-textes/nouvelle", p.page(p.homeworkPost))
	mux.HandleFunc("GET /cahier-de-textes/{id}", p.page(p.homeworkRead))
	mux.HandleFunc("GET /cahier-de-textes/{id}/modifier", p.page(p.homeworkEdit))
	mux.HandleFunc("POST /cahier-de-textes/{id}/modifier", p.page(p.homeworkPost))
	mux.HandleFunc("POST /cahier-de-textes/{id}/supprimer", p.page(p.homeworkDelete))
	mux.HandleFunc("GET /notes", p.page(p.notesList))
	mux.HandleFunc("GET /notes/nouvelle", p.page(p.notesNew))
	mux.HandleFunc("POST /notes/nouvelle", p.page(p.notesCreate))
	mux.HandleFunc("GET /notes/{id}", p.page(p.notesRead))
	mux.HandleFunc("POST /notes/{id}/saisie", p.page(p.notesGradesPost))
	mux.HandleFunc("GET /absences", p.page(p.absenceList))
	mux.HandleFunc("GET /absences/nouvelle", p.page(p.absenceNew))
	mux.HandleFunc("POST /absences/nouvelle", p.page(p.absencePost))
	mux.HandleFunc("GET /absences/{id}", p.page(p.absenceRead))
	mux.HandleFunc("POST /absences/{id}/justifier", p.page(p.absenceJustifyPost))
	mux.HandleFunc("POST /absences/{id}/statut", p.page(p.absenceStatusPost))
	mux.HandleFunc("GET /reservation", p.page(p.reservationList))
	mux.HandleFunc("GET /reservation/ressources/nouvelle", p.page(p.resourceForm))
	mux.HandleFunc("POST /reservation/ressources/nouvelle", p.page(p.resourcePost))
	mux.HandleFunc("GET /reservation/ressources/{id}", p.page(p.resourcePlanning))
	mux.HandleFunc("POST /reservation/ressources/{id}/reserver", p.page(p.bookingPost))
	mux.HandleFunc("GET /reservation/{id}", p.page(p.bookingRead))
	mux.HandleFunc("POST /reservation/{id}/annuler", p.page(p.bookingCancel))
	mux.HandleFunc("GET /forum", p.page(p.forumList))
	mux.HandleFunc("GET /forum/nouveau", p.page(p.forumNew))
	mux.HandleFunc("POST /forum/nouveau", p.page(p.forumCreate))
	mux.HandleFunc("GET /forum/{id}", p.page(p.forumRead))
	mux.HandleFunc("POST /forum/{id}/sujets", p.page(p.forumTopicPost))
	mux.HandleFunc("GET /forum/{id}/sujets/{topic}", p.page(p.forumTopicRead))
	mux.HandleFunc("POST /forum/{id}/sujets/{topic}/reponses", p.page(p.forumReplyPost))
	mux.HandleFunc("POST /forum/{id}/sujets/{topic}/masquer", p.page(p.forumHidePost))
	mux.HandleFunc("GET /ressources", p.page(p.ressourcesList))
	mux.HandleFunc("GET /ressources/nouvelle", p.page(p.ressourceNew))
	mux.HandleFunc("POST /ressources/nouvelle", p.page(p.ressourceSave))
	mux.HandleFunc("GET /ressources/{id}", p.page(p.ressourceRead))
	mux.HandleFunc("GET /ressources/{id}/fichier", p.page(p.ressourceFile))
	mux.HandleFunc("GET /ressources/{id}/modifier", p.page(p.ressourceEdit))
	mux.HandleFunc("POST /ressources/{id}/modifier", p.page(p.ressourceSave))
	mux.HandleFunc("POST /ressources/{id}/retirer", p.page(p.ressourceRetire))
	mux.HandleFunc("GET /blog", p.page(p.blogList))
	mux.HandleFunc("GET /blog/nouveau", p.page(p.blogNew))
	mux.HandleFunc("POST /blog/nouveau", p.page(p.blogPost))
	mux.HandleFunc("GET /blog/{id}", p.page(p.blogRead))
	mux.HandleFunc("POST /blog/{id}/supprimer", p.page(p.blogDelete))
	mux.HandleFunc("POST /blog/{id}/commentaires", p.page(p.blogCommentPost))
	mux.HandleFunc("POST /blog/{id}/commentaires/{cid}/supprimer", p.page(p.blogCommentDelete))
	mux.HandleFunc("GET /parc", p.page(p.assetList))
	mux.HandleFunc("GET /parc/nouveau", p.page(p.assetNew))
	mux.HandleFunc("POST /parc/nouveau", p.page(p.assetCreatePost))
	mux.HandleFunc("GET /parc/{id}", p.page(p.assetRead))
	mux.HandleFunc("GET /parc/{id}/modifier", p.page(p.assetEdit))
	mux.HandleFunc("POST /parc/{id}/modifier", p.page(p.assetUpdatePost))
	mux.HandleFunc("GET /espaces", p.page(p.spaceList))
	mux.HandleFunc("GET /espaces/nouveau", p.page(p.spaceNew))
	mux.HandleFunc("POST /espaces/nouveau", p.page(p.spaceCreate))
	mux.HandleFunc("GET /espaces/{id}", p.page(p.spaceRead))
	mux.HandleFunc("POST /espaces/{id}/documents", p.page(p.spaceDeposit))
	mux.HandleFunc("GET /espaces/{id}/documents/{doc}", p.page(p.spaceDocument))
	mux.HandleFunc("POST /espaces/{id}/documents/{doc}/versions", p.page(p.spaceVersionPost))
	mux.HandleFunc("POST /espaces/{id}/documents/{doc}/supprimer", p.page(p.spaceDelete))
	mux.HandleFunc("GET /espaces/{id}/documents/{doc}/versions/{v}", p.page(p.spaceDownload))
	mux.HandleFunc("GET /ressources/{id}/proposer", p.page(p.draftCatalogueForm))
	mux.HandleFunc("POST /ressources/{id}/proposer", p.page(p.draftCataloguePost))
	mux.HandleFunc("GET /actualites/{id}/proposer", p.page(p.draftNewsForm))
	mux.HandleFunc("POST /actualites/{id}/proposer", p.page(p.draftNewsPost))
	mux.HandleFunc("GET /propositions", p.page(p.draftMine))
	mux.HandleFunc("GET /propositions/{id}", p.page(p.draftRead))
	mux.HandleFunc("GET /region/propositions", p.page(p.draftPending))
	mux.HandleFunc("GET /region/propositions/{uai}/{id}", p.page(p.draftReview))
	mux.HandleFunc("POST /region/propositions/{uai}/{id}/appliquer", p.page(p.draftApplyPost))
	mux.HandleFunc("POST /region/propositions/{uai}/{id}/ecarter", p.page(p.draftDiscardPost))
	mux.HandleFunc("GET /avis", p.page(p.noticeList))
	mux.HandleFunc("POST /avis/{id}/lu", p.page(p.noticeReadPost))

	mux.HandleFunc("POST /api/v1/session", p.apiLogin)
	mux.HandleFunc("POST /api/v1/activation", p.apiActivation)
	mux.HandleFunc("GET /api/v1/news", p.api(p.apiNewsList))
	mux.HandleFunc("POST /api/v1/news", p.api(p.apiNewsPost))
	mux.HandleFunc("GET /api/v1/messages", p.api(p.apiMessageList))
	mux.HandleFunc("POST /api/v1/messages", p.api(p.apiMessagePost))
	mux.HandleFunc("GET /api/v1/recipients", p.api(p.apiRecipients))
	mux.HandleFunc("GET /api/v1/audit", p.api(p.apiAudit))
	mux.HandleFunc("GET /api/v1/usage", p.api(p.apiUsage))
	mux.HandleFunc("GET /api/v1/tickets", p.api(p.apiTicketList))
	mux.HandleFunc("POST /api/v1/tickets", p.api(p.apiTicketPost))
	mux.HandleFunc("GET /api/v1/tickets/{id}", p.api(p.apiTicketGet))
	mux.HandleFunc("POST /api/v1/tickets/{id}/comments", p.api(p.apiTicketComment))
	mux.HandleFunc("POST /api/v1/tickets/{id}/status", p.api(p.apiTicketStatus))
	mux.HandleFunc("GET /api/v1/homework", p.api(p.apiHomeworkList))
	mux.HandleFunc("POST /api/v1/homework", p.api(p.apiHomeworkWrite))
	mux.HandleFunc("GET /api/v1/homework/{id}", p.api(p.apiHomeworkGet))
	mux.HandleFunc("PUT /api/v1/homework/{id}", p.api(p.apiHomeworkWrite))
	mux.HandleFunc("DELETE /api/v1/homework/{id}", p.api(p.apiHomeworkDelete))
	mux.HandleFunc("GET /api/v1/evaluations", p.api(p.apiEvaluationList))
	mux.HandleFunc("POST /api/v1/evaluations", p.api(p.apiEvaluationPost))
	mux.HandleFunc("GET /api/v1/evaluations/{id}", p.api(p.apiEvaluationGet))
	mux.HandleFunc("GET /api/v1/grades", p.api(p.apiGradeList))
	mux.HandleFunc("POST /api/v1/grades", p.api(p.apiGradePost))
	mux.HandleFunc("GET /api/v1/absences", p.api(p.apiAbsenceList))
	mux.HandleFunc("POST /api/v1/absences", p.api(p.apiAbsencePost))
	mux.HandleFunc("GET /api/v1/absences/{id}", p.api(p.apiAbsenceGet))
	mux.HandleFunc("POST /api/v1/absences/{id}/justification", p.api(p.apiAbsenceJustify))
	mux.HandleFunc("POST /api/v1/absences/{id}/status", p.api(p.apiAbsenceStatus))
	mux.HandleFunc("GET /api/v1/resources", p.api(p.apiResourceList))
	mux.HandleFunc("POST /api/v1/resources", p.api(p.apiResourcePut))
	mux.HandleFunc("PUT /api/v1/resources/{id}", p.api(p.apiResourcePut))
	mux.HandleFunc("GET /api/v1/resources/{id}/bookings", p.api(p.apiResourceBookings))
	mux.HandleFunc("GET /api/v1/assets", p.api(p.apiAssetList))
	mux.HandleFunc("POST /api/v1/assets", p.api(p.apiAssetCreate))
	mux.HandleFunc("GET /api/v1/assets/{id}", p.api(p.apiAssetGet))
	mux.HandleFunc("PUT /api/v1/assets/{id}", p.api(p.apiAssetUpdate))
	mux.HandleFunc("GET /api/v1/catalogue", p.api(p.apiCatalogueList))
	mux.HandleFunc("POST /api/v1/catalogue", p.api(p.apiCatalogueCreate))
	mux.HandleFunc("GET /api/v1/catalogue/{id}", p.api(p.apiCatalogueGet))
	mux.HandleFunc("PUT /api/v1/catalogue/{id}", p.api(p.apiCatalogueUpdate))
	mux.HandleFunc("DELETE /api/v1/catalogue/{id}", p.api(p.apiCatalogueDelete))
	mux.HandleFunc("GET /api/v1/catalogue/{id}/file", p.api(p.apiCatalogueFile))
	mux.HandleFunc("GET /api/v1/bookings", p.api(p.apiBookingList))
	mux.HandleFunc("POST /api/v1/bookings", p.api(p.apiBookingPost))
	mux.HandleFunc("GET /api/v1/bookings/{id}", p.api(p.apiBookingGet))
	mux.HandleFunc("DELETE /api/v1/bookings/{id}", p.api(p.apiBookingCancel))
	mux.HandleFunc("GET /api/v1/forums", p.api(p.apiForumList))
	mux.HandleFunc("POST /api/v1/forums", p.api(p.apiForumCreate))
	mux.HandleFunc("GET /api/v1/forums/{id}", p.api(p.apiForumGet))
	mux.HandleFunc("POST /api/v1/forums/{id}/topics", p.api(p.apiForumTopicCreate))
	mux.HandleFunc("GET /api/v1/forums/{id}/topics/{topic}", p.api(p.apiForumTopicGet))
	mux.HandleFunc("POST /api/v1/forums/{id}/topics/{topic}/posts", p.api(p.apiForumReply))
	mux.HandleFunc("POST /api/v1/forums/{id}/topics/{topic}/posts/{post}/hide", p.api(p.apiForumHide))
	mux.HandleFunc("GET /api/v1/notices", p.api(p.apiNoticeList))
	mux.HandleFunc("POST /api/v1/notices/{id}/read", p.api(p.apiNoticeRead))
	mux.HandleFunc("GET /api/v1/proposals", p.api(p.apiProposalList))
	mux.HandleFunc("POST /api/v1/proposals", p.api(p.apiProposalPost))
	mux.HandleFunc("GET /api/v1/region/proposals", p.api(p.apiRegionProposalList))
	mux.HandleFunc("POST /api/v1/region/proposals/{uai}/{id}/apply", p.api(p.apiProposalApply))
	mux.HandleFunc("POST /api/v1/region/proposals/{uai}/{id}/discard", p.api(p.apiProposalDiscard))
	mux.HandleFunc("GET /api/v1/blog", p.api(p.apiBlogList))
	mux.HandleFunc("POST /api/v1/blog", p.api(p.apiBlogPublish))
	mux.HandleFunc("GET /api/v1/blog/{id}", p.api(p.apiBlogGet))
	mux.HandleFunc("DELETE /api/v1/blog/{id}", p.api(p.apiBlogDelete))
	mux.HandleFunc("POST /api/v1/blog/{id}/comments", p.api(p.apiBlogComment))
	mux.HandleFunc("DELETE /api/v1/blog/{id}/comments/{cid}", p.api(p.apiBlogCommentDelete))
	mux.HandleFunc("GET /api/v1/spaces", p.api(p.apiSpaceList))
	mux.HandleFunc("POST /api/v1/spaces", p.api(p.apiSpaceCreate))
	mux.HandleFunc("GET /api/v1/spaces/{id}", p.api(p.apiSpaceGet))
	mux.HandleFunc("POST /api/v1/spaces/{id}/documents", p.api(p.apiSpaceDeposit))
	mux.HandleFunc("GET /api/v1/spaces/{id}/documents/{doc}", p.api(p.apiSpaceDocumentGet))
	mux.HandleFunc("DELETE /api/v1/spaces/{id}/documents/{doc}", p.api(p.apiSpaceDelete))
	mux.HandleFunc("POST /api/v1/spaces/{id}/documents/{doc}/versions", p.api(p.apiSpaceVersion))
	mux.HandleFunc("GET /api/v1/spaces/{id}/documents/{doc}/versions/{v}", p.api(p.apiSpaceDownload))
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// sessionToken returns the token a request carries: Authorization: Bearer
// first, then the session cookie.
func sessionToken(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if tok, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// session is an authenticated request's user and token.
type session struct {
	user  ent.User
	token string
}

func (p *Portal) authenticate(r *http.Request) (session, error) {
	tok := sessionToken(r)
	if tok == "" {
		return session{}, ent.ErrBadSession
	}
	u, err := p.cfg.Service.Authenticate(tok)
	if err != nil {
		return session{}, err
	}
	return session{user: u, token: tok}, nil
}

func (p *Portal) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
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

// status maps an error of ent to an HTTP status and the French message a
// user reads.
func status(err error) (int, string) {
	if rej, ok := errRejection(err); ok {
		switch rej.Code {
		case "forbidden":
			return http.StatusForbidden, rej.Message
		case "not_found":
			return http.StatusNotFound, rej.Message
		case "conflict":
			return http.StatusConflict, rej.Message
		default:
			return http.StatusBadRequest, rej.Message
		}
	}
	switch {
	case errors.Is(err, ent.ErrNotFound):
		return http.StatusNotFound, "Page introuvable."
	case errors.Is(err, ent.ErrBadSession):
		return http.StatusUnauthorized, "Session expirée : veuillez vous reconnecter."
	case errors.Is(err, ent.ErrBadCredentials), errors.Is(err, ent.ErrTooManyAttempts), errors.Is(err, ent.ErrBusy):
		msg, _ := ent.LoginRefusal(err)
		return loginStatus(err), msg
	case errors.Is(err, record.ErrOutcomeUnknown):
		return http.StatusServiceUnavailable, "La liaison avec le serveur a été interrompue pendant l'enregistrement : vérifiez si votre envoi a bien été pris en compte avant de le renvoyer."
	case errors.Is(err, record.ErrUnavailable):
		return http.StatusServiceUnavailable, "Le service est momentanément indisponible : réessayez dans un instant. Rien n'a été enregistré."
	}
	return http.StatusInternalServerError, "Une erreur interne est survenue. Veuillez réessayer plus tard."
}

// loginStatus is the HTTP status of a refused login.
func loginStatus(err error) int {
	switch {
	case errors.Is(err, ent.ErrBadCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, ent.ErrTooManyAttempts):
		return http.StatusTooManyRequests
	case errors.Is(err, ent.ErrBusy):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// setRetryAfter sets the Retry-After header (seconds, rounded up) of a
// refusal that passes with time: ErrTooManyAttempts and ErrBusy.
func setRetryAfter(w http.ResponseWriter, err error) {
	if errors.Is(err, record.ErrUnavailable) {
		w.Header().Set("Retry-After", "2") // an election takes a second or two
		return
	}
	if d := ent.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10))
	}
}

// clientAddr is the address the request's connection comes from, under
// which its login failures are counted. X-Forwarded-For is ignored: any
// client can set it, and nodes serve users directly.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// client describes who makes a request, for login throttling and the
// audit trail.
func client(r *http.Request) ent.Client {
	return ent.Client{IP: clientAddr(r), UserAgent: r.UserAgent()}
}
