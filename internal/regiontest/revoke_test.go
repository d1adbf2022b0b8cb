package regiontest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"atrium/appliance"
	"atrium/edge"
	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
	"atrium/replication"
)

// A stolen appliance: the operator revokes lycée A's edge while its link
// is cut and changes wait in its outbox, and lycée B's while it is
// connected. Each edge learns it from central, purges its data and answers
// the French notice; a tampered client reusing A's certificate is refused;
// nothing A had waiting reaches central; a replacement enrolled with a new
// token syncs normally.
func TestRevokedEdgePurgesAndReplacementSyncs(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	student, teacher := account(r, lyceeA, ent.Student), account(r, lyceeA, ent.Teacher)
	idA, err := appliance.LoadIdentity(filepath.Join(r.EdgeDataDir(lyceeA), "identity"))
	if err != nil {
		t.Fatal(err)
	}
	stolenTLS := idA.ClientTLS() // what a thief copied off the disk

	// Data at A: one message synced, one waiting in the outbox.
	edgeA := r.Edge(lyceeA)
	synced := "Sujet synchronisé avant le vol"
	if _, err := login(t, edgeA.URL(), student).Send(ctx, teacher.login, synced, "corps synchronisé"); err != nil {
		t.Fatal(err)
	}
	r.WaitSynced(lyceeA)
	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	pending := "Sujet en attente au moment du vol"
	sentPending, err := login(t, edgeA.URL(), student).Send(ctx, teacher.login, pending, "corps en attente")
	if err != nil {
		t.Fatal(err)
	}
	if n := edgeA.Node.Status().Outbox; n == 0 {
		t.Fatal("edge A outbox empty while cut off, want the pending message")
	}
	dirA, dirB := r.EdgeDataDir(lyceeA), r.EdgeDataDir(lyceeB)
	edgeB := r.Edge(lyceeB)
	if !edgeB.Node.Connected() {
		t.Fatal("edge B not connected before its revocation")
	}

	revA, err := r.Admin().RevokeEdge(ctx, lyceeA, "vol signalé")
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Admin().RevokeEdge(ctx, lyceeA, "vol signalé")
	if err != nil || again.Time.Before(revA.Time) {
		t.Fatalf("revoking again = %+v, %v, want the same or a later cutoff than %v", again, err, revA.Time)
	}
	if _, err := r.Admin().RevokeEdge(ctx, lyceeB, ""); err != nil {
		t.Fatal(err)
	}
	edges, err := r.Admin().Edges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edges {
		if want := e.UAI == lyceeA || e.UAI == lyceeB; (e.Revoked != nil) != want {
			t.Errorf("edge list: %s revoked = %v, want %v", e.UAI, e.Revoked, want)
		}
		if e.UAI == lyceeA && e.RevokedReason != "vol signalé" {
			t.Errorf("edge list: %s reason = %q, want %q", e.UAI, e.RevokedReason, "vol signalé")
		}
	}

	// B was connected: central closes its session, and B purges itself.
	waitRetired(t, r, lyceeB, dirB)
	// A learns it as soon as it reaches central again.
	r.RestoreWAN(lyceeA)
	waitRetired(t, r, lyceeA, dirA)
	for _, dir := range []string{dirA, dirB} {
		checkPurged(t, dir, synced, pending, "corps synchronisé", "corps en attente")
	}

	// Nothing A had waiting was applied at central.
	err = r.AnyCentral().Node.View(func(rd record.Reader) error {
		if _, ok, err := rd.Get(lyceeA, sentPending.ID); err != nil || ok {
			return fmt.Errorf("message pushed after the revocation found at central: ok=%v err=%v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	// A tampered client reusing the stolen certificate is refused.
	c, err := replication.NewClient(replication.ClientConfig{UAI: lyceeA, Servers: r.QUICAddrs(), TLS: stolenTLS,
		Sink: &tamperedSink{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := ctxWithCancel(t)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Serve(cctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, replication.ErrRevoked) {
			t.Errorf("client with the stolen certificate: Serve = %v, want ErrRevoked", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("client with the stolen certificate still serving after 20 s")
	}

	// A replacement, enrolled with a new token, syncs normally. Certificates
	// carry whole seconds: one issued in the revocation's second would be
	// revoked too, so the new appliance is installed after it.
	r.StopEdge(lyceeA)
	regiontest.Eventually(t, 3*time.Second, func() error {
		if !time.Now().Truncate(time.Second).After(again.Time) {
			return errors.New("still in the revocation's second")
		}
		return nil
	})
	replacement := r.AddEdge(lyceeA)
	r.WaitSynced(lyceeA)
	msgs, err := login(t, replacement.URL(), teacher).Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if countSubject(msgs, synced) != 1 || countSubject(msgs, pending) != 0 {
		t.Errorf("teacher's messages at the replacement: %d %q and %d %q, want 1 and 0",
			countSubject(msgs, synced), synced, countSubject(msgs, pending), pending)
	}
}

// waitRetired waits until the edge of uai answers the French notice and
// reports itself not ready, and its data directory holds only the
// retirement record.
func waitRetired(t *testing.T, r *regiontest.Region, uai, dir string) {
	t.Helper()
	base := r.Edge(uai).URL()
	regiontest.Eventually(t, 20*time.Second, func() error {
		status, body, err := httpGet(base + "/")
		if err != nil {
			return err
		}
		if status != http.StatusGone || !strings.Contains(body, "Cet équipement a été retiré du service") {
			return fmt.Errorf("GET / at edge %s = %d %.80q, want 410 and the notice", uai, status, body)
		}
		status, body, err = httpGet(base + "/readyz")
		if err != nil {
			return err
		}
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "retired") {
			return fmt.Errorf("GET /readyz at edge %s = %d %q, want 503 retired", uai, status, body)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(entries) != 1 || entries[0].Name() != edge.RetiredFile {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return fmt.Errorf("edge %s data dir holds %v, want only %s", uai, names, edge.RetiredFile)
		}
		return nil
	})
	// The login page, a page behind it and the API all answer the notice.
	for _, p := range []string{"/connexion", "/messages", "/api/v1/messages", "/cas/login"} {
		if status, body, err := httpGet(base + p); err != nil || status != http.StatusGone || !strings.Contains(body, "retiré du service") {
			t.Errorf("GET %s at retired edge %s = %d, %v, want 410 and the notice", p, uai, status, err)
		}
	}
}

// checkPurged fails if any file under dir still holds one of texts.
func checkPurged(t *testing.T, dir string, texts ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range texts {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s still holds %q after the purge", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
