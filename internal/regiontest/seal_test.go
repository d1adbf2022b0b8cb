package regiontest_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"atrium/edge"
	"atrium/ent"
	"atrium/internal/regiontest"
)

// A stolen disk: an edge started through node.StartEdge seals its replica
// under a key file it creates (mode 0600) and syncs as before; a message
// sent at school, synced or waiting in the outbox, and the users' logins
// are nowhere in clear in its file; restarted, the edge reads them all.
func TestEdgeReplicaSealedAtRest(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	student, teacher := account(r, lyceeA, ent.Student), account(r, lyceeA, ent.Teacher)
	dir := r.EdgeDataDir(lyceeA)

	keyPath := edge.DefaultDataKeyPath(dir)
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("data key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != edge.DataKeySize {
		t.Errorf("data key file = mode %v, %d bytes; want 0600, %d bytes", fi.Mode().Perm(), fi.Size(), edge.DataKeySize)
	}

	edgeA := r.Edge(lyceeA)
	synced, waiting := "Sujet scellé, synchronisé", "Sujet scellé, en attente"
	syncedBody := "Mon absence de mardi était due à un rendez-vous médical"
	if _, err := login(t, edgeA.URL(), student).Send(ctx, teacher.login, synced, syncedBody); err != nil {
		t.Fatal(err)
	}
	r.WaitSynced(lyceeA)
	atHome := login(t, r.AnyCentral().URL(), teacher)
	regiontest.Eventually(t, 10*time.Second, func() error {
		msgs, err := atHome.Messages(ctx)
		if err == nil && countSubject(msgs, synced) != 1 {
			return fmt.Errorf("central shows the message %d times, want 1", countSubject(msgs, synced))
		}
		return err
	})
	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	atSchool := login(t, edgeA.URL(), student)
	if _, err := atSchool.Send(ctx, teacher.login, waiting, "corps en attente"); err != nil {
		t.Fatal(err)
	}

	r.StopEdge(lyceeA)
	b, err := os.ReadFile(filepath.Join(dir, "edge.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{synced, waiting, syncedBody, student.login, teacher.login} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("edge.db holds %q in clear", s)
		}
	}

	edgeA = r.RestartEdge(lyceeA)
	msgs, err := login(t, edgeA.URL(), student).Messages(ctx)
	if err != nil || countSubject(msgs, synced) != 1 || countSubject(msgs, waiting) != 1 {
		t.Errorf("edge messages after restart = %d synced, %d waiting, %v; want 1 and 1",
			countSubject(msgs, synced), countSubject(msgs, waiting), err)
	}
	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	regiontest.Eventually(t, 10*time.Second, func() error {
		msgs, err := atHome.Messages(ctx)
		if err == nil && countSubject(msgs, waiting) != 1 {
			return fmt.Errorf("central shows the message sent offline %d times, want 1", countSubject(msgs, waiting))
		}
		return err
	})
}
