package ent

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"atrium/ent/uai"
	"atrium/record"

	"github.com/google/uuid"
)

var _ record.Executor = Exec

// Exec executes one command of the ENT inside a write transaction: the
// record.Executor of every node. It is deterministic (ids and times come in
// cmd), checks everything before it writes, and refuses with a
// *record.Rejection (French message) that writes nothing. A command that
// creates an item whose id already exists is a no-op, so retransmitted
// commands never duplicate anything. Errors other than rejections come
// from the store.
func Exec(tx record.Tx, cmd record.Command) error {
	switch cmd.Op {
	case OpUserPut:
		return execUserPut(tx, cmd)
	case OpLyceePut:
		return execLyceePut(tx, cmd)
	case OpNewsPublish:
		return execNewsPublish(tx, cmd)
	case OpMessageSend:
		return execMessageSend(tx, cmd)
	case OpUserImport:
		return execUserImport(tx, cmd)
	case OpDirectoryPut:
		return execDirectoryEntries(tx, cmd)
	case OpImportReport:
		return execImportReport(tx, cmd)
	case OpCASServicePut:
		return execCASServicePut(tx, cmd)
	case OpCASServiceDel:
		return execCASServiceRemove(tx, cmd)
	case OpAccountActivate:
		return execAccountActivate(tx, cmd)
	case OpAccountPassword:
		return execAccountPassword(tx, cmd)
	case OpAccountReset:
		return execAccountReset(tx, cmd)
	case OpAuditRecord:
		return execAuditRecord(tx, cmd)
	case OpAuditPurge:
		return execAuditPurge(tx, cmd)
	case OpUsageRecord:
		return execUsageRecord(tx, cmd)
	case OpUsageKey:
		return execUsageKey(tx, cmd)
	case OpTicketOpen:
		return execTicketOpen(tx, cmd)
	case OpTicketComment:
		return execTicketComment(tx, cmd)
	case OpTicketStatus:
		return execTicketStatus(tx, cmd)
	case OpHomeworkWrite:
		return execHomeworkWrite(tx, cmd)
	case OpHomeworkDelete:
		return execHomeworkDelete(tx, cmd)
	case OpAbsenceRecord:
		return execAbsenceRecord(tx, cmd)
	case OpAbsenceJustify:
		return execAbsenceJustify(tx, cmd)
	case OpAbsenceStatus:
		return execAbsenceStatus(tx, cmd)
	case OpResourcePut:
		return execResourcePut(tx, cmd)
	case OpBookingMake:
		return execBookingMake(tx, cmd)
	case OpBookingCancel:
		return execBookingCancel(tx, cmd)
	case OpEvaluationCreate:
		return execEvaluationCreate(tx, cmd)
	case OpFileChunk:
		return execFileChunk(tx, cmd)
	case OpSpaceCreate:
		return execSpaceCreate(tx, cmd)
	case OpSpaceDeposit:
		return execSpaceDeposit(tx, cmd)
	case OpSpaceVersion:
		return execSpaceVersion(tx, cmd)
	case OpSpaceDelete:
		return execSpaceDelete(tx, cmd)
	case OpCataloguePublish:
		return execCataloguePublish(tx, cmd)
	case OpCatalogueUpdate:
		return execCatalogueUpdate(tx, cmd)
	case OpCatalogueRetire:
		return execCatalogueRetire(tx, cmd)
	case OpGradeSet:
		return execGradeSet(tx, cmd)
	case OpForumCreate:
		return execForumCreate(tx, cmd)
	case OpForumTopic:
		return execForumTopic(tx, cmd)
	case OpForumPost:
		return execForumPost(tx, cmd)
	case OpForumHide:
		return execForumHide(tx, cmd)
	case OpBlogPublish:
		return execBlogPublish(tx, cmd)
	case OpBlogComment:
		return execBlogComment(tx, cmd)
	case OpBlogDelete:
		return execBlogDelete(tx, cmd)
	case OpAssetCreate:
		return execAssetCreate(tx, cmd)
	case OpAssetUpdate:
		return execAssetUpdate(tx, cmd)
	case OpNoticeRead:
		return execNoticeRead(tx, cmd)
	case OpDraftPropose:
		return execDraftPropose(tx, cmd)
	case OpDraftApply:
		return execDraftApply(tx, cmd)
	case OpDraftDiscard:
		return execDraftDiscard(tx, cmd)
	case OpNewsUpdate:
		return execNewsUpdate(tx, cmd)
	}
	return record.Reject("invalid", "Opération inconnue : "+cmd.Op+".")
}

func rejectInvalid(msg string) error   { return record.Reject("invalid", msg) }
func rejectForbidden(msg string) error { return record.Reject("forbidden", msg) }

func decodeArgs(cmd record.Command, v any) error {
	if err := json.Unmarshal(cmd.Args, v); err != nil {
		return rejectInvalid("Commande mal formée.")
	}
	return nil
}

// text checks a user-written field: present once trimmed, valid UTF-8, at
// most max characters.
func text(s string, max int) bool {
	s = strings.TrimSpace(s)
	return s != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= max
}

func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// deletionTarget reads the record a delete command names by its "id"
// argument in the command's partition, refusing a malformed command and,
// with notFound, an id that names no record of one of kinds.
func deletionTarget(tx record.Tx, cmd record.Command, notFound string, kinds ...string) (record.Record, error) {
	var a struct {
		ID string `json:"id"`
	}
	if err := decodeArgs(cmd, &a); err != nil {
		return record.Record{}, err
	}
	if !validID(a.ID) || cmd.Partition == "" {
		return record.Record{}, rejectInvalid("Commande mal formée.")
	}
	rec, ok, err := tx.Get(cmd.Partition, a.ID)
	if err != nil {
		return record.Record{}, err
	}
	if !ok || !slices.Contains(kinds, rec.Kind) {
		return record.Record{}, record.Reject("not_found", notFound)
	}
	return rec, nil
}

// existing reports whether id is already taken in the partition; an item of
// another kind under that id is an error of the caller.
func existing(tx record.Tx, partition, id, kind string) (bool, error) {
	r, ok, err := tx.Get(partition, id)
	if err != nil || !ok {
		return false, err
	}
	if r.Kind != kind {
		return false, rejectInvalid("Identifiant déjà utilisé.")
	}
	return true, nil
}

// activeUser returns the live, active user id of partition, or ok=false.
func activeUser(tx record.Tx, partition, id string) (User, bool, error) {
	if id == "" {
		return User{}, false, nil
	}
	r, ok, err := tx.Get(partition, id)
	if err != nil || !ok || r.Deleted || r.Kind != KindUser {
		return User{}, false, err
	}
	u, err := decodeUser(r.Body)
	if err != nil {
		return User{}, false, nil
	}
	return u, u.Active, nil
}

// byOperator reports whether cmd was made by the system or an operator at
// central: no acting user, and never from an edge (an appliance, stolen or
// not, must not be able to create accounts or set passwords).
func byOperator(cmd record.Command) bool {
	return cmd.User == "" && cmd.Origin == record.OriginCentral
}

func execUserPut(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul un opérateur peut créer ou modifier un compte.")
	}
	var u User
	if err := decodeArgs(cmd, &u); err != nil {
		return err
	}
	if err := checkUser(tx, cmd, u); err != nil {
		return err
	}
	prev, ok, err := tx.ByKey(KindUser, u.Login)
	if err != nil {
		return err
	}
	if ok && (prev.ID != u.ID || prev.Partition != cmd.Partition) {
		return record.Reject("conflict", "L'identifiant de connexion "+u.Login+" est déjà utilisé.")
	}
	if _, err := existing(tx, cmd.Partition, u.ID, KindUser); err != nil {
		return err
	}
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	if ok && bytes.Equal(prev.Body, body) {
		return nil // unchanged: replaying the command is a no-op
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: u.ID, Kind: KindUser, Key: u.Login, Body: body})
}

// checkUser checks an account written by an operator or an import: its
// fields, its partition, and that a relative's children are students of
// the lycée (live, activated or not: imported students start inactive).
func checkUser(tx record.Tx, cmd record.Command, u User) error {
	switch {
	case !validID(u.ID):
		return rejectInvalid("Identifiant de compte invalide.")
	case u.Login == "" || len(u.Login) > maxLogin || strings.ContainsAny(u.Login, " \t\r\n/"):
		return rejectInvalid("Identifiant de connexion invalide.")
	case !text(u.Name, maxName):
		return rejectInvalid("Le nom est obligatoire.")
	case !ValidProfile(u.Profile):
		return rejectInvalid("Profil inconnu : " + u.Profile + ".")
	case u.PasswordHash != "" && !strings.HasPrefix(u.PasswordHash, "$argon2id$"):
		return rejectInvalid("Empreinte de mot de passe invalide.")
	}
	if u.Profile == Region {
		if u.UAI != "" {
			return rejectInvalid("Un agent de la Région n'est rattaché à aucun lycée.")
		}
	} else if !uai.Valid(u.UAI) {
		return rejectInvalid("UAI invalide : " + u.UAI + ".")
	}
	if cmd.Partition != u.Partition() {
		return rejectInvalid("Le compte doit être écrit dans la partition de son lycée.")
	}
	if len(u.Children) > 0 && u.Profile != Relative {
		return rejectInvalid("Seul un responsable légal a des enfants rattachés.")
	}
	for _, c := range u.Children {
		child, ok, err := liveUser(tx, cmd.Partition, c)
		if err != nil {
			return err
		}
		if !ok || child.Profile != Student {
			return rejectInvalid("Enfant inconnu dans ce lycée : " + c + ".")
		}
	}
	return nil
}

// liveUser returns the live user id of partition, active or not.
func liveUser(tx record.Tx, partition, id string) (User, bool, error) {
	r, ok, err := tx.Get(partition, id)
	if err != nil || !ok || r.Deleted || r.Kind != KindUser {
		return User{}, false, err
	}
	u, err := decodeUser(r.Body)
	if err != nil {
		return User{}, false, nil
	}
	return u, true, nil
}

func execLyceePut(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul un opérateur peut déclarer un lycée.")
	}
	var a LyceeArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	switch {
	case !validID(a.ID):
		return rejectInvalid("Identifiant invalide.")
	case !uai.Valid(a.UAI):
		return rejectInvalid("UAI invalide : " + a.UAI + ".")
	case cmd.Partition != a.UAI:
		return rejectInvalid("Un lycée est écrit dans sa propre partition.")
	case !text(a.Name, maxName) || !text(a.City, maxName):
		return rejectInvalid("Le nom et la commune du lycée sont obligatoires.")
	}
	prev, ok, err := tx.ByKey(KindLycee, a.UAI)
	if err != nil {
		return err
	}
	if ok && prev.ID != a.ID {
		return record.Reject("conflict", "Ce lycée est déjà déclaré.")
	}
	if _, err := existing(tx, cmd.Partition, a.ID, KindLycee); err != nil {
		return err
	}
	body, err := json.Marshal(a.Lycee)
	if err != nil {
		return err
	}
	if ok && bytes.Equal(prev.Body, body) {
		return nil
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindLycee, Key: a.UAI, Body: body})
}

func execNewsPublish(tx record.Tx, cmd record.Command) error {
	a, err := decodeNewsArgs(cmd.Args)
	if err != nil {
		return rejectInvalid("Commande mal formée.")
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindNews); done || err != nil {
		return err // already published: a retransmission
	}
	if !text(a.Title, maxTitle) || !text(a.Body, maxBody) {
		return rejectInvalid("Le titre et le texte de l'actualité sont obligatoires.")
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if cmd.Partition == record.Region {
		if !ok || author.Profile != Region {
			return rejectForbidden("Seuls les agents de la Région publient les actualités régionales.")
		}
	} else {
		if !ok {
			return rejectForbidden("Vous ne pouvez publier que dans votre lycée.")
		}
		if author.Profile != Teacher && author.Profile != Personnel {
			return rejectForbidden("Seuls les enseignants et les personnels publient les actualités du lycée.")
		}
	}
	body := (&newsBody{
		Title: strings.TrimSpace(a.Title), Body: strings.TrimSpace(a.Body),
		AuthorID: author.ID, AuthorName: author.Name, Published: cmd.Time,
	}).marshal()
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindNews, Body: body})
}

func execMessageSend(tx record.Tx, cmd record.Command) error {
	a, err := decodeMessageArgs(cmd.Args)
	if err != nil {
		return rejectInvalid("Commande mal formée.")
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return rejectForbidden("La messagerie relie les membres d'un même lycée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindMessage); done || err != nil {
		return err
	}
	if !text(a.Subject, maxSubject) || !text(a.Body, maxBody) {
		return rejectInvalid("L'objet et le texte du message sont obligatoires.")
	}
	from, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok {
		return rejectForbidden("Vous ne pouvez écrire qu'aux membres de votre lycée.")
	}
	to, ok, err := activeUser(tx, cmd.Partition, a.To)
	if err != nil {
		return err
	}
	if !ok {
		return record.Reject("not_found", "Destinataire inconnu dans ce lycée.")
	}
	if to.ID == from.ID {
		return rejectInvalid("Vous ne pouvez pas vous écrire à vous-même.")
	}
	children, err := childrenOf(tx, from)
	if err != nil {
		return err
	}
	if !CanReach(from, to, children) {
		return rejectForbidden(reachRule(from.Profile))
	}
	body := (&messageBody{
		FromID: from.ID, FromLogin: from.Login, FromName: from.Name,
		ToID: to.ID, ToLogin: to.Login, ToName: to.Name,
		Subject: strings.TrimSpace(a.Subject), Body: strings.TrimSpace(a.Body), Sent: cmd.Time,
	}).marshal()
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindMessage, Body: body})
}
