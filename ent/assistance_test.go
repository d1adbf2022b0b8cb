package ent_test

import (
	"errors"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/record"
)

const (
	ticketID = "01890000-0000-7000-8000-0000000000c1"
	changeID = "01890000-0000-7000-8000-0000000000c2"
	noteID   = "01890000-0000-7000-8000-0000000000c3"
)

func ticketOpen(t testing.TB, by ent.User, partition, id, category string) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpTicketOpen, Partition: partition,
		Args: mustJSON(t, ent.TicketOpenArgs{ID: id, Title: "Vidéoprojecteur en panne", Description: "Salle B12, il ne s'allume plus.", Category: category}),
		Time: t0 + 1000}
}

func ticketComment(t testing.TB, by ent.User, partition, id, ticket, body string) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpTicketComment, Partition: partition,
		Args: mustJSON(t, ent.TicketCommentArgs{ID: id, Ticket: ticket, Body: body}), Time: t0 + 2000}
}

func ticketStatus(t testing.TB, by ent.User, partition, id, ticket, base, status string) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpTicketStatus, Partition: partition,
		Args: mustJSON(t, ent.TicketStatusArgs{ID: id, Ticket: ticket, Base: base, Status: status}), Time: t0 + 3000}
}

// ticketTx returns the fixture with a ticket of studentA (ticketID).
func ticketTx(t *testing.T) *countingTx {
	t.Helper()
	tx := fixtureTx(t)
	if err := ent.Exec(tx, ticketOpen(t, studentA, uaiA, ticketID, ent.TicketHardware)); err != nil {
		t.Fatalf("open ticket: %v", err)
	}
	return &countingTx{Tx: tx}
}

func TestTicketRules(t *testing.T) {
	other := "01890000-0000-7000-8000-0000000000c9"
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code, "" for accepted
	}{
		{"student opens", ticketOpen(t, studentA, uaiA, other, ent.TicketNetwork), ""},
		{"relative opens", ticketOpen(t, relativeA, uaiA, other, ent.TicketAccount), ""},
		{"teacher opens", ticketOpen(t, teacherA, uaiA, other, ent.TicketSoftware), ""},
		{"staff opens", ticketOpen(t, staffA, uaiA, other, ent.TicketOther), ""},
		{"unknown category", ticketOpen(t, studentA, uaiA, other, "cafetiere"), "invalid"},
		{"other lycée", ticketOpen(t, studentB, uaiA, other, ent.TicketHardware), "forbidden"},
		{"inactive account", ticketOpen(t, formerA, uaiA, other, ent.TicketHardware), "forbidden"},
		{"region partition", ticketOpen(t, regionUser, record.Region, other, ent.TicketHardware), "forbidden"},
		{"no user", ticketOpen(t, ent.User{}, uaiA, other, ent.TicketHardware), "forbidden"},
		{"same id, another kind", ticketOpen(t, studentA, uaiA, studentA.ID, ent.TicketHardware), "invalid"},

		{"author comments", ticketComment(t, studentA, uaiA, other, ticketID, "Toujours en panne."), ""},
		{"staff comments", ticketComment(t, staffA, uaiA, other, ticketID, "Je passe à 14 h."), ""},
		{"relative of the author comments", ticketComment(t, relativeA, uaiA, other, ticketID, "Bonjour"), "not_found"},
		{"teacher comments another's ticket", ticketComment(t, teacherA, uaiA, other, ticketID, "Bonjour"), "not_found"},
		{"other lycée comments", ticketComment(t, teacherB, uaiB, other, ticketID, "Bonjour"), "not_found"},
		{"empty comment", ticketComment(t, studentA, uaiA, other, ticketID, "  "), "invalid"},
		{"comment on no ticket", ticketComment(t, staffA, uaiA, other, other, "Bonjour"), "not_found"},

		{"staff changes status", ticketStatus(t, staffA, uaiA, other, ticketID, ent.TicketOpen, ent.TicketProgress), ""},
		{"author changes status", ticketStatus(t, studentA, uaiA, other, ticketID, ent.TicketOpen, ent.TicketClosed), "forbidden"},
		{"teacher changes status", ticketStatus(t, teacherA, uaiA, other, ticketID, ent.TicketOpen, ent.TicketClosed), "forbidden"},
		{"stale base", ticketStatus(t, staffA, uaiA, other, ticketID, ent.TicketResolved, ent.TicketClosed), "conflict"},
		{"same status", ticketStatus(t, staffA, uaiA, other, ticketID, ent.TicketOpen, ent.TicketOpen), "invalid"},
		{"unknown status", ticketStatus(t, staffA, uaiA, other, ticketID, ent.TicketOpen, "perdu"), "invalid"},
		{"status of no ticket", ticketStatus(t, staffA, uaiA, other, other, ent.TicketOpen, ent.TicketClosed), "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := ticketTx(t)
			err := ent.Exec(tx, tt.cmd)
			if got := code(err); got != tt.want {
				t.Fatalf("Exec(%s) = %v, want %q", tt.cmd.Op, err, tt.want)
			}
			if r, ok := record.AsRejection(err); ok && (r.Message == "" || tx.puts != 0) {
				t.Errorf("refusal %v: message %q, %d writes; want a French message and no write", err, r.Message, tx.puts)
			}
		})
	}
}

// A change whose base is no longer the status says what the status is now;
// a comment on a closed ticket is refused.
func TestTicketStatusConflict(t *testing.T) {
	tx := ticketTx(t)
	if err := ent.Exec(tx, ticketStatus(t, staffA, uaiA, changeID, ticketID, ent.TicketOpen, ent.TicketClosed)); err != nil {
		t.Fatal(err)
	}
	err := ent.Exec(tx, ticketStatus(t, staffA, uaiA, noteID, ticketID, ent.TicketOpen, ent.TicketResolved))
	r, ok := record.AsRejection(err)
	if !ok || r.Code != "conflict" || !strings.Contains(r.Message, "il est maintenant « Fermé » (vous partiez de « Ouvert »)") {
		t.Errorf("change from a stale base = %v, want a conflict naming Fermé and Ouvert", err)
	}
	err = ent.Exec(tx, ticketComment(t, studentA, uaiA, noteID, ticketID, "Merci !"))
	if code(err) != "conflict" {
		t.Errorf("comment on a closed ticket = %v, want conflict", err)
	}
	// Staff reopen it: comments are welcome again.
	reopen := "01890000-0000-7000-8000-0000000000c4"
	if err := ent.Exec(tx, ticketStatus(t, staffA, uaiA, reopen, ticketID, ent.TicketClosed, ent.TicketOpen)); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := ent.Exec(tx, ticketComment(t, studentA, uaiA, noteID, ticketID, "Merci !")); err != nil {
		t.Errorf("comment on the reopened ticket: %v", err)
	}
}

// Retransmitted commands change nothing, even once the ticket moved on.
func TestTicketIdempotent(t *testing.T) {
	tx := ticketTx(t)
	cmds := []record.Command{
		ticketOpen(t, studentA, uaiA, ticketID, ent.TicketHardware),
		ticketComment(t, staffA, uaiA, noteID, ticketID, "Je passe à 14 h."),
		ticketStatus(t, staffA, uaiA, changeID, ticketID, ent.TicketOpen, ent.TicketProgress),
	}
	for _, c := range cmds {
		if err := ent.Exec(tx, c); err != nil {
			t.Fatalf("Exec(%s): %v", c.Op, err)
		}
	}
	// The status moves on; then everything is sent again.
	later := "01890000-0000-7000-8000-0000000000c5"
	if err := ent.Exec(tx, ticketStatus(t, staffA, uaiA, later, ticketID, ent.TicketProgress, ent.TicketResolved)); err != nil {
		t.Fatal(err)
	}
	tx.puts = 0
	for _, c := range cmds {
		if err := ent.Exec(tx, c); err != nil {
			t.Errorf("retransmitted %s = %v, want nil", c.Op, err)
		}
	}
	if tx.puts != 0 {
		t.Errorf("retransmissions wrote %d records, want 0", tx.puts)
	}
}

func TestServiceTickets(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := t.Context()
	tk, err := svc.OpenTicket(ctx, studentA, " Wifi du CDI ", "Impossible de me connecter.", ent.TicketNetwork)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Title != "Wifi du CDI" || tk.Status != ent.TicketOpen || tk.StatusLabel() != "Ouvert" || tk.CategoryLabel() != "Réseau" {
		t.Errorf("OpenTicket = %+v, want a trimmed, open ticket of category Réseau", tk)
	}
	if _, err := svc.OpenTicket(ctx, teacherA, "Imprimante", "Bourrage en salle des profs.", ent.TicketHardware); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.OpenTicket(ctx, regionUser, "Titre", "Texte", ent.TicketOther); code(err) != "forbidden" {
		t.Errorf("OpenTicket by Région staff = %v, want forbidden", err)
	}

	count := func(u ent.User, status string) int {
		t.Helper()
		ts, err := svc.ListTickets(ctx, u, status)
		if err != nil {
			t.Fatal(err)
		}
		return len(ts)
	}
	for _, c := range []struct {
		u    ent.User
		want int
	}{{studentA, 1}, {teacherA, 1}, {staffA, 2}, {relativeA, 0}, {teacherB, 0}, {regionUser, 0}} {
		if got := count(c.u, ""); got != c.want {
			t.Errorf("ListTickets(%s) = %d tickets, want %d", c.u.Login, got, c.want)
		}
	}
	for _, u := range []ent.User{relativeA, teacherA, teacherB, regionUser} {
		if _, _, err := svc.GetTicket(ctx, u, tk.ID); !errors.Is(err, ent.ErrNotFound) {
			t.Errorf("GetTicket by %s = %v, want ErrNotFound", u.Login, err)
		}
		if _, err := svc.CommentTicket(ctx, u, tk.ID, "Bonjour"); code(err) != "not_found" {
			t.Errorf("CommentTicket by %s = %v, want not_found", u.Login, err)
		}
	}

	if _, err := svc.CommentTicket(ctx, staffA, tk.ID, "Avez-vous redémarré ?"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CommentTicket(ctx, studentA, tk.ID, "Oui, deux fois."); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetTicketStatus(ctx, studentA, tk.ID, ent.TicketOpen, ent.TicketClosed); code(err) != "forbidden" {
		t.Errorf("SetTicketStatus by the author = %v, want forbidden", err)
	}
	got, err := svc.SetTicketStatus(ctx, staffA, tk.ID, ent.TicketOpen, ent.TicketResolved)
	if err != nil || got.Status != ent.TicketResolved {
		t.Fatalf("SetTicketStatus = %+v, %v; want résolu", got, err)
	}
	if _, err := svc.SetTicketStatus(ctx, staffA, tk.ID, ent.TicketOpen, ent.TicketClosed); code(err) != "conflict" {
		t.Errorf("SetTicketStatus from a stale base = %v, want conflict", err)
	}

	tk2, comments, err := svc.GetTicket(ctx, studentA, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tk2.Status != ent.TicketResolved || len(tk2.Changes) != 1 || tk2.Changes[0].ByName != staffA.Name {
		t.Errorf("ticket after the change = %+v, want résolu by %s", tk2, staffA.Name)
	}
	if len(comments) != 2 || comments[0].AuthorLogin != staffA.Login || comments[1].Body != "Oui, deux fois." {
		t.Errorf("comments = %+v, want the staff's then the author's", comments)
	}
	if got := count(staffA, ent.TicketResolved); got != 1 {
		t.Errorf("ListTickets(staff, résolu) = %d, want 1", got)
	}
}
