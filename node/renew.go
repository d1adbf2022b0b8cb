package node

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/central"
)

// Edge certificates: central issues them for cfg.EdgeTTL at enrolment and
// at every renewal (appliance.RenewHandler, mounted next to enrolment);
// an edge's appliance.Keeper renews its own when a third of its life is
// left and hands the current pair to each new QUIC handshake.

// checkEdgeTTL refuses to start a central node whose edge certificates
// would not outlive its tombstone horizon (tombstones kept for ever, a
// negative horizon, allow any life).
func checkEdgeTTL(cfg CentralConfig) error {
	horizon := cfg.TombstoneHorizon
	if horizon == 0 {
		horizon = central.DefaultTombstoneHorizon
	}
	return appliance.CheckEdgeTTL(cfg.EdgeTTL, horizon)
}

// renewAuthority lets the renewal API sign with the cluster's CA and read
// the revocations committed through raft.
type renewAuthority struct {
	enroller
}

var _ appliance.RenewAuthority = renewAuthority{}

// Revoked reads the lycée's revocation after a round through raft: a
// follower that has not applied a revocation the leader committed yet
// would otherwise renew a revoked appliance, with a certificate issued
// after the revocation's cutoff and so not covered by it. The round is
// the consumption of a token nobody holds (a random hash): it changes
// nothing, and once it returns this node has applied every entry
// committed before it.
//
// TODO: a central.Node.Barrier would say this directly.
func (a renewAuthority) Revoked(ctx context.Context, uai string, cert *x509.Certificate) (bool, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	switch _, err := a.n.ConsumeEnrolToken(ctx, hex.EncodeToString(b[:])); {
	case errors.Is(err, central.ErrTokenUnknown):
	case err == nil:
		return false, errors.New("read revocations: a random token hash matched a token")
	default:
		return false, fmt.Errorf("read revocations: wait for the raft log: %w", err)
	}
	r, ok, err := a.n.Revocation(uai)
	if err != nil || !ok {
		return false, err
	}
	return r.Covers(appliance.IssuedAt(cert)), nil
}

// newKeeper returns the keeper of the edge's identity, with its metric
// registered on reg; StartEdge runs its renewal loop.
func newKeeper(cfg EdgeConfig, id *appliance.Identity, idDir string, reg prometheus.Registerer, log *slog.Logger) (*appliance.Keeper, error) {
	k, err := appliance.NewKeeper(id, appliance.KeeperConfig{
		Dir: idDir, CentralURL: cfg.CentralURL, RenewBefore: cfg.RenewBefore,
		RetryMin: cfg.RenewRetry, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "atrium", Subsystem: "edge", Name: "cert_expiry_seconds",
		Help: "Time left before the edge's client certificate expires, in seconds (negative once expired).",
	}, func() float64 { return time.Until(k.NotAfter()).Seconds() })
	if err := reg.Register(g); err != nil {
		return nil, fmt.Errorf("register certificate expiry metric: %w", err)
	}
	return k, nil
}

// Identity is the edge's identity as its keeper holds it now: the last
// certificate renewed. Nil for a retired appliance.
func (e *Edge) Identity() *appliance.Identity {
	if e.keeper == nil {
		return nil
	}
	return e.keeper.Identity()
}
