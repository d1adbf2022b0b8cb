package regiontest_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"atrium/appliance"
	"atrium/ent"
	"atrium/health"
	"atrium/internal/regiontest"
	"atrium/node"
)

// edgeCertTTL is the life of the certificates central issues in
// TestEdgeCertificateRenewsItself: the edge renews at two thirds, every
// few seconds.
const edgeCertTTL = 6 * time.Second

// An edge whose certificates last a few seconds renews its own before
// each expires and keeps syncing past its first certificate's expiry, over
// new connections, without a restart; the status API and the metric show
// the current certificate's expiry. Once the lycée's appliance is revoked,
// central refuses to renew its certificate.
func TestEdgeCertificateRenewsItself(t *testing.T) {
	// Tombstones kept for ever: a certificate life shorter than the
	// default horizon would refuse to start.
	r := regiontest.Start(t, regiontest.Options{NoEdges: true, EdgeTTL: edgeCertTTL, TombstoneHorizon: -1})
	ctx := t.Context()
	e := r.AddEdge(lyceeA)
	r.WaitSynced(lyceeA)

	first := e.Identity().Cert.Leaf
	if got := edgeStatus(t, e.URL()).CertNotAfter; !got.Equal(first.NotAfter) {
		t.Errorf("status cert_not_after = %v, want the enrolled certificate's %v", got, first.NotAfter)
	}
	if left := metric(t, e.URL(), "atrium_edge_cert_expiry_seconds"); left <= 0 || left > edgeCertTTL.Seconds() {
		t.Errorf("atrium_edge_cert_expiry_seconds = %v, want in (0, %v]", left, edgeCertTTL.Seconds())
	}

	// Renewed before it expires: the status shows the new expiry.
	regiontest.Eventually(t, 2*edgeCertTTL, func() error {
		if got := edgeStatus(t, e.URL()).CertNotAfter; !got.After(first.NotAfter) {
			return fmt.Errorf("status cert_not_after = %v, want after the first certificate's %v", got, first.NotAfter)
		}
		return nil
	})
	// Past the first certificate's expiry, the link is cut and restored:
	// the edge's new connections present a renewed certificate.
	regiontest.Eventually(t, 2*edgeCertTTL, func() error {
		if !time.Now().After(first.NotAfter.Add(time.Second)) {
			return errors.New("first certificate not expired yet")
		}
		return nil
	})
	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	r.RestoreWAN(lyceeA)

	teacher, student := account(r, lyceeA, ent.Teacher), account(r, lyceeA, ent.Student)
	subject := "Écrit à la maison après l'expiration du premier certificat"
	if _, err := login(t, r.AnyCentral().URL(), teacher).Send(ctx, student.login, subject, "corps"); err != nil {
		t.Fatal(err)
	}
	atEdge := login(t, e.URL(), student)
	regiontest.Eventually(t, 20*time.Second, func() error {
		msgs, err := atEdge.Messages(ctx)
		if err != nil {
			return err
		}
		if n := countSubject(msgs, subject); n != 1 {
			return fmt.Errorf("student's messages at the edge: %d %q, want 1", n, subject)
		}
		return nil
	})
	if !e.Node.Connected() {
		t.Error("edge not connected after the message reached it")
	}
	if cur := e.Identity().Cert.Leaf; !time.Now().Before(cur.NotAfter) || cur.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Errorf("edge's certificate = serial %v until %v, want a renewed one still valid", cur.SerialNumber, cur.NotAfter)
	}

	// Revoked: central refuses to renew, whatever the certificate.
	id := e.Identity()
	if _, err := r.Admin().RevokeEdge(ctx, lyceeA, "équipement remplacé"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // every central node sees the revocation
		c := r.Central(i)
		_, err := appliance.Renew(ctx, c.URL(), t.TempDir(), id, time.Now())
		if !errors.Is(err, appliance.ErrRenewRefused) || !strings.Contains(err.Error(), "("+appliance.RenewRevoked+")") {
			t.Errorf("renewal at %s after revocation = %v, want refused (%s)", c.Name(), err, appliance.RenewRevoked)
		}
	}
}

// A central node whose edge certificates would not outlive its tombstone
// horizon refuses to start.
func TestCentralRefusesEdgeTTLWithinHorizon(t *testing.T) {
	tests := []struct {
		ttl, horizon time.Duration
		ok           bool
	}{
		{24 * time.Hour, 0, false},                        // shorter than the 35-day default
		{10 * 24 * time.Hour, 10 * 24 * time.Hour, false}, // not longer
		{0, 0, true}, // 400 days against 35
	}
	for _, tt := range tests {
		cfg := node.CentralConfig{
			Name: "central-1", DataDir: t.TempDir(), Bootstrap: true,
			HTTPAddr: regiontest.FreeAddr(t), RaftAddr: regiontest.FreeAddr(t), SerfAddr: regiontest.FreeAddr(t),
			QUICAddr: regiontest.FreeAddr(t), EdgeTTL: tt.ttl, TombstoneHorizon: tt.horizon,
			Logger: slog.New(slog.DiscardHandler),
		}
		c, err := node.StartCentral(t.Context(), cfg)
		if c != nil {
			c.Close()
		}
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, appliance.ErrBadTTL)) {
			t.Errorf("StartCentral(EdgeTTL %v, TombstoneHorizon %v) = %v, want ok %v", tt.ttl, tt.horizon, err, tt.ok)
		}
	}
}

func edgeStatus(t *testing.T, base string) health.Status {
	t.Helper()
	st, _, err := health.FetchStatus(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
