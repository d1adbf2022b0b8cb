package regiontest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
)

// searchAudit asks a node's API for the audit entries of login.
func searchAudit(t *testing.T, base string, u *regiontest.User, q url.Values) ([]ent.AuditEvent, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/v1/audit?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/audit?%s = %d %s", q.Encode(), resp.StatusCode, b)
	}
	var evs []ent.AuditEvent
	if err := json.Unmarshal(b, &evs); err != nil {
		return nil, fmt.Errorf("decode %s: %w", b, err)
	}
	return evs, nil
}

func failures(evs []ent.AuditEvent) []ent.AuditEvent {
	var out []ent.AuditEvent
	for _, ev := range evs {
		if ev.Type == ent.AuditLoginFailure {
			out = append(out, ev)
		}
	}
	return out
}

// A failed login at an edge cut off from the region is recorded there at
// once, and reaches central's audit trail, once, after the link returns:
// the lycée's direction and the Région read it from home.
func TestOfflineFailedLoginReachesCentralAudit(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	student, direction := account(r, lyceeA, ent.Student), account(r, lyceeA, ent.Personnel)
	agent := r.Account("", ent.Region)
	edge := r.Edge(lyceeA)

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	_, err := regiontest.Login(ctx, edge.URL(), student.login, "pas-le-bon")
	if apiErr, ok := errors.AsType[*regiontest.APIError](err); !ok || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password at the edge = %v, want 401", err)
	}
	// The direction, at school, sees it in the edge's journal.
	atSchool := login(t, edge.URL(), direction)
	q := url.Values{"login": {student.login}}
	evs, err := searchAudit(t, edge.URL(), atSchool, q)
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(evs); len(f) != 1 || f[0].Detail != ent.AuditBadPassword || f[0].UAI != lyceeA || f[0].IP != "127.0.0.1" ||
		f[0].Node != "edge-"+lyceeA {
		t.Fatalf("edge journal while offline = %+v, want one failure of %s recorded by edge-%s", evs, student.login, lyceeA)
	}
	recorded := failures(evs)[0]
	if got := edge.Node.Status().Outbox; got != 2 {
		t.Errorf("edge outbox while offline = %d, want 2 (the failure and the direction's login)", got)
	}
	// Central does not have it yet.
	home := login(t, r.AnyCentral().URL(), direction)
	if evs, err := searchAudit(t, r.AnyCentral().URL(), home, q); err != nil || len(evs) != 0 {
		t.Fatalf("central journal while the edge is cut off = %+v, %v; want nothing yet", evs, err)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	regiontest.Eventually(t, 20*time.Second, func() error {
		evs, err := searchAudit(t, r.AnyCentral().URL(), home, q)
		if err != nil {
			return err
		}
		if len(evs) != 1 || evs[0].ID != recorded.ID {
			return fmt.Errorf("central journal of %s = %+v, want the edge's failure", student.login, evs)
		}
		return nil
	})
	// Région staff read it too, in the lycée's journal; the direction's
	// login at the edge arrived as well.
	region := login(t, r.AnyCentral().URL(), acct{agent.Login, agent.Password})
	evs, err = searchAudit(t, r.AnyCentral().URL(), region, url.Values{"uai": {lyceeA}, "type": {ent.AuditLoginSuccess}, "login": {direction.login}})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]int{}
	for _, ev := range evs {
		nodes[ev.Node]++
	}
	if nodes["edge-"+lyceeA] != 1 {
		t.Errorf("central journal of %s's logins by node = %v, want one at edge-%s", direction.login, nodes, lyceeA)
	}
	// Another lycée's direction does not.
	other := login(t, r.AnyCentral().URL(), account(r, lyceeB, ent.Personnel))
	if evs, err := searchAudit(t, r.AnyCentral().URL(), other, q); err != nil || len(evs) != 0 {
		t.Errorf("another lycée's journal at central = %+v, %v; want nothing", evs, err)
	}
}
