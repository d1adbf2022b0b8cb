package regiontest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// Two lycées publish the same file: a teacher of lycée A at the school's
// edge, one of lycée B from home (at central). Every central node holds
// the file's bytes once (and says so on /metrics), both partitions read
// their chunks whole, and each lycée's edge serves the file byte for byte
// — lycée B's from what central's feed sent it, with its link cut — with
// digests equal to central's.
func TestDedupSameFileTwoLycees(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	data := randomFile(5*ent.ChunkSize+1000, 11) // six chunks, the last one short
	chunks := (len(data) + ent.ChunkSize - 1) / ent.ChunkSize
	type stats struct {
		blobs int
		bytes int64
	}
	before := make([]stats, 3)
	for i := range before {
		b, n, err := r.Central(i).Node.BlobStats()
		if err != nil {
			t.Fatal(err)
		}
		before[i] = stats{b, n}
	}

	paul := login(t, r.Edge(lyceeA).URL(), account(r, lyceeA, ent.Teacher))
	resA := publishRessource(t, paul, map[string]any{"title": "Protocole de TP", "discipline": "Physique-chimie", "level": "seconde"}, "tp.pdf", data)
	teacherB := account(r, lyceeB, ent.Teacher)
	atHome := login(t, r.AnyCentral().URL(), teacherB)
	resB := publishRessource(t, atHome, map[string]any{"title": "Protocole de TP", "discipline": "Physique-chimie", "level": "seconde"}, "tp.pdf", data)
	r.WaitSynced(lyceeA)
	r.WaitSynced(lyceeB)
	edgeSettled(t, r, lyceeA)

	// Every central node: the chunks once, each referred to by both lycées.
	for i := range 3 {
		c := r.Central(i)
		regiontest.Eventually(t, 30*time.Second, func() error {
			blobs, n, err := c.Node.BlobStats()
			if err != nil {
				return err
			}
			if got, want := (stats{blobs - before[i].blobs, n - before[i].bytes}), (stats{chunks, int64(len(data))}); got != want {
				return fmt.Errorf("%s: BlobStats grew by %d blobs, %d bytes; want %d, %d (the file once)", c.Name(), got.blobs, got.bytes, want.blobs, want.bytes)
			}
			return nil
		})
		if got, err := regiontest.Metric(c.URL(), "atrium_central_blob_bytes"); err != nil {
			t.Errorf("%s: %v", c.Name(), err)
		} else if _, want, _ := c.Node.BlobStats(); got != float64(want) {
			t.Errorf("%s: atrium_central_blob_bytes = %v, want BlobStats' %d", c.Name(), got, want)
		}
		err := c.Node.View(func(rd record.Reader) error {
			for off := 0; off < len(data); off += ent.ChunkSize {
				sum := sha256.Sum256(data[off:min(off+ent.ChunkSize, len(data))])
				id := ent.ChunkID(hex.EncodeToString(sum[:]))
				a, okA, err := rd.Get(lyceeA, id)
				if err != nil {
					return err
				}
				b, okB, err := rd.Get(lyceeB, id)
				if err != nil {
					return err
				}
				if !okA || !okB || a.Deleted || b.Deleted || !bytes.Equal(a.Body, b.Body) || !bytes.Contains(a.Body, []byte(`{"data":"`)) {
					return fmt.Errorf("chunk at %d: lycée A has it %v, B %v; bodies of %d and %d bytes, want both, equal", off, okA, okB, len(a.Body), len(b.Body))
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", c.Name(), err)
		}
		for _, uai := range []string{lyceeA, lyceeB} {
			stored, _, err := c.Node.Digest(uai)
			if err != nil {
				t.Fatal(err)
			}
			if fresh, err := c.Node.RecomputeDigest(uai); err != nil || fresh != stored {
				t.Errorf("%s: digest of %s = %v, recomputed from its records %v (%v)", c.Name(), uai, stored, fresh, err)
			}
		}
	}

	// Each edge: the same records as central (digests at the same
	// sequence), and the file byte for byte, lycée B's with its link cut.
	for _, uai := range []string{lyceeA, lyceeB} {
		regiontest.Eventually(t, 30*time.Second, func() error {
			mine, cp, settled, err := r.Edge(uai).Node.Store().Digest(uai)
			if err != nil || !settled {
				return fmt.Errorf("edge %s digest = %v, settled %v; want a settled one", uai, err, settled)
			}
			theirs, seq, err := r.AnyCentral().Node.Digest(uai)
			if err != nil {
				return err
			}
			if seq != cp || mine != theirs {
				return fmt.Errorf("edge %s: digest %v at seq %d; central's %v at seq %d", uai, mine, cp, theirs, seq)
			}
			return nil
		})
	}
	r.CutWAN(lyceeB)
	r.WaitOffline(lyceeB)
	for _, dl := range []struct {
		who  *regiontest.User
		path string
	}{
		{paul, resA.File.URL},
		{login(t, r.Edge(lyceeB).URL(), teacherB), resB.File.URL},
	} {
		if code, got := download(t, dl.who, dl.path); code != http.StatusOK || !bytes.Equal(got, data) {
			t.Errorf("download of %s at %s = %d, %d bytes; want 200 and the %d bytes published", dl.path, dl.who.Base, code, len(got), len(data))
		}
	}
}
