package regiontest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// byLogin returns the synthetic account login.
func byLogin(t *testing.T, r *regiontest.Region, login string) acct {
	t.Helper()
	for _, a := range r.Accounts {
		if a.Login == login {
			return acct{a.Login, a.Password}
		}
	}
	t.Fatalf("no synthetic account %s", login)
	return acct{}
}

// refusedStatus returns the HTTP status of an API refusal, 0 if err is none.
func refusedStatus(err error) int {
	var e *regiontest.APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// recipients returns the logins u may write to, as GET /api/v1/recipients
// lists them.
func recipients(t *testing.T, u *regiontest.User) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u.Base+"/api/v1/recipients", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		Login string `json:"login"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/api/v1/recipients as %s = %d", u.Base, u.Login, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range list {
		out = append(out, r.Login)
	}
	return out
}

// pageStatus is the status of the portal page path for u.
func pageStatus(t *testing.T, u *regiontest.User, path string) int {
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
	resp.Body.Close()
	return resp.StatusCode
}

// checkMinorsProtected checks, at the node base, what the communication
// rules forbid: a student writing to a student of another class, a
// relative writing to, or reading the messages of, another family's child.
// hugoMsg is a message to Hugo (2C), Léa's schoolmate of another class.
func checkMinorsProtected(t *testing.T, r *regiontest.Region, base, hugoMsg string, outbox func() int) {
	t.Helper()
	ctx := t.Context()
	lea := login(t, base, byLogin(t, r, "lea.martin"))
	sophie := login(t, base, byLogin(t, r, "sophie.martin"))
	before := outbox()

	if _, err := lea.Send(ctx, "hugo.bernard", "Salut", "Tu viens à la fête ?"); refusedStatus(err) != http.StatusForbidden {
		t.Errorf("%s: student lea.martin (1B) writes to hugo.bernard (2C) = %v, want 403", base, err)
	}
	if _, err := sophie.Send(ctx, "hugo.bernard", "Bonjour", "Viens goûter avec Léa."); refusedStatus(err) != http.StatusForbidden {
		t.Errorf("%s: relative sophie.martin writes to another family's child = %v, want 403", base, err)
	}
	if _, err := sophie.Send(ctx, "karim.bernard", "Bonjour", "Nos enfants…"); refusedStatus(err) != http.StatusForbidden {
		t.Errorf("%s: relative sophie.martin writes to another relative = %v, want 403", base, err)
	}
	if got := outbox(); got != before {
		t.Errorf("%s: refused messages changed the outbox from %d to %d", base, before, got)
	}
	if got := recipients(t, lea); slices.Contains(got, "hugo.bernard") || slices.Contains(got, "karim.bernard") || !slices.Contains(got, "tom.garcia") {
		t.Errorf("%s: lea.martin's recipients = %v, want her classmate tom.garcia and neither hugo.bernard nor karim.bernard", base, got)
	}
	if got := recipients(t, sophie); slices.Contains(got, "hugo.bernard") || slices.Contains(got, "tom.garcia") || !slices.Contains(got, "lea.martin") {
		t.Errorf("%s: sophie.martin's recipients = %v, want her daughter and no other child", base, got)
	}
	// Another family's child's messages are out of reach.
	if code := pageStatus(t, sophie, "/messagerie/"+hugoMsg); code != http.StatusNotFound {
		t.Errorf("%s: sophie.martin reads a message to hugo.bernard: %d, want 404", base, code)
	}
	if code := pageStatus(t, lea, "/messagerie/"+hugoMsg); code != http.StatusNotFound {
		t.Errorf("%s: lea.martin reads a message to hugo.bernard: %d, want 404", base, code)
	}
	for _, u := range []*regiontest.User{lea, sophie} {
		msgs, err := u.Messages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.To == "hugo.bernard" || m.From == "hugo.bernard" {
				t.Errorf("%s: %s lists a message of hugo.bernard: %+v", base, u.Login, m)
			}
		}
	}
}

// The communication rules that protect minors hold at a lycée's edge cut
// off from the region — refused there, nothing queued — and at central.
func TestMinorsProtectedAtTheEdgeAndAtCentral(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	edge := r.Edge(lyceeA)

	// The message Paul (teacher) wrote to Hugo, read by Hugo at central.
	hugo := login(t, r.AnyCentral().URL(), byLogin(t, r, "hugo.bernard"))
	msgs, err := hugo.Messages(ctx)
	if err != nil || len(msgs) != 1 || msgs[0].From != "paul.durand" {
		t.Fatalf("hugo.bernard's messages = %+v, %v; want the one from paul.durand", msgs, err)
	}
	hugoMsg := msgs[0].ID

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	checkMinorsProtected(t, r, edge.URL(), hugoMsg, func() int { return edge.Node.Status().Outbox })

	// What the rules allow still works offline: Léa writes to her classmate.
	lea := login(t, edge.URL(), byLogin(t, r, "lea.martin"))
	const subject = "Exposé à deux"
	if _, err := lea.Send(ctx, "tom.garcia", subject, "On se retrouve au CDI ?"); err != nil {
		t.Fatalf("lea.martin writes to her classmate at the offline edge: %v", err)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	for i := range 3 {
		checkMinorsProtected(t, r, r.Central(i).URL(), hugoMsg, func() int { return 0 })
	}
	tom := login(t, r.AnyCentral().URL(), byLogin(t, r, "tom.garcia"))
	if msgs, err := tom.Messages(ctx); err != nil || countSubject(msgs, subject) != 1 {
		t.Errorf("tom.garcia's messages at central = %v, %v; want Léa's once", msgs, err)
	}
}

// Central checks the rules again: a message the edge accepted offline,
// which central's newer data forbids (the child changed class meanwhile),
// is refused there, never delivered, and leaves a notice for its author.
func TestMinorsRulesCheckedAgainAtCentral(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	ctx := t.Context()
	edge := r.Edge(lyceeA)
	sophie := login(t, edge.URL(), byLogin(t, r, "sophie.martin"))

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)

	// Meanwhile, the directory moves Léa to 2C at central: Paul no longer
	// teaches her class.
	var lea ent.User
	err := r.AnyCentral().Node.View(func(rd record.Reader) error {
		rec, ok, err := rd.ByKey(ent.KindUser, "lea.martin")
		if err != nil || !ok {
			return fmt.Errorf("lea.martin at central: %v, %v", ok, err)
		}
		return json.Unmarshal(rec.Body, &lea)
	})
	if err != nil {
		t.Fatal(err)
	}
	lea.Classes = []string{"2C"}
	args, _ := json.Marshal(lea)
	res, err := r.Admin().Commands(ctx, []record.Command{{Origin: record.OriginCentral, Op: ent.OpUserPut,
		Partition: lyceeA, Args: args, Time: time.Now().UnixMilli()}})
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("move lea.martin to 2C: %+v, %v", res, err)
	}

	// The edge still knows Léa in 1B: it accepts Sophie's message to Paul.
	const subject = "Rendez-vous avec le professeur principal"
	if _, err := sophie.Send(ctx, "paul.durand", subject, "Pourrions-nous nous voir jeudi ?"); err != nil {
		t.Fatalf("sophie.martin writes to paul.durand at the offline edge: %v", err)
	}

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	paul := login(t, r.AnyCentral().URL(), byLogin(t, r, "paul.durand"))
	if msgs, err := paul.Messages(ctx); err != nil || countSubject(msgs, subject) != 0 {
		t.Errorf("paul.durand's messages at central = %v, %v; want none with subject %q", msgs, err, subject)
	}
	// The refusal is a notice for Sophie, with the rule she broke.
	regiontest.Eventually(t, 10*time.Second, func() error {
		notices, err := refusalNotices(r, lyceeA, ent.OpMessageSend, true)
		if err != nil {
			return err
		}
		want := sophieID(t, r) + " forbidden Vous ne pouvez pas écrire à ce destinataire : un responsable légal écrit aux enseignants des classes de ses enfants, aux personnels du lycée et à ses enfants."
		if !slices.Contains(notices, want) {
			return fmt.Errorf("notices of refused messages = %q, want %q", notices, want)
		}
		return nil
	})
}

// sophieID is the id of sophie.martin's account, read at central.
func sophieID(t *testing.T, r *regiontest.Region) string {
	t.Helper()
	var id string
	err := r.AnyCentral().Node.View(func(rd record.Reader) error {
		rec, ok, err := rd.ByKey(ent.KindUser, "sophie.martin")
		if err != nil || !ok {
			return fmt.Errorf("sophie.martin at central: %v, %v", ok, err)
		}
		id = rec.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
