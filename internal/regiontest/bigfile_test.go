package regiontest_test

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"atrium/health"
	"atrium/internal/regiontest"
	"atrium/node"
)

// bigFileMB is the size of TestBigFileThroughOutage's upload. The issue's
// scenario is 200 MB; the default keeps `make test` quick on two cores
// (docs/files.md gives both timings): go test -run TestBigFile -bigfile-mb 200.
var bigFileMB = flag.Int("bigfile-mb", 40, "size in MB (10^6 bytes) of the file TestBigFileThroughOutage uploads")

// chachaFile returns n random bytes, quickly.
func chachaFile(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// edgeProgress reads an edge's /api/v1/status as an operator's tools do.
func edgeProgress(ctx context.Context, base string) (health.Status, error) {
	st, _, err := health.FetchStatus(ctx, base)
	if err != nil {
		return st, err
	}
	if st.Sync == nil || st.Sync.Pending == nil || st.Sync.WAN == nil {
		return st, fmt.Errorf("%s/api/v1/status has no sync progress: %+v", base, st.Sync)
	}
	return st, nil
}

// The scenario: a teacher at a lycée cut off uploads a large video
// into the lycée's catalogue (through the API); the link returns; midway
// through the upload's sync the link is cut again and the edge restarted;
// the transfer resumes where it stopped, and central serves the file byte
// for byte, having received it about once.
func TestBigFileThroughOutage(t *testing.T) {
	start := time.Now()
	size := *bigFileMB * 1_000_000
	r := regiontest.Start(t, regiontest.Options{})
	t.Logf("region started: %v", time.Since(start).Round(time.Millisecond))
	paul := login(t, r.Edge(lyceeA).URL(), byLogin(t, r, "paul.durand"))
	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	data := chachaFile(size, 7)
	up := time.Now()
	res := publishRessource(t, paul, map[string]any{"title": "Vidéo de la sortie", "discipline": "Histoire-géographie", "level": "seconde"},
		"sortie.mp4", data)
	t.Logf("upload of %d MB at the cut-off edge: %v", *bigFileMB, time.Since(up).Round(time.Millisecond))

	// The status API shows the whole file waiting.
	chunks := (size + (256 << 10) - 1) / (256 << 10)
	var pending health.PendingStatus
	regiontest.Eventually(t, 30*time.Second, func() error { // sizes are read every 10 s
		st, err := edgeProgress(t.Context(), r.Edge(lyceeA).URL())
		if err != nil {
			return err
		}
		pending = *st.Sync.Pending
		if pending.Chunks != chunks || pending.ChunkBytes < int64(size) {
			return fmt.Errorf("edge status pending = %+v, want %d chunks of %d bytes at least", pending, chunks, size)
		}
		return nil
	})

	// The link returns; once about a third of the outbox has gone, it is cut
	// again and the edge restarted. A slow link makes "midway" last.
	r.DelayWAN(lyceeA, 5*time.Millisecond)
	r.RestoreWAN(lyceeA)
	back := time.Now()
	var sentBefore uint64
	// Deadlines allow for 200 kB/s: the in-process region's push of 256 kB
	// chunks through raft runs at about 1 MB/s on two busy cores.
	slow := time.Duration(*bigFileMB) * 7 * time.Second
	regiontest.Eventually(t, slow, func() error {
		st, err := edgeProgress(t.Context(), r.Edge(lyceeA).URL())
		if err != nil {
			return err
		}
		sentBefore = st.Sync.WAN.SentBytes
		if sentBefore < uint64(pending.Bytes)/3 {
			return fmt.Errorf("edge has sent %d bytes of %d", sentBefore, pending.Bytes)
		}
		return nil
	})
	r.CutWAN(lyceeA)
	if st, err := edgeProgress(t.Context(), r.Edge(lyceeA).URL()); err == nil {
		sentBefore = st.Sync.WAN.SentBytes
		if st.Sync.Pending.Chunks == 0 {
			t.Fatalf("the whole file left before the cut (pending %+v): nothing was resumed", st.Sync.Pending)
		}
	}
	r.StopEdge(lyceeA)
	e := r.RestartEdge(lyceeA)
	st, err := edgeProgress(t.Context(), e.URL())
	if err != nil {
		t.Fatal(err)
	}
	left := st.Sync.Pending
	t.Logf("cut %v after the link returned, %d bytes sent; after the restart %d chunks (%d bytes) wait", time.Since(back).Round(time.Millisecond), sentBefore, left.Chunks, left.ChunkBytes)
	if left.Chunks == 0 || left.Chunks >= chunks {
		t.Errorf("chunks waiting after the restart = %d, want some of the %d, not all: the first part was acknowledged", left.Chunks, chunks)
	}
	r.DelayWAN(lyceeA, 0)
	r.RestoreWAN(lyceeA)
	resumed := time.Now()
	regiontest.Eventually(t, slow, func() error {
		st, err := edgeProgress(t.Context(), e.URL())
		if err != nil {
			return err
		}
		if !st.Sync.Connected || st.Sync.Outbox != 0 {
			return fmt.Errorf("edge connected %v, %d changes waiting", st.Sync.Connected, st.Sync.Outbox)
		}
		return nil
	})
	st, err = edgeProgress(t.Context(), e.URL())
	if err != nil {
		t.Fatal(err)
	}
	sentAfter := st.Sync.WAN.SentBytes
	t.Logf("outbox empty %v after the link returned again; the edge received %d bytes meanwhile", time.Since(resumed).Round(time.Millisecond),
		st.Sync.WAN.ReceivedBytes)

	// Central serves the file byte for byte.
	c := r.AnyCentral()
	lea := login(t, c.URL(), byLogin(t, r, "lea.martin"))
	want := sha256.Sum256(data)
	regiontest.Eventually(t, 30*time.Second, func() error {
		code, got := download(t, lea, res.File.URL)
		if code != http.StatusOK || sha256.Sum256(got) != want {
			return fmt.Errorf("download at central = %d, %d bytes; want 200 and the %d bytes uploaded", code, len(got), size)
		}
		return nil
	})

	// The edge sent the outbox about once: what was in flight at the cut
	// went twice, no more. (The outbox holds the chunks in JSON, base64:
	// 4/3 of the file; docs/files.md.)
	total := sentBefore + sentAfter
	t.Logf("sent %d bytes in all for an outbox of %d bytes and a file of %d: %.2f× the outbox, %.2f× the file; %v in all",
		total, pending.Bytes, size, float64(total)/float64(pending.Bytes), float64(total)/float64(size), time.Since(start).Round(time.Millisecond))
	if limit := uint64(1.2 * float64(pending.Bytes)); total > limit {
		t.Errorf("bytes sent through the outage = %d, want at most %d (1.2× the outbox's %d)", total, limit, pending.Bytes)
	}
}

// An edge capped at 1 MB/s takes at least size/cap to catch up a few MB
// of files published at central: the cap holds end to end.
func TestWANCapSlowsCatchUp(t *testing.T) {
	const capBytes = 1_000_000
	const size = 3_000_000
	r := regiontest.Start(t, regiontest.Options{NoEdges: true})
	anne := login(t, r.AnyCentral().URL(), byLogin(t, r, "anne.lefebvre"))
	data := chachaFile(size, 9)
	publishRessource(t, anne, map[string]any{"title": "Annales", "discipline": "Mathématiques", "level": "terminale"}, "annales.pdf", data)

	tok, err := r.Admin().AddEdge(t.Context(), lyceeA)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	e, err := node.StartEdge(t.Context(), node.EdgeConfig{
		DataDir: t.TempDir(), HTTPAddr: regiontest.FreeAddr(t), EnrolToken: tok.Token,
		CentralURL: r.AnyCentral().URL(), Servers: r.QUICAddrs(), WANCap: capBytes,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	var st health.Status
	regiontest.Eventually(t, 60*time.Second, func() error {
		st, err = edgeProgress(t.Context(), e.URL())
		if err != nil {
			return err
		}
		if !st.Sync.Connected || st.Sync.Checkpoints["region"] == 0 || st.Sync.Files.Incomplete != 0 || st.Sync.WAN.ReceivedBytes < size {
			return fmt.Errorf("edge caught up? connected %v, checkpoints %v, files %+v, received %d", st.Sync.Connected,
				st.Sync.Checkpoints, st.Sync.Files, st.Sync.WAN.ReceivedBytes)
		}
		return nil
	})
	took := time.Since(begin)
	min := time.Duration(float64(st.Sync.WAN.ReceivedBytes) / capBytes * float64(time.Second))
	t.Logf("catch-up of %d bytes under a %d B/s cap: %v (at least %v)", st.Sync.WAN.ReceivedBytes, capBytes, took.Round(time.Millisecond), min)
	if st.Sync.WAN.Cap != capBytes {
		t.Errorf("status WAN cap = %d, want %d", st.Sync.WAN.Cap, capBytes)
	}
	if took < min {
		t.Errorf("catch-up of %d bytes under a %d B/s cap took %v, want at least %v", st.Sync.WAN.ReceivedBytes, capBytes, took, min)
	}
}
