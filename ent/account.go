package ent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"atrium/record"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// Activation codes. An imported account starts inactive with an
// activation code: the person types their login, the code and a new
// password on the activation page, once. A code is 12 characters of
// base32 (no 0, 1, 8 or 9 to confuse with O, I, B or g), shown in groups
// of four: ABCD-EFGH-JKLM. Accounts store only its hash.
//
// The import gives each new account the code ActivationCode derives from
// the central nodes' shared session key and the account's id, so that the
// lycée's administrators can print the activation letters again at central
// until the account is activated. A reset by an administrator replaces it
// with a random code.
//
// Three commands change an account's credentials, each executed at the
// node where it is made (an edge, offline or not) and again at central:
// account.activate by the person holding the code (the command's user is
// the account itself), account.password by an active user for their own
// account (the node checked the old password: Exec cannot), and
// account.reset by an active administrator of the account's lycée
// (User.Admin) or by an operator at central: only an operator resets the
// Région staff's accounts. Each is a no-op when replayed after it applied. A
// password change leaves the account's other sessions open until they
// expire; a reset ends them (the account is inactive).

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// formatCode groups a code's characters by four.
func formatCode(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(raw[i:min(i+4, len(raw))])
	}
	return b.String()
}

// ActivationCode returns the activation code an import gives the account
// userID at this node (a central node: they share the session key).
func (s *Service) ActivationCode(userID string) string {
	return formatCode(codeEncoding.EncodeToString(s.mac("activation", []byte(userID)))[:12])
}

// normaliseCode drops separators and case from a typed code.
func normaliseCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, code)
}

// ActivationHash is what an account stores of its activation code: the
// hex SHA-256 of the code, separators and case ignored.
func ActivationHash(code string) string {
	sum := sha256.Sum256([]byte(normaliseCode(code)))
	return hex.EncodeToString(sum[:])
}

// Arguments of the account commands, as carried in record.Command.Args.
// The partition of each command is the account's.

// ActivateArgs are the arguments of "account.activate". The command's
// user is the account itself: the person acts on their own account. The
// code travels in clear so that knowing the stored hash (which every
// replica holds) is not enough to activate; it is worthless once used.
type ActivateArgs struct {
	UserID       string `json:"userId"`
	Code         string `json:"code"`
	PasswordHash string `json:"passwordHash"` // argon2id PHC string of the new password
}

// PasswordArgs are the arguments of "account.password": the acting user's
// new password. The node that submits it has verified the old one.
type PasswordArgs struct {
	PasswordHash string `json:"passwordHash"`
}

// ResetArgs are the arguments of "account.reset": the account loses its
// password and waits for activation with the code whose hash is given.
type ResetArgs struct {
	UserID         string `json:"userId"`
	ActivationHash string `json:"activationHash"`
}

// Letter is an activation letter: a pending account and its code.
type Letter struct {
	User User
	Code string
}

// Password rules, checked by the Service before hashing.
const (
	minPassword = 8
	maxPassword = 256
)

// checkPassword returns a rejection if pw breaks the password rules.
func checkPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < minPassword:
		return rejectInvalid(fmt.Sprintf("Le mot de passe doit compter au moins %d caractères.", minPassword))
	case n > maxPassword || !utf8.ValidString(pw):
		return rejectInvalid(fmt.Sprintf("Le mot de passe doit compter au plus %d caractères.", maxPassword))
	}
	return nil
}

// validPasswordHash reports whether h is an argon2id PHC string that
// VerifyPassword accepts, without hashing anything: Exec must stay cheap
// and cannot verify a password it never sees.
func validPasswordHash(h string) bool {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	if m < 8 || m > maxArgonMemory || t < 1 || t > maxArgonTime || p < 1 {
		return false
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false
	}
	key, err := b64.DecodeString(parts[5])
	return err == nil && len(key) >= 16 && len(key) <= 64
}

// validActivationHash reports whether h looks like ActivationHash's output.
func validActivationHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// codeMatches compares in constant time the hash of a typed code with an
// account's stored hash.
func codeMatches(stored, code string) bool {
	return stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(ActivationHash(code))) == 1
}

// accountIn returns the live user id of partition, whether active or not.
func accountIn(tx record.Reader, partition, id string) (User, bool, error) {
	r, ok, err := tx.Get(partition, id)
	if err != nil || !ok || r.Deleted || r.Kind != KindUser {
		return User{}, false, err
	}
	u, err := decodeUser(r.Body)
	if err != nil {
		return User{}, false, fmt.Errorf("decode user %s: %w", id, err)
	}
	return u, true, nil
}

// putUser writes the account u back into its record.
func putUser(tx record.Tx, partition string, u User) error {
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: partition, ID: u.ID, Kind: KindUser, Key: u.Login, Body: body})
}

func execAccountActivate(tx record.Tx, cmd record.Command) error {
	var a ActivateArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.UserID) || cmd.User != a.UserID {
		return rejectInvalid("Commande mal formée.")
	}
	u, ok, err := accountIn(tx, cmd.Partition, a.UserID)
	if err != nil {
		return err
	}
	if !ok {
		return record.Reject("not_found", "Compte inconnu.")
	}
	if u.ActivationHash == "" {
		if u.PasswordHash == a.PasswordHash {
			return nil // this very activation, replayed
		}
		return record.Reject("conflict", "Ce compte est déjà activé : connectez-vous avec votre mot de passe.")
	}
	if !validPasswordHash(a.PasswordHash) {
		return rejectInvalid("Empreinte de mot de passe invalide.")
	}
	if !codeMatches(u.ActivationHash, a.Code) {
		return rejectForbidden("Code d'activation incorrect.")
	}
	// Active as an import decides it: a departed person's account stays
	// closed (it may have departed at central while the edge activated).
	u.PasswordHash, u.ActivationHash, u.Active = a.PasswordHash, "", !u.Departed
	return putUser(tx, cmd.Partition, u)
}

func execAccountPassword(tx record.Tx, cmd record.Command) error {
	var a PasswordArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validPasswordHash(a.PasswordHash) {
		return rejectInvalid("Empreinte de mot de passe invalide.")
	}
	u, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok {
		return rejectForbidden("Seul le titulaire d'un compte actif peut en changer le mot de passe.")
	}
	if u.PasswordHash == a.PasswordHash {
		return nil // replayed
	}
	u.PasswordHash = a.PasswordHash
	return putUser(tx, cmd.Partition, u)
}

func execAccountReset(tx record.Tx, cmd record.Command) error {
	var a ResetArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.UserID) || !validActivationHash(a.ActivationHash) {
		return rejectInvalid("Commande mal formée.")
	}
	if !byOperator(cmd) {
		if cmd.Partition == record.Region {
			return rejectForbidden("Seule la Région réinitialise les comptes de ses agents.")
		}
		admin, ok, err := activeUser(tx, cmd.Partition, cmd.User)
		if err != nil {
			return err
		}
		if !ok || !admin.Admin {
			return rejectForbidden("Seule la direction du lycée réinitialise les comptes de ses membres.")
		}
	}
	u, ok, err := accountIn(tx, cmd.Partition, a.UserID)
	if err != nil {
		return err
	}
	if !ok {
		return record.Reject("not_found", "Compte inconnu dans ce lycée.")
	}
	if u.ActivationHash == a.ActivationHash && u.PasswordHash == "" && !u.Active {
		return nil // replayed
	}
	u.PasswordHash, u.ActivationHash, u.Active = "", a.ActivationHash, false
	return putUser(tx, cmd.Partition, u)
}

// Activate activates the account login with its activation code and a new
// password, then opens a session like Login. An unknown login, an account
// already active and a wrong code are one refusal (a *record.Rejection:
// the caller cannot tell which); attempts are throttled with Login's
// limits, by login and by client address (a *TooManyAttemptsError). The
// new password must follow the password rules (a rejection). Activations
// and refused codes are recorded in the audit trail like logins.
func (s *Service) Activate(ctx context.Context, login, code, newPassword string, c Client) (string, User, error) {
	login = strings.TrimSpace(login)
	if err := checkPassword(newPassword); err != nil {
		return "", User{}, err
	}
	var outcome *AuditEvent
	defer func() {
		if outcome != nil {
			s.Audit(ctx, *outcome)
		}
	}()
	if err := s.limiter.check(login, c.IP, s.now()); err != nil {
		outcome = s.throttledEvent(login, c)
		return "", User{}, err
	}
	u, found, err := s.lookupLogin(login)
	if err != nil {
		return "", User{}, fmt.Errorf("activate: %w", err)
	}
	if !found || !codeMatches(u.ActivationHash, code) {
		s.limiter.failed(login, c.IP, s.now())
		outcome = loginEvent(AuditLoginFailure, login, u, found, c, auditBadCode)
		return "", User{}, errBadActivation
	}
	if u.Departed {
		return "", User{}, rejectForbidden("Ce compte est fermé : son titulaire ne figure plus dans l'annuaire de son lycée.")
	}
	hash, err := s.hashLimited(ctx, newPassword)
	if err != nil {
		return "", User{}, err
	}
	args := ActivateArgs{UserID: u.ID, Code: code, PasswordHash: hash}
	if err := s.submit(ctx, u, OpAccountActivate, u.Partition(), args, s.now()); err != nil {
		return "", User{}, err
	}
	s.limiter.succeeded(login)
	u.PasswordHash, u.ActivationHash, u.Active = hash, "", true
	outcome = loginEvent(AuditAccountActivate, login, u, true, c, "")
	return s.newToken(u, s.now().Add(s.ttl)), u, nil
}

// auditBadCode is the audit trail's detail of a refused activation.
const auditBadCode = "code d'activation incorrect"

// errBadActivation is Activate's refusal of an unknown login, an active
// account or a wrong code.
var errBadActivation = rejectForbidden("Identifiant ou code d'activation incorrect. Si votre compte est déjà activé, connectez-vous avec votre mot de passe.")

// hashLimited hashes a new password in one of the verification slots
// Login uses: hashing costs as much as verifying.
func (s *Service) hashLimited(ctx context.Context, pw string) (string, error) {
	if err := s.limiter.slots.acquire(ctx, loginSlotWait); err != nil {
		return "", err
	}
	defer s.limiter.slots.release()
	return HashPassword(pw)
}

// ChangePassword changes u's password after checking the old one. A wrong
// old password is a rejection and counts as a failed login for u's login
// (a stolen session must not become a way to guess the password); new
// passwords follow the password rules.
func (s *Service) ChangePassword(ctx context.Context, u User, oldPassword, newPassword string) error {
	if err := checkPassword(newPassword); err != nil {
		return err
	}
	if err := s.limiter.check(u.Login, "", s.now()); err != nil {
		return err
	}
	var cur User
	var ok bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		cur, ok, err = userByID(r, u.Partition(), u.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok || !cur.Active || cur.PasswordHash == "" {
		return ErrBadSession
	}
	if err := s.limiter.slots.acquire(ctx, loginSlotWait); err != nil {
		return err
	}
	good, err := VerifyPassword(cur.PasswordHash, oldPassword)
	var hash string
	if err == nil && good {
		hash, err = HashPassword(newPassword)
	}
	s.limiter.slots.release()
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !good {
		s.limiter.failed(u.Login, "", s.now())
		return rejectForbidden("Mot de passe actuel incorrect.")
	}
	return s.submit(ctx, cur, OpAccountPassword, cur.Partition(), PasswordArgs{PasswordHash: hash}, s.now())
}

// newCode returns a random activation code, formatted like ActivationCode.
func newCode() (string, error) {
	var b [8]byte // 64 random bits, of which the 12 characters keep 60
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("activation code: %w", err)
	}
	return formatCode(codeEncoding.EncodeToString(b[:])[:12]), nil
}

// checkAdmin refuses anyone but an active lycée administrator.
func checkAdmin(admin User) error {
	if !admin.Admin || !admin.Active || admin.Profile == Region || admin.UAI == "" {
		return rejectForbidden("Cette page est réservée à la direction du lycée.")
	}
	return nil
}

// ResetAccount gives the account userID of admin's lycée a new random
// activation code and returns it, to be handed over to its owner: the
// account loses its password and is inactive until activated again. Only
// an active administrator of the lycée may (otherwise a rejection).
func (s *Service) ResetAccount(ctx context.Context, admin User, userID string) (string, error) {
	if err := checkAdmin(admin); err != nil {
		return "", err
	}
	code, err := newCode()
	if err != nil {
		return "", err
	}
	args := ResetArgs{UserID: userID, ActivationHash: ActivationHash(code)}
	if err := s.submit(ctx, admin, OpAccountReset, admin.UAI, args, s.now()); err != nil {
		return "", err
	}
	return code, nil
}

// profileOrder ranks profiles in the accounts list.
var profileOrder = map[string]int{Personnel: 0, Teacher: 1, Student: 2, Relative: 3}

// Accounts returns the accounts of admin's lycée, by profile (staff,
// teachers, students, relatives) then name in French order. Password
// hashes are left out. Only an active administrator of the lycée may
// (otherwise a rejection).
func (s *Service) Accounts(ctx context.Context, admin User) ([]User, error) {
	if err := checkAdmin(admin); err != nil {
		return nil, err
	}
	var out []User
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(admin.UAI, KindUser, func(rec record.Record) error {
			u, err := decodeUser(rec.Body)
			if err != nil {
				return fmt.Errorf("decode user %s: %w", rec.ID, err)
			}
			u.PasswordHash = ""
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	col := collate.New(language.French, collate.Loose)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if pa, pb := profileOrder[a.Profile], profileOrder[b.Profile]; pa != pb {
			return pa < pb
		}
		if c := col.CompareString(sortName(a), sortName(b)); c != 0 {
			return c < 0
		}
		return a.Login < b.Login
	})
	return out, nil
}

// sortName is the name an account sorts by: surname first when the
// directory gives it.
func sortName(u User) string {
	if u.Surname != "" {
		return u.Surname + " " + u.GivenName
	}
	return u.Name
}

// PendingLetters returns the activation letters of admin's lycée's
// accounts still waiting for the code their import gave them, in Accounts'
// order. The code derives from this node's session key (ActivationCode):
// at central every pending imported account has its letter; at an edge,
// whose key differs, none has, and an account reset since its import has
// none anywhere (its code was shown once, to the administrator).
func (s *Service) PendingLetters(ctx context.Context, admin User) ([]Letter, error) {
	accounts, err := s.Accounts(ctx, admin)
	if err != nil {
		return nil, err
	}
	var out []Letter
	for _, u := range accounts {
		if u.ActivationHash == "" {
			continue
		}
		if code := s.ActivationCode(u.ID); codeMatches(u.ActivationHash, code) {
			out = append(out, Letter{User: u, Code: code})
		}
	}
	return out, nil
}
