package ent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"atrium/record"
)

// The assistance: helpdesk tickets of a lycée. Any user of the lycée
// (student, relative, teacher, staff) opens a ticket; the lycée's staff
// (Personnel) see every ticket of the lycée, comment on them and change
// their status; the author sees their own tickets and comments on them.
//
// A ticket is a record of kind KindTicket in its lycée's partition; its
// comments are records of their own (KindTicketComment), written once and
// never changed, so comments made on either side of a cut never conflict.
// Only a status change rewrites the ticket, and it names the status it
// starts from (its base): a change whose base is no longer the ticket's
// status is refused, so two staff members changing it on either side of a
// cut never silently overwrite each other. The ticket keeps the history of
// its changes, whose ids make a retransmitted change a no-op.

// Ticket categories, as stored and as the API names them.
const (
	TicketHardware = "materiel"
	TicketNetwork  = "reseau"
	TicketAccount  = "compte"
	TicketSoftware = "logiciel"
	TicketOther    = "autre"
)

// Ticket statuses, as stored and as the API names them. A ticket opens
// "ouvert".
const (
	TicketOpen     = "ouvert"
	TicketProgress = "en-cours"
	TicketResolved = "resolu"
	TicketClosed   = "ferme"
)

// TicketCategories returns the categories of a ticket, in the forms' order.
func TicketCategories() []Choice {
	return []Choice{
		{TicketHardware, "Matériel"}, {TicketNetwork, "Réseau"}, {TicketAccount, "Compte"},
		{TicketSoftware, "Logiciel"}, {TicketOther, "Autre"},
	}
}

// TicketStatuses returns the statuses of a ticket, in their usual order.
func TicketStatuses() []Choice {
	return []Choice{
		{TicketOpen, "Ouvert"}, {TicketProgress, "En cours"}, {TicketResolved, "Résolu"}, {TicketClosed, "Fermé"},
	}
}

// TicketCategoryLabel returns the French label of a category code.
func TicketCategoryLabel(code string) string {
	l, _ := choiceLabel(TicketCategories(), code)
	return l
}

// TicketStatusLabel returns the French label of a status code.
func TicketStatusLabel(code string) string {
	l, _ := choiceLabel(TicketStatuses(), code)
	return l
}

func validCategory(c string) bool { _, ok := choiceLabel(TicketCategories(), c); return ok }
func validStatus(s string) bool   { _, ok := choiceLabel(TicketStatuses(), s); return ok }

// Ticket is a helpdesk ticket of a lycée (Partition is its UAI).
type Ticket struct {
	ID            string
	Partition     string
	Title         string
	Description   string
	Category      string // TicketHardware…
	Status        string // TicketOpen…
	AuthorID      string
	AuthorLogin   string
	AuthorName    string
	AuthorProfile string
	Opened        time.Time
	// Changes are the status changes, oldest first.
	Changes []TicketChange
}

// CategoryLabel is the French label of the ticket's category.
func (t Ticket) CategoryLabel() string { return TicketCategoryLabel(t.Category) }

// StatusLabel is the French label of the ticket's status.
func (t Ticket) StatusLabel() string { return TicketStatusLabel(t.Status) }

// Updated is when the ticket last changed status, or was opened.
func (t Ticket) Updated() time.Time {
	if n := len(t.Changes); n > 0 {
		return t.Changes[n-1].At
	}
	return t.Opened
}

// TicketChange is a status change of a ticket by a staff member.
type TicketChange struct {
	ID     string // the command's id: a retransmission is a no-op
	From   string
	To     string
	ByID   string
	ByName string
	At     time.Time
}

// FromLabel is the French label of the status the change left.
func (c TicketChange) FromLabel() string { return TicketStatusLabel(c.From) }

// ToLabel is the French label of the status the change set.
func (c TicketChange) ToLabel() string { return TicketStatusLabel(c.To) }

// TicketComment is a comment on a ticket, by its author or a staff member.
type TicketComment struct {
	ID            string
	Partition     string
	TicketID      string
	AuthorID      string
	AuthorLogin   string
	AuthorName    string
	AuthorProfile string
	Body          string
	Posted        time.Time
}

// TicketOpenArgs are the arguments of "ticket.open"; the partition is the
// command's, the lycée's.
type TicketOpenArgs struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Category    string `json:"category"`
}

// TicketCommentArgs are the arguments of "ticket.comment".
type TicketCommentArgs struct {
	ID     string `json:"id"`     // the comment's record id
	Ticket string `json:"ticket"` // the ticket's id
	Body   string `json:"body"`
}

// TicketStatusArgs are the arguments of "ticket.status": the ticket goes
// from Base, which must be its current status, to Status.
type TicketStatusArgs struct {
	ID     string `json:"id"` // the change's id, minted once at the origin
	Ticket string `json:"ticket"`
	Base   string `json:"base"`
	Status string `json:"status"`
}

// Stored bodies; times are unix milliseconds from the commands.
type ticketBody struct {
	Title         string       `json:"title"`
	Description   string       `json:"description"`
	Category      string       `json:"category"`
	Status        string       `json:"status"`
	AuthorID      string       `json:"authorId"`
	AuthorLogin   string       `json:"authorLogin"`
	AuthorName    string       `json:"authorName"`
	AuthorProfile string       `json:"authorProfile"`
	Opened        int64        `json:"opened"`
	Changes       []changeBody `json:"changes,omitempty"`
}

type changeBody struct {
	ID     string `json:"id"`
	From   string `json:"from"`
	To     string `json:"to"`
	ByID   string `json:"byId"`
	ByName string `json:"byName"`
	At     int64  `json:"at"`
}

type ticketCommentBody struct {
	Ticket        string `json:"ticket"`
	AuthorID      string `json:"authorId"`
	AuthorLogin   string `json:"authorLogin"`
	AuthorName    string `json:"authorName"`
	AuthorProfile string `json:"authorProfile"`
	Body          string `json:"body"`
	Posted        int64  `json:"posted"`
}

// Limits of the assistance.
const (
	maxTicketChanges = 100 // status changes of one ticket
	maxComment       = 5000
)

// CanUseTickets reports whether u opens tickets: any user of a lycée.
func CanUseTickets(u User) bool { return u.Profile != Region && u.UAI != "" }

// CanManageTickets reports whether u sees every ticket of their lycée,
// and changes their status: the lycée's staff.
func CanManageTickets(u User) bool { return u.Profile == Personnel && u.UAI != "" }

// seesTicket reports whether u reads ticket t: its author, or the staff of
// its lycée.
func seesTicket(u User, t Ticket) bool {
	return u.UAI == t.Partition && (u.ID == t.AuthorID || CanManageTickets(u))
}

// errNoRegionTickets refuses the assistance to Région staff.
func errNoRegionTickets() error {
	return rejectForbidden("L'assistance est celle d'un lycée : les agents de la Région n'y ont pas de tickets.")
}

func execTicketOpen(tx record.Tx, cmd record.Command) error {
	var a TicketOpenArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return errNoRegionTickets()
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindTicket); done || err != nil {
		return err // already opened: a retransmission
	}
	if err := checkTicket(a.Title, a.Description, a.Category); err != nil {
		return err
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok {
		return rejectForbidden("Vous ne pouvez ouvrir un ticket que dans votre lycée.")
	}
	b := ticketBody{
		Title: strings.TrimSpace(a.Title), Description: strings.TrimSpace(a.Description), Category: a.Category,
		Status: TicketOpen, AuthorID: author.ID, AuthorLogin: author.Login, AuthorName: author.Name,
		AuthorProfile: author.Profile, Opened: cmd.Time,
	}
	return putTicket(tx, cmd.Partition, a.ID, b)
}

// checkTicket checks what the author of a ticket writes.
func checkTicket(title, description, category string) error {
	if !text(title, maxTitle) || !text(description, maxBody) {
		return rejectInvalid("Le titre et la description du ticket sont obligatoires.")
	}
	if !validCategory(category) {
		return rejectInvalid("Catégorie inconnue : choisissez matériel, réseau, compte, logiciel ou autre.")
	}
	return nil
}

func putTicket(tx record.Tx, partition, id string, b ticketBody) error {
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: partition, ID: id, Kind: KindTicket, Body: body})
}

// ticketIn reads ticket id of partition; ok=false if there is none.
func ticketIn(r record.Reader, partition, id string) (ticketBody, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindTicket {
		return ticketBody{}, false, err
	}
	var b ticketBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return ticketBody{}, false, fmt.Errorf("decode ticket %s: %w", id, err)
	}
	return b, true, nil
}

// errNoTicket refuses a ticket that is not there, or that the user does
// not read.
func errNoTicket() error { return record.Reject("not_found", "Ticket introuvable.") }

func execTicketComment(tx record.Tx, cmd record.Command) error {
	var a TicketCommentArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || !validID(a.Ticket) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return errNoRegionTickets()
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindTicketComment); done || err != nil {
		return err
	}
	if !text(a.Body, maxComment) {
		return rejectInvalid("Le commentaire est vide ou trop long (5 000 caractères au plus).")
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok {
		return rejectForbidden("Vous ne pouvez commenter que les tickets de votre lycée.")
	}
	t, ok, err := ticketIn(tx, cmd.Partition, a.Ticket)
	if err != nil {
		return err
	}
	if !ok || (t.AuthorID != author.ID && author.Profile != Personnel) {
		return errNoTicket() // a ticket one may not read is not there
	}
	if t.Status == TicketClosed {
		return record.Reject("conflict", "Ce ticket est fermé : il ne reçoit plus de commentaires. Ouvrez un nouveau ticket si besoin.")
	}
	body, err := json.Marshal(ticketCommentBody{
		Ticket: a.Ticket, AuthorID: author.ID, AuthorLogin: author.Login, AuthorName: author.Name,
		AuthorProfile: author.Profile, Body: strings.TrimSpace(a.Body), Posted: cmd.Time,
	})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindTicketComment, Body: body})
}

func execTicketStatus(tx record.Tx, cmd record.Command) error {
	var a TicketStatusArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || !validID(a.Ticket) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return errNoRegionTickets()
	}
	if !validStatus(a.Base) || !validStatus(a.Status) {
		return rejectInvalid("Statut inconnu : choisissez ouvert, en cours, résolu ou fermé.")
	}
	t, ok, err := ticketIn(tx, cmd.Partition, a.Ticket)
	if err != nil {
		return err
	}
	if ok && slices.ContainsFunc(t.Changes, func(c changeBody) bool { return c.ID == a.ID }) {
		return nil // already applied: a retransmission
	}
	by, active, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !active || by.Profile != Personnel {
		return rejectForbidden("Seuls les personnels du lycée changent le statut d'un ticket.")
	}
	if !ok {
		return errNoTicket()
	}
	if err := checkStatusChange(t.Status, a.Base, a.Status); err != nil {
		return err
	}
	if len(t.Changes) >= maxTicketChanges {
		return rejectInvalid("Ce ticket a changé trop souvent de statut : ouvrez-en un nouveau.")
	}
	t.Changes = append(t.Changes, changeBody{ID: a.ID, From: t.Status, To: a.Status, ByID: by.ID, ByName: by.Name, At: cmd.Time})
	t.Status = a.Status
	return putTicket(tx, cmd.Partition, a.Ticket, t)
}

// checkStatusChange refuses a change from base to status of a ticket whose
// status is current: base must be current (nobody changed it meanwhile),
// status must differ from it.
func checkStatusChange(current, base, status string) error {
	if base != current {
		return record.Reject("conflict", fmt.Sprintf(
			"Le statut de ce ticket a changé entre-temps : il est maintenant « %s » (vous partiez de « %s »). Votre modification n'a pas été appliquée : relisez le ticket avant de le modifier.",
			TicketStatusLabel(current), TicketStatusLabel(base)))
	}
	if status == current {
		return rejectInvalid("Le ticket est déjà « " + TicketStatusLabel(current) + " ».")
	}
	return nil
}

func decodeTicket(rec record.Record) (Ticket, error) {
	var b ticketBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return Ticket{}, fmt.Errorf("decode ticket %s: %w", rec.ID, err)
	}
	t := Ticket{
		ID: rec.ID, Partition: rec.Partition, Title: b.Title, Description: b.Description,
		Category: b.Category, Status: b.Status, AuthorID: b.AuthorID, AuthorLogin: b.AuthorLogin,
		AuthorName: b.AuthorName, AuthorProfile: b.AuthorProfile, Opened: time.UnixMilli(b.Opened),
	}
	for _, c := range b.Changes {
		t.Changes = append(t.Changes, TicketChange{ID: c.ID, From: c.From, To: c.To, ByID: c.ByID, ByName: c.ByName, At: time.UnixMilli(c.At)})
	}
	return t, nil
}

func decodeTicketComment(rec record.Record) (TicketComment, error) {
	var b ticketCommentBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return TicketComment{}, fmt.Errorf("decode ticket comment %s: %w", rec.ID, err)
	}
	return TicketComment{
		ID: rec.ID, Partition: rec.Partition, TicketID: b.Ticket, AuthorID: b.AuthorID,
		AuthorLogin: b.AuthorLogin, AuthorName: b.AuthorName, AuthorProfile: b.AuthorProfile,
		Body: b.Body, Posted: time.UnixMilli(b.Posted),
	}, nil
}

// ListTickets returns the tickets u sees (the lycée's staff: all of their
// lycée; anyone else: their own), most recently changed first; status,
// unless "", keeps only the tickets of that status.
func (s *Service) ListTickets(ctx context.Context, u User, status string) ([]Ticket, error) {
	if !CanUseTickets(u) {
		return nil, nil
	}
	var out []Ticket
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(u.UAI, KindTicket, func(rec record.Record) error {
			t, err := decodeTicket(rec)
			if err != nil {
				return err
			}
			if seesTicket(u, t) && (status == "" || t.Status == status) {
				out = append(out, t)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := out[i].Updated(), out[j].Updated(); !a.Equal(b) {
			return a.After(b)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// GetTicket returns ticket id and its comments (oldest first) if u sees
// it, or ErrNotFound.
func (s *Service) GetTicket(ctx context.Context, u User, id string) (Ticket, []TicketComment, error) {
	if !CanUseTickets(u) {
		return Ticket{}, nil, ErrNotFound
	}
	var t Ticket
	var comments []TicketComment
	var found bool
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(u.UAI, id)
		if err != nil || !ok || rec.Deleted || rec.Kind != KindTicket {
			return err
		}
		if t, err = decodeTicket(rec); err != nil {
			return err
		}
		if found = seesTicket(u, t); !found {
			return nil
		}
		return r.Scan(u.UAI, KindTicketComment, func(rec record.Record) error {
			c, err := decodeTicketComment(rec)
			if err == nil && c.TicketID == id {
				comments = append(comments, c)
			}
			return err
		})
	})
	if err != nil {
		return Ticket{}, nil, fmt.Errorf("get ticket: %w", err)
	}
	if !found {
		return Ticket{}, nil, ErrNotFound
	}
	sort.SliceStable(comments, func(i, j int) bool {
		if a, b := comments[i].Posted, comments[j].Posted; !a.Equal(b) {
			return a.Before(b)
		}
		return comments[i].ID < comments[j].ID
	})
	return t, comments, nil
}

// OpenTicket opens a ticket by u in their lycée. Refusals are
// *record.Rejection.
func (s *Service) OpenTicket(ctx context.Context, u User, title, description, category string) (Ticket, error) {
	title, description = strings.TrimSpace(title), strings.TrimSpace(description)
	if !CanUseTickets(u) {
		return Ticket{}, errNoRegionTickets()
	}
	if err := checkTicket(title, description, category); err != nil {
		return Ticket{}, err
	}
	at := s.now()
	t := Ticket{ID: record.NewID(), Partition: u.UAI, Title: title, Description: description,
		Category: category, Status: TicketOpen, AuthorID: u.ID, AuthorLogin: u.Login, AuthorName: u.Name,
		AuthorProfile: u.Profile, Opened: time.UnixMilli(at.UnixMilli())}
	args := TicketOpenArgs{ID: t.ID, Title: title, Description: description, Category: category}
	if err := s.submit(ctx, u, OpTicketOpen, u.UAI, args, at); err != nil {
		return Ticket{}, err
	}
	return t, nil
}

// CommentTicket adds u's comment to ticket id: u is its author or one of
// the lycée's staff. Refusals are *record.Rejection; a ticket u does not
// see is "not_found".
func (s *Service) CommentTicket(ctx context.Context, u User, id, body string) (TicketComment, error) {
	body = strings.TrimSpace(body)
	if _, _, err := s.GetTicket(ctx, u, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return TicketComment{}, errNoTicket()
		}
		return TicketComment{}, err
	}
	if !text(body, maxComment) {
		return TicketComment{}, rejectInvalid("Le commentaire est vide ou trop long (5 000 caractères au plus).")
	}
	at := s.now()
	c := TicketComment{ID: record.NewID(), Partition: u.UAI, TicketID: id, AuthorID: u.ID, AuthorLogin: u.Login,
		AuthorName: u.Name, AuthorProfile: u.Profile, Body: body, Posted: time.UnixMilli(at.UnixMilli())}
	if err := s.submit(ctx, u, OpTicketComment, u.UAI, TicketCommentArgs{ID: c.ID, Ticket: id, Body: body}, at); err != nil {
		return TicketComment{}, err
	}
	return c, nil
}

// SetTicketStatus changes the status of ticket id from base (the status u
// saw) to status; u is one of the lycée's staff. A base that is no longer
// the ticket's status is refused ("conflict"). It returns the ticket as
// changed.
func (s *Service) SetTicketStatus(ctx context.Context, u User, id, base, status string) (Ticket, error) {
	if !CanManageTickets(u) {
		return Ticket{}, rejectForbidden("Seuls les personnels du lycée changent le statut d'un ticket.")
	}
	if !validStatus(base) || !validStatus(status) {
		return Ticket{}, rejectInvalid("Statut inconnu : choisissez ouvert, en cours, résolu ou fermé.")
	}
	t, _, err := s.GetTicket(ctx, u, id)
	if errors.Is(err, ErrNotFound) {
		return Ticket{}, errNoTicket()
	}
	if err != nil {
		return Ticket{}, err
	}
	if err := checkStatusChange(t.Status, base, status); err != nil {
		return Ticket{}, err
	}
	at := s.now()
	change := record.NewID()
	if err := s.submit(ctx, u, OpTicketStatus, u.UAI, TicketStatusArgs{ID: change, Ticket: id, Base: base, Status: status}, at); err != nil {
		return Ticket{}, err
	}
	t.Changes = append(t.Changes, TicketChange{ID: change, From: base, To: status, ByID: u.ID, ByName: u.Name, At: time.UnixMilli(at.UnixMilli())})
	t.Status = status
	return t, nil
}
