package regiontest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
)

// An appliance restored from last week's backup (issue "Replication for
// the real world…"): its file numbers the commands written since the
// restore as it numbered those it had sent after the backup. Each start of
// the store mints a new epoch, so central takes them for new commands, not
// retransmissions: nothing written before or after the restore is lost,
// nothing is applied twice, and the edge gets back what its former self
// sent.
func TestEdgeRestoredFromBackupLosesNothing(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	student, teacher := account(r, lyceeA, ent.Student), account(r, lyceeA, ent.Teacher)
	// The backup, taken while the appliance is stopped for the night.
	restore := backupEdge(t, r, lyceeA)

	// Monday: a message sent at school reaches central.
	before := "Envoyé avant la restauration"
	if _, err := login(t, r.Edge(lyceeA).URL(), student).Send(ctx, teacher.login, before, "Bonjour."); err != nil {
		t.Fatalf("send at the edge: %v", err)
	}
	r.WaitSynced(lyceeA)
	waitMessages(t, r.AnyCentral().URL(), teacher, map[string]int{before: 1})

	// Tuesday: the appliance's disk is restored from the backup, and it
	// starts while the link is down; a message is sent at school.
	restore()
	r.CutWAN(lyceeA)
	r.RestartEdge(lyceeA)
	r.WaitOffline(lyceeA)
	after := "Envoyé après la restauration"
	if _, err := login(t, r.Edge(lyceeA).URL(), student).Send(ctx, teacher.login, after, "Bonjour encore."); err != nil {
		t.Fatalf("send at the restored edge: %v", err)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	want := map[string]int{before: 1, after: 1}
	for i := range 3 {
		waitMessages(t, r.Central(i).URL(), teacher, want)
	}
	waitMessages(t, r.Edge(lyceeA).URL(), teacher, want)
}

// waitMessages waits until a's messages at base hold each subject of want
// the number of times it gives.
func waitMessages(t *testing.T, base string, a acct, want map[string]int) {
	t.Helper()
	u := login(t, base, a)
	regiontest.Eventually(t, 15*time.Second, func() error {
		msgs, err := u.Messages(t.Context())
		if err != nil {
			return err
		}
		for subject, n := range want {
			if got := countSubject(msgs, subject); got != n {
				return fmt.Errorf("%s: %q seen %d times, want %d", base, subject, got, n)
			}
		}
		return nil
	})
}

// backupEdge stops the edge of uai, copies its store aside as a backup
// taken while the appliance is stopped would, and starts it again, synced.
// restore stops the edge and puts the backup in place of its store; the
// caller starts it again.
func backupEdge(t *testing.T, r *regiontest.Region, uai string) (restore func()) {
	t.Helper()
	db := filepath.Join(r.EdgeDataDir(uai), "edge.db")
	backup := filepath.Join(t.TempDir(), "edge.db.backup")
	r.StopEdge(uai)
	copyFile(t, db, backup)
	r.RestartEdge(uai)
	r.WaitSynced(uai)
	return func() {
		t.Helper()
		r.StopEdge(uai)
		copyFile(t, backup, db)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
