package main

import (
	"context"
	"fmt"

	"atrium/node"
	"atrium/replication"
)

func runEdge(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "status" {
		return runEdgeStatus(ctx, args[1:])
	}
	fs := newFlagSet("edge", "", "Run a lycée's edge appliance: the lycée's replica, the portal on the LAN, sync with central over QUIC.\n'atrium edge status --url URL' prints a running edge's sync and transfers.")
	dataDir := fs.String("data", "", "data directory: identity, replica, outbox (required)")
	httpAddr := fs.String("http", "127.0.0.1:8090", "HTTP listen address on the school LAN")
	enroll := fs.String("enroll", "", "one-time enrolment token from 'atrium ctl edge add' (first start only)")
	centralURL := fs.String("central", envOr("ATRIUM_SERVER", ""), "central node HTTP URL used to enrol (or ATRIUM_SERVER)")
	servers := fs.String("servers", "", "comma-separated central QUIC addresses, overriding those learnt at enrolment")
	name := fs.String("name", "", "node name shown in status (default edge-UAI)")
	dataKeyFile := fs.String("data-key-file", "", "file of the key the replica is sealed with, created on first start (default DATA/identity/data.key; the systemd credential atrium-data-key comes first)")
	wanCap := fs.String("wan-cap", "0", "cap on the sync's traffic with central in each direction, e.g. 2MB or 16Mbit (per second; 0: none)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dataDir == "" {
		fs.Usage()
		return fmt.Errorf("--data is required")
	}
	if *enroll != "" && *centralURL == "" {
		return fmt.Errorf("--enroll needs --central URL")
	}
	capBytes, err := replication.ParseRate(*wanCap)
	if err != nil {
		return fmt.Errorf("--wan-cap: %w", err)
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	e, err := node.StartEdge(ctx, node.EdgeConfig{
		Name: *name, DataDir: *dataDir, HTTPAddr: *httpAddr, EnrolToken: *enroll, CentralURL: *centralURL,
		Servers: splitList(*servers), Logger: log, WANCap: capBytes, DataKeyFile: *dataKeyFile,
	})
	if err != nil {
		return err
	}
	log.Info("edge serving", "url", e.URL(), "uai", e.UAI)
	<-ctx.Done()
	log.Info("edge stopping")
	return e.Close()
}
