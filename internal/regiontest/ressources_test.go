package regiontest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// ressource is a catalogue item as the API shows it.
type ressource struct {
	ID        string `json:"id"`
	Catalogue string `json:"catalogue"`
	Title     string `json:"title"`
	File      *struct {
		Size int64  `json:"size"`
		URL  string `json:"url"`
	} `json:"file"`
}

func randomFile(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// publishRessource posts a resource with a file through the API
// (multipart: metadata + file) and returns it.
func publishRessource(t *testing.T, u *regiontest.User, meta map[string]any, name string, data []byte) ressource {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	m, _ := json.Marshal(meta)
	mw.WriteField("metadata", string(m))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", "application/pdf")
	fw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u.Base+"/api/v1/catalogue", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out ressource
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&out) != nil || out.File == nil || out.File.Size != int64(len(data)) {
		t.Fatalf("POST /api/v1/catalogue at %s = %d %+v, want 201 with the %d-byte file", u.Base, resp.StatusCode, out, len(data))
	}
	return out
}

// download fetches path as u: the status and the bytes.
func download(t *testing.T, u *regiontest.User, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u.Base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// The region's catalogue reaches the lycées: a Région agent publishes a
// 1.5 MB file at central, the edge receives the item and its chunks, and
// with its link cut a student downloads it at the edge byte for byte.
func TestRessourcesRegionFileReadAtOfflineEdge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	anne := login(t, r.AnyCentral().URL(), byLogin(t, r, "anne.lefebvre"))
	data := randomFile(1500<<10, 1)
	res := publishRessource(t, anne, map[string]any{"title": "Annales du bac", "discipline": "Mathématiques", "level": "terminale"},
		"annales.pdf", data)
	if res.Catalogue != "region" {
		t.Fatalf("a Région agent's resource is in catalogue %q, want region", res.Catalogue)
	}

	lea := login(t, r.Edge(lyceeA).URL(), byLogin(t, r, "lea.martin"))
	regiontest.Eventually(t, 20*time.Second, func() error {
		if code, got := download(t, lea, res.File.URL); code != http.StatusOK || !bytes.Equal(got, data) {
			return fmt.Errorf("lea.martin downloads at the edge = %d, %d bytes; want 200 and %d", code, len(got), len(data))
		}
		return nil
	})

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	var list struct {
		Region []ressource `json:"region"`
	}
	if code := homeworkCall(t, lea, http.MethodGet, "/api/v1/catalogue", nil, &list); code != http.StatusOK || len(list.Region) != 1 || list.Region[0].ID != res.ID {
		t.Errorf("region catalogue at the offline edge = %d %+v, want the one resource", code, list.Region)
	}
	if code, got := download(t, lea, res.File.URL); code != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("download at the offline edge = %d, %d bytes; want 200 and the %d bytes published", code, len(got), len(data))
	}
}

// A teacher publishes a 3 MB file (twelve chunks) for the lycée at its edge
// while the link is cut; once it returns, central lists it once and serves
// it byte for byte.
func TestRessourcesOfflineUploadReachesCentralOnce(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	paul := login(t, r.Edge(lyceeA).URL(), byLogin(t, r, "paul.durand"))
	data := randomFile(3<<20, 2)
	res := publishRessource(t, paul, map[string]any{"title": "TP de physique", "discipline": "Physique-chimie", "level": "premiere"},
		"tp.pdf", data)
	if code, got := download(t, paul, res.File.URL); code != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("download at the offline edge = %d, %d bytes; want 200 and %d", code, len(got), len(data))
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	c := r.AnyCentral()
	lea := login(t, c.URL(), byLogin(t, r, "lea.martin"))
	regiontest.Eventually(t, 20*time.Second, func() error {
		var list struct {
			Lycee []ressource `json:"lycee"`
		}
		if code := homeworkCall(t, lea, http.MethodGet, "/api/v1/catalogue", nil, &list); code != http.StatusOK || len(list.Lycee) != 1 || list.Lycee[0].ID != res.ID {
			return fmt.Errorf("lycée catalogue at central = %d %+v, want the one resource", code, list.Lycee)
		}
		if code, got := download(t, lea, res.File.URL); code != http.StatusOK || !bytes.Equal(got, data) {
			return fmt.Errorf("download at central = %d, %d bytes; want 200 and %d", code, len(got), len(data))
		}
		return nil
	})
	items, err := liveIDs(t, c, ent.KindCatalogueItem)
	if err != nil || len(items) != 1 || items[0] != res.ID {
		t.Errorf("%s: live catalogue items = %v, %v; want [%s]", c.Name(), items, err, res.ID)
	}
	// Each chunk reached central once, under the id its bytes give it.
	err = c.Node.View(func(rd record.Reader) error {
		for off := 0; off < len(data); off += ent.ChunkSize {
			sum := sha256.Sum256(data[off:min(off+ent.ChunkSize, len(data))])
			rec, ok, err := rd.Get(lyceeA, ent.ChunkID(hex.EncodeToString(sum[:])))
			if err != nil {
				return err
			}
			if !ok || rec.Kind != ent.KindFileChunk {
				return fmt.Errorf("chunk at %d missing", off)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s: chunks of the file: %v", c.Name(), err)
	}
}
