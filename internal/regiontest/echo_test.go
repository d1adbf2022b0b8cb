package regiontest_test

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"testing"
	"time"

	"atrium/internal/regiontest"
)

// echoFileSize is the file the echo tests upload at an edge: a few MB,
// sixteen chunks.
const echoFileSize = 4 << 20

// A file uploaded at a cut-off edge travels to central once, and does not
// come back: central sends the edge's own chunks as stubs (their metadata,
// not their bytes), which the edge completes from its copies. Both ends
// then hold the same records, digests equal, the file whole on both, and
// the edge received from central a small part of the file's size.
func TestEdgeUploadNotSentBack(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	paul := login(t, r.Edge(lyceeA).URL(), byLogin(t, r, "paul.durand"))
	r.WaitSynced(lyceeA)
	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	data := chachaFile(echoFileSize, 11)
	res := publishRessource(t, paul, map[string]any{"title": "Conférence", "discipline": "Philosophie", "level": "terminale"},
		"conference.mp4", data)
	st, err := edgeProgress(t.Context(), r.Edge(lyceeA).URL())
	if err != nil {
		t.Fatal(err)
	}
	received, sent := st.Sync.WAN.ReceivedBytes, st.Sync.WAN.SentBytes

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	digestsEqual(t, r, lyceeA)
	st, err = edgeProgress(t.Context(), r.Edge(lyceeA).URL())
	if err != nil {
		t.Fatal(err)
	}
	down, up := st.Sync.WAN.ReceivedBytes-received, st.Sync.WAN.SentBytes-sent
	t.Logf("a %d-byte file uploaded at the cut-off edge: %d bytes up, %d bytes down once the link returned", len(data), up, down)
	if down >= echoFileSize/10 {
		t.Errorf("the edge received %d bytes from central after its upload of %d, want less than a tenth (%d)", down, len(data), echoFileSize/10)
	}
	if up < echoFileSize {
		t.Errorf("the edge sent %d bytes, want the %d-byte file at least: the upload did not go", up, len(data))
	}
	stubs, err := regiontest.Metric(r.Edge(lyceeA).URL(), "atrium_edge_stubs_applied_total")
	if err != nil {
		t.Fatal(err)
	}
	if chunks := float64((echoFileSize + (256<<10 - 1)) / (256 << 10)); stubs < chunks {
		t.Errorf("atrium_edge_stubs_applied_total = %v, want the file's %v chunks at least", stubs, chunks)
	}

	// The file, byte for byte, at both ends.
	want := sha256.Sum256(data)
	lea := login(t, r.AnyCentral().URL(), byLogin(t, r, "lea.martin"))
	for _, u := range []*regiontest.User{lea, paul} {
		if code, got := download(t, u, res.File.URL); code != http.StatusOK || sha256.Sum256(got) != want {
			t.Errorf("download at %s = %d, %d bytes; want 200 and the %d bytes uploaded", u.Base, code, len(got), len(data))
		}
	}
}

// An edge restored from a backup older than its upload no longer holds
// the chunks central sends it as stubs: it pulls those pages again whole,
// and ends with the file and central's digest.
func TestRestoredEdgeGetsItsUploadWhole(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	restore := backupEdge(t, r, lyceeA)

	paul := login(t, r.Edge(lyceeA).URL(), byLogin(t, r, "paul.durand"))
	data := chachaFile(echoFileSize, 12)
	res := publishRessource(t, paul, map[string]any{"title": "Travaux pratiques", "discipline": "Mathématiques", "level": "terminale"},
		"tp.mp4", data)
	r.WaitSynced(lyceeA)
	digestsEqual(t, r, lyceeA)

	// The appliance's disk is restored from the backup: its checkpoint is
	// from before the upload, and it holds none of its chunks.
	restore()
	e := r.RestartEdge(lyceeA)
	r.WaitSynced(lyceeA)
	digestsEqual(t, r, lyceeA)

	misses, err := regiontest.Metric(e.URL(), "atrium_edge_stub_misses_total")
	if err != nil {
		t.Fatal(err)
	}
	if misses < 1 {
		t.Errorf("atrium_edge_stub_misses_total = %v, want at least 1: the restored edge was sent stubs of chunks it lacks", misses)
	}
	st, err := edgeProgress(t.Context(), e.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the restored edge pulled %v pages again whole and received %d bytes for a %d-byte file", misses, st.Sync.WAN.ReceivedBytes, len(data))
	if st.Sync.WAN.ReceivedBytes < echoFileSize {
		t.Errorf("the restored edge received %d bytes, want the %d-byte file at least", st.Sync.WAN.ReceivedBytes, len(data))
	}
	want := sha256.Sum256(data)
	paul = login(t, e.URL(), byLogin(t, r, "paul.durand"))
	if code, got := download(t, paul, res.File.URL); code != http.StatusOK || sha256.Sum256(got) != want {
		t.Errorf("download at the restored edge = %d, %d bytes; want 200 and the %d bytes uploaded", code, len(got), len(data))
	}
}

// digestsEqual waits until the edge of uai holds central's head of its
// partition with central's digest, and says so on its status.
func digestsEqual(t *testing.T, r *regiontest.Region, uai string) {
	t.Helper()
	edgeSettled(t, r, uai)
	regiontest.Eventually(t, 30*time.Second, func() error {
		e := r.Edge(uai)
		mine, cp, settled, err := e.Node.Store().Digest(uai)
		if err != nil || !settled {
			return fmt.Errorf("edge digest = %v, settled %v; want a settled one", err, settled)
		}
		theirs, seq, err := r.AnyCentral().Node.Digest(uai)
		if err != nil {
			return err
		}
		if seq != cp || mine != theirs {
			return fmt.Errorf("edge digest %v at seq %d, central's %v at %d", mine, cp, theirs, seq)
		}
		if v := e.Node.Status().Digest.VerifiedSeq; v != cp {
			return fmt.Errorf("edge reports its digest verified at seq %d, want %d", v, cp)
		}
		return nil
	})
}
