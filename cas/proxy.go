package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"atrium/ent"
)

// Proxying (CAS protocol 3.0, sections 2.5.4, 2.6 and 2.7). A service that
// validates a ticket with pgtUrl=<its callback> receives, through that
// callback, a proxy-granting ticket (PGT-…) and, in the validation
// response, the IOU (PGTIOU-…) that tells it which user the PGT is for.
// With the PGT it asks /cas/proxy for proxy tickets (PT-…) for other
// registered services, which validate them at /cas/proxyValidate and see
// the chain of proxies.

// pgtCallbackTimeout bounds a proxy callback: the tool's validation
// request waits for it.
const pgtCallbackTimeout = 3 * time.Second

// pgt is a proxy-granting ticket: it lets the proxy whose callback
// received it obtain proxy tickets for the user of the session it was
// issued under, as long as that session lasts on this node.
type pgt struct {
	id    string
	key   [32]byte // sessionKey(token)
	token string   // the portal session: /cas/proxy authenticates it
	// proxies are the callback URLs the user's authentication went
	// through, newest first: proxies[0] is the one that received this PGT.
	proxies  []string
	authTime time.Time // as in the ticket validated to obtain it
	issued   time.Time
}

// pgtStore holds the live proxy-granting tickets, by id and by session.
// It is bounded: a PGT is dropped SessionTTL after its issue (its session
// cannot last longer), when its session logs out, when its session has
// maxPer newer ones, and the store refuses new ones when max are alive.
type pgtStore struct {
	mu        sync.Mutex
	max       int
	maxPer    int
	ttl       time.Duration
	byID      map[string]*pgt
	bySession map[[32]byte][]*pgt // oldest first
}

func newPGTStore(max, maxPer int, ttl time.Duration) *pgtStore {
	return &pgtStore{max: max, maxPer: maxPer, ttl: ttl, byID: map[string]*pgt{}, bySession: map[[32]byte][]*pgt{}}
}

// add stores p, dropping the oldest PGT of its session beyond maxPer, or
// fails with errTooManyTickets when max PGTs are alive.
func (ps *pgtStore) add(p *pgt, now time.Time) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.byID) >= ps.max {
		for _, q := range ps.byID {
			if ps.expired(q, now) {
				ps.removeLocked(q)
			}
		}
		if len(ps.byID) >= ps.max {
			return errTooManyTickets
		}
	}
	if l := ps.bySession[p.key]; len(l) >= ps.maxPer {
		ps.removeLocked(l[0])
	}
	ps.byID[p.id] = p
	ps.bySession[p.key] = append(ps.bySession[p.key], p)
	return nil
}

// get returns the live PGT id.
func (ps *pgtStore) get(id string, now time.Time) (*pgt, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.byID[id]
	if !ok {
		return nil, false
	}
	if ps.expired(p, now) {
		ps.removeLocked(p)
		return nil, false
	}
	return p, true
}

// remove drops PGT id, if present.
func (ps *pgtStore) remove(id string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p, ok := ps.byID[id]; ok {
		ps.removeLocked(p)
	}
}

// dropSession drops every PGT of the session of token.
func (ps *pgtStore) dropSession(token string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	k := sessionKey(token)
	for _, p := range ps.bySession[k] {
		delete(ps.byID, p.id)
	}
	delete(ps.bySession, k)
}

func (ps *pgtStore) expired(p *pgt, now time.Time) bool {
	return !now.Before(p.issued.Add(ps.ttl))
}

// removeLocked drops p; the caller holds mu.
func (ps *pgtStore) removeLocked(p *pgt) {
	delete(ps.byID, p.id)
	l := ps.bySession[p.key]
	for i, q := range l {
		if q == p {
			l = append(l[:i:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(ps.bySession, p.key)
	} else {
		ps.bySession[p.key] = l
	}
}

// len returns the number of PGTs held.
func (ps *pgtStore) len() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.byID)
}

// grantPGT gives the proxy at pgtURL a proxy-granting ticket for the user
// of t, which has just validated: it checks the callback URL, mints the
// PGT and its IOU and calls the callback with both. It returns the IOU
// for the validation response, or "" and why no PGT was granted (in
// French, for the audit trail): the validation succeeds either way
// (protocol, section 2.5.4).
func (s *Server) grantPGT(ctx context.Context, t *ticket, pgtURL string) (iou, refusal string) {
	if len(t.proxies) >= maxProxyChain {
		return "", fmt.Sprintf("le ticket est déjà passé par %d proxys", len(t.proxies))
	}
	if why := s.checkCallback(ctx, pgtURL); why != "" {
		return "", why
	}
	now := s.now()
	p := &pgt{
		id: "PGT-" + randomString(48) + s.nodeSuffix(), key: sessionKey(t.token), token: t.token,
		proxies: append([]string{pgtURL}, t.proxies...), authTime: t.authTime, issued: now,
	}
	if err := s.pgts.add(p, now); err != nil {
		s.log.Warn("cas proxy-granting ticket store full")
		return "", "trop de tickets d'octroi de proxy en cours"
	}
	// A ticket validated after its session logged out (they live a few
	// seconds) must not outlive it as a PGT. Logout forgets the session,
	// then drops its PGTs: either it dropped this one, or the session is
	// gone by now.
	if !s.sessions.has(t.token) {
		s.pgts.remove(p.id)
		return "", "la session de l'utilisateur est terminée"
	}
	iou = "PGTIOU-" + randomString(32) + s.nodeSuffix()
	if err := s.callback(ctx, pgtURL, p.id, iou); err != nil {
		s.pgts.remove(p.id)
		s.log.Warn("cas proxy callback failed", "pgtUrl", pgtURL, "err", err)
		return "", "échec du rappel : " + err.Error()
	}
	return iou, ""
}

// checkCallback says why pgtURL cannot receive a PGT, or "": it must be a
// registered service, over https (the client checks its certificate), or
// http to a loopback address (a tool on the node's own machine, and the
// tests).
func (s *Server) checkCallback(ctx context.Context, pgtURL string) string {
	if !plausibleService(pgtURL) {
		return "URL de rappel invalide"
	}
	u, err := url.Parse(pgtURL)
	if err != nil {
		return "URL de rappel invalide"
	}
	if u.Scheme != "https" && !loopback(u.Hostname()) {
		return "le rappel exige https (http seulement vers une adresse de bouclage)"
	}
	_, ok, err := s.registry.match(ctx, pgtURL)
	if err != nil {
		s.log.Error("cas read registry", "err", err)
		return "registre des services illisible"
	}
	if !ok {
		return "URL de rappel absente du registre des services"
	}
	return ""
}

// loopback reports whether host is a loopback IP address (127.0.0.0/8,
// ::1). Names are not resolved: "localhost" is not one.
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// callback calls pgtURL?pgtId=…&pgtIou=… and succeeds on 200 only
// (redirects are not followed). Errors never carry the URL: it holds the
// PGT.
func (s *Server) callback(ctx context.Context, pgtURL, id, iou string) error {
	ctx, cancel := context.WithTimeout(ctx, pgtCallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, withParam(withParam(pgtURL, "pgtId", id), "pgtIou", iou), nil)
	if err != nil {
		return errors.New("requête impossible")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("réponse %d", resp.StatusCode)
	}
	return nil
}

// proxyOutcome is the outcome of a /cas/proxy request: a proxy ticket, or
// a failure code and message.
type proxyOutcome struct {
	ticket  string
	code    string
	message string
}

// proxy serves GET /cas/proxy?pgt=…&targetService=… (protocol, section
// 2.7): a proxy ticket for targetService, in XML (or JSON with
// format=JSON).
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	o := s.proxyTicket(r)
	s.respond(w, r, func() ([]byte, error) { return proxyJSON(o) }, func() ([]byte, error) { return proxyXML(o) }, proxyInternalErrorXML)
}

// proxyTicket checks a /cas/proxy request and issues the proxy ticket.
// The PGT's session is authenticated again: a session that expired, or
// whose account was deactivated, gets no more tickets, and the ticket
// carries the user as they are now.
func (s *Server) proxyTicket(r *http.Request) proxyOutcome {
	q := r.URL.Query()
	id, target := q.Get("pgt"), q.Get("targetService")
	switch {
	case id == "" || target == "":
		return proxyOutcome{code: codeInvalidRequest, message: "Les paramètres pgt et targetService sont obligatoires."}
	case len(id) > maxTicketID:
		return proxyOutcome{code: codeInvalidRequest, message: "Paramètre pgt trop long."}
	case len(target) > maxServiceURL:
		return proxyOutcome{code: codeInvalidRequest, message: "Paramètre targetService trop long."}
	}
	now := s.now()
	p, ok := s.pgts.get(id, now)
	if !ok {
		return proxyOutcome{code: codeInvalidTicket, message: "Ticket d'octroi de proxy inconnu ou expiré."}
	}
	u, err := s.cfg.Service.Authenticate(p.token)
	if errors.Is(err, ent.ErrBadSession) {
		s.pgts.remove(p.id)
		return proxyOutcome{code: codeInvalidTicket, message: "La session de l'utilisateur est terminée : ticket d'octroi de proxy expiré."}
	}
	if err != nil {
		s.log.Error("cas proxy authenticate", "err", err)
		return proxyOutcome{code: codeInternalError, message: "Erreur interne du serveur CAS."}
	}
	entry, ok, err := s.registry.match(r.Context(), target)
	if err != nil {
		s.log.Error("cas read registry", "err", err)
		return proxyOutcome{code: codeInternalError, message: "Erreur interne du serveur CAS."}
	}
	if !ok {
		return proxyOutcome{code: codeInvalidService, message: "Ce service n'est pas autorisé à utiliser la connexion unique de l'ENT : " + target}
	}
	t := &ticket{id: s.newTicketID("PT-"), service: target, entry: entry, user: u, issued: now,
		token: p.token, proxies: p.proxies, authTime: p.authTime}
	if err := s.tickets.add(t, now); err != nil {
		s.log.Warn("cas ticket store full")
		return proxyOutcome{code: codeInternalError, message: "Trop de connexions en cours : réessayez dans quelques secondes."}
	}
	s.sessions.record(p.token, u, sloEntry{service: target, ticket: t.id, issued: now}, now)
	s.audit(r.Context(), ent.AuditTicketIssued, u, clientOf(r), target, proxiesDetail(t.proxies))
	return proxyOutcome{ticket: t.id}
}

// proxiesDetail describes a proxy chain for the audit trail.
func proxiesDetail(proxies []string) string {
	if len(proxies) == 0 {
		return ""
	}
	return "proxys : " + strings.Join(proxies, ", ")
}

// proxyInternalErrorXML is answered when a /cas/proxy response cannot be
// encoded.
const proxyInternalErrorXML = `<cas:serviceResponse xmlns:cas="` + casNS + `"><cas:proxyFailure code="` +
	codeInternalError + `">Erreur interne du serveur CAS.</cas:proxyFailure></cas:serviceResponse>
`

// proxyXML encodes the cas:serviceResponse of /cas/proxy.
func proxyXML(o proxyOutcome) ([]byte, error) {
	x := newXMLWriter()
	x.start("serviceResponse", nsAttr())
	if o.code != "" {
		x.failure("proxyFailure", o.code, o.message)
	} else {
		x.start("proxySuccess")
		x.text("proxyTicket", o.ticket)
		x.end("proxySuccess")
	}
	x.end("serviceResponse")
	return x.bytes()
}

// proxyJSON encodes the JSON form of the /cas/proxy response.
func proxyJSON(o proxyOutcome) ([]byte, error) {
	type failure struct {
		Code        string `json:"code"`
		Description string `json:"description"`
	}
	type success struct {
		ProxyTicket string `json:"proxyTicket"`
	}
	type response struct {
		Success *success `json:"proxySuccess,omitempty"`
		Failure *failure `json:"proxyFailure,omitempty"`
	}
	var resp response
	if o.code != "" {
		resp.Failure = &failure{Code: o.code, Description: o.message}
	} else {
		resp.Success = &success{ProxyTicket: o.ticket}
	}
	return marshalJSON(map[string]response{"serviceResponse": resp})
}
