package ent_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

// Account fixtures: the direction of each lycée and an imported account
// waiting for activation.
var (
	adminA   = ent.User{ID: "01890000-0000-7000-8000-000000000101", Login: "dir.a", Name: "Marie Proviseure", Profile: ent.Personnel, UAI: uaiA, Active: true, Admin: true}
	adminB   = ent.User{ID: "01890000-0000-7000-8000-000000000102", Login: "dir.b", Name: "Luc Proviseur", Profile: ent.Personnel, UAI: uaiB, Active: true, Admin: true}
	pendingA = ent.User{ID: "01890000-0000-7000-8000-000000000103", Login: "nouveau.a", Name: "Hugo Nouveau", Profile: ent.Student, UAI: uaiA}
)

// phc is a well-formed argon2id PHC string (Exec never hashes).
func phc(salt string) string {
	return "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
}

const pendingCode = "ABCD-EFGH-JKLM"

// accountTx returns a transaction with the fixture users, the
// administrators and pendingA waiting for pendingCode.
func accountTx(t *testing.T) *enttest.Tx {
	t.Helper()
	tx := fixtureTx(t)
	p := pendingA
	p.ActivationHash = ent.ActivationHash(pendingCode)
	for _, u := range []ent.User{adminA, adminB, p} {
		if err := ent.Exec(tx, userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	return tx
}

func activateCmd(t testing.TB, u ent.User, code, hash string) record.Command {
	return record.Command{Origin: uaiA, Epoch: 1, Seq: 1, User: u.ID, Op: ent.OpAccountActivate, Partition: u.Partition(),
		Args: mustJSON(t, ent.ActivateArgs{UserID: u.ID, Code: code, PasswordHash: hash}), Time: t0 + 3000}
}

func resetCmd(t testing.TB, origin string, by ent.User, partition string, target ent.User) record.Command {
	return record.Command{Origin: origin, User: by.ID, Op: ent.OpAccountReset, Partition: partition,
		Args: mustJSON(t, ent.ResetArgs{UserID: target.ID, ActivationHash: ent.ActivationHash("WXYZ-WXYZ-WXYZ")}), Time: t0 + 4000}
}

func passwordCmd(t testing.TB, u ent.User, hash string) record.Command {
	return record.Command{Origin: record.OriginCentral, User: u.ID, Op: ent.OpAccountPassword, Partition: u.Partition(),
		Args: mustJSON(t, ent.PasswordArgs{PasswordHash: hash}), Time: t0 + 5000}
}

// userIn reads a user back from a transaction.
func userIn(t *testing.T, tx record.Tx, u ent.User) ent.User {
	t.Helper()
	r, ok, err := tx.Get(u.Partition(), u.ID)
	if err != nil || !ok {
		t.Fatalf("Get(%s) = %v, %v", u.Login, ok, err)
	}
	var got ent.User
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestExecAccountRules(t *testing.T) {
	operator := ent.User{}
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code, "" for success
	}{
		{"activate with the code", activateCmd(t, pendingA, "abcd efgh-jklm", phc("a")), ""},
		{"activate with a wrong code", activateCmd(t, pendingA, "ABCD-EFGH-JKLN", phc("a")), "forbidden"},
		{"activate without a code", activateCmd(t, pendingA, "", phc("a")), "forbidden"},
		{"activate with a bad hash", activateCmd(t, pendingA, pendingCode, "secret"), "invalid"},
		{"activate an active account", activateCmd(t, studentA, pendingCode, phc("a")), "conflict"},
		{"activate an unknown account", activateCmd(t, ent.User{ID: "01890000-0000-7000-8000-0000000001ff", UAI: uaiA, Profile: ent.Student}, pendingCode, phc("a")), "not_found"},
		{"activate for someone else", func() record.Command {
			c := activateCmd(t, pendingA, pendingCode, phc("a"))
			c.User = studentA.ID
			return c
		}(), "invalid"},

		{"password by its owner", passwordCmd(t, studentA, phc("b")), ""},
		{"password of an inactive account", passwordCmd(t, formerA, phc("b")), "forbidden"},
		{"password of a pending account", passwordCmd(t, pendingA, phc("b")), "forbidden"},
		{"password with a bad hash", passwordCmd(t, studentA, "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"), "invalid"},

		{"reset by the lycée's administrator", resetCmd(t, record.OriginCentral, adminA, uaiA, studentA), ""},
		{"reset at the lycée's edge", resetCmd(t, uaiA, adminA, uaiA, teacherA), ""},
		{"reset by an operator", resetCmd(t, record.OriginCentral, operator, uaiA, studentA), ""},
		{"reset of Région staff by an operator", resetCmd(t, record.OriginCentral, operator, record.Region, regionUser), ""},
		{"reset by another lycée's administrator", resetCmd(t, record.OriginCentral, adminB, uaiA, studentA), "forbidden"},
		{"reset of another lycée's account", resetCmd(t, record.OriginCentral, adminA, uaiA, studentB), "not_found"},
		{"reset by a student", resetCmd(t, record.OriginCentral, studentA, uaiA, teacherA), "forbidden"},
		{"reset by staff who are not the direction", resetCmd(t, record.OriginCentral, staffA, uaiA, studentA), "forbidden"},
		{"reset of Région staff by an administrator", resetCmd(t, record.OriginCentral, adminA, record.Region, regionUser), "forbidden"},
		{"reset without a user at an edge", resetCmd(t, uaiA, operator, uaiA, studentA), "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := &countingTx{Tx: accountTx(t)}
			err := ent.Exec(tx, tt.cmd)
			if got := code(err); got != tt.want {
				t.Fatalf("Exec(%s) = %v, want rejection %q", tt.cmd.Op, err, tt.want)
			}
			if tt.want != "" && tx.puts != 0 {
				t.Errorf("refused %s wrote %d records", tt.cmd.Op, tx.puts)
			}
			if rej, ok := record.AsRejection(err); ok && !regexp.MustCompile(`^[A-ZÉ].*\.$`).MatchString(rej.Message) {
				t.Errorf("rejection message %q is not a French sentence", rej.Message)
			}
		})
	}
}

func TestExecAccountEffects(t *testing.T) {
	tx := accountTx(t)
	hash := phc("a")
	if err := ent.Exec(tx, activateCmd(t, pendingA, pendingCode, hash)); err != nil {
		t.Fatalf("activate: %v", err)
	}
	got := userIn(t, tx, pendingA)
	if !got.Active || got.PasswordHash != hash || got.ActivationHash != "" {
		t.Errorf("after activation: active %v, hash %q, activation hash %q; want active, the new hash, no code",
			got.Active, got.PasswordHash, got.ActivationHash)
	}

	// The same command again (central re-executing what the edge did, or
	// a retransmission) changes nothing and is no refusal.
	ctx := &countingTx{Tx: tx}
	if err := ent.Exec(ctx, activateCmd(t, pendingA, pendingCode, hash)); err != nil || ctx.puts != 0 {
		t.Errorf("replayed activation = %v with %d writes, want nil and none", err, ctx.puts)
	}
	// Another activation with the used code is refused.
	if err := ent.Exec(tx, activateCmd(t, pendingA, pendingCode, phc("b"))); code(err) != "conflict" {
		t.Errorf("second activation = %v, want a conflict", err)
	}

	reset := resetCmd(t, uaiA, adminA, uaiA, pendingA)
	if err := ent.Exec(tx, reset); err != nil {
		t.Fatalf("reset: %v", err)
	}
	got = userIn(t, tx, pendingA)
	if got.Active || got.PasswordHash != "" || got.ActivationHash != ent.ActivationHash("WXYZ-WXYZ-WXYZ") {
		t.Errorf("after reset: active %v, hash %q, activation hash %q; want inactive, no password, the new code",
			got.Active, got.PasswordHash, got.ActivationHash)
	}
	if got.Login != pendingA.Login || got.Name != pendingA.Name || got.Profile != pendingA.Profile {
		t.Errorf("reset changed the account's identity: %+v", got)
	}
	ctx = &countingTx{Tx: tx}
	if err := ent.Exec(ctx, reset); err != nil || ctx.puts != 0 {
		t.Errorf("replayed reset = %v with %d writes, want nil and none", err, ctx.puts)
	}
	// The old code no longer activates; the new one does.
	if err := ent.Exec(tx, activateCmd(t, pendingA, pendingCode, phc("c"))); code(err) != "forbidden" {
		t.Errorf("activation with the replaced code = %v, want forbidden", err)
	}
	if err := ent.Exec(tx, activateCmd(t, pendingA, "wxyzwxyzwxyz", phc("c"))); err != nil {
		t.Errorf("activation with the new code = %v", err)
	}

	pw := passwordCmd(t, studentA, phc("d"))
	if err := ent.Exec(tx, pw); err != nil {
		t.Fatalf("password: %v", err)
	}
	if got := userIn(t, tx, studentA); got.PasswordHash != phc("d") || !got.Active {
		t.Errorf("after password change: hash %q, active %v", got.PasswordHash, got.Active)
	}
	ctx = &countingTx{Tx: tx}
	if err := ent.Exec(ctx, pw); err != nil || ctx.puts != 0 {
		t.Errorf("replayed password change = %v with %d writes, want nil and none", err, ctx.puts)
	}
}

// accountService returns a Service whose store holds the fixture users
// (password "secret"), the administrators and pendingA waiting for the
// code the import would give it at this node, returned.
func accountService(t *testing.T) (*ent.Service, *enttest.Store, *clock, string) {
	t.Helper()
	svc, st, clk := newService(t)
	hash, err := ent.HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	code := svc.ActivationCode(pendingA.ID)
	p := pendingA
	p.ActivationHash = ent.ActivationHash(code)
	for _, u := range []ent.User{adminA, adminB, p} {
		if u.Active {
			u.PasswordHash = hash
		}
		if err := st.Submit(t.Context(), userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	return svc, st, clk, code
}

func rejectionMessage(err error) string {
	if r, ok := record.AsRejection(err); ok {
		return r.Message
	}
	return ""
}

func TestActivate(t *testing.T) {
	svc, st, _, code := accountService(t)
	ctx := t.Context()
	c := ent.Client{IP: "192.0.2.7", UserAgent: "test"}

	if !regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`).MatchString(code) {
		t.Fatalf("ActivationCode = %q, want ABCD-EFGH-JKLM", code)
	}
	if _, _, err := svc.Activate(ctx, pendingA.Login, code, "court", c); !strings.Contains(rejectionMessage(err), "au moins 8 caractères") {
		t.Errorf("Activate(short password) = %v, want the password rule", err)
	}
	for _, bad := range []struct{ login, code string }{
		{pendingA.Login, "AAAA-BBBB-CCCC"},
		{"inconnu", code},
		{studentA.Login, code}, // already active
	} {
		_, _, err := svc.Activate(ctx, bad.login, bad.code, "nouveau-mot-de-passe", c)
		if msg := rejectionMessage(err); !strings.HasPrefix(msg, "Identifiant ou code d'activation incorrect.") {
			t.Errorf("Activate(%s, %s) = %v, want the one refusal", bad.login, bad.code, err)
		}
	}
	if _, _, err := svc.Login(ctx, pendingA.Login, "nouveau-mot-de-passe", c); !errors.Is(err, ent.ErrBadCredentials) {
		t.Errorf("Login before activation = %v, want ErrBadCredentials", err)
	}

	tok, u, err := svc.Activate(ctx, " "+pendingA.Login+" ", strings.ToLower(code), "nouveau-mot-de-passe", c)
	if err != nil {
		t.Fatalf("Activate = %v", err)
	}
	if u.ID != pendingA.ID || !u.Active {
		t.Errorf("Activate user = %+v, want %s active", u, pendingA.Login)
	}
	if got, err := svc.Authenticate(tok); err != nil || got.ID != pendingA.ID {
		t.Errorf("Authenticate(activation token) = %v, %v", got.Login, err)
	}
	if _, _, err := svc.Login(ctx, pendingA.Login, "nouveau-mot-de-passe", c); err != nil {
		t.Errorf("Login with the new password = %v", err)
	}
	if _, _, err := svc.Activate(ctx, pendingA.Login, code, "encore-un-autre", c); err == nil {
		t.Error("second activation with the same code succeeded")
	}

	// The trail of the lycée shows the refused code and the activation.
	var trail []string
	for _, r := range st.Records() {
		var ev ent.AuditEvent
		if r.Partition == record.AuditPartition(uaiA) && json.Unmarshal(r.Body, &ev) == nil && ev.Login == pendingA.Login {
			trail = append(trail, ev.Type+" "+ev.Detail+" "+ev.IP)
		}
	}
	for _, want := range []string{"login.failure code d'activation incorrect 192.0.2.7", "account.activate  192.0.2.7"} {
		if !slices.Contains(trail, want) {
			t.Errorf("audit trail of %s = %q, lacks %q", pendingA.Login, trail, want)
		}
	}
}

func TestActivateThrottled(t *testing.T) {
	svc, _, clk, code := accountService(t)
	c := ent.Client{IP: "192.0.2.8"}
	var err error
	for i := 0; i < 10 && !errors.Is(err, ent.ErrTooManyAttempts); i++ {
		_, _, err = svc.Activate(t.Context(), pendingA.Login, "AAAA-AAAA-AAAA", "nouveau-mot-de-passe", c)
	}
	var tm *ent.TooManyAttemptsError
	if !errors.As(err, &tm) || tm.RetryAfter <= 0 {
		t.Fatalf("repeated wrong codes = %v, want *TooManyAttemptsError", err)
	}
	// Refused even with the right code while the wait lasts, then allowed.
	if _, _, err := svc.Activate(t.Context(), pendingA.Login, code, "nouveau-mot-de-passe", c); !errors.Is(err, ent.ErrTooManyAttempts) {
		t.Errorf("right code while refused = %v, want ErrTooManyAttempts", err)
	}
	clk.t = clk.t.Add(tm.RetryAfter)
	if _, _, err := svc.Activate(t.Context(), pendingA.Login, code, "nouveau-mot-de-passe", c); err != nil {
		t.Errorf("right code after the wait = %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	svc, _, _, _ := accountService(t)
	ctx := t.Context()
	c := ent.Client{IP: "192.0.2.9"}
	_, u, err := svc.Login(ctx, studentA.Login, "secret", c)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.ChangePassword(ctx, u, "faux", "nouveau-secret"); rejectionMessage(err) != "Mot de passe actuel incorrect." {
		t.Errorf("ChangePassword(wrong old) = %v", err)
	}
	if err := svc.ChangePassword(ctx, u, "secret", "court"); !strings.Contains(rejectionMessage(err), "au moins 8") {
		t.Errorf("ChangePassword(short) = %v", err)
	}
	if err := svc.ChangePassword(ctx, u, "secret", "nouveau-secret"); err != nil {
		t.Fatalf("ChangePassword = %v", err)
	}
	if _, _, err := svc.Login(ctx, studentA.Login, "secret", c); !errors.Is(err, ent.ErrBadCredentials) {
		t.Errorf("Login(old password) = %v, want ErrBadCredentials", err)
	}
	if _, _, err := svc.Login(ctx, studentA.Login, "nouveau-secret", c); err != nil {
		t.Errorf("Login(new password) = %v", err)
	}
}

func TestResetAccount(t *testing.T) {
	svc, st, _, _ := accountService(t)
	ctx := t.Context()
	c := ent.Client{IP: "192.0.2.10"}
	for _, by := range []ent.User{studentA, staffA, regionUser} {
		if _, err := svc.ResetAccount(ctx, by, studentA.ID); code(err) != "forbidden" {
			t.Errorf("ResetAccount by %s = %v, want forbidden", by.Login, err)
		}
	}
	// Another lycée's administrator resets in their own lycée, where the
	// account is not.
	if _, err := svc.ResetAccount(ctx, adminB, studentA.ID); code(err) != "not_found" {
		t.Errorf("ResetAccount by %s = %v, want not_found", adminB.Login, err)
	}
	if _, err := svc.ResetAccount(ctx, adminA, studentB.ID); code(err) != "not_found" {
		t.Errorf("ResetAccount(another lycée's student) = %v, want not_found", err)
	}
	before := len(st.Commands())
	newCode, err := svc.ResetAccount(ctx, adminA, studentA.ID)
	if err != nil {
		t.Fatalf("ResetAccount = %v", err)
	}
	if !regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`).MatchString(newCode) {
		t.Errorf("ResetAccount code = %q, want ABCD-EFGH-JKLM", newCode)
	}
	cmds := st.Commands()[before:]
	if len(cmds) != 1 || cmds[0].User != adminA.ID || cmds[0].Partition != uaiA || strings.Contains(string(cmds[0].Args), newCode) {
		t.Errorf("reset commands = %+v, want one by the admin in %s without the code in clear", cmds, uaiA)
	}
	if _, _, err := svc.Login(ctx, studentA.Login, "secret", c); !errors.Is(err, ent.ErrBadCredentials) {
		t.Errorf("Login(old password) after reset = %v, want ErrBadCredentials", err)
	}
	if again, _ := svc.ResetAccount(ctx, adminA, teacherA.ID); again == newCode {
		t.Error("two resets gave the same code")
	}
	if _, _, err := svc.Activate(ctx, studentA.Login, newCode, "tout-nouveau", c); err != nil {
		t.Errorf("Activate with the reset code = %v", err)
	}
}

func TestAccountsAndLetters(t *testing.T) {
	svc, _, _, letterCode := accountService(t)
	ctx := t.Context()
	if _, err := svc.Accounts(ctx, studentA); code(err) != "forbidden" {
		t.Errorf("Accounts(student) = %v, want forbidden", err)
	}
	if _, err := svc.PendingLetters(ctx, teacherA); code(err) != "forbidden" {
		t.Errorf("PendingLetters(teacher) = %v, want forbidden", err)
	}
	list, err := svc.Accounts(ctx, adminA)
	if err != nil {
		t.Fatal(err)
	}
	var logins []string
	for _, u := range list {
		logins = append(logins, u.Login)
		if u.PasswordHash != "" {
			t.Errorf("Accounts gives %s's password hash", u.Login)
		}
	}
	// Staff, teachers, students, relatives; by name within a profile.
	want := []string{"dir.a", "perso.a", "ancien.a", "prof.a", "nouveau.a", "eleve.a", "parent.a"}
	if diff := cmp.Diff(want, logins); diff != "" {
		t.Errorf("Accounts(adminA) logins (-want +got):\n%s", diff)
	}

	letters, err := svc.PendingLetters(ctx, adminA)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || letters[0].User.ID != pendingA.ID || letters[0].Code != letterCode {
		t.Fatalf("PendingLetters = %+v, want nouveau.a with %s", letters, letterCode)
	}
	// A reset account has no letter: its code was shown once.
	if _, err := svc.ResetAccount(ctx, adminA, pendingA.ID); err != nil {
		t.Fatal(err)
	}
	if letters, _ := svc.PendingLetters(ctx, adminA); len(letters) != 0 {
		t.Errorf("PendingLetters after reset = %+v, want none", letters)
	}
}

func TestPendingLettersAtAnEdge(t *testing.T) {
	_, st, _, _ := accountService(t)
	// An edge has its own session key: the import's codes are not its to
	// print.
	edge, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: uaiA, SessionKey: []byte(strings.Repeat("e", 32))})
	if err != nil {
		t.Fatal(err)
	}
	letters, err := edge.PendingLetters(t.Context(), adminA)
	if err != nil || len(letters) != 0 {
		t.Errorf("PendingLetters at an edge = %+v, %v; want none", letters, err)
	}
}

func TestActivateDeparted(t *testing.T) {
	departed := ent.User{ID: "01890000-0000-7000-8000-000000000104", Login: "parti.a", Name: "Paul Parti", Profile: ent.Student,
		UAI: uaiA, MissingSince: t0, Departed: true, ActivationHash: ent.ActivationHash(pendingCode)}

	// The Service refuses, once the code is right.
	svc, st, _, _ := accountService(t)
	if err := st.Submit(t.Context(), userPut(t, departed)); err != nil {
		t.Fatal(err)
	}
	_, _, err := svc.Activate(t.Context(), departed.Login, pendingCode, "nouveau-mot-de-passe", ent.Client{})
	if msg := rejectionMessage(err); !strings.HasPrefix(msg, "Ce compte est fermé") {
		t.Errorf("Activate(departed) = %v, want the account closed", err)
	}

	// An activation made at an edge before the departure reached it
	// applies at central, but the account stays closed.
	tx := accountTx(t)
	if err := ent.Exec(tx, userPut(t, departed)); err != nil {
		t.Fatal(err)
	}
	if err := ent.Exec(tx, activateCmd(t, departed, pendingCode, phc("a"))); err != nil {
		t.Fatalf("activate departed = %v", err)
	}
	if got := userIn(t, tx, departed); got.Active || got.ActivationHash != "" || got.PasswordHash != phc("a") {
		t.Errorf("departed after activation: active %v, activation hash %q, hash %q; want inactive with the password",
			got.Active, got.ActivationHash, got.PasswordHash)
	}
}
