package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/record"
	"atrium/replication"
)

var _ replication.Sink = (*Store)(nil)

// Config configures an edge Node. Every field is required except Logger,
// Registerer and the index (Indexer, IndexVersion).
type Config struct {
	DataDir      string                // directory of the edge's files; created if missing
	UAI          string                // the lycée this appliance serves, as its certificate names it
	Exec         record.Executor       // the ENT's rules, run on local commands
	Indexer      record.Indexer        // the records' index terms (Options.Indexer); nil = no index
	IndexVersion string                // names Indexer (Options.IndexVersion)
	Servers      []string              // UDP host:port of central's sync listeners, tried in turn
	TLS          *tls.Config           // client certificate and the central CA (RootCAs)
	Logger       *slog.Logger          // nil = slog.Default()
	Registerer   prometheus.Registerer // nil = no metrics registered
	PullLimit    int                   // records per Pull (replication.ClientConfig.PullLimit); 0 = its default
	DataKey      []byte                // seals the store's values (Options.DataKey, LoadDataKey); nil = kept in clear
	WAN          *replication.WAN      // the WAN cap and byte counts (replication.ClientConfig.WAN); nil = none
}

// SyncStatus is the state of the edge's link with central, as the status
// API and the offline banner show it.
type SyncStatus struct {
	Connected   bool              `json:"connected"`
	Outbox      int               `json:"outbox"` // local changes not yet acknowledged by central
	Checkpoints map[string]uint64 `json:"checkpoints"`
	LastSync    time.Time         `json:"last_sync"`
	// Digest is how the lycée's partition compares with central's
	// (replication's digest.go).
	Digest replication.DigestStatus `json:"digest"`
	// Snapshots are the snapshots of a partition taken, or in progress,
	// since start (replication's snapshot.go).
	Snapshots map[string]replication.SnapshotStatus `json:"snapshots,omitempty"`
}

// Node is an edge appliance's runtime: its store and the replication
// client that keeps it in step with central. It is safe for concurrent use.
type Node struct {
	store  *Store
	client *replication.Client
	logger *slog.Logger

	serveOnce sync.Once
}

// New opens the store in cfg.DataDir (edge.db) and prepares the link with
// central; Serve runs it.
func New(cfg Config) (*Node, error) {
	switch {
	case cfg.DataDir == "":
		return nil, errors.New("edge: new node: DataDir is required")
	case cfg.UAI == "":
		return nil, errors.New("edge: new node: UAI is required")
	case cfg.Exec == nil:
		return nil, errors.New("edge: new node: Exec is required")
	case len(cfg.Servers) == 0:
		return nil, errors.New("edge: new node: Servers is required")
	case cfg.TLS == nil:
		return nil, errors.New("edge: new node: TLS is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("edge: new node: %w", err)
	}
	store, err := OpenWith(filepath.Join(cfg.DataDir, "edge.db"), cfg.UAI, cfg.Exec, Options{Indexer: cfg.Indexer, IndexVersion: cfg.IndexVersion,
		DataKey: cfg.DataKey, Logger: logger})
	if err != nil {
		return nil, err
	}
	client, err := replication.NewClient(replication.ClientConfig{
		UAI:        cfg.UAI,
		Partitions: []string{cfg.UAI, record.Region},
		Servers:    cfg.Servers,
		TLS:        cfg.TLS,
		Sink:       store,
		Logger:     logger,
		Registerer: cfg.Registerer,
		PullLimit:  cfg.PullLimit,
		WAN:        cfg.WAN,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("edge: new node: %w", err)
	}
	n := &Node{store: store, client: client, logger: logger}
	if cfg.Registerer != nil {
		if err := n.register(cfg.Registerer); err != nil {
			store.Close()
			return nil, fmt.Errorf("edge: new node: register metrics: %w", err)
		}
	}
	return n, nil
}

func (n *Node) register(reg prometheus.Registerer) error {
	collectors := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "atrium_edge_outbox_depth",
			Help: "Local changes not yet acknowledged by central.",
		}, func() float64 { return float64(n.store.OutboxLen()) }),
	}
	// atrium_edge_connected comes from the replication client.
	// The edge holds two partitions, so the label stays bounded.
	for _, p := range []string{n.store.UAI(), record.Region} {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "atrium_edge_checkpoint",
			Help:        "Last sequence of central's changes feed applied at this edge.",
			ConstLabels: prometheus.Labels{"partition": p},
		}, func() float64 {
			cp, _ := n.store.Checkpoint(p)
			return float64(cp)
		}))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Serve keeps the store in sync with central until ctx is cancelled, then
// closes the store. Local writes (Store().Submit) work throughout, whether
// central is reachable or not.
func (n *Node) Serve(ctx context.Context) error {
	err := errors.New("edge: node already served")
	n.serveOnce.Do(func() {
		n.logger.Info("edge sync starting", "uai", n.store.UAI(), "epoch", n.store.Epoch())
		err = n.client.Serve(ctx)
		if cerr := n.store.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("edge: close store: %w", cerr)
		}
		n.logger.Info("edge sync stopped", "uai", n.store.UAI())
	})
	return err
}

// Close closes the store of a Node whose Serve was never called (Serve
// closes it otherwise); it is safe to call in either case.
func (n *Node) Close() error { return n.store.Close() }

// Store returns the edge's store: the ENT's store for the portal at the
// lycée.
func (n *Node) Store() *Store { return n.store }

// Connected reports whether the sync link with central is open.
func (n *Node) Connected() bool { return n.client.Connected() }

// Status returns the state of the sync link and of the outbox.
func (n *Node) Status() SyncStatus {
	cs := n.client.Status()
	return SyncStatus{
		Connected:   cs.Connected,
		Outbox:      n.store.OutboxLen(),
		Checkpoints: n.store.Checkpoints(),
		LastSync:    cs.LastSync,
		Digest:      cs.Digest,
		Snapshots:   cs.Snapshots,
	}
}
