package main

import (
	"context"
	"fmt"

	"atrium/central"
	"atrium/node"
)

func runCentral(ctx context.Context, args []string) error {
	fs := newFlagSet("central", "", "Run a node of the central cluster: raft member, replication listener for the edges, portal and APIs.")
	name := fs.String("name", "", "node name, unique in the cluster (required)")
	dataDir := fs.String("data", "", "data directory: raft log, snapshots, state (required)")
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP listen address: portal, API, health, metrics")
	raftAddr := fs.String("raft", "127.0.0.1:7000", "raft transport address (TCP)")
	serfAddr := fs.String("serf", "127.0.0.1:7100", "serf membership address (TCP and UDP)")
	quicAddr := fs.String("quic", "127.0.0.1:7200", "replication listener for the edges (QUIC, UDP)")
	bootstrap := fs.Bool("bootstrap", false, "start a new cluster if the data directory holds none")
	join := fs.String("join", "", "comma-separated serf addresses of members to join")
	token := fs.String("operator-token", envOr("ATRIUM_OPERATOR_TOKEN", ""), "operator API token (or ATRIUM_OPERATOR_TOKEN); empty disables the operator API")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	horizon := fs.Duration("tombstone-horizon", central.DefaultTombstoneHorizon,
		"how long deleted records' tombstones are kept for the edges' feeds; an edge cut off for longer receives a snapshot of its lycée (negative: kept for ever)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *dataDir == "" {
		fs.Usage()
		return fmt.Errorf("--name and --data are required")
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	c, err := node.StartCentral(ctx, node.CentralConfig{
		Name: *name, DataDir: *dataDir, HTTPAddr: *httpAddr, RaftAddr: *raftAddr, SerfAddr: *serfAddr,
		QUICAddr: *quicAddr, Bootstrap: *bootstrap, Join: splitList(*join), OperatorToken: *token, Logger: log,
		TombstoneHorizon: *horizon,
	})
	if err != nil {
		return err
	}
	log.Info("central node serving", "url", c.URL())
	<-ctx.Done()
	log.Info("central node stopping")
	return c.Close()
}
