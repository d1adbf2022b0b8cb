package ent

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"atrium/record"

	"github.com/google/uuid"
)

// Refusal notices, as their authors read them. When central refuses a
// command made at an edge, it leaves a record.Notice in the command's
// partition and lists it in the author's record.NoticeIndex; both reach
// the edge like the rest of the lycée's partition. Its rules:
//
//   - A user reads the notices of the commands they authored, in their
//     lycée's partition, newest first, each as a French sentence naming
//     what was refused (the slot, the ticket, the asset) and why, with a
//     link to the object when there is one.
//   - Its author marks a notice read ("notice.read", in the lycée's
//     partition): the ids read are kept in one record per user and
//     partition, whose id derives from both, so that the same record is
//     written at the edge (offline too) and at central, where the command
//     is executed again on central's copy: reads made on both sides add
//     up. Marking a read notice again is a no-op.
//   - Counting the unread notices reads two records by id (the index and
//     the read list): it runs on every page.
//   - Région staff's decisions on a user's proposals of modification
//     (drafts.go) are notices too, of op draft.apply or draft.discard,
//     written by the decision itself: they read "… a été appliquée par la
//     Région" or "… n'a pas été retenue : raison".

// OpNoticeRead is the op of marking a notice read: its author, in the
// notice's partition.
const OpNoticeRead = "notice.read"

// KindNoticeRead is the kind of the record listing the notices a user has
// read in a partition.
const KindNoticeRead = "notice.read"

// NoticeReadArgs are the arguments of "notice.read".
type NoticeReadArgs struct {
	ID string `json:"id"` // the notice's id
}

// Notice is a refusal notice as its author reads it.
type Notice struct {
	ID        string
	Partition string
	Op        string    // the refused command's op
	Service   string    // French name of the service it concerns
	Text      string    // French sentence: what was refused, and why
	Link      string    // portal path of the object, "" for none
	Made      time.Time // when the refused command was made
	Read      bool
}

type noticeReadBody struct {
	Read []string `json:"read"`
}

// noticeReadSpace is the UUID namespace of noticeReadID.
var noticeReadSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://atrium.region/notice-read"))

// noticeReadID is the id of the record of the notices user has read in
// partition.
func noticeReadID(partition, user string) string {
	return uuid.NewSHA1(noticeReadSpace, []byte(partition+"\x00"+user)).String()
}

func errNoNotice() error { return record.Reject("not_found", "Avis introuvable.") }

// noticeState reads, by id, the ids of user's notices in partition (in
// the order central refused the commands) and the set of those read.
func noticeState(r record.Reader, partition, user string) (ids []string, read map[string]bool, err error) {
	var idx record.NoticeIndex
	if err := getBody(r, partition, record.NoticeIndexID(partition, user), record.KindNoticeIndex, &idx); err != nil {
		return nil, nil, err
	}
	var rb noticeReadBody
	if err := getBody(r, partition, noticeReadID(partition, user), KindNoticeRead, &rb); err != nil {
		return nil, nil, err
	}
	read = make(map[string]bool, len(rb.Read))
	for _, id := range rb.Read {
		read[id] = true
	}
	return idx.Notices, read, nil
}

// getBody decodes the body of the live record id of kind into v; a
// missing record leaves v as is.
func getBody(r record.Reader, partition, id, kind string, v any) error {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != kind {
		return err
	}
	if err := json.Unmarshal(rec.Body, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", kind, id, err)
	}
	return nil
}

// UnreadNotices returns how many of u's notices u has not marked read. It
// reads two records by id.
func (s *Service) UnreadNotices(ctx context.Context, u User) (int, error) {
	if u.UAI == "" {
		return 0, nil
	}
	n := 0
	err := s.store.View(func(r record.Reader) error {
		ids, read, err := noticeState(r, u.UAI, u.ID)
		for _, id := range ids {
			if !read[id] {
				n++
			}
		}
		return err
	})
	return n, err
}

// PageInfo returns what every page shows a signed-in user besides its
// content, read in one transaction: their lycée (zero when u has none or it
// is unknown) and how many of their notices are unread (UnreadNotices).
// On a store error it returns what it read with the error.
func (s *Service) PageInfo(ctx context.Context, u User) (l Lycee, unread int, err error) {
	if u.UAI == "" {
		return Lycee{}, 0, nil
	}
	err = s.store.View(func(r record.Reader) error {
		rec, ok, err := r.ByKey(KindLycee, u.UAI)
		if err != nil {
			return err
		}
		if ok {
			if l, err = decodeLycee(rec.Body); err != nil {
				return fmt.Errorf("lycee %s: %w", u.UAI, err)
			}
		}
		ids, read, err := noticeState(r, u.UAI, u.ID)
		for _, id := range ids {
			if !read[id] {
				unread++
			}
		}
		return err
	})
	return l, unread, err
}

// Notices returns the notices of the commands u authored that central
// refused, newest first.
func (s *Service) Notices(ctx context.Context, u User) ([]Notice, error) {
	if u.UAI == "" {
		return nil, nil
	}
	var out []Notice
	err := s.store.View(func(r record.Reader) error {
		ids, read, err := noticeState(r, u.UAI, u.ID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			n, ok, err := noticeOf(r, u.UAI, id, u.ID)
			if err != nil {
				return err
			}
			if ok {
				n.Read = read[id]
				out = append(out, n)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Notice) int {
		return cmp.Or(b.Made.Compare(a.Made), strings.Compare(b.ID, a.ID))
	})
	return out, err
}

// MarkNoticeRead marks u's notice id read. Marking it again is a no-op.
// Refusals are *record.Rejection.
func (s *Service) MarkNoticeRead(ctx context.Context, u User, id string) error {
	if u.UAI == "" || !validID(id) {
		return errNoNotice()
	}
	var already bool
	err := s.store.View(func(r record.Reader) error {
		_, ok, err := noticeOf(r, u.UAI, id, u.ID)
		if err != nil {
			return err
		}
		if !ok {
			return errNoNotice()
		}
		_, read, err := noticeState(r, u.UAI, u.ID)
		already = read[id]
		return err
	})
	if err != nil || already {
		return err
	}
	return s.submit(ctx, u, OpNoticeRead, u.UAI, NoticeReadArgs{ID: id}, s.now())
}

func execNoticeRead(tx record.Tx, cmd record.Command) error {
	var a NoticeReadArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.User == "" {
		return rejectInvalid("Commande mal formée.")
	}
	rec, ok, err := tx.Get(cmd.Partition, a.ID)
	if err != nil {
		return err
	}
	var n record.Notice
	if !ok || rec.Deleted || rec.Kind != record.KindNotice || json.Unmarshal(rec.Body, &n) != nil || n.User != cmd.User {
		return errNoNotice()
	}
	var rb noticeReadBody
	id := noticeReadID(cmd.Partition, cmd.User)
	if err := getBody(tx, cmd.Partition, id, KindNoticeRead, &rb); err != nil {
		return err
	}
	if slices.Contains(rb.Read, a.ID) {
		return nil // read already: a retransmission, or read on both sides
	}
	rb.Read = append(rb.Read, a.ID)
	body, err := json.Marshal(rb)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: id, Kind: KindNoticeRead, Body: body})
}

// noticeOf reads notice id of partition as user reads it; ok is false
// when there is none, or it is another user's.
func noticeOf(r record.Reader, partition, id, user string) (Notice, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != record.KindNotice {
		return Notice{}, false, err
	}
	var n record.Notice
	if err := json.Unmarshal(rec.Body, &n); err != nil {
		return Notice{}, false, fmt.Errorf("decode notice %s: %w", id, err)
	}
	if n.User != user {
		return Notice{}, false, nil
	}
	out := Notice{ID: id, Partition: partition, Op: n.Op, Service: opService(n.Op)}
	if ms, ok := record.NoticeTime(id); ok {
		out.Made = time.UnixMilli(ms)
	}
	if text, link, ok, err := draftNotice(r, partition, n); err != nil || ok {
		out.Text, out.Link = text, link // a decision on a proposal, not a refusal (drafts.go)
		return out, err == nil, err
	}
	what, link, err := refusedObject(r, partition, n)
	if err != nil {
		return Notice{}, false, err
	}
	out.Text, out.Link = what+" n'a pas pu être enregistrée par le serveur régional : "+reason(n), link
	return out, true, nil
}

// reason is why central refused, in French: the rejection's message (the
// failure's generic one otherwise), never a code.
func reason(n record.Notice) string {
	msg := strings.TrimSpace(n.Message)
	if msg == "" {
		msg = "La modification n'a pas pu être appliquée."
	}
	return msg
}

// refusedObject names, in French, what the refused command was ("Votre
// réservation de la salle « B12 » le 06/01/2026 de 09:00 à 10:00": the
// subject of "n'a pas pu être enregistrée"), from its arguments and the
// objects they name, with the portal path of the object if any.
func refusedObject(r record.Reader, partition string, n record.Notice) (what, link string, err error) {
	generic := "Une modification que vous avez faite (" + strings.ToLower(opService(n.Op)) + ")"
	if len(n.Args) == 0 {
		return generic, "", nil
	}
	switch n.Op {
	case OpDraftPropose:
		return draftRefused(r, n.Args)
	case OpBookingMake:
		var a BookingArgs
		if json.Unmarshal(n.Args, &a) != nil || !validID(a.Resource) {
			return "Votre réservation", "", nil
		}
		when := fmt.Sprintf(" le %s de %s à %s", frDay(a.Date), a.Start, a.End)
		res, ok, err := resourceIn(r, partition, a.Resource)
		if err != nil || !ok {
			return "Votre réservation" + when, "", err
		}
		of := "de la salle"
		if res.Kind == ResourceEquipment {
			of = "du matériel"
		}
		return fmt.Sprintf("Votre réservation %s « %s »%s", of, res.Name, when), "/reservation/ressources/" + a.Resource, nil
	case OpGradeSet:
		var a GradeArgs
		if json.Unmarshal(n.Args, &a) != nil || !validID(a.Evaluation) {
			return "Votre saisie de note", "", nil
		}
		e, ok, err := evaluationIn(r, partition, a.Evaluation)
		if err != nil || !ok {
			return "Votre saisie de note", "", err
		}
		who := ""
		if st, ok, err := userByID(r, partition, a.Student); err != nil {
			return "", "", err
		} else if ok {
			who = " de " + st.Name
		}
		return fmt.Sprintf("Votre saisie de la note%s (« %s »)", who, e.Title), "/notes/" + a.Evaluation, nil
	case OpTicketStatus:
		var a TicketStatusArgs
		if json.Unmarshal(n.Args, &a) != nil || !validID(a.Ticket) {
			return "Votre modification du statut d'un ticket", "", nil
		}
		t, ok, err := ticketIn(r, partition, a.Ticket)
		if err != nil || !ok {
			return "Votre modification du statut d'un ticket", "", err
		}
		return fmt.Sprintf("Votre modification du statut du ticket « %s » (vers « %s »)", t.Title, TicketStatusLabel(a.Status)),
			"/assistance/" + a.Ticket, nil
	case OpAssetUpdate:
		var a AssetUpdateArgs
		if json.Unmarshal(n.Args, &a) != nil || !validID(a.Asset) {
			return "Votre modification d'un matériel du parc", "", nil
		}
		b, ok, err := assetIn(r, partition, a.Asset)
		if err != nil || !ok {
			return "Votre modification d'un matériel du parc", "", err
		}
		return fmt.Sprintf("Votre modification du matériel n° %s (%s)", b.Number, b.Model), "/parc/" + a.Asset, nil
	}
	return generic, "", nil
}

// opService is the French name of the service an op belongs to.
func opService(op string) string {
	prefix, _, _ := strings.Cut(op, ".")
	switch prefix {
	case "booking", "resource":
		return "Réservation"
	case "grade", "evaluation":
		return "Notes"
	case "ticket":
		return "Assistance"
	case "asset":
		return "Parc informatique"
	case "message":
		return "Messagerie"
	case "news":
		return "Actualités"
	case "forum":
		return "Forum"
	case "blog":
		return "Blog"
	case "homework":
		return "Cahier de textes"
	case "absence":
		return "Absences"
	case "account":
		return "Compte"
	case "draft":
		return "Propositions de modification"
	}
	return "Atrium"
}
