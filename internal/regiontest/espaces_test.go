package regiontest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"slices"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// spaceDocView is a document of a space as the API shows it.
type spaceDocView struct {
	ID       string `json:"id"`
	Versions []struct {
		ID     string `json:"id"`
		Number int    `json:"number"`
		Size   int64  `json:"size"`
		URL    string `json:"url"`
	} `json:"versions"`
}

// spaceUpload posts a file (and fields) as multipart to the API as u and
// decodes the answer into out; it returns the status.
func spaceUpload(t *testing.T, u *regiontest.User, path, name string, data []byte, fields map[string]string, out any) int {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u.Base+path, &buf)
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
	if resp.StatusCode == http.StatusCreated && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// spaceDownload returns the bytes of the file at path (an API URL) as u.
func spaceDownload(t *testing.T, u *regiontest.User, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u.Base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s%s = %d", u.Base, path, resp.StatusCode)
	}
	return b, err
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// A document of the 1B's space exists before the edge's link is cut. While
// it is cut, a student deposits a 600 KB document there at the edge and
// the teacher a new version of the first one; meanwhile, at central, the
// teacher deposits another version of it. Once the link returns, central
// and the edge list the same three versions in the same order, each
// byte-identical on both sides, none twice, and the 600 KB document too.
func TestEspacesVersionsAcrossCut(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)
	central := r.AnyCentral()
	space := "/api/v1/spaces/" + ent.ClassSpaceID(lyceeA, "1B")

	lea := login(t, edge.URL(), byLogin(t, r, "lea.martin"))
	want := map[string][]byte{} // version id → bytes
	v1 := randomBytes(1, 100<<10)
	var doc spaceDocView
	if code := spaceUpload(t, lea, space+"/documents", "plan.odt", v1, map[string]string{"description": "Plan de l'exposé"}, &doc); code != http.StatusCreated {
		t.Fatalf("deposit at the edge = %d, want 201", code)
	}
	want[doc.Versions[0].ID] = v1
	docPath := space + "/documents/" + doc.ID
	r.WaitSynced(lyceeA)
	paulCentral := login(t, central.URL(), byLogin(t, r, "paul.durand"))
	regiontest.Eventually(t, 10*time.Second, func() error {
		_, err := spaceDownload(t, paulCentral, doc.Versions[0].URL)
		return err
	})

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	big := randomBytes(2, 600<<10)
	var bigDoc spaceDocView
	if code := spaceUpload(t, lea, space+"/documents", "expose.pdf", big, map[string]string{"description": "Exposé", "folder": "Exposés"}, &bigDoc); code != http.StatusCreated {
		t.Fatalf("600 KB deposit at the offline edge = %d, want 201", code)
	}
	want[bigDoc.Versions[0].ID] = big
	paulEdge := login(t, edge.URL(), byLogin(t, r, "paul.durand"))
	for _, w := range []struct {
		u    *regiontest.User
		seed uint64
		size int
	}{{paulEdge, 3, 300 << 10}, {paulCentral, 4, 200 << 10}} {
		data := randomBytes(w.seed, w.size)
		var v struct {
			ID string `json:"id"`
		}
		if code := spaceUpload(t, w.u, docPath+"/versions", "plan.odt", data, nil, &v); code != http.StatusCreated {
			t.Fatalf("new version at %s during the cut = %d, want 201", w.u.Base, code)
		}
		want[v.ID] = data
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	// versions returns the ids of the document's versions as u lists them,
	// after checking that each downloads byte-identical.
	versions := func(u *regiontest.User, path string, n int) ([]string, error) {
		var d spaceDocView
		if code := homeworkCall(t, u, http.MethodGet, path, nil, &d); code != http.StatusOK {
			return nil, fmt.Errorf("GET %s%s = %d", u.Base, path, code)
		}
		var ids []string
		for _, v := range d.Versions {
			ids = append(ids, v.ID)
			got, err := spaceDownload(t, u, v.URL)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(got, want[v.ID]) {
				return nil, fmt.Errorf("%s: version %d (%s) is %d bytes, not the %d deposited", u.Base, v.Number, v.ID, len(got), len(want[v.ID]))
			}
		}
		if len(ids) != n {
			return nil, fmt.Errorf("%s lists %d versions of %s, want %d", u.Base, len(ids), path, n)
		}
		return ids, nil
	}
	var atCentral, atEdge []string
	regiontest.Eventually(t, 20*time.Second, func() error {
		var err error
		if atCentral, err = versions(paulCentral, docPath, 3); err != nil {
			return err
		}
		if atEdge, err = versions(lea, docPath, 3); err != nil {
			return err
		}
		if !slices.Equal(atCentral, atEdge) {
			return fmt.Errorf("versions at central %v, at the edge %v: want the same order", atCentral, atEdge)
		}
		_, err = versions(paulCentral, space+"/documents/"+bigDoc.ID, 1)
		return err
	})
	// Each version is stored once at central, the 600 KB document's three
	// chunks once.
	counts := map[string]int{}
	err := central.Node.View(func(rd record.Reader) error {
		for _, kind := range []string{ent.KindSpaceDocument, ent.KindSpaceVersion} {
			if err := rd.Scan(lyceeA, kind, func(rec record.Record) error {
				counts[kind]++
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if wantCounts := map[string]int{ent.KindSpaceDocument: 2, ent.KindSpaceVersion: 4}; err != nil || fmt.Sprint(counts) != fmt.Sprint(wantCounts) {
		t.Errorf("central records = %v, %v; want %v", counts, err, wantCounts)
	}
	// A student of another class is refused the file at central.
	hugo := login(t, central.URL(), byLogin(t, r, "hugo.bernard"))
	if _, err := spaceDownload(t, hugo, bigDoc.Versions[0].URL); err == nil {
		t.Error("hugo.bernard (2C) downloads the 1B document at central")
	}
}
