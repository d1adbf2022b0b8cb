package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/cas"
	"atrium/edge"
	"atrium/ent"
	"atrium/health"
	"atrium/portal"
	"atrium/record"
)

// EdgeConfig configures a lycée's edge appliance.
type EdgeConfig struct {
	Name     string // node name shown in status; "" means "edge-" + UAI
	DataDir  string // identity, replica and outbox (required)
	HTTPAddr string // portal and API on the school LAN (required)

	// Enrolment, on first start only: the one-time token printed by
	// `atrium ctl edge add` and the central HTTP URL that redeems it.
	EnrolToken string
	CentralURL string

	// Servers overrides the central QUIC addresses learnt at enrolment (the
	// demo puts its WAN fault proxies there).
	Servers []string

	Logger   *slog.Logger
	Registry *prometheus.Registry // nil: a fresh one
}

// Edge is a running edge appliance.
type Edge struct {
	cfg  EdgeConfig
	UAI  string
	Node *edge.Node
	proc *process
}

// StartEdge enrols the appliance if it has no identity yet, opens its
// replica and starts serving the portal and syncing with central.
func StartEdge(ctx context.Context, cfg EdgeConfig) (*Edge, error) {
	if cfg.DataDir == "" || cfg.HTTPAddr == "" {
		return nil, errors.New("node: edge needs DataDir and HTTPAddr")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create edge data dir: %w", err)
	}
	idDir := filepath.Join(cfg.DataDir, "identity")
	id, err := appliance.LoadIdentity(idDir)
	if err != nil {
		if cfg.EnrolToken == "" {
			return nil, fmt.Errorf("edge is not enrolled (run it once with --enroll TOKEN --central URL): %w", err)
		}
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		id, err = appliance.Enroll(ectx, cfg.CentralURL, cfg.EnrolToken, idDir)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("enrol edge: %w", err)
		}
		log.Info("edge enrolled", "uai", id.UAI)
	}
	if cfg.Name == "" {
		cfg.Name = "edge-" + id.UAI
	}
	log = log.With("node", cfg.Name)
	sessionKey, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "session.key"))
	if err != nil {
		return nil, err
	}
	servers := cfg.Servers
	if len(servers) == 0 {
		servers = id.Central
	}
	reg := cfg.Registry
	if reg == nil {
		reg = health.NewRegistry()
	}
	en, err := edge.New(edge.Config{
		DataDir:    cfg.DataDir,
		UAI:        id.UAI,
		Exec:       ent.Exec,
		Servers:    servers,
		TLS:        id.ClientTLS(),
		Logger:     log,
		Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("open edge replica: %w", err)
	}
	svc, err := ent.NewService(ent.ServiceConfig{Store: en.Store(), Origin: id.UAI, SessionKey: sessionKey,
		Node: cfg.Name, Logger: log})
	if err != nil {
		en.Close()
		return nil, err
	}
	// The edge is the CAS server of its lycée: tools on the school's LAN
	// keep signing users in while the link is down.
	sso, err := cas.New(cas.Config{Service: svc, Node: cfg.Name, Audit: svc.Audit, Logger: log})
	if err != nil {
		en.Close()
		return nil, err
	}
	p, err := portal.New(portal.Config{
		Service: svc, Node: cfg.Name, Role: "edge", UAI: id.UAI, Logger: log,
		Offline: func() (bool, int) { return !en.Connected(), pendingChanges(en.Store()) },
		Logout:  sso.EndSessionFrom,
	})
	if err != nil {
		sso.Close()
		en.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		sso.Close()
		en.Close()
		return nil, fmt.Errorf("listen http: %w", err)
	}
	e := &Edge{cfg: cfg, UAI: id.UAI, Node: en, proc: newProcess(ctx, ln)}
	mux := http.NewServeMux()
	health.Mount(mux, health.Config{Status: e.status, Ready: e.ready, Gatherer: reg})
	mux.Handle("/cas/", sso)
	mux.Handle("/", p.Handler())
	e.proc.run(func(ctx context.Context) {
		<-ctx.Done()
		sso.Close()
	})
	e.proc.run(func(ctx context.Context) {
		if err := en.Serve(ctx); err != nil && ctx.Err() == nil {
			log.Error("edge sync stopped", "err", err)
		}
	})
	e.proc.run(func(ctx context.Context) { e.purgeAuditLoop(ctx, log) })
	e.proc.serveHTTP(mux, reg, log)
	return e, nil
}

// purgeAuditLoop purges the audit entries recorded here at start, then
// every auditPurgeEvery.
func (e *Edge) purgeAuditLoop(ctx context.Context, log *slog.Logger) {
	tick := time.NewTicker(auditPurgeEvery)
	defer tick.Stop()
	for {
		now := time.Now()
		n, err := e.PurgeAudit(now)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("purge audit trail", "err", err)
		case err == nil:
			log.Info("audit trail purged", "purged", n, "before", ent.AuditCutoff(now))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// PurgeAudit deletes the entries of the lycée's audit trail recorded at
// this edge that passed their retention at now (ent.AuditCutoff), and
// returns how many went. Central keeps, and purges, its own copies.
func (e *Edge) PurgeAudit(now time.Time) (int, error) {
	cutoff := ent.AuditCutoff(now)
	return e.Node.Store().PurgeLocal(record.AuditPartition(e.UAI), cutoff, func(rec record.Record) bool {
		return !rec.Deleted && !ent.AuditExpired(rec, cutoff)
	})
}

// URL is the edge's HTTP base URL.
func (e *Edge) URL() string { return e.proc.url() }

func (e *Edge) ready() error {
	st := e.Node.Status()
	if st.Checkpoints[e.UAI] == 0 && !st.Connected {
		return errors.New("replica empty and central not reached yet")
	}
	return nil
}

func (e *Edge) status() health.Status {
	st := e.Node.Status()
	return health.Status{
		Node: e.cfg.Name,
		Role: "edge",
		UAI:  e.UAI,
		Sync: &health.SyncStatus{
			Connected:   st.Connected,
			Outbox:      st.Outbox,
			Checkpoints: st.Checkpoints,
			LastSync:    st.LastSync,
		},
	}
}

// Close stops the edge: HTTP first, then sync, then the replica.
func (e *Edge) Close() error { return e.proc.close() }

// maxBannerScan bounds the outbox read to tell people at school how many
// of their changes wait: beyond it, every waiting command is counted.
const maxBannerScan = 5000

// pendingChanges is how many changes people made at the edge wait to be
// sent: the outbox less the audit entries the edge recorded by itself.
func pendingChanges(st *edge.Store) int {
	n := st.OutboxLen()
	if n == 0 || n > maxBannerScan {
		return n
	}
	cmds, err := st.Outbox(0, n)
	if err != nil {
		return n
	}
	for _, c := range cmds {
		if c.Op == ent.OpAuditRecord {
			n--
		}
	}
	return max(n, 0)
}

// loadOrCreateKey returns the 32-byte key stored at path, creating it on
// first use. The edge signs its own sessions: a stolen appliance must not
// be able to forge sessions accepted at central.
func loadOrCreateKey(path string) ([]byte, error) {
	if k, err := os.ReadFile(path); err == nil && len(k) == 32 {
		return k, nil
	}
	k := make([]byte, 32)
	rand.Read(k)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, k, 0o600); err != nil {
		return nil, fmt.Errorf("write session key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write session key: %w", err)
	}
	return k, nil
}
