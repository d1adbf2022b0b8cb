package ent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"
)

const (
	roomID  = "01890000-0000-7000-8000-0000000000c1"
	bookID1 = "01890000-0000-7000-8000-0000000000d1"
	bookID2 = "01890000-0000-7000-8000-0000000000d2"
	bookID3 = "01890000-0000-7000-8000-0000000000d3"
)

func resourcePut(t testing.TB, by ent.User, partition string, a ent.ResourceArgs, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpResourcePut, Partition: partition,
		Args: mustJSON(t, a), Time: at}
}

func bookingMake(t testing.TB, by ent.User, partition string, a ent.BookingArgs, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpBookingMake, Partition: partition,
		Args: mustJSON(t, a), Time: at}
}

func bookingCancel(t testing.TB, by ent.User, id string, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpBookingCancel, Partition: uaiA,
		Args: mustJSON(t, ent.BookingCancelArgs{ID: id}), Time: at}
}

func slot(id, date, start, end string) ent.BookingArgs {
	return ent.BookingArgs{ID: id, Resource: roomID, Date: date, Start: start, End: end, Purpose: "Conseil de classe"}
}

var room = ent.ResourceArgs{ID: roomID, Name: "Salle B12", Kind: ent.ResourceRoom, Description: "30 places, vidéoprojecteur"}

// TestReservationExecRules runs commands in order on one store: each is
// accepted or refused with its code, and a refusal writes nothing.
func TestReservationExecRules(t *testing.T) {
	tx := &countingTx{Tx: fixtureTx(t)}
	renamed := room
	renamed.Name = "Salle B12 (rénovée)"
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"teacher declares a resource", resourcePut(t, teacherA, uaiA, room, t0), "forbidden"},
		{"student declares a resource", resourcePut(t, studentA, uaiA, room, t0), "forbidden"},
		{"staff of another lycée", resourcePut(t, staffA, uaiB, room, t0), "forbidden"},
		{"no name", resourcePut(t, staffA, uaiA, ent.ResourceArgs{ID: roomID, Kind: ent.ResourceRoom}, t0), "invalid"},
		{"unknown kind", resourcePut(t, staffA, uaiA, ent.ResourceArgs{ID: roomID, Name: "B12", Kind: "vélo"}, t0), "invalid"},
		{"staff declares", resourcePut(t, staffA, uaiA, room, t0), ""},
		{"staff renames", resourcePut(t, staffA, uaiA, renamed, t0+10), ""},
		{"an older write", resourcePut(t, staffA, uaiA, room, t0+5), ""}, // no-op

		{"student books", bookingMake(t, studentA, uaiA, slot(bookID1, "2026-01-06", "08:00", "10:00"), t0), "forbidden"},
		{"relative books", bookingMake(t, relativeA, uaiA, slot(bookID1, "2026-01-06", "08:00", "10:00"), t0), "forbidden"},
		{"région books", bookingMake(t, regionUser, uaiA, slot(bookID1, "2026-01-06", "08:00", "10:00"), t0), "forbidden"},
		{"former teacher books", bookingMake(t, formerA, uaiA, slot(bookID1, "2026-01-06", "08:00", "10:00"), t0), "forbidden"},
		{"off the grid", bookingMake(t, teacherA, uaiA, slot(bookID1, "2026-01-06", "08:10", "10:00"), t0), "invalid"},
		{"before 07:00", bookingMake(t, teacherA, uaiA, slot(bookID1, "2026-01-06", "06:45", "08:00"), t0), "invalid"},
		{"after 20:00", bookingMake(t, teacherA, uaiA, slot(bookID1, "2026-01-06", "19:00", "20:15"), t0), "invalid"},
		{"ends before it starts", bookingMake(t, teacherA, uaiA, slot(bookID1, "2026-01-06", "10:00", "09:00"), t0), "invalid"},
		{"bad date", bookingMake(t, teacherA, uaiA, slot(bookID1, "06/01/2026", "08:00", "10:00"), t0), "invalid"},
		{"no purpose", bookingMake(t, teacherA, uaiA, ent.BookingArgs{ID: bookID1, Resource: roomID, Date: "2026-01-06", Start: "08:00", End: "09:00"}, t0), "invalid"},
		{"unknown resource", bookingMake(t, teacherA, uaiA, ent.BookingArgs{ID: bookID1, Resource: bookID3, Date: "2026-01-06", Start: "08:00", End: "09:00", Purpose: "x"}, t0), "not_found"},
		{"teacher books", bookingMake(t, teacherA, uaiA, slot(bookID1, "2026-01-06", "08:00", "10:00"), t0), ""},
		{"retransmitted", bookingMake(t, teacherA, uaiA, slot(bookID1, "2026-01-06", "08:00", "10:00"), t0), ""}, // no-op
		{"overlap", bookingMake(t, staffA, uaiA, slot(bookID2, "2026-01-06", "09:45", "11:00"), t0), "conflict"},
		{"adjacent slot", bookingMake(t, staffA, uaiA, slot(bookID2, "2026-01-06", "10:00", "11:00"), t0), ""},
		{"another day", bookingMake(t, staffA, uaiA, slot(bookID3, "2026-01-07", "08:00", "10:00"), t0), ""},

		{"student cancels", bookingCancel(t, studentA, bookID1, t0+1), "forbidden"},
		{"teacher cancels another's", bookingCancel(t, teacherA, bookID2, t0+1), "forbidden"},
		{"unknown booking", bookingCancel(t, teacherA, roomID, t0+1), "not_found"},
		{"booker cancels", bookingCancel(t, teacherA, bookID1, t0+1), ""},
		{"cancel retransmitted", bookingCancel(t, teacherA, bookID1, t0+1), ""}, // no-op
		{"staff cancels anyone's", bookingCancel(t, staffA, bookID3, t0+1), ""},
	}
	for _, tt := range tests {
		before := tx.puts
		err := ent.Exec(tx, tt.cmd)
		if got := code(err); got != tt.want {
			t.Errorf("%s: Exec = %q (%v), want %q", tt.name, got, err, tt.want)
		}
		if tt.want != "" && tx.puts != before {
			t.Errorf("%s: refused command wrote %d records", tt.name, tx.puts-before)
		}
	}
	// The older write did not replace the newer one.
	var body struct{ Name string }
	rec, _, _ := tx.Get(uaiA, roomID)
	json.Unmarshal(rec.Body, &body)
	if body.Name != renamed.Name {
		t.Errorf("resource name after an older write = %q, want %q", body.Name, renamed.Name)
	}
	// The freed slot is bookable again.
	if err := ent.Exec(tx, bookingMake(t, staffA, uaiA, slot("01890000-0000-7000-8000-0000000000d4", "2026-01-06", "08:00", "09:45"), t0+2)); err != nil {
		t.Errorf("book a cancelled slot = %v, want accepted", err)
	}
}

// TestReservationConflictNamesHolder checks the refusal a user reads.
func TestReservationConflictNamesHolder(t *testing.T) {
	tx := fixtureTx(t)
	for _, c := range []record.Command{
		resourcePut(t, staffA, uaiA, room, t0),
		bookingMake(t, teacherA, uaiA, slot(bookID1, "2026-01-06", "08:00", "10:00"), t0),
	} {
		if err := ent.Exec(tx, c); err != nil {
			t.Fatal(err)
		}
	}
	err := ent.Exec(tx, bookingMake(t, staffA, uaiA, slot(bookID2, "2026-01-06", "09:00", "09:15"), t0))
	want := "Ce créneau est déjà réservé : Salle B12 le 06/01/2026 de 08:00 à 10:00 par Paul Durand."
	if r, ok := record.AsRejection(err); !ok || r.Code != "conflict" || r.Message != want {
		t.Errorf("overlapping booking = %v, want conflict %q", err, want)
	}
}

// txStore is a Store over one enttest.Tx, whose records a test writes as
// central's feed would (with a sequence number) or as an edge does.
type txStore struct{ tx *enttest.Tx }

func (s txStore) View(fn func(record.Reader) error) error { return fn(s.tx) }
func (s txStore) Submit(_ context.Context, cmd record.Command) error {
	return ent.Exec(s.tx, cmd)
}

func reservationService(t *testing.T, tx *enttest.Tx, origin string) *ent.Service {
	t.Helper()
	svc, err := ent.NewService(ent.ServiceConfig{Store: txStore{tx}, Origin: origin,
		SessionKey: []byte(strings.Repeat("k", 32)), Now: func() time.Time { return time.UnixMilli(t0 + 3600e3) }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestReservationRights: who sees, books and cancels, through the Service.
func TestReservationRights(t *testing.T) {
	ctx := t.Context()
	svc := reservationService(t, fixtureTx(t), record.OriginCentral)
	if _, err := svc.PutResource(ctx, teacherA, room); code(err) != "forbidden" {
		t.Errorf("PutResource by a teacher = %v, want forbidden", err)
	}
	res, err := svc.PutResource(ctx, staffA, ent.ResourceArgs{Name: "Salle B12", Kind: ent.ResourceRoom})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		u    ent.User
		want int
	}{{teacherA, 1}, {staffA, 1}, {studentA, 0}, {relativeA, 0}, {teacherB, 0}, {regionUser, 0}} {
		if got, err := svc.ListResources(ctx, c.u); err != nil || len(got) != c.want {
			t.Errorf("ListResources(%s) = %d resources, %v; want %d", c.u.Login, len(got), err, c.want)
		}
	}
	b, err := svc.MakeBooking(ctx, teacherA, ent.BookingArgs{Resource: res.ID, Date: "2026-01-06", Start: "08:00", End: "09:00", Purpose: "Devoir surveillé"})
	if err != nil || b.State != ent.BookingConfirmed || b.AuthorName != teacherA.Name {
		t.Fatalf("MakeBooking = %+v, %v; want confirmed by %s", b, err, teacherA.Name)
	}
	for _, u := range []ent.User{studentA, relativeA, teacherB, regionUser} {
		if _, err := svc.GetBooking(ctx, u, b.ID); !errors.Is(err, ent.ErrNotFound) {
			t.Errorf("GetBooking by %s = %v, want ErrNotFound", u.Login, err)
		}
		if _, err := svc.Planning(ctx, u, res.ID, "2026-01-01", "2026-01-31"); !errors.Is(err, ent.ErrNotFound) {
			t.Errorf("Planning by %s = %v, want ErrNotFound", u.Login, err)
		}
		if err := svc.CancelBooking(ctx, u, b.ID); code(err) != "not_found" {
			t.Errorf("CancelBooking by %s = %v, want not_found", u.Login, err)
		}
	}
	if _, err := svc.MakeBooking(ctx, studentA, ent.BookingArgs{Resource: res.ID, Date: "2026-01-06", Start: "10:00", End: "11:00", Purpose: "x"}); code(err) != "forbidden" {
		t.Errorf("MakeBooking by a student = %v, want forbidden", err)
	}
	if _, err := svc.MakeBooking(ctx, staffA, ent.BookingArgs{Resource: res.ID, Date: "2026-01-06", Start: "08:30", End: "09:30", Purpose: "Réunion"}); code(err) != "conflict" {
		t.Errorf("MakeBooking of a held slot = %v, want conflict", err)
	}
	if p, err := svc.Planning(ctx, staffA, res.ID, "2026-01-06", "2026-01-06"); err != nil || len(p) != 1 || p[0].ID != b.ID {
		t.Errorf("Planning of the day = %+v, %v; want the one booking", p, err)
	}
	if err := svc.CancelBooking(ctx, staffA, b.ID); err != nil {
		t.Fatalf("CancelBooking by staff = %v", err)
	}
	got, err := svc.GetBooking(ctx, teacherA, b.ID)
	if err != nil || got.State != ent.BookingCancelled || got.CancelledBy != staffA.Name {
		t.Errorf("booking after cancel = %+v, %v; want cancelled by %s", got, err, staffA.Name)
	}
	if mine, err := svc.MyBookings(ctx, teacherA); err != nil || len(mine) != 1 {
		t.Errorf("MyBookings(teacher) = %+v, %v; want 1", mine, err)
	}
}

// bookingRecord is a booking as central's feed (seq > 0) or an edge's own
// write (seq 0) leaves it.
func bookingRecord(t *testing.T, id, author string, cmdSeq, seq uint64, origin, start, end string, made int64) record.Record {
	body := mustJSON(t, map[string]any{"resource": roomID, "resourceName": "Salle B12", "date": "2026-01-06",
		"start": start, "end": end, "purpose": "Cours", "authorId": author, "authorName": "X", "made": made,
		"origin": origin, "seq": cmdSeq})
	return record.Record{Partition: uaiA, ID: id, Kind: ent.KindBooking, Seq: seq, Body: body}
}

// TestReservationEdgeResolution: at an edge, a booking made there and not
// committed at central loses to central's booking of the same slot, and
// then does not hold the rest of its slot. (One central refused is taken
// back by the edge when the notice arrives: edge/undo.go; a notice alone
// changes nothing here.)
func TestReservationEdgeResolution(t *testing.T) {
	ctx := t.Context()
	tx := fixtureTx(t)
	if err := ent.Exec(tx, resourcePut(t, staffA, uaiA, room, t0)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []record.Record{
		bookingRecord(t, bookID1, staffA.ID, 0, 7, record.OriginCentral, "08:00", "10:00", t0),                    // central's
		bookingRecord(t, bookID2, teacherA.ID, 3, 0, uaiA, "09:00", "11:00", t0+1),                                // the edge's, overlapping
		bookingRecord(t, bookID3, teacherA.ID, 4, 0, uaiA, "14:00", "15:00", t0+2),                                // the edge's, with a notice
		bookingRecord(t, "01890000-0000-7000-8000-0000000000d5", teacherA.ID, 5, 0, uaiA, "16:00", "17:00", t0+3), // pending
		{Partition: uaiA, ID: noticeIDAt(t0 + 2), Kind: "notice", Seq: 8,
			Body: mustJSON(t, map[string]any{"user": teacherA.ID, "op": ent.OpBookingMake, "code": "conflict", "message": "Créneau pris.", "seq": 4})},
	} {
		if err := tx.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	svc := reservationService(t, tx, uaiA)
	p, err := svc.Planning(ctx, teacherA, roomID, "2026-01-06", "2026-01-06")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, b := range p {
		got[b.Start] = b.State + " " + b.Refusal
	}
	want := map[string]string{
		"08:00": "confirmee ",
		"09:00": "refusee Ce créneau a été réservé d'abord par X (08:00–10:00).",
		"14:00": "en-attente ",
		"16:00": "en-attente ",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("booking at %s = %q, want %q", k, got[k], w)
		}
	}
	// The refused booking does not hold its slot.
	if _, err := svc.MakeBooking(ctx, staffA, ent.BookingArgs{Resource: roomID, Date: "2026-01-06", Start: "10:00", End: "11:00", Purpose: "Réunion"}); err != nil {
		t.Errorf("book the slot of a refused booking = %v, want accepted", err)
	}
}

// noticeIDAt is a notice id minted for a command made at ms (its UUIDv7
// time), as central mints it.
func noticeIDAt(ms int64) string {
	var u [16]byte
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6], u[8] = 0x70, 0x80
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b.WriteByte('-')
		}
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
