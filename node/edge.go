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
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/cas"
	"atrium/edge"
	"atrium/ent"
	"atrium/health"
	"atrium/portal"
	"atrium/record"
	"atrium/replication"
)

// EdgeConfig configures a lycée's edge appliance.
type EdgeConfig struct {
	Name     string // node name shown in status; "" means "edge-" + UAI
	DataDir  string // identity, replica and outbox (required)
	HTTPAddr string // portal and API on the school LAN (required)

	// Enrolment, on first start only: the one-time token printed by
	// `atrium ctl edge add` and the central HTTP URL that redeems it. The
	// edge renews its certificate at CentralURL too; "" means the URL it
	// enrolled with.
	EnrolToken string
	CentralURL string

	// RenewBefore is the fraction of its life the edge's certificate has
	// left when it is renewed; zero: appliance.DefaultRenewBefore (a
	// third). RenewRetry is the first wait after a failed renewal (it
	// doubles, up to 30 min); zero: 10 s.
	RenewBefore float64
	RenewRetry  time.Duration

	// Servers overrides the central QUIC addresses learnt at enrolment (the
	// demo puts its WAN fault proxies there).
	Servers []string

	Logger     *slog.Logger
	Registry   *prometheus.Registry // nil: a fresh one
	UsageFlush time.Duration        // how often visits are flushed; zero: ent.DefaultUsageFlush
	// DataKeyFile is the file holding the key the replica is sealed with
	// (edge.LoadDataKey), created on first start; "" means
	// edge.DefaultDataKeyPath(DataDir). The systemd credential
	// edge.DataKeyCredential, when the unit passes one, comes first.
	DataKeyFile string
	// PullLimit is the most records the edge asks central for in one
	// pull; zero: replication's default (5000). Tests make it small.
	PullLimit int
	// WANCap caps the edge's QUIC traffic with central, in bytes per
	// second in each direction, so that a catch-up leaves the school's
	// link usable (docs/files.md); zero: no cap.
	WANCap int64
}

// Edge is a running edge appliance.
type Edge struct {
	cfg     EdgeConfig
	UAI     string
	Node    *edge.Node        // nil for an appliance retired before it started
	keeper  *appliance.Keeper // the identity, renewed (renew.go); nil when retired
	proc    *process
	retired atomic.Pointer[edge.Retirement] // set once central revoked it (retired.go)
	wan     *replication.WAN                // the WAN's cap and byte counts
	prog    *progress                       // transfers in progress (progress.go)
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
	if ret, retired, err := edge.Retired(cfg.DataDir); err != nil {
		return nil, err
	} else if retired {
		if cfg.EnrolToken == "" {
			return startRetired(ctx, cfg, ret, log)
		}
		// Enrolled again by an operator, with a new token.
		if err := edge.Unretire(cfg.DataDir); err != nil {
			return nil, err
		}
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
	keeper, err := newKeeper(cfg, id, idDir, reg, log)
	if err != nil {
		return nil, err
	}
	wan := replication.NewWAN(cfg.WANCap)
	for _, c := range wan.Collectors() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register WAN metrics: %w", err)
		}
	}
	dataKey, keyFrom, err := edge.LoadDataKey(dataKeyPath(cfg))
	if err != nil {
		return nil, err
	}
	log.Info("edge data key loaded", "from", keyFrom)
	en, err := edge.New(edge.Config{
		DataDir:      cfg.DataDir,
		UAI:          id.UAI,
		Exec:         ent.Exec,
		Indexer:      ent.IndexTerms, // the portal's lists read through it: always set
		IndexVersion: ent.IndexVersion,
		Servers:      servers,
		TLS:          keeper.ClientTLS(), // the current certificate at each handshake
		Logger:       log,
		Registerer:   reg,
		PullLimit:    cfg.PullLimit,
		WAN:          wan,
		DataKey:      dataKey,
	})
	if err != nil {
		return nil, fmt.Errorf("open edge replica: %w", err)
	}
	prog := newProgress(en.Store())
	for _, c := range prog.collectors() {
		if err := reg.Register(c); err != nil {
			en.Close()
			return nil, fmt.Errorf("register progress metrics: %w", err)
		}
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
	usage, err := ent.NewUsageCounter(ent.UsageCounterConfig{Service: svc, Node: cfg.Name, Every: cfg.UsageFlush})
	if err != nil {
		sso.Close()
		en.Close()
		return nil, err
	}
	p, err := portal.New(portal.Config{
		Service: svc, Node: cfg.Name, Role: "edge", UAI: id.UAI, Logger: log, Usage: usage,
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
	e := &Edge{cfg: cfg, UAI: id.UAI, Node: en, keeper: keeper, proc: newProcess(ctx, ln), wan: wan, prog: prog}
	mux := http.NewServeMux()
	health.Mount(mux, health.Config{Status: e.status, Ready: e.ready, Gatherer: reg})
	mux.Handle("/cas/", e.retiredHandler(sso))
	mux.Handle("/", e.retiredHandler(p.Handler()))
	e.proc.run(func(ctx context.Context) {
		<-ctx.Done()
		sso.Close()
	})
	// The usage counter flushes once more when the edge stops, into the
	// store: sync (which closes the store) stops after it.
	syncCtx, stopSync := context.WithCancel(context.WithoutCancel(ctx))
	e.proc.run(func(ctx context.Context) {
		usage.Serve(ctx)
		stopSync()
	})
	e.proc.run(func(context.Context) {
		err := en.Serve(syncCtx)
		switch {
		case errors.Is(err, replication.ErrRevoked):
			e.retire(err, log)
		case err != nil && syncCtx.Err() == nil:
			log.Error("edge sync stopped", "err", err)
		}
	})
	e.proc.run(func(ctx context.Context) { e.purgeAuditLoop(ctx, log) })
	e.proc.run(func(ctx context.Context) { _ = keeper.Serve(ctx) })
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
// The lycée's usage statistics recorded here go too once past theirs
// (ent.UsageCutoff; their ids carry their day).
func (e *Edge) PurgeAudit(now time.Time) (int, error) {
	cutoff := ent.AuditCutoff(now)
	n, err := e.Node.Store().PurgeLocal(record.AuditPartition(e.UAI), cutoff, func(rec record.Record) bool {
		return !rec.Deleted && !ent.AuditExpired(rec, cutoff)
	})
	if err != nil {
		return n, err
	}
	m, err := e.Node.Store().PurgeLocal(record.UsagePartition(e.UAI), ent.UsageCutoff(now), nil)
	return n + m, err
}

// URL is the edge's HTTP base URL.
func (e *Edge) URL() string { return e.proc.url() }

func (e *Edge) ready() error {
	if e.retired.Load() != nil {
		return errRetired
	}
	st := e.Node.Status()
	if st.Checkpoints[e.UAI] == 0 && !st.Connected {
		return errors.New("replica empty and central not reached yet")
	}
	return nil
}

func (e *Edge) status() health.Status {
	if e.Node == nil || e.retired.Load() != nil {
		return health.Status{Node: e.cfg.Name, Role: "edge", UAI: e.UAI}
	}
	st := e.Node.Status()
	pending, files := e.prog.get()
	return health.Status{
		Node:         e.cfg.Name,
		Role:         "edge",
		UAI:          e.UAI,
		CertNotAfter: e.keeper.NotAfter(),
		Sync: &health.SyncStatus{
			Connected:   st.Connected,
			Outbox:      st.Outbox,
			Checkpoints: st.Checkpoints,
			LastSync:    st.LastSync,
			Digest: &health.DigestStatus{
				VerifiedSeq: st.Digest.VerifiedSeq,
				VerifiedAt:  st.Digest.VerifiedAt,
				Mismatches:  st.Digest.Mismatches,
				Repairs:     st.Digest.Repairs,
			},
			Snapshots: snapshotStatus(st.Snapshots),
			Pending:   &pending,
			Files:     &files,
			WAN:       &health.WANStatus{Cap: e.wan.Cap(), SentBytes: e.wan.Sent(), ReceivedBytes: e.wan.Received()},
		},
	}
}

// snapshotStatus is the status API's view of the edge's snapshots.
func snapshotStatus(in map[string]replication.SnapshotStatus) map[string]health.SnapshotStatus {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]health.SnapshotStatus, len(in))
	for p, s := range in {
		out[p] = health.SnapshotStatus{InProgress: s.InProgress, StagedSeq: s.StagedSeq, Records: s.Records, Bytes: s.Bytes,
			ResumedFrom: s.ResumedFrom, Completed: s.Completed, LastSwap: s.LastSwap}
	}
	return out
}

// Close stops the edge: HTTP first, then sync, then the replica.
func (e *Edge) Close() error { return e.proc.close() }

// pendingChanges is how many changes people made at the edge wait to be
// sent: the outbox less the audit entries and usage counts the edge
// recorded by itself. The store keeps the counts by operation: every page
// shows the figure in its offline banner.
func pendingChanges(st *edge.Store) int {
	return st.OutboxLenExcept(ent.OpAuditRecord, ent.OpUsageRecord)
}

// dataKeyPath is the key file the edge's replica is sealed with.
func dataKeyPath(cfg EdgeConfig) string {
	if cfg.DataKeyFile != "" {
		return cfg.DataKeyFile
	}
	return edge.DefaultDataKeyPath(cfg.DataDir)
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
