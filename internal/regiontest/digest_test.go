package regiontest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
)

// After writes at both ends of a WAN cut, the edge holds exactly central's
// records of its lycée: their digests are equal at the same sequence, and
// the edge reports the digest verified, with no mismatch, on its status API.
func TestDigestsEqualAfterWANCut(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	student, teacher := account(r, lyceeA, ent.Student), account(r, lyceeA, ent.Teacher)
	staff := account(r, lyceeA, ent.Personnel)
	edge := r.Edge(lyceeA)
	r.WaitSynced(lyceeA)

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	atSchool := login(t, edge.URL(), student)
	if _, err := atSchool.Send(ctx, teacher.login, "Pendant la coupure", "Envoyé au lycée."); err != nil {
		t.Fatalf("send at the edge while offline: %v", err)
	}
	atHome := login(t, r.AnyCentral().URL(), staff)
	if _, err := atHome.Publish(ctx, "Réunion parents-professeurs", "Jeudi à 18 h.", false); err != nil {
		t.Fatalf("publish at central while the edge is cut off: %v", err)
	}
	fromHome := login(t, r.AnyCentral().URL(), teacher)
	if _, err := fromHome.Send(ctx, student.login, "Depuis la maison", "Envoyé à central."); err != nil {
		t.Fatalf("send at central: %v", err)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	edgeSettled(t, r, lyceeA)

	store := edge.Node.Store()
	regiontest.Eventually(t, 30*time.Second, func() error {
		mine, cp, settled, err := store.Digest(lyceeA)
		if err != nil || !settled {
			return fmt.Errorf("edge digest = %v, settled %v; want a settled one", err, settled)
		}
		theirs, seq, err := r.AnyCentral().Node.Digest(lyceeA)
		if err != nil {
			return err
		}
		if seq != cp {
			return fmt.Errorf("edge at seq %d, central at %d", cp, seq)
		}
		if mine != theirs {
			return fmt.Errorf("at seq %d the edge's digest is %v, central's %v", cp, mine, theirs)
		}
		if st := edge.Node.Status().Digest; st.VerifiedSeq != cp {
			return fmt.Errorf("edge reports the digest verified at seq %d, want %d", st.VerifiedSeq, cp)
		}
		return nil
	})
	if fresh, err := store.RecomputeDigest(lyceeA); err != nil {
		t.Fatal(err)
	} else if d, _, _, _ := store.Digest(lyceeA); d != fresh {
		t.Errorf("edge's incremental digest %v, recomputed from its records %v", d, fresh)
	}

	// What an operator sees: the status API of the edge.
	resp, err := http.Get(edge.URL() + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		Sync struct {
			Digest struct {
				VerifiedSeq uint64 `json:"verified_seq"`
				Mismatches  uint64 `json:"mismatches"`
				Repairs     uint64 `json:"repairs"`
			} `json:"digest"`
		} `json:"sync"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatalf("decode /api/v1/status: %v", err)
	}
	if d := status.Sync.Digest; d.VerifiedSeq == 0 || d.Mismatches != 0 || d.Repairs != 0 {
		t.Errorf("/api/v1/status sync.digest = %+v, want verified, no mismatch, no repair", d)
	}
}
