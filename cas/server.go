package cas

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"atrium/ent"
	"atrium/record"
)

//go:embed templates/*.html
var templateFS embed.FS

// Config configures a Server.
type Config struct {
	// Service is the ENT: sessions (Authenticate), password logins (Login),
	// the registry of allowed services (CASServices) and the anti-forgery
	// tokens of the login form (CSRFToken, CheckCSRF). Required.
	Service *ent.Service
	// Node is this node's name, the last part of ticket ids
	// (ST-<random>-<node>) and of audit events; "" allowed.
	Node string
	// Audit receives an event for every ticket issued, every validation
	// and every logout; nil means none. It is called on the request's
	// path: it should be quick.
	Audit func(ctx context.Context, ev ent.AuditEvent)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TicketTTL is how long a service ticket stays valid; zero means 10 s.
	TicketTTL time.Duration
	// SessionTTL is how long a portal session lasts (ent.ServiceConfig's):
	// the tickets issued under a session are forgotten, for single logout,
	// after that long. Zero means 12 hours, ent's default.
	SessionTTL time.Duration
	// HTTPClient sends the back-channel single logout requests and the
	// proxy callbacks (pgtUrl); nil means a client with a 5 s timeout that
	// does not follow redirects and checks certificates against the
	// system's roots. A proxy callback is further bounded to 3 s.
	HTTPClient *http.Client
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Limits.
const (
	defaultTicketTTL  = 10 * time.Second
	defaultSessionTTL = 12 * time.Hour
	// maxServiceURL bounds a service URL; longer ones are refused.
	maxServiceURL = 2048
	// maxTicketID bounds a ticket parameter; ours are much shorter.
	maxTicketID = 256
	// maxTickets bounds the tickets alive at once (issued within TicketTTL).
	maxTickets = 100_000
	// maxSessions bounds the sessions remembered for single logout, and
	// maxPerSession the tickets remembered per session (oldest dropped).
	maxSessions   = 100_000
	maxPerSession = 16
	// sloWorkers send single logout requests; sloQueue bounds the requests
	// waiting for them (beyond, they are dropped and logged).
	sloWorkers = 4
	sloQueue   = 1024
	maxForm    = 64 << 10
	// maxPGTs bounds the proxy-granting tickets alive at once,
	// maxPGTsPerSession those of one portal session (oldest dropped), and
	// maxProxyChain the proxies a proxy ticket may go through: validating
	// a ticket that went through that many grants no further PGT.
	maxPGTs           = 100_000
	maxPGTsPerSession = 16
	maxProxyChain     = 8
)

// Cookies.
const (
	// sessionCookie is the portal's session cookie (package portal sets
	// the same): the CAS login form opens a portal session too.
	sessionCookie = "atrium_session"
	// csrfCookie carries the nonce of the login form's signed
	// double-submit token.
	csrfCookie = "atrium_cas_csrf"
)

// Server is the CAS server. Safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	ttl      time.Duration
	client   *http.Client
	node     string // Node, reduced to the characters allowed in a ticket id
	pages    map[string]*template.Template
	mux      *http.ServeMux
	tickets  *ticketStore
	sessions *sessionStore
	pgts     *pgtStore
	registry *registry

	slo       chan sloJob
	done      chan struct{}
	closeOnce sync.Once
	ctx       context.Context // cancelled by Close: in-flight logout requests stop
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

var pageNames = []string{"login", "message"}

// New validates cfg and returns a Server. Its single logout workers run
// until Close.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, ErrNoService
	}
	if cfg.TicketTTL < 0 || cfg.SessionTTL < 0 {
		return nil, errors.New("cas: Config.TicketTTL and Config.SessionTTL must not be negative")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now, ttl: cfg.TicketTTL, client: cfg.HTTPClient,
		node: ticketSafe(cfg.Node), pages: map[string]*template.Template{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl == 0 {
		s.ttl = defaultTicketTTL
	}
	sessionTTL := cfg.SessionTTL
	if sessionTTL == 0 {
		sessionTTL = defaultSessionTTL
	}
	if s.client == nil {
		s.client = &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	for _, name := range pageNames {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("cas: parse template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	s.tickets = newTicketStore(maxTickets, s.ttl)
	s.sessions = newSessionStore(maxSessions, maxPerSession, sessionTTL)
	s.pgts = newPGTStore(maxPGTs, maxPGTsPerSession, sessionTTL)
	s.registry = newRegistry(cfg.Service)

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /cas/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cas/login", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /cas/login", s.loginGet)
	s.mux.HandleFunc("POST /cas/login", s.loginPost)
	s.mux.HandleFunc("GET /cas/logout", s.logout)
	s.mux.HandleFunc("GET /cas/validate", s.validateCAS1)
	for _, p := range []string{"/cas/serviceValidate", "/cas/p3/serviceValidate"} {
		s.mux.HandleFunc("GET "+p, s.validateXML(false))
	}
	for _, p := range []string{"/cas/proxyValidate", "/cas/p3/proxyValidate"} {
		s.mux.HandleFunc("GET "+p, s.validateXML(true))
	}
	s.mux.HandleFunc("GET /cas/proxy", s.proxy)

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.slo = make(chan sloJob, sloQueue)
	s.done = make(chan struct{})
	for range sloWorkers {
		s.wg.Go(s.sloWorker)
	}
	return s, nil
}

// ServeHTTP serves everything under /cas/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close stops the single logout workers: requests still queued are
// dropped, those in flight are cancelled. It waits for the workers and is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
	})
	s.wg.Wait()
	return nil
}

// EndSession ends the CAS side of a portal session: the audit trail
// records the logout, the proxy-granting tickets obtained under the
// session on this node are dropped, and every service that received a
// ticket under it there gets a single logout request (in the background).
// The portal's logout calls it; the event carries no client address (use
// EndSessionFrom when the request is at hand). It does not expire the
// cookie: the caller does.
func (s *Server) EndSession(ctx context.Context, sessionToken string) {
	s.EndSessionFrom(ctx, sessionToken, ent.Client{})
}

// EndSessionFrom is EndSession with the client that asked for the logout,
// for the audit trail.
func (s *Server) EndSessionFrom(ctx context.Context, sessionToken string, c ent.Client) {
	if sessionToken == "" {
		return
	}
	u, err := s.cfg.Service.Authenticate(sessionToken)
	known := err == nil
	// The session first, then its PGTs: grantPGT adds a PGT, then checks
	// the session is still there (see there).
	entries, su, ok := s.sessions.take(sessionToken, s.now())
	s.pgts.dropSession(sessionToken)
	if !known && ok {
		u, known = su, true
	}
	if known {
		s.audit(ctx, ent.AuditLogout, u, c, "", "")
	}
	for _, e := range entries {
		select {
		case s.slo <- sloJob{service: e.service, ticket: e.ticket}:
		default:
			s.log.Warn("cas single logout queue full: request dropped", "service", e.service)
		}
	}
}

// audit sends an event to Config.Audit.
func (s *Server) audit(ctx context.Context, typ string, u ent.User, c ent.Client, service, detail string) {
	if s.cfg.Audit == nil {
		return
	}
	s.cfg.Audit(ctx, ent.AuditEvent{
		ID: record.NewID(), Type: typ, Time: s.now(), Node: s.cfg.Node,
		Login: u.Login, UserID: u.ID, Profile: u.Profile, UAI: u.UAI,
		IP: c.IP, UserAgent: c.UserAgent, Service: service, Detail: detail,
	})
}

// newTicketID returns prefix ("ST-", "PT-") and 160 random bits, then the
// node's name.
func (s *Server) newTicketID(prefix string) string {
	return prefix + randomString(20) + s.nodeSuffix()
}

// nodeSuffix is "-<node>", the end of the tickets this node issues, or ""
// for a node without a name.
func (s *Server) nodeSuffix() string {
	if s.node == "" {
		return ""
	}
	return "-" + s.node
}

// randomString returns n random bytes from crypto/rand, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than returning an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ticketSafe keeps the characters of a node name allowed in a ticket id.
func ticketSafe(node string) string {
	var b strings.Builder
	for _, r := range node {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clientOf describes who makes a request: the address of its connection
// (X-Forwarded-For is ignored: any client can set it) and its user agent.
func clientOf(r *http.Request) ent.Client {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return ent.Client{IP: host, UserAgent: r.UserAgent()}
}

// flag reads a boolean CAS parameter (renew, gateway): set unless absent,
// empty, "false" or "0".
func flag(v string) bool {
	switch strings.ToLower(v) {
	case "", "false", "0":
		return false
	}
	return true
}
