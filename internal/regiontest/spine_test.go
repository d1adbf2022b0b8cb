package regiontest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

const (
	lyceeA = "0130040Y"
	lyceeB = "0060030A"
)

func login(t *testing.T, base string, a interface{ creds() (string, string) }) *regiontest.User {
	t.Helper()
	l, p := a.creds()
	u, err := regiontest.Login(t.Context(), base, l, p)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type acct struct{ login, password string }

func (a acct) creds() (string, string) { return a.login, a.password }

func account(r *regiontest.Region, uai, profile string) acct {
	a := r.Account(uai, profile)
	return acct{a.Login, a.Password}
}

func countSubject(msgs []regiontest.Message, subject string) int {
	n := 0
	for _, m := range msgs {
		if m.Subject == subject {
			n++
		}
	}
	return n
}

// A message sent at an edge while its WAN link is cut reaches central
// exactly once after the link returns, and its recipient reads it from home.
func TestOfflineMessageReachesCentralOnce(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	student, teacher := account(r, lyceeA, ent.Student), account(r, lyceeA, ent.Teacher)
	edge := r.Edge(lyceeA)

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	atSchool := login(t, edge.URL(), student)
	subject := "Devoir rendu pendant la coupure"
	sent, err := atSchool.Send(ctx, teacher.login, subject, "Bonjour, voici mon devoir.")
	if err != nil {
		t.Fatalf("send at the edge while offline: %v", err)
	}
	if got := edge.Node.Status().Outbox; got != 2 {
		t.Fatalf("edge outbox while offline = %d, want 2 (the login's audit entry and the message)", got)
	}
	// The student sees their message at school at once.
	msgs, err := atSchool.Messages(ctx)
	if err != nil || countSubject(msgs, subject) != 1 {
		t.Fatalf("edge messages of the sender = %v, %v; want the sent message once", msgs, err)
	}
	// The portal tells people at school that the link is down.
	page := getPage(t, edge.URL()+"/", atSchool)
	if !strings.Contains(page, "1 modification") {
		t.Errorf("edge home page does not show the offline banner with 1 change waiting:\n%s", page)
	}
	// Nothing reached central.
	atHome := login(t, r.AnyCentral().URL(), teacher)
	if msgs, _ := atHome.Messages(ctx); countSubject(msgs, subject) != 0 {
		t.Fatalf("central has the message before the link returned")
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)

	for i := range 3 {
		c := r.Central(i)
		u := login(t, c.URL(), teacher)
		regiontest.Eventually(t, 10*time.Second, func() error {
			msgs, err := u.Messages(ctx)
			if err != nil {
				return err
			}
			if n := countSubject(msgs, subject); n != 1 {
				return fmt.Errorf("%s: recipient sees the message %d times, want 1", c.Name(), n)
			}
			for _, m := range msgs {
				if m.Subject == subject && m.ID != sent.ID {
					return fmt.Errorf("%s: message id %s, want the id minted at the edge %s", c.Name(), m.ID, sent.ID)
				}
			}
			return nil
		})
	}
	// The edge's own copy is the one central committed, still once.
	msgs, err = atSchool.Messages(ctx)
	if err != nil || countSubject(msgs, subject) != 1 {
		t.Fatalf("edge messages after sync = %d copies, %v; want 1", countSubject(msgs, subject), err)
	}
}

// News published at central reaches the edges of the partitions it belongs
// to, and only those.
func TestNewsReachesOnlyItsPartitions(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	regionStaff := login(t, r.AnyCentral().URL(), account(r, "", ent.Region))
	staffA := login(t, r.AnyCentral().URL(), account(r, lyceeA, ent.Personnel))

	regionNews, err := regionStaff.Publish(ctx, "Fermeture exceptionnelle", "Tous les lycées de la région ferment vendredi.", true)
	if err != nil {
		t.Fatalf("publish region news: %v", err)
	}
	lyceeNews, err := staffA.Publish(ctx, "Conseil de classe", "Le conseil de classe de seconde a lieu mardi.", false)
	if err != nil {
		t.Fatalf("publish lycée news: %v", err)
	}

	for _, uai := range []string{lyceeA, lyceeB} {
		e := r.Edge(uai)
		reader := login(t, e.URL(), account(r, uai, ent.Student))
		regiontest.Eventually(t, 15*time.Second, func() error {
			news, err := reader.News(ctx)
			if err != nil {
				return err
			}
			ids := map[string]bool{}
			for _, n := range news {
				ids[n.ID] = true
			}
			if !ids[regionNews.ID] {
				return fmt.Errorf("edge %s: region news not there yet", uai)
			}
			if uai == lyceeA && !ids[lyceeNews.ID] {
				return fmt.Errorf("edge %s: its lycée's news not there yet", uai)
			}
			if uai == lyceeB && ids[lyceeNews.ID] {
				t.Fatalf("edge %s shows news of lycée %s", uai, lyceeA)
			}
			return nil
		})
	}
	// Lycée B's replica holds nothing of lycée A's partition, and no
	// Région account (users are never published to edges from region).
	err = r.Edge(lyceeB).Node.Store().View(func(rd record.Reader) error {
		if _, ok, err := rd.Get(lyceeA, lyceeNews.ID); err != nil || ok {
			return fmt.Errorf("lycée B's replica holds lycée A's news (ok=%v, err=%v)", ok, err)
		}
		found := 0
		if err := rd.Scan(lyceeA, ent.KindUser, func(record.Record) error { found++; return nil }); err != nil {
			return err
		}
		if err := rd.Scan(record.Region, ent.KindUser, func(record.Record) error { found++; return nil }); err != nil {
			return err
		}
		if found > 0 {
			return fmt.Errorf("lycée B's replica holds %d user records of lycée A or the region", found)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Killing the raft leader: writes resume on the new leader and nothing
// acknowledged is lost; the killed node comes back and catches up.
func TestLeaderKillLosesNothingAcknowledged(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{NoEdges: true})
	ctx := t.Context()
	from, to := account(r, lyceeA, ent.Teacher), account(r, lyceeA, ent.Personnel)
	leader := r.Leader()
	follower := (leader + 1) % 3
	other := (leader + 2) % 3
	writer := login(t, r.Central(follower).URL(), from)

	var (
		mu    sync.Mutex
		acked []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			subject := fmt.Sprintf("écriture %d", i)
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := writer.Send(ctx, to.login, subject, "pendant la bascule")
			cancel()
			if err == nil {
				mu.Lock()
				acked = append(acked, subject)
				mu.Unlock()
			}
		}
	}()
	waitAcked := func(n int) {
		regiontest.Eventually(t, 30*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(acked) < n {
				return fmt.Errorf("%d writes acknowledged, want %d", len(acked), n)
			}
			return nil
		})
	}
	waitAcked(20)
	r.Kill(leader)
	mu.Lock()
	atKill := len(acked)
	mu.Unlock()
	waitAcked(atKill + 20) // writes resumed on the new leader
	close(stop)
	wg.Wait()
	if nl := r.Leader(); nl == leader {
		t.Fatalf("killed node %d is still the leader", leader)
	}

	check := func(c int) {
		reader := login(t, r.Central(c).URL(), to)
		regiontest.Eventually(t, 20*time.Second, func() error {
			msgs, err := reader.Messages(ctx)
			if err != nil {
				return err
			}
			for _, s := range acked {
				if n := countSubject(msgs, s); n != 1 {
					return fmt.Errorf("central-%d: acknowledged %q seen %d times, want 1", c+1, s, n)
				}
			}
			return nil
		})
	}
	check(follower)
	check(other)
	r.Restart(leader)
	check(leader)
}

// A restarted edge resumes from its checkpoint instead of downloading its
// partition again.
func TestRestartedEdgeResumesFromCheckpoint(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	before := r.Edge(lyceeA).Node.Status().Checkpoints[lyceeA]
	r.StopEdge(lyceeA)

	staff := login(t, r.AnyCentral().URL(), account(r, lyceeA, ent.Personnel))
	const fresh = 3
	for i := range fresh {
		if _, err := staff.Publish(ctx, fmt.Sprintf("Info %d", i), "Publiée pendant l'arrêt de l'appliance.", false); err != nil {
			t.Fatal(err)
		}
	}
	e := r.RestartEdge(lyceeA)
	if got := e.Node.Status().Checkpoints[lyceeA]; got != before {
		t.Fatalf("restarted edge checkpoint = %d, want the one it stopped at (%d)", got, before)
	}
	r.WaitSynced(lyceeA)
	regiontest.Eventually(t, 15*time.Second, func() error {
		applied := metric(t, e.URL(), "atrium_edge_records_applied_total")
		if applied == 0 {
			return errors.New("nothing applied yet")
		}
		if applied > fresh {
			t.Fatalf("restarted edge applied %v records, want only the %d changed since it stopped", applied, fresh)
		}
		if applied < fresh {
			return fmt.Errorf("applied %v of %d", applied, fresh)
		}
		return nil
	})
}

func getPage(t *testing.T, url string, u *regiontest.User) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	v, err := regiontest.Metric(base, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
