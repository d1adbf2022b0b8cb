package ent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"atrium/ent/uai"
	"atrium/record"
)

// The audit trail.
//
// Every node records what it sees: a login (success or failure) at the
// node where it happened, a CAS ticket validation at the node that
// validated it. Service.Audit submits an "audit.record" command; Exec
// writes the event as a record of kind KindAudit, id = the event's id, in
// record.AuditPartition(ev.UAI). Central-only partitions are never sent to
// edges (PublishedToEdge), so an edge holds only the entries it recorded
// itself, and sends them in its outbox: entries written while its link was
// down reach central when it returns.
//
// The command's partition names the lycée the event belongs to: ev.UAI,
// or record.Region when the event has no UAI (Région staff, unknown logins
// at central). That is what the replication server checks an edge's
// commands against (an edge writes only its own lycée's trail); Exec
// derives the record's partition from ev.UAI and refuses a command whose
// partition disagrees.
//
// Retention: entries are kept AuditRetention (a year), then go. SearchAudit
// never returns older ones; at central the raft leader purges them once a
// day with "audit.purge" commands (auditpurge.go: PurgeAudit, which
// tombstones at most MaxAuditPurge entries per command, oldest first), and
// each edge deletes its own local copies (edge.Store.PurgeLocal with
// AuditExpired). docs/api.md describes it for operators.

// Types of audit events.
const (
	AuditLoginSuccess    = "login.success"        // a password login opened a session
	AuditLoginFailure    = "login.failure"        // a password login was refused (Detail says why)
	AuditLogout          = "logout"               // a session was closed
	AuditTicketSuccess   = "cas.validate.success" // a service validated a CAS ticket
	AuditTicketFailure   = "cas.validate.failure" // a ticket validation was refused (Detail says why)
	AuditTicketIssued    = "cas.ticket"           // a service ticket was issued to a user
	AuditAccountActivate = "account.activate"     // an account was activated with its code
)

// AuditTypes lists the audit event types, in the order a search form shows
// them.
var AuditTypes = []string{
	AuditLoginSuccess, AuditLoginFailure, AuditLogout,
	AuditTicketIssued, AuditTicketSuccess, AuditTicketFailure, AuditAccountActivate,
}

// ValidAuditType reports whether t is one of the Audit… types.
func ValidAuditType(t string) bool {
	for _, k := range AuditTypes {
		if t == k {
			return true
		}
	}
	return false
}

// AuditTypeLabel returns the French name of an audit event type.
func AuditTypeLabel(t string) string {
	switch t {
	case AuditLoginSuccess:
		return "Connexion réussie"
	case AuditLoginFailure:
		return "Connexion refusée"
	case AuditLogout:
		return "Déconnexion"
	case AuditTicketIssued:
		return "Ticket CAS émis"
	case AuditTicketSuccess:
		return "Ticket CAS validé"
	case AuditTicketFailure:
		return "Ticket CAS refusé"
	case AuditAccountActivate:
		return "Activation de compte"
	}
	return t
}

// Details of login failures, in French as administrators read them.
const (
	AuditBadPassword     = "mot de passe incorrect"
	AuditUnknownLogin    = "compte inconnu"
	AuditInactive        = "compte inactif"
	AuditTooManyAttempts = "trop de tentatives"
)

// AuditEvent is one entry of the audit trail: every authentication and
// every ticket validation, kept a year (the law expects every sign-on to
// be traceable). It is stored as a record of kind KindAudit in
// record.AuditPartition of the user's lycée.
type AuditEvent struct {
	ID        string    `json:"id"`   // UUIDv7 minted where the event happened
	Type      string    `json:"type"` // one of the Audit… constants
	Time      time.Time `json:"time"`
	Node      string    `json:"node,omitempty"` // the node where it happened
	Login     string    `json:"login,omitempty"`
	UserID    string    `json:"userId,omitempty"`
	Profile   string    `json:"profile,omitempty"`
	UAI       string    `json:"uai,omitempty"` // the user's lycée; "" for Région staff and unknown logins
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"userAgent,omitempty"`
	Service   string    `json:"service,omitempty"` // the CAS service URL
	Detail    string    `json:"detail,omitempty"`  // why a login or validation failed
}

// Bounds of an audit event's fields, in characters. Service.Audit
// truncates to them (a failed login may carry anything the client typed);
// Exec refuses longer ones.
const (
	maxAuditNode      = 128
	maxAuditLogin     = 128
	maxAuditIP        = 64
	maxAuditUserAgent = 512
	maxAuditService   = 2048
	maxAuditDetail    = 256
)

// AuditRetention is how long the audit trail is kept: SearchAudit returns
// nothing older, and the daily purges remove older entries (PurgeAudit at
// central, edge.Store.PurgeLocal at an edge).
const AuditRetention = 365 * 24 * time.Hour

// auditTimeout bounds how long recording an event may hold up the request
// that caused it (a login waiting for raft, say).
const auditTimeout = 2 * time.Second

// auditHome is the partition an audit command names: the event's lycée,
// or record.Region when it has none.
func auditHome(eventUAI string) string {
	if eventUAI == "" {
		return record.Region
	}
	return eventUAI
}

// truncate returns s as valid UTF-8 of at most max characters.
func truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max])
}

func bounded(s string, max int) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= max
}

// checkAuditEvent validates an event before it is written.
func checkAuditEvent(ev AuditEvent) error {
	switch {
	case !validID(ev.ID):
		return rejectInvalid("Identifiant d'événement invalide.")
	case !ValidAuditType(ev.Type):
		return rejectInvalid("Type d'événement inconnu : " + ev.Type + ".")
	case ev.Time.UnixMilli() <= 0:
		return rejectInvalid("Date d'événement invalide.")
	case ev.UAI != "" && !uai.Valid(ev.UAI):
		return rejectInvalid("UAI invalide : " + ev.UAI + ".")
	case ev.Profile != "" && !ValidProfile(ev.Profile):
		return rejectInvalid("Profil inconnu : " + ev.Profile + ".")
	case ev.UserID != "" && !validID(ev.UserID):
		return rejectInvalid("Identifiant de compte invalide.")
	case !bounded(ev.Node, maxAuditNode), !bounded(ev.Login, maxAuditLogin), !bounded(ev.IP, maxAuditIP),
		!bounded(ev.UserAgent, maxAuditUserAgent), !bounded(ev.Service, maxAuditService),
		!bounded(ev.Detail, maxAuditDetail):
		return rejectInvalid("Événement d'audit trop long.")
	}
	return nil
}

// execAuditRecord writes an audit event. It is made by a node, never by a
// user: by central itself (the operator path), or by an edge for its own
// lycée's trail only.
func execAuditRecord(tx record.Tx, cmd record.Command) error {
	if cmd.User != "" {
		return rejectForbidden("Le journal des connexions est écrit par les serveurs, pas par les utilisateurs.")
	}
	var ev AuditEvent
	if err := decodeArgs(cmd, &ev); err != nil {
		return err
	}
	if err := checkAuditEvent(ev); err != nil {
		return err
	}
	if cmd.Partition != auditHome(ev.UAI) {
		return rejectInvalid("Un événement d'audit est écrit pour le lycée qu'il concerne.")
	}
	if !byOperator(cmd) && (ev.UAI == "" || cmd.Origin != ev.UAI) {
		return rejectForbidden("Un établissement n'écrit que son propre journal des connexions.")
	}
	partition := record.AuditPartition(ev.UAI)
	if done, err := existing(tx, partition, ev.ID, KindAudit); done || err != nil {
		return err // already recorded: a retransmission
	}
	ev.Time = ev.Time.UTC()
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: partition, ID: ev.ID, Kind: KindAudit, Body: body})
}

// Audit records ev in the audit trail. It fills in the id (UUIDv7), the
// time and the node when they are zero, truncates the fields to their
// bounds, and at an edge attributes an event without a UAI to the edge's
// lycée (the only trail it writes). Failures are logged, never returned:
// the request that caused the event goes on. It waits at most a couple of
// seconds, even when ctx is cancelled (the event must be recorded all the
// same).
func (s *Service) Audit(ctx context.Context, ev AuditEvent) {
	if ev.ID == "" {
		ev.ID = record.NewID()
	}
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	ev.Time = time.UnixMilli(ev.Time.UnixMilli()).UTC()
	if ev.Node == "" {
		ev.Node = s.node
	}
	if ev.UAI == "" && s.origin != record.OriginCentral {
		ev.UAI = s.origin
	}
	ev.Node = truncate(ev.Node, maxAuditNode)
	ev.Login = truncate(ev.Login, maxAuditLogin)
	ev.IP = truncate(ev.IP, maxAuditIP)
	ev.UserAgent = truncate(ev.UserAgent, maxAuditUserAgent)
	ev.Service = truncate(ev.Service, maxAuditService)
	ev.Detail = truncate(ev.Detail, maxAuditDetail)
	b, err := json.Marshal(ev)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
		defer cancel()
		err = s.store.Submit(ctx, record.Command{
			Origin: s.origin, Op: OpAuditRecord, Partition: auditHome(ev.UAI), Args: b, Time: ev.Time.UnixMilli(),
		})
	}
	if err != nil {
		s.log.Error("record audit event", "type", ev.Type, "login", ev.Login, "uai", ev.UAI, "id", ev.ID, "err", err)
	}
}

// loginEvent is the audit event of a login attempt. u is the account
// found for the login, if any.
func loginEvent(typ, login string, u User, found bool, c Client, detail string) *AuditEvent {
	ev := &AuditEvent{Type: typ, Login: login, IP: c.IP, UserAgent: c.UserAgent, Detail: detail}
	if found {
		ev.Login, ev.UserID, ev.Profile, ev.UAI = u.Login, u.ID, u.Profile, u.UAI
	}
	return ev
}

// throttledEvent is the audit event of a login refused by throttling, or
// nil: one is recorded at most once per login and client address per
// throttledAuditGap, so that a client hammering the login form cannot turn
// each refusal (which costs the node nothing) into a raft entry.
func (s *Service) throttledEvent(login string, c Client) *AuditEvent {
	if !s.throttled.first(loginKey(login)+"\x00"+c.IP, s.now()) {
		return nil
	}
	var u User
	var found bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		u, found, err = userByLogin(r, login)
		return err
	})
	if err != nil {
		found = false
	}
	return loginEvent(AuditLoginFailure, login, u, found, c, AuditTooManyAttempts)
}

// throttledAuditGap is how often a throttled login is recorded per login
// and client address; maxThrottledKeys bounds the memory this takes.
const (
	throttledAuditGap = time.Minute
	maxThrottledKeys  = 10_000
)

// seenRecently remembers when each key was last let through. Safe for
// concurrent use.
type seenRecently struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// first reports whether key was not let through in the last
// throttledAuditGap, and if so remembers now.
func (s *seenRecently) first(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.m[key]; ok && now.Sub(last) < throttledAuditGap {
		return false
	}
	if s.m == nil || len(s.m) >= maxThrottledKeys {
		s.m = make(map[string]time.Time) // forget everything rather than grow
	}
	s.m[key] = now
	return true
}

// AuditQuery selects entries of the audit trail. Zero fields select
// everything.
type AuditQuery struct {
	Login   string    // the login typed or the account's, any case
	Type    string    // one of the Audit… types
	Service string    // part of the CAS service URL
	From    time.Time // entries at or after From
	To      time.Time // entries strictly before To
	// UAI is the lycée whose trail Région staff search ("" for the
	// Région's own: its staff and unknown logins at central). A lycée
	// administrator searches their lycée's; another UAI is refused.
	UAI   string
	Limit int // at most this many entries; 0 means DefaultAuditLimit, capped at MaxAuditLimit
}

// Limits on the entries a search returns.
const (
	DefaultAuditLimit = 200
	MaxAuditLimit     = 10_000
)

// auditScanSlack is how far past From a search keeps scanning: entries are
// scanned in id order (their creation time at the node that recorded them)
// and filtered on their time, which may differ by a node's clock skew.
const auditScanSlack = time.Hour

// CanReadAudit reports whether u may search an audit trail: a lycée
// administrator (their lycée's) or Région staff (any).
func CanReadAudit(u User) bool {
	return u.Active && (u.Profile == Region || (u.Admin && u.UAI != ""))
}

// SearchAudit returns the entries of the audit trail that admin may read
// and q selects, newest first. A lycée administrator reads their lycée's
// trail only; Région staff read any (q.UAI). Entries older than
// AuditRetention are never returned. Refusals are *record.Rejection. At an
// edge the trail holds only the entries recorded there; central holds
// every node's.
func (s *Service) SearchAudit(ctx context.Context, admin User, q AuditQuery) ([]AuditEvent, error) {
	if !CanReadAudit(admin) {
		return nil, rejectForbidden("Le journal des connexions est réservé aux administrateurs.")
	}
	trail := q.UAI
	if admin.Profile != Region {
		if q.UAI != "" && q.UAI != admin.UAI {
			return nil, rejectForbidden("Vous ne consultez que le journal de votre lycée.")
		}
		trail = admin.UAI
	} else if trail != "" && !uai.Valid(trail) {
		return nil, rejectInvalid("UAI invalide : " + trail + ".")
	}
	if q.Type != "" && !ValidAuditType(q.Type) {
		return nil, rejectInvalid("Type d'événement inconnu : " + q.Type + ".")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	from := s.now().Add(-AuditRetention)
	if q.From.After(from) {
		from = q.From
	}
	login := loginKey(q.Login)
	// A search for a login skips, before decoding them, the entries whose
	// JSON does not contain it: decoding is most of a scan's cost.
	var needle []byte
	if login != "" {
		b, _ := json.Marshal(login)
		needle = b[1 : len(b)-1]
	}
	var out []AuditEvent
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(record.AuditPartition(trail), KindAudit, func(rec record.Record) error {
			if needle != nil && !bytes.Contains(bytes.ToLower(rec.Body), needle) {
				return nil
			}
			var ev AuditEvent
			if err := json.Unmarshal(rec.Body, &ev); err != nil {
				return fmt.Errorf("decode audit event %s: %w", rec.ID, err)
			}
			switch {
			case ev.Time.Before(from.Add(-auditScanSlack)):
				return record.ErrStop // older entries are older still
			case ev.Time.Before(from),
				!q.To.IsZero() && !ev.Time.Before(q.To),
				login != "" && loginKey(ev.Login) != login,
				q.Type != "" && ev.Type != q.Type,
				q.Service != "" && !strings.Contains(ev.Service, q.Service):
				return nil
			}
			out = append(out, ev)
			if len(out) >= limit {
				return record.ErrStop
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
	}
	return out, nil
}
