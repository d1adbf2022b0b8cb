package ent_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"
)

// Notice ids, UUIDv7-shaped with the refused command's time, as central
// mints them.
var (
	noticeBooking = noticeIDAt(t0 + 20)
	noticeMessage = noticeIDAt(t0 + 10)
	noticeStaff   = noticeIDAt(t0 + 30)
	noticeOld     = noticeIDAt(t0 + 5)
)

// putNotice writes what central's state machine leaves when it refuses a
// command made at an edge: the notice, and its id in the author's index.
func putNotice(t *testing.T, tx *enttest.Tx, id string, n record.Notice) {
	t.Helper()
	if err := tx.Put(record.Record{Partition: uaiA, ID: id, Kind: record.KindNotice, Seq: 9, Body: mustJSON(t, n)}); err != nil {
		t.Fatal(err)
	}
	ix := record.NoticeIndexID(uaiA, n.User)
	var idx record.NoticeIndex
	if rec, ok, _ := tx.Get(uaiA, ix); ok {
		if err := json.Unmarshal(rec.Body, &idx); err != nil {
			t.Fatal(err)
		}
	}
	idx.Notices = append(idx.Notices, id)
	if err := tx.Put(record.Record{Partition: uaiA, ID: ix, Kind: record.KindNoticeIndex, Seq: 10, Body: mustJSON(t, idx)}); err != nil {
		t.Fatal(err)
	}
}

// noticeFixture: central holds Salle B12 from 09:00 to 10:00 for staffA;
// central refused teacherA's booking of 09:30–10:30 made at the edge, and
// a message of theirs (an older notice, without arguments); staffA has a
// notice of their own.
func noticeFixture(t *testing.T) *enttest.Tx {
	t.Helper()
	tx := fixtureTx(t)
	if err := ent.Exec(tx, resourcePut(t, staffA, uaiA, room, t0)); err != nil {
		t.Fatal(err)
	}
	putNotice(t, tx, noticeMessage, record.Notice{User: teacherA.ID, Op: ent.OpMessageSend, Code: "forbidden",
		Message: "Vous ne pouvez pas écrire à cette personne.", Seq: 3})
	putNotice(t, tx, noticeBooking, record.Notice{User: teacherA.ID, Op: ent.OpBookingMake, Code: "conflict",
		Message: "Ce créneau est déjà réservé : Salle B12 le 06/01/2026 de 09:00 à 10:00 par Vie Scolaire.", Seq: 4,
		Args: mustJSON(t, slot(bookID2, "2026-01-06", "09:30", "10:30"))})
	putNotice(t, tx, noticeStaff, record.Notice{User: staffA.ID, Op: ent.OpTicketStatus, Code: "error",
		Message: "La modification n'a pas pu être appliquée.", Seq: 5})
	return tx
}

// TestNotices: a user reads their own notices, newest first, as French
// sentences naming what was refused; marking one read lowers the count.
func TestNotices(t *testing.T) {
	ctx := t.Context()
	tx := noticeFixture(t)
	svc := reservationService(t, tx, uaiA) // at the edge
	got, err := svc.Notices(ctx, teacherA)
	if err != nil {
		t.Fatal(err)
	}
	want := []ent.Notice{
		{ID: noticeBooking, Partition: uaiA, Op: ent.OpBookingMake, Service: "Réservation",
			Text: "Votre réservation de la salle « Salle B12 » le 06/01/2026 de 09:30 à 10:30 n'a pas pu être enregistrée par le serveur régional : " +
				"Ce créneau est déjà réservé : Salle B12 le 06/01/2026 de 09:00 à 10:00 par Vie Scolaire.",
			Link: "/reservation/ressources/" + roomID, Made: time.UnixMilli(t0 + 20)},
		{ID: noticeMessage, Partition: uaiA, Op: ent.OpMessageSend, Service: "Messagerie",
			Text: "Une modification que vous avez faite (messagerie) n'a pas pu être enregistrée par le serveur régional : " +
				"Vous ne pouvez pas écrire à cette personne.",
			Made: time.UnixMilli(t0 + 10)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Notices(teacher) (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		u    ent.User
		want int
	}{{teacherA, 2}, {staffA, 1}, {studentA, 0}, {regionUser, 0}} {
		if n, err := svc.UnreadNotices(ctx, c.u); err != nil || n != c.want {
			t.Errorf("UnreadNotices(%s) = %d, %v; want %d", c.u.Login, n, err, c.want)
		}
		// PageInfo reads the same count, with the user's lycée.
		wantLycee := ent.Lycee{}
		if c.u.UAI != "" {
			if wantLycee, err = svc.Lycee(ctx, c.u.UAI); err != nil && !errors.Is(err, ent.ErrNotFound) {
				t.Fatal(err)
			}
		}
		if l, n, err := svc.PageInfo(ctx, c.u); err != nil || n != c.want || l != wantLycee {
			t.Errorf("PageInfo(%s) = %+v, %d, %v; want %+v, %d", c.u.Login, l, n, err, wantLycee, c.want)
		}
	}

	// Only its author marks a notice read; marking it again changes nothing.
	if err := svc.MarkNoticeRead(ctx, staffA, noticeBooking); code(err) != "not_found" {
		t.Errorf("MarkNoticeRead(staff, teacher's notice) = %v, want not_found", err)
	}
	if err := svc.MarkNoticeRead(ctx, teacherA, roomID); code(err) != "not_found" {
		t.Errorf("MarkNoticeRead(teacher, a resource's id) = %v, want not_found", err)
	}
	for range 2 {
		if err := svc.MarkNoticeRead(ctx, teacherA, noticeBooking); err != nil {
			t.Fatalf("MarkNoticeRead(teacher, own notice) = %v", err)
		}
		if n, err := svc.UnreadNotices(ctx, teacherA); err != nil || n != 1 {
			t.Errorf("UnreadNotices(teacher) after reading one = %d, %v; want 1", n, err)
		}
	}
	got, err = svc.Notices(ctx, teacherA)
	if err != nil || len(got) != 2 || !got[0].Read || got[1].Read {
		t.Errorf("Notices(teacher) after reading the newest = %+v, %v; want it read, the other not", got, err)
	}
	if n, err := svc.UnreadNotices(ctx, staffA); err != nil || n != 1 {
		t.Errorf("UnreadNotices(staff) = %d, %v; want 1 still", n, err)
	}
}

// TestNoticeReadExec: the rules of "notice.read", as central executes an
// edge's command again: reads made on both sides add up, a retransmission
// writes nothing.
func TestNoticeReadExec(t *testing.T) {
	store := noticeFixture(t)
	tx := &countingTx{Tx: store}
	read := func(by ent.User, id string, at int64) record.Command {
		return record.Command{Origin: uaiA, Seq: uint64(at - t0), User: by.ID, Op: ent.OpNoticeRead, Partition: uaiA,
			Args: mustJSON(t, ent.NoticeReadArgs{ID: id}), Time: at}
	}
	tests := []struct {
		name  string
		cmd   record.Command
		want  string // rejection code; "" for accepted
		puts  int
		count int // teacherA's unread notices after it
	}{
		{"not a uuid", read(teacherA, "avis-1", t0+100), "invalid", 0, 2},
		{"unknown notice", read(teacherA, noticeOld, t0+101), "not_found", 0, 2},
		{"another's notice", read(studentA, noticeBooking, t0+102), "not_found", 0, 2},
		{"not a notice", read(teacherA, roomID, t0+103), "not_found", 0, 2},
		{"author reads", read(teacherA, noticeBooking, t0+104), "", 1, 1},
		{"retransmitted", read(teacherA, noticeBooking, t0+104), "", 0, 1},
		{"read on the other side too", read(teacherA, noticeBooking, t0+105), "", 0, 1},
		{"author reads the other", read(teacherA, noticeMessage, t0+106), "", 1, 0},
	}
	svc := reservationService(t, store, record.OriginCentral)
	for _, tt := range tests {
		tx.puts = 0
		err := ent.Exec(tx, tt.cmd)
		if code(err) != tt.want || tx.puts != tt.puts {
			t.Errorf("%s: Exec = %v (%d puts), want %q (%d puts)", tt.name, err, tx.puts, tt.want, tt.puts)
		}
		if n, err := svc.UnreadNotices(t.Context(), teacherA); err != nil || n != tt.count {
			t.Errorf("%s: UnreadNotices(teacher) = %d, %v; want %d", tt.name, n, err, tt.count)
		}
	}
}
