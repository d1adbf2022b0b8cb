package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/cas"
	"atrium/central"
	"atrium/central/admin"
	"atrium/ent"
	"atrium/health"
	"atrium/portal"
	"atrium/record"
	"atrium/replication"
)

// CentralConfig configures a central node. Every address is host:port on
// which the node listens and which it advertises to its peers.
type CentralConfig struct {
	Name          string   // node name, unique in the cluster (required)
	DataDir       string   // raft log, snapshots and state machine (required)
	HTTPAddr      string   // portal, JSON API, health, operator API (required)
	RaftAddr      string   // raft transport, TCP (required)
	SerfAddr      string   // serf gossip among central nodes, TCP+UDP (required)
	QUICAddr      string   // replication listener for the edges, UDP (required)
	Bootstrap     bool     // start a new cluster when DataDir holds none
	Join          []string // serf addresses of any members to join
	OperatorToken string   // bearer token of the operator API; empty disables it
	Logger        *slog.Logger
	Registry      *prometheus.Registry // nil: a fresh one
	UsageFlush    time.Duration        // how often visits are flushed; zero: ent.DefaultUsageFlush
	// EdgeTTL is the life of the edge certificates issued at enrolment and
	// renewal; zero: appliance.DefaultEdgeTTL (400 days). It must be
	// longer than the tombstone horizon (renew.go).
	EdgeTTL time.Duration
	// TombstoneHorizon is how long tombstones are kept for the edges'
	// feeds (central.Config.TombstoneHorizon): zero is 35 days, negative
	// for ever. PurgeEvery is how often the leader purges; zero: hourly.
	TombstoneHorizon time.Duration
	PurgeEvery       time.Duration
}

// Central is a running central node.
type Central struct {
	cfg  CentralConfig
	log  *slog.Logger
	Node *central.Node
	Repl *replication.Server // nil until the cluster's secrets are known
	proc *process
	late lateHandler

	mu      sync.Mutex
	replErr error
	svc     *ent.Service
}

// StartCentral starts a central node and returns once its listeners are
// open. The portal and the replication listener come up as soon as the
// cluster's secrets are known (after the first leader election).
func StartCentral(ctx context.Context, cfg CentralConfig) (*Central, error) {
	if cfg.Name == "" || cfg.DataDir == "" || cfg.HTTPAddr == "" || cfg.RaftAddr == "" || cfg.SerfAddr == "" || cfg.QUICAddr == "" {
		return nil, errors.New("node: central needs Name, DataDir, HTTPAddr, RaftAddr, SerfAddr and QUICAddr")
	}
	if err := checkEdgeTTL(cfg); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	baseLog := log
	log = log.With("node", cfg.Name)
	reg := cfg.Registry
	if reg == nil {
		reg = health.NewRegistry()
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen http: %w", err)
	}
	n, err := central.New(central.Config{
		Name:      cfg.Name,
		DataDir:   cfg.DataDir,
		RaftAddr:  cfg.RaftAddr,
		SerfAddr:  cfg.SerfAddr,
		HTTPURL:   "http://" + ln.Addr().String(),
		QUICAddr:  cfg.QUICAddr,
		Bootstrap: cfg.Bootstrap,
		Join:      cfg.Join,
		Exec:      ent.Exec,
		// The portal's lists read through the index (ent.IndexTerms):
		// always set it.
		Indexer:      ent.IndexTerms,
		IndexVersion: ent.IndexVersion,
		NewCA: func() ([]byte, []byte, error) {
			return appliance.NewCA("Atrium, autorité de certification régionale", time.Now())
		},
		Logger:           baseLog, // central names the node itself
		Registerer:       reg,
		TombstoneHorizon: cfg.TombstoneHorizon,
		PurgeEvery:       cfg.PurgeEvery,
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("start central node: %w", err)
	}
	c := &Central{cfg: cfg, log: log, Node: n, proc: newProcess(ctx, ln)}
	c.late.set(http.HandlerFunc(starting))

	mux := http.NewServeMux()
	health.Mount(mux, health.Config{Status: c.status, Ready: c.ready, Gatherer: reg})
	mux.Handle("GET "+DigestsPath, c.digestsHandler()) // digests.go
	mux.Handle("/internal/v1/", n.InternalHandler())
	mux.Handle("/", &c.late)

	c.proc.run(func(ctx context.Context) {
		if err := n.Serve(ctx); err != nil {
			log.Error("central node stopped", "err", err)
		}
	})
	c.proc.serveHTTP(mux, reg, log)
	c.proc.run(func(ctx context.Context) {
		if err := c.serveWhenReady(ctx, reg); err != nil && ctx.Err() == nil {
			c.mu.Lock()
			c.replErr = err
			c.mu.Unlock()
			log.Error("central services stopped", "err", err)
		}
	})
	c.proc.run(c.purgeAuditLoop)
	return c, nil
}

// The audit trail's purge: the raft leader runs it once it caught up, then
// every auditPurgeEvery; every node checks every auditPurgeCheck whether it
// leads (a new leader purges within that time). A failed purge is tried
// again after auditPurgeRetry.
const (
	auditPurgeEvery = 24 * time.Hour
	auditPurgeCheck = time.Minute
	auditPurgeRetry = time.Hour
)

// purgeAuditLoop purges the audit trail while this node is the leader.
func (c *Central) purgeAuditLoop(ctx context.Context) {
	if err := c.waitCaughtUp(ctx); err != nil {
		return
	}
	tick := time.NewTicker(auditPurgeCheck)
	defer tick.Stop()
	var due time.Time // zero: at once
	for {
		if now := time.Now(); c.Node.IsLeader() && !now.Before(due) {
			due = now.Add(auditPurgeEvery)
			if _, err := c.PurgeAudit(ctx, now); err != nil {
				if ctx.Err() != nil {
					return
				}
				c.log.Error("purge audit trail", "err", err)
				due = now.Add(auditPurgeRetry)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// PurgeAudit removes, through raft, the entries of every audit partition
// (record.AuditPartition) that passed their retention at now
// (ent.AuditCutoff), and returns how many went. It runs at any node (the
// commands are forwarded to the leader); the node's loop runs it daily at
// the leader. It goes on with the next partition after a failure and
// returns the first.
func (c *Central) PurgeAudit(ctx context.Context, now time.Time) (int, error) {
	parts, err := c.Node.Partitions()
	if err != nil {
		return 0, fmt.Errorf("purge audit: list partitions: %w", err)
	}
	total, partitions := 0, 0
	var first error
	for _, p := range parts {
		if !ent.IsAuditPartition(p) && !ent.IsUsagePartition(p) { // usage statistics expire too
			continue
		}
		partitions++
		n, err := ent.PurgeAudit(ctx, c.Node, p, now)
		total += n
		if n > 0 {
			c.log.Info("audit entries purged", "partition", p, "purged", n)
		}
		if err != nil && first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	c.log.Info("audit trail purged", "purged", total, "partitions", partitions, "before", ent.AuditCutoff(now))
	return total, first
}

// serveWhenReady waits for the cluster's secrets, then installs the portal,
// the enrolment and operator APIs and runs the replication listener.
func (c *Central) serveWhenReady(ctx context.Context, reg prometheus.Registerer) error {
	secrets, err := c.Node.Secrets(ctx)
	if err != nil {
		return fmt.Errorf("wait for cluster secrets: %w", err)
	}
	// Serve users and edges only once the state rebuilt at start has caught
	// up with the log this node held: before, recent accounts and messages
	// would be missing.
	if err := c.waitCaughtUp(ctx); err != nil {
		return err
	}
	ca, err := appliance.LoadCA(secrets.CACertPEM, secrets.CAKeyPEM)
	if err != nil {
		return fmt.Errorf("load cluster CA: %w", err)
	}
	svc, err := ent.NewService(ent.ServiceConfig{Store: c.Node, Origin: record.OriginCentral, SessionKey: secrets.SessionKey,
		Node: c.cfg.Name, Logger: c.log, Partitions: c.Node.Partitions})
	if err != nil {
		return err
	}
	usage, err := c.startUsage(ctx, svc)
	if err != nil {
		return err
	}
	sso, err := cas.New(cas.Config{Service: svc, Node: c.cfg.Name, Audit: svc.Audit, Logger: c.log})
	if err != nil {
		return err
	}
	defer sso.Close()
	p, err := portal.New(portal.Config{Service: svc, Node: c.cfg.Name, Role: "central", Logger: c.log,
		Logout: sso.EndSessionFrom, Usage: usage})
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(c.cfg.QUICAddr)
	serverCert, err := ca.IssueServer(c.cfg.Name, []string{host}, time.Now(), 365*24*time.Hour)
	if err != nil {
		return fmt.Errorf("issue replication certificate: %w", err)
	}
	repl, err := replication.NewServer(replication.ServerConfig{
		Addr:       c.cfg.QUICAddr,
		TLS:        appliance.ServerTLS(serverCert, ca.Pool()),
		Source:     c.Node,
		UAIOf:      appliance.EdgeUAI,
		Visible:    ent.PublishedToEdge,
		Revoked:    c.edgeRevoked, // retired.go
		Node:       c.cfg.Name,
		Logger:     c.log,
		Registerer: reg,
		// An edge records failed logins (no acting user) in its audit trail.
		// It flushes its usage statistics the same way.
		Anonymous: func(op string) bool { return op == ent.OpAuditRecord || op == ent.OpUsageRecord },
		// An edge's own uploads are not sent back to it whole.
		Stub: ownChunk,
	})
	if err != nil {
		return fmt.Errorf("start replication server: %w", err)
	}
	c.mu.Lock()
	c.Repl = repl
	c.svc = svc
	c.mu.Unlock()

	app := http.NewServeMux()
	app.Handle("POST "+appliance.EnrolPath, appliance.EnrolHandler(enroller{c.Node, ca}, c.cfg.EdgeTTL, time.Now, c.log))
	app.Handle("POST "+appliance.RenewPath, appliance.RenewHandler(renewAuthority{enroller{c.Node, ca}}, c.cfg.EdgeTTL, time.Now, c.log))
	app.Handle("/api/v1/admin/", admin.New(admin.Config{
		Token:   c.cfg.OperatorToken,
		Cluster: c.Node,
		Edges:   c.clusterEdges,
		Logger:  c.log,
		// New imported accounts get the code the lycée's administrators
		// can print again at any central node (they share the key).
		ActivationCode: svc.ActivationCode,
		TempDir:        c.cfg.DataDir,
	}))
	app.Handle("/cas/", sso)
	app.Handle("/", p.Handler())
	c.late.set(app)
	return repl.Serve(ctx)
}

// startUsage makes sure the region's pseudonymisation key exists (the
// first central node to serve writes it), and starts the node's usage
// counter, flushed every minute and when the node stops.
func (c *Central) startUsage(ctx context.Context, svc *ent.Service) (*ent.UsageCounter, error) {
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := svc.EnsureUsageKey(kctx); err != nil {
		c.log.Error("write usage key", "err", err) // counted without visitors until it exists
	}
	cancel()
	usage, err := ent.NewUsageCounter(ent.UsageCounterConfig{Service: svc, Node: c.cfg.Name, Every: c.cfg.UsageFlush})
	if err != nil {
		return nil, err
	}
	c.proc.run(func(ctx context.Context) { usage.Serve(ctx) })
	return usage, nil
}

// waitCaughtUp waits until the node's state machine applied the raft log
// it held at start.
func (c *Central) waitCaughtUp(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !c.Node.CaughtUp() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// enroller lets the enrolment API consume tokens through raft and sign
// with the cluster's CA.
type enroller struct {
	n  *central.Node
	ca *appliance.CA
}

func (e enroller) ConsumeEnrolToken(ctx context.Context, hash string) (string, error) {
	uai, err := e.n.ConsumeEnrolToken(ctx, hash)
	switch {
	case err == nil:
		return uai, nil
	case errors.Is(err, central.ErrTokenUsed), errors.Is(err, central.ErrTokenExpired), errors.Is(err, central.ErrTokenUnknown):
		return "", err
	default: // no leader, shutting down: the token is still good, try again
		return "", fmt.Errorf("%w: %w", appliance.ErrUnavailable, err)
	}
}
func (e enroller) CA(context.Context) (*appliance.CA, error) { return e.ca, nil }
func (e enroller) CentralQUIC() []string {
	var addrs []string
	for _, m := range e.n.Members() {
		if m.Status == "alive" && m.QUICAddr != "" {
			addrs = append(addrs, m.QUICAddr)
		}
	}
	return addrs
}

// URL is the node's HTTP base URL.
func (c *Central) URL() string { return c.proc.url() }

// Name is the node's name in the cluster.
func (c *Central) Name() string { return c.cfg.Name }

// Service returns the ENT service the node's portal uses, nil until the
// node serves users.
func (c *Central) Service() *ent.Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.svc
}

func (c *Central) repl() *replication.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Repl
}

func (c *Central) ready() error {
	leader, _ := c.Node.Leader()
	if leader == "" {
		return errors.New("no raft leader known")
	}
	if !c.Node.CaughtUp() {
		return fmt.Errorf("replaying the raft log (applied %d)", c.Node.AppliedIndex())
	}
	c.mu.Lock()
	failed := c.replErr
	c.mu.Unlock()
	if failed != nil {
		return fmt.Errorf("portal and replication did not start: %w", failed)
	}
	if c.repl() == nil {
		return errors.New("waiting for the cluster's secrets")
	}
	return nil
}

func (c *Central) status() health.Status {
	leader, _ := c.Node.Leader()
	st := health.Status{
		Node:   c.cfg.Name,
		Role:   "central",
		Leader: leader,
		Raft: &health.RaftStatus{
			State:        c.Node.RaftState(),
			CommitIndex:  c.Node.CommitIndex(),
			AppliedIndex: c.Node.AppliedIndex(),
		},
	}
	for _, m := range c.Node.Members() {
		st.Members = append(st.Members, health.MemberStatus{Name: m.Name, Status: m.Status, Leader: m.Leader})
	}
	if r := c.repl(); r != nil {
		for _, e := range r.Edges() {
			st.Edges = append(st.Edges, health.EdgeStatus{
				UAI: e.UAI, Connected: e.Connected, Epoch: e.Epoch, Outbox: e.Outbox, Lag: e.Lag, LastSeen: e.LastSeen,
			})
		}
	}
	return st
}

// Close stops the node: HTTP first, then replication and raft.
func (c *Central) Close() error { return c.proc.close() }

// ownChunk is central's replication.ServerConfig.Stub: a live chunk of a
// file in lycée uai's partition that its edge wrote (an edge's command
// counted in its version) goes back to that edge as a stub. A chunk's id
// is derived from the SHA-256 of its bytes and its body from the bytes
// (ent/files.go), so an edge holding a live chunk of that id holds that
// body; one that does not (restored from a backup) pulls the page whole.
func ownChunk(uai string, r record.Record) bool {
	return r.Partition == uai && r.Kind == ent.KindFileChunk && !r.Deleted && r.Version.Edge > 0
}

func starting(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "Atrium démarre : réessayez dans un instant.", http.StatusServiceUnavailable)
}

var _ replication.StubSource = (*central.Node)(nil)
