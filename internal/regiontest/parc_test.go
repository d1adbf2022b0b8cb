package regiontest_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
)

// apiAsset is an asset as GET /api/v1/assets/{id} shows it.
type apiAsset struct {
	ID       string `json:"id"`
	Number   string `json:"number"`
	Location string `json:"location"`
	State    string `json:"state"`
	Revision int    `json:"revision"`
	History  []struct {
		Revision int      `json:"revision"`
		By       string   `json:"by"`
		What     []string `json:"what"`
	} `json:"history"`
}

// getAsset reads asset id as u, or fails with an error.
func getAsset(t *testing.T, u *regiontest.User, id string) (apiAsset, error) {
	var a apiAsset
	if code, msg := ticketCall(t, u, http.MethodGet, "/api/v1/assets/"+id, nil, &a); code != http.StatusOK {
		return a, fmt.Errorf("GET asset %s as %s at %s = %d %s", id, u.Login, u.Base, code, msg)
	}
	return a, nil
}

// The inventory works at a lycée's edge cut off from the region: an asset
// recorded there reaches central once; two changes of the same asset from
// the same revision, one on each side of the cut, do not overwrite each
// other: central keeps the one it executed first and refuses the other,
// whose author gets a notice that says why.
func TestParcAtAnOfflineEdge(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	edge := r.Edge(lyceeA)
	cbase, ebase := r.AnyCentral().URL(), edge.URL()
	nadiaC := login(t, cbase, byLogin(t, r, "nadia.benali"))
	nadiaE, paulE := login(t, ebase, byLogin(t, r, "nadia.benali")), login(t, ebase, byLogin(t, r, "paul.durand"))

	asset := map[string]string{"number": "INV-B12-01", "kind": "videoprojecteur", "model": "Epson EB-W49", "location": "B12", "state": "en-service"}
	var a1 apiAsset
	if code, msg := ticketCall(t, nadiaC, http.MethodPost, "/api/v1/assets", asset, &a1); code != http.StatusCreated {
		t.Fatalf("record an asset at central = %d %s", code, msg)
	}
	regiontest.Eventually(t, 20*time.Second, func() error { _, err := getAsset(t, nadiaE, a1.ID); return err })

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	// At the offline edge: Nadia records a laptop and marks the projector
	// en panne; Paul, a teacher, reads the inventory but changes nothing.
	var a2 apiAsset
	laptop := map[string]string{"number": "INV-CDI-07", "kind": "ordinateur", "model": "Lenovo ThinkPad E14", "location": "CDI", "state": "en-service"}
	if code, msg := ticketCall(t, nadiaE, http.MethodPost, "/api/v1/assets", laptop, &a2); code != http.StatusCreated {
		t.Fatalf("record an asset at the offline edge = %d %s", code, msg)
	}
	change := map[string]any{"base": 1, "kind": "videoprojecteur", "model": "Epson EB-W49", "location": "B12", "state": "en-panne"}
	if code, msg := ticketCall(t, nadiaE, http.MethodPut, "/api/v1/assets/"+a1.ID, change, nil); code != http.StatusOK {
		t.Fatalf("change at the offline edge = %d %s", code, msg)
	}
	var list []apiAsset
	if code, msg := ticketCall(t, paulE, http.MethodGet, "/api/v1/assets", nil, &list); code != http.StatusOK || len(list) != 2 {
		t.Errorf("teacher's inventory at the offline edge = %d %s, %d assets; want 2", code, msg, len(list))
	}
	if code, _ := ticketCall(t, paulE, http.MethodPut, "/api/v1/assets/"+a1.ID, change, nil); code != http.StatusForbidden {
		t.Errorf("teacher's change at the offline edge = %d, want 403", code)
	}
	// Meanwhile at central, the projector moves to C04 from revision 1.
	moved := map[string]any{"base": 1, "kind": "videoprojecteur", "model": "Epson EB-W49", "location": "C04", "state": "en-service"}
	if code, msg := ticketCall(t, nadiaC, http.MethodPut, "/api/v1/assets/"+a1.ID, moved, nil); code != http.StatusOK {
		t.Fatalf("change at central = %d %s", code, msg)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	// Central: the edge's laptop once, the projector as central changed it.
	list = nil
	if code, msg := ticketCall(t, nadiaC, http.MethodGet, "/api/v1/assets", nil, &list); code != http.StatusOK {
		t.Fatalf("inventory at central = %d %s", code, msg)
	}
	n := 0
	for _, a := range list {
		if a.Number == "INV-CDI-07" {
			n++
		}
	}
	if n != 1 || len(list) != 2 {
		t.Errorf("inventory at central = %d assets, %d INV-CDI-07; want 2 and 1", len(list), n)
	}
	if a, err := getAsset(t, nadiaC, a2.ID); err != nil || len(a.History) != 1 {
		t.Errorf("edge's asset at central = %+v, %v; want it with one history entry", a, err)
	}
	a, err := getAsset(t, nadiaC, a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != 2 || a.Location != "C04" || a.State != ent.AssetInService || len(a.History) != 2 {
		t.Errorf("projector at central = revision %d, %s, %s, %d history entries; want 2, C04, en-service, 2", a.Revision, a.Location, a.State, len(a.History))
	}
	// The edge converges on central's asset.
	regiontest.Eventually(t, 20*time.Second, func() error {
		a, err := getAsset(t, nadiaE, a1.ID)
		if err != nil {
			return err
		}
		if a.Revision != 2 || a.Location != "C04" || a.State != ent.AssetInService || len(a.History) != 2 {
			return fmt.Errorf("projector at the edge = revision %d, %s, %s, %d history entries; want 2, C04, en-service, 2", a.Revision, a.Location, a.State, len(a.History))
		}
		return nil
	})
	// Nadia's refused change is a notice that says why.
	regiontest.Eventually(t, 10*time.Second, func() error {
		notices, err := refusalNotices(r, lyceeA, ent.OpAssetUpdate, false)
		if err != nil {
			return err
		}
		want := "conflict Ce matériel a été modifié entre-temps par Nadia Benali : il en est à la version 2 (vous partiez de la version 1). Votre modification n'a pas été appliquée : relisez la fiche avant de la modifier."
		if !slices.Contains(notices, want) {
			return fmt.Errorf("notices of refused asset changes = %q, want %q", notices, want)
		}
		return nil
	})
	// Nothing of the refused change is left pending at the edge.
	edgeSettled(t, r, lyceeA)
}
