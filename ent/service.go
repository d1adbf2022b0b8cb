package ent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"atrium/record"
)

// Store is where the Service reads and submits: central.Node and edge.Store
// both satisfy it.
type Store interface {
	// View runs fn on one consistent view of the store.
	View(fn func(record.Reader) error) error
	// Submit executes cmd (with Exec) and returns once its effect is
	// visible to View; a refusal is a *record.Rejection.
	Submit(ctx context.Context, cmd record.Command) error
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Store  Store  // required
	Origin string // record.OriginCentral or the edge's UAI; required
	// SessionKey signs session tokens (HMAC-SHA256); at least 32 bytes,
	// shared by the central nodes, each edge's own.
	SessionKey []byte
	Now        func() time.Time // nil means time.Now
	SessionTTL time.Duration    // zero means 12 hours
	// LoginSlots bounds the password verifications running at once (each
	// takes a core for about 0.1 s); zero means GOMAXPROCS.
	LoginSlots int
	// Node names this node in the audit trail; "" records none.
	Node string
	// Logger receives what cannot be reported to a user (an audit event
	// not recorded); nil means slog.Default().
	Logger *slog.Logger
	// Partitions lists the store's partitions (central: the node's), so
	// that Usage finds every lycée's statistics; nil at an edge, which
	// holds its own lycée's only.
	Partitions func() ([]string, error)
}

// Service is the ENT as the portal and the API see it. Safe for concurrent
// use.
type Service struct {
	store  Store
	origin string
	key    []byte
	now    func() time.Time
	ttl    time.Duration
	// dummyHash is verified against when a login is unknown, so that
	// unknown and known logins take the same time.
	dummyHash string
	limiter   *loginLimiter
	node      string
	log       *slog.Logger
	// throttled spaces out the audit entries of throttled logins.
	throttled seenRecently
	// partitions lists the store's partitions (usage.go); nil: none.
	partitions func() ([]string, error)
}

// NewService validates cfg and returns a Service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("ent: ServiceConfig.Store is required")
	}
	if cfg.Origin == "" {
		return nil, errors.New("ent: ServiceConfig.Origin is required")
	}
	if len(cfg.SessionKey) < 32 {
		return nil, errors.New("ent: ServiceConfig.SessionKey must be at least 32 bytes")
	}
	s := &Service{
		store: cfg.Store, origin: cfg.Origin,
		key: append([]byte(nil), cfg.SessionKey...),
		now: cfg.Now, ttl: cfg.SessionTTL,
		limiter: newLoginLimiter(cfg.LoginSlots),
		node:    cfg.Node, log: cfg.Logger,
		partitions: cfg.Partitions,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl <= 0 {
		s.ttl = 12 * time.Hour
	}
	h, err := dummyHash()
	if err != nil {
		return nil, err
	}
	s.dummyHash = h
	return s, nil
}

// dummyHash hashes a password no account has, once per process: every
// Service of the process verifies unknown logins against the same hash
// (hashing takes a core for about a tenth of a second).
var dummyHash = sync.OnceValues(func() (string, error) { return HashPassword("atrium-dummy-password") })

// Client is who makes a request: the address of its connection (not a
// header's; empty if unknown) and its user agent. Login failures are
// counted by address; the audit trail records both.
type Client struct {
	IP        string
	UserAgent string
}

// Login checks login and password and returns a signed session token.
//
// Wrong credentials are ErrBadCredentials, whatever the cause. After
// repeated failures for the login (any case) or from the client, attempts
// are refused for a growing wait with a *TooManyAttemptsError
// (ErrTooManyAttempts), without checking the password, even a right one; a
// success clears the login's failures. When too many verifications are
// already running and none finishes within a couple of seconds, Login
// fails with ErrBusy.
//
// Every outcome but ErrBusy and a cancelled ctx is recorded in the audit
// trail (a throttled login at most once a minute per login and address).
func (s *Service) Login(ctx context.Context, login, password string, c Client) (string, User, error) {
	client := c.IP
	// The outcome is recorded once the verification slot is released:
	// recording waits for the store (raft at central).
	var outcome *AuditEvent
	defer func() {
		if outcome != nil {
			s.Audit(ctx, *outcome)
		}
	}()
	// Refuse before queueing for a slot, and again once holding one: the
	// failures of the attempts that held the slots meanwhile count.
	if err := s.limiter.check(login, client, s.now()); err != nil {
		outcome = s.throttledEvent(login, c)
		return "", User{}, err
	}
	if err := s.limiter.slots.acquire(ctx, loginSlotWait); err != nil {
		return "", User{}, err
	}
	defer s.limiter.slots.release()
	if err := s.limiter.check(login, client, s.now()); err != nil {
		outcome = s.throttledEvent(login, c)
		return "", User{}, err
	}
	u, found, err := s.lookupLogin(login)
	if err != nil {
		return "", User{}, fmt.Errorf("login: %w", err)
	}
	hash := s.dummyHash
	if found && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, err := VerifyPassword(hash, password)
	if err != nil || !ok || !found || !u.Active || u.PasswordHash == "" {
		s.limiter.failed(login, client, s.now())
		detail := AuditBadPassword
		switch {
		case !found:
			detail = AuditUnknownLogin
		case !u.Active || u.PasswordHash == "":
			detail = AuditInactive
		}
		outcome = loginEvent(AuditLoginFailure, login, u, found, c, detail)
		return "", User{}, ErrBadCredentials
	}
	s.limiter.succeeded(login)
	outcome = loginEvent(AuditLoginSuccess, login, u, true, c, "")
	return s.newToken(u, s.now().Add(s.ttl)), u, nil
}

// Authenticate returns the user of a session token: well signed, not
// expired, user still present and active. Otherwise ErrBadSession.
func (s *Service) Authenticate(token string) (User, error) {
	partition, id, err := s.parseToken(token)
	if err != nil {
		return User{}, err
	}
	var u User
	var ok bool
	err = s.store.View(func(r record.Reader) error {
		var err error
		u, ok, err = userByID(r, partition, id)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	if !ok || !u.Active {
		return User{}, ErrBadSession
	}
	return u, nil
}

// lookupLogin finds the account of login in the node's store.
func (s *Service) lookupLogin(login string) (u User, found bool, err error) {
	err = s.store.View(func(r record.Reader) error {
		u, found, err = userByLogin(r, login)
		return err
	})
	return u, found, err
}

func userByLogin(r record.Reader, login string) (User, bool, error) {
	if login == "" {
		return User{}, false, nil
	}
	rec, ok, err := r.ByKey(KindUser, login)
	if err != nil || !ok || rec.Deleted {
		return User{}, false, err
	}
	u, err := decodeUser(rec.Body)
	if err != nil {
		return User{}, false, fmt.Errorf("decode user %s: %w", rec.ID, err)
	}
	return u, true, nil
}

func userByID(r record.Reader, partition, id string) (User, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindUser {
		return User{}, false, err
	}
	u, err := decodeUser(rec.Body)
	if err != nil {
		return User{}, false, fmt.Errorf("decode user %s: %w", rec.ID, err)
	}
	return u, true, nil
}

// Lycee returns the lycée uai, or ErrNotFound.
func (s *Service) Lycee(ctx context.Context, uai string) (Lycee, error) {
	var l Lycee
	var found bool
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.ByKey(KindLycee, uai)
		if err != nil || !ok {
			return err
		}
		found = true
		l, err = decodeLycee(rec.Body)
		return err
	})
	if err != nil {
		return Lycee{}, fmt.Errorf("lycee %s: %w", uai, err)
	}
	if !found {
		return Lycee{}, ErrNotFound
	}
	return l, nil
}

// CanPublish reports whether u may publish news, and where: in the
// lycée (teachers and staff) or region-wide (Région staff).
func CanPublish(u User) (lycee, region bool) {
	switch u.Profile {
	case Teacher, Personnel:
		return true, false
	case Region:
		return false, true
	}
	return false, false
}

// newsPartitions are the partitions whose news u reads.
func newsPartitions(u User) []string {
	if u.Profile == Region || u.UAI == "" {
		return []string{record.Region}
	}
	return []string{u.UAI, record.Region}
}

func decodeNews(rec record.Record) (News, error) {
	var b newsBody
	if err := b.unmarshal(rec.Body); err != nil {
		return News{}, fmt.Errorf("decode news %s: %w", rec.ID, err)
	}
	return News{
		ID: rec.ID, Partition: rec.Partition, Title: b.Title, Body: b.Body,
		AuthorID: b.AuthorID, AuthorName: b.AuthorName, Published: time.UnixMilli(b.Published),
	}, nil
}

func decodeMessage(rec record.Record) (Message, error) {
	var b messageBody
	if err := b.unmarshal(rec.Body); err != nil {
		return Message{}, fmt.Errorf("decode message %s: %w", rec.ID, err)
	}
	return Message{
		ID: rec.ID, Partition: rec.Partition,
		FromID: b.FromID, FromLogin: b.FromLogin, FromName: b.FromName,
		ToID: b.ToID, ToLogin: b.ToLogin, ToName: b.ToName,
		Subject: b.Subject, Body: b.Body, Sent: time.UnixMilli(b.Sent),
	}, nil
}

// ListNews returns the news u reads (their lycée's and the region's),
// newest first.
func (s *Service) ListNews(ctx context.Context, u User) ([]News, error) {
	var out []News
	err := s.store.View(func(r record.Reader) error {
		for _, p := range newsPartitions(u) {
			err := r.Scan(p, KindNews, func(rec record.Record) error {
				n, err := decodeNews(rec)
				if err != nil {
					return err
				}
				out = append(out, n)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list news: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Published.Equal(out[j].Published) {
			return out[i].Published.After(out[j].Published)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// ListNewsPage returns the page p of the news u reads (their lycée's and
// the region's), newest first (by id), and the cursor of the next page (""
// for none). It reads no further than the page in either partition.
func (s *Service) ListNewsPage(ctx context.Context, u User, p Page) (out []News, next string, err error) {
	more := false
	err = s.store.View(func(r record.Reader) error {
		for _, part := range newsPartitions(u) {
			ns, n, err := scanPage(r, part, KindNews, nil, true, p, func(rec record.Record) (News, bool, error) {
				n, err := decodeNews(rec)
				return n, err == nil, err
			})
			if err != nil {
				return err
			}
			out, more = append(out, ns...), more || n != ""
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list news: %w", err)
	}
	slices.SortFunc(out, func(a, b News) int { return strings.Compare(b.ID, a.ID) })
	if p.Limit > 0 && (len(out) > p.Limit || (more && len(out) == p.Limit)) {
		out = out[:p.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// GetNews returns the news item id if u reads it, or ErrNotFound.
func (s *Service) GetNews(ctx context.Context, u User, id string) (News, error) {
	var n News
	var found bool
	err := s.store.View(func(r record.Reader) error {
		for _, p := range newsPartitions(u) {
			rec, ok, err := r.Get(p, id)
			if err != nil {
				return err
			}
			if ok && !rec.Deleted && rec.Kind == KindNews {
				found = true
				n, err = decodeNews(rec)
				return err
			}
		}
		return nil
	})
	if err != nil {
		return News{}, fmt.Errorf("get news: %w", err)
	}
	if !found {
		return News{}, ErrNotFound
	}
	return n, nil
}

func (s *Service) submit(ctx context.Context, u User, op, partition string, args any, at time.Time) error {
	b, err := json.Marshal(args)
	if err != nil {
		return err
	}
	return s.store.Submit(ctx, record.Command{
		Origin: s.origin, User: u.ID, Op: op, Partition: partition, Args: b, Time: at.UnixMilli(),
	})
}

// PublishNews publishes a news item by u: in their lycée, or region-wide
// (Région staff only). Refusals are *record.Rejection.
func (s *Service) PublishNews(ctx context.Context, u User, title, body string, regionWide bool) (News, error) {
	title, body = strings.TrimSpace(title), strings.TrimSpace(body)
	if !text(title, maxTitle) || !text(body, maxBody) {
		return News{}, rejectInvalid("Le titre et le texte de l'actualité sont obligatoires.")
	}
	partition := u.UAI
	if regionWide {
		partition = record.Region
	}
	lycee, region := CanPublish(u)
	if (regionWide && !region) || (!regionWide && !lycee) {
		if region {
			return News{}, rejectForbidden("Un agent de la Région publie des actualités régionales.")
		}
		if regionWide && lycee {
			return News{}, rejectForbidden("Seuls les agents de la Région publient les actualités régionales.")
		}
		return News{}, rejectForbidden("Votre profil ne permet pas de publier des actualités.")
	}
	at := s.now()
	n := News{ID: record.NewID(), Partition: partition, Title: title, Body: body,
		AuthorID: u.ID, AuthorName: u.Name, Published: time.UnixMilli(at.UnixMilli())}
	if err := s.submit(ctx, u, OpNewsPublish, partition, NewsArgs{ID: n.ID, Title: title, Body: body}, at); err != nil {
		return News{}, err
	}
	return n, nil
}

// ListMessages returns the messages u received or sent, newest first.
func (s *Service) ListMessages(ctx context.Context, u User) ([]Message, error) {
	if u.Profile == Region || u.UAI == "" {
		return nil, nil
	}
	var out []Message
	// The index finds the messages that name u as sender or recipient
	// (IndexTerms), rather than reading every message of the lycée.
	err := s.store.View(func(r record.Reader) error {
		return scanTerms(r, u.UAI, KindMessage, []string{userTerm(u.ID)}, func(rec record.Record) error {
			m, err := decodeMessage(rec)
			if err != nil {
				return err
			}
			if m.FromID == u.ID || m.ToID == u.ID {
				out = append(out, m)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Sent.Equal(out[j].Sent) {
			return out[i].Sent.After(out[j].Sent)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// ListMessagesPage returns the page p of the messages u received or sent,
// newest first (by id: the order they were written in), and the cursor of
// the next page ("" for none). It reads no further than the page.
func (s *Service) ListMessagesPage(ctx context.Context, u User, p Page) (msgs []Message, next string, err error) {
	if u.Profile == Region || u.UAI == "" {
		return nil, "", nil
	}
	err = s.store.View(func(r record.Reader) error {
		msgs, next, err = scanPage(r, u.UAI, KindMessage, []string{userTerm(u.ID)}, false, p, func(rec record.Record) (Message, bool, error) {
			m, err := decodeMessage(rec)
			return m, err == nil && (m.FromID == u.ID || m.ToID == u.ID), err
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list messages: %w", err)
	}
	return msgs, next, nil
}

// GetMessage returns message id if u sent or received it, or ErrNotFound.
func (s *Service) GetMessage(ctx context.Context, u User, id string) (Message, error) {
	if u.Profile == Region || u.UAI == "" {
		return Message{}, ErrNotFound
	}
	var m Message
	var found bool
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(u.UAI, id)
		if err != nil || !ok || rec.Deleted || rec.Kind != KindMessage {
			return err
		}
		m, err = decodeMessage(rec)
		found = err == nil && (m.FromID == u.ID || m.ToID == u.ID)
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("get message: %w", err)
	}
	if !found {
		return Message{}, ErrNotFound
	}
	return m, nil
}

// SendMessage sends a message from u to the user whose login is toLogin,
// in u's lycée. Refusals are *record.Rejection ("invalid", "not_found",
// "forbidden").
func (s *Service) SendMessage(ctx context.Context, u User, toLogin, subject, body string) (Message, error) {
	subject, body = strings.TrimSpace(subject), strings.TrimSpace(body)
	if !text(subject, maxSubject) || !text(body, maxBody) {
		return Message{}, rejectInvalid("L'objet et le texte du message sont obligatoires.")
	}
	if u.Profile == Region || u.UAI == "" {
		return Message{}, rejectForbidden("La messagerie relie les membres d'un même lycée.")
	}
	var to User
	var ok bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		to, ok, err = userByLogin(r, strings.TrimSpace(toLogin))
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("send message: %w", err)
	}
	if !ok || !to.Active || to.Partition() != u.UAI {
		return Message{}, record.Reject("not_found", "Destinataire inconnu dans votre lycée : "+toLogin+".")
	}
	at := s.now()
	m := Message{ID: record.NewID(), Partition: u.UAI,
		FromID: u.ID, FromLogin: u.Login, FromName: u.Name,
		ToID: to.ID, ToLogin: to.Login, ToName: to.Name,
		Subject: subject, Body: body, Sent: time.UnixMilli(at.UnixMilli())}
	args := MessageArgs{ID: m.ID, To: to.ID, Subject: subject, Body: body}
	if err := s.submit(ctx, u, OpMessageSend, u.UAI, args, at); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Recipients returns the users u may write to (CanReach), active, in u's
// lycée, by profile (staff, teachers, students, relatives) then name in
// French order; password and activation hashes are left out. Région staff
// have none.
func (s *Service) Recipients(ctx context.Context, u User) ([]User, error) {
	if u.Profile == Region || u.UAI == "" {
		return nil, nil
	}
	var out []User
	err := s.store.View(func(r record.Reader) error {
		children, err := childrenOf(r, u)
		if err != nil {
			return err
		}
		return r.Scan(u.UAI, KindUser, func(rec record.Record) error {
			to, err := decodeUser(rec.Body)
			if err != nil {
				return fmt.Errorf("decode user %s: %w", rec.ID, err)
			}
			if to.Active && CanReach(u, to, children) {
				to.PasswordHash, to.ActivationHash = "", ""
				out = append(out, to)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	sortUsers(out)
	return out, nil
}
