package ent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"atrium/record"
)

// The réservation: rooms and equipment of a lycée, and their bookings.
// Its rules:
//
//   - The lycée's staff (Personnel) declare resources (a name, a kind:
//     salle or matériel, a description) and change them; a change replaces
//     the resource (ordered by the command's time: an older or
//     retransmitted write is a no-op).
//   - Teachers and staff of the lycée see every resource and its planning,
//     and book a resource for a slot: a date, a start and an end on a
//     15-minute grid within 07:00–20:00, with a purpose. Students,
//     relatives and Région staff see nothing of it.
//   - A slot is never booked twice: Exec refuses ("conflict", naming who
//     holds it) a booking that overlaps a live booking of the same resource
//     on the same day, found by scanning the lycée's bookings.
//   - The booker or the lycée's staff cancel a booking; the booking stays,
//     marked cancelled, and its slot is free again.
//
// Resources and bookings live in the lycée's partition: an edge cut off
// from central books a slot that is free there. If central gave that slot
// to someone else first, central refuses the edge's booking and leaves a
// notice for its author (record.KindNotice, listed at /avis); when the
// notice reaches the edge, the edge takes back its own copy of the refused
// booking (edge/undo.go), so both sides end with central's booking alone.
// Until then, the edge holds both: its booking is not committed at central
// (record Seq 0), and reads (and Exec at the edge) resolve: a booking not
// committed at central loses to a committed one it overlaps, and shows as
// refused, naming who holds the slot.

// Resource kinds, as stored and as the API names them.
const (
	ResourceRoom      = "salle"
	ResourceEquipment = "materiel"
)

// ResourceKinds returns the kinds of resource, in the forms' order.
func ResourceKinds() []Choice {
	return []Choice{{ResourceRoom, "Salle"}, {ResourceEquipment, "Matériel"}}
}

// ResourceKindLabel returns the French label of a kind of resource.
func ResourceKindLabel(code string) string {
	l, _ := choiceLabel(ResourceKinds(), code)
	return l
}

// Booking states, as the API names them.
const (
	BookingConfirmed = "confirmee"  // committed at central
	BookingPending   = "en-attente" // made at this edge, not yet committed at central
	BookingCancelled = "annulee"
	BookingRefused   = "refusee" // central gave the slot to someone else
)

// BookingStateLabel returns the French label of a booking's state.
func BookingStateLabel(s string) string {
	switch s {
	case BookingConfirmed:
		return "Confirmée"
	case BookingPending:
		return "En attente d'envoi"
	case BookingCancelled:
		return "Annulée"
	case BookingRefused:
		return "Refusée"
	}
	return s
}

// The bookable hours of a day and their grid, in minutes.
const (
	bookingOpens  = 7 * 60
	bookingCloses = 20 * 60
	bookingGrid   = 15
	maxPurpose    = 500
	maxResDesc    = 2000
)

// Resource is a room or an item of equipment of a lycée.
type Resource struct {
	ID          string
	Partition   string // the lycée's UAI
	Name        string
	Kind        string // ResourceRoom or ResourceEquipment
	Description string
	Updated     time.Time
}

// KindLabel is the French label of the resource's kind.
func (r Resource) KindLabel() string { return ResourceKindLabel(r.Kind) }

// Booking is a booking of a resource for a slot.
type Booking struct {
	ID           string
	Partition    string
	ResourceID   string
	ResourceName string
	Date         string // AAAA-MM-JJ
	Start, End   string // HH:MM
	Purpose      string
	AuthorID     string
	AuthorLogin  string
	AuthorName   string
	Made         time.Time
	State        string // BookingConfirmed…
	CancelledBy  string // name of who cancelled it
	// Refusal is, for a refused booking, why (who holds the slot).
	Refusal string
}

// StateLabel is the French label of the booking's state.
func (b Booking) StateLabel() string { return BookingStateLabel(b.State) }

// Live reports whether the booking holds its slot.
func (b Booking) Live() bool { return b.State == BookingConfirmed || b.State == BookingPending }

// ResourceArgs are the arguments of "resource.put": a new resource or the
// replacement of resource ID.
type ResourceArgs struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
}

// BookingArgs are the arguments of "booking.make".
type BookingArgs struct {
	ID       string `json:"id"`
	Resource string `json:"resource"`
	Date     string `json:"date"`  // AAAA-MM-JJ
	Start    string `json:"start"` // HH:MM
	End      string `json:"end"`   // HH:MM
	Purpose  string `json:"purpose"`
}

// BookingCancelArgs are the arguments of "booking.cancel".
type BookingCancelArgs struct {
	ID string `json:"id"`
}

type resourceBody struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Updated     int64  `json:"updated"`
}

type bookingBody struct {
	Resource     string `json:"resource"`
	ResourceName string `json:"resourceName"`
	Date         string `json:"date"`
	Start        string `json:"start"`
	End          string `json:"end"`
	Purpose      string `json:"purpose"`
	AuthorID     string `json:"authorId"`
	AuthorLogin  string `json:"authorLogin"`
	AuthorName   string `json:"authorName"`
	Made         int64  `json:"made"`
	// The command that made it (Seq: its place in its edge's outbox).
	Origin      string `json:"origin"`
	Seq         uint64 `json:"seq,omitempty"`
	Cancelled   bool   `json:"cancelled,omitempty"`
	CancelledBy string `json:"cancelledBy,omitempty"`
	CancelledAt int64  `json:"cancelledAt,omitempty"`
}

// CanBook reports whether u sees the resources and their planning and
// books them: the teachers and staff of a lycée.
func CanBook(u User) bool { return u.UAI != "" && (u.Profile == Teacher || u.Profile == Personnel) }

// CanManageResources reports whether u declares and changes resources and
// cancels anyone's booking: the lycée's staff.
func CanManageResources(u User) bool { return u.UAI != "" && u.Profile == Personnel }

func errNoBooking() error { return record.Reject("not_found", "Réservation introuvable.") }
func errNoResource() error {
	return record.Reject("not_found", "Ressource introuvable dans ce lycée.")
}
func errCannotBook() error {
	return rejectForbidden("La réservation des salles et du matériel est ouverte aux enseignants et aux personnels du lycée.")
}

// checkResource checks what staff write of a resource.
func checkResource(a ResourceArgs) error {
	if !text(a.Name, maxName) {
		return rejectInvalid("Le nom de la ressource est obligatoire (200 caractères au plus).")
	}
	if _, ok := choiceLabel(ResourceKinds(), a.Kind); !ok {
		return rejectInvalid("Type de ressource inconnu : choisissez salle ou matériel.")
	}
	if strings.TrimSpace(a.Description) != "" && !text(a.Description, maxResDesc) {
		return rejectInvalid("La description est trop longue (2 000 caractères au plus).")
	}
	return nil
}

// clockMinutes parses HH:MM into minutes since midnight.
func clockMinutes(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// checkSlot checks a booking's date, slot and purpose.
func checkSlot(a BookingArgs) error {
	if _, err := time.Parse("2006-01-02", a.Date); err != nil {
		return rejectInvalid("Date invalide : attendue au format AAAA-MM-JJ.")
	}
	start, ok1 := clockMinutes(a.Start)
	end, ok2 := clockMinutes(a.End)
	if !ok1 || !ok2 {
		return rejectInvalid("Heures invalides : attendues au format HH:MM.")
	}
	if start%bookingGrid != 0 || end%bookingGrid != 0 {
		return rejectInvalid("Les créneaux commencent et finissent à l'heure, et quart, et demie ou moins le quart.")
	}
	if start < bookingOpens || end > bookingCloses || start >= end {
		return rejectInvalid("Le créneau doit se situer entre 07:00 et 20:00 et finir après son début.")
	}
	if !text(a.Purpose, maxPurpose) {
		return rejectInvalid("L'objet de la réservation est obligatoire (500 caractères au plus).")
	}
	return nil
}

func execResourcePut(tx record.Tx, cmd record.Command) error {
	var a ResourceArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	by, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanManageResources(by) {
		return rejectForbidden("Seuls les personnels du lycée déclarent les salles et le matériel.")
	}
	if err := checkResource(a); err != nil {
		return err
	}
	if _, err := existing(tx, cmd.Partition, a.ID, KindResource); err != nil {
		return err
	}
	prev, had, err := resourceIn(tx, cmd.Partition, a.ID)
	if err != nil {
		return err
	}
	if had && prev.Updated.UnixMilli() >= cmd.Time {
		return nil // an older or retransmitted write
	}
	body, err := json.Marshal(resourceBody{Name: strings.TrimSpace(a.Name), Kind: a.Kind,
		Description: strings.TrimSpace(a.Description), Updated: cmd.Time})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindResource, Body: body})
}

func execBookingMake(tx record.Tx, cmd record.Command) error {
	var a BookingArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || !validID(a.Resource) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindBooking); done || err != nil {
		return err // already made: a retransmission
	}
	by, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanBook(by) {
		return errCannotBook()
	}
	if err := checkSlot(a); err != nil {
		return err
	}
	res, ok, err := resourceIn(tx, cmd.Partition, a.Resource)
	if err != nil {
		return err
	}
	if !ok {
		return errNoResource()
	}
	day, err := dayBookings(tx, cmd.Partition, a.Resource, a.Date)
	if err != nil {
		return err
	}
	if held, ok := overlapping(day, a.Start, a.End); ok {
		return record.Reject("conflict", fmt.Sprintf("Ce créneau est déjà réservé : %s le %s de %s à %s par %s.",
			res.Name, frDay(held.Date), held.Start, held.End, held.AuthorName))
	}
	body, err := json.Marshal(bookingBody{Resource: a.Resource, ResourceName: res.Name, Date: a.Date,
		Start: a.Start, End: a.End, Purpose: strings.TrimSpace(a.Purpose), AuthorID: by.ID,
		AuthorLogin: by.Login, AuthorName: by.Name, Made: cmd.Time, Origin: cmd.Origin, Seq: cmd.Seq})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindBooking, Body: body})
}

func execBookingCancel(tx record.Tx, cmd record.Command) error {
	var a BookingCancelArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	by, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanBook(by) {
		return errCannotBook()
	}
	rec, ok, err := tx.Get(cmd.Partition, a.ID)
	if err != nil {
		return err
	}
	if !ok || rec.Deleted || rec.Kind != KindBooking {
		return errNoBooking()
	}
	var b bookingBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return fmt.Errorf("decode booking %s: %w", a.ID, err)
	}
	if b.Cancelled {
		return nil // already cancelled: a retransmission
	}
	if b.AuthorID != by.ID && !CanManageResources(by) {
		return rejectForbidden("Seuls l'auteur de la réservation et les personnels du lycée l'annulent.")
	}
	b.Cancelled, b.CancelledBy, b.CancelledAt = true, by.Name, cmd.Time
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindBooking, Body: body})
}

// frDay writes a date AAAA-MM-JJ as JJ/MM/AAAA.
func frDay(s string) string {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Format("02/01/2006")
	}
	return s
}

// overlapping returns the live booking of day that overlaps [start, end).
func overlapping(day []Booking, start, end string) (Booking, bool) {
	for _, b := range day {
		if b.Live() && b.Start < end && start < b.End { // HH:MM sort as times
			return b, true
		}
	}
	return Booking{}, false
}

func resourceIn(r record.Reader, partition, id string) (Resource, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindResource {
		return Resource{}, false, err
	}
	res, err := decodeResource(rec)
	return res, err == nil, err
}

func decodeResource(rec record.Record) (Resource, error) {
	var b resourceBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return Resource{}, fmt.Errorf("decode resource %s: %w", rec.ID, err)
	}
	return Resource{ID: rec.ID, Partition: rec.Partition, Name: b.Name, Kind: b.Kind,
		Description: b.Description, Updated: time.UnixMilli(b.Updated)}, nil
}

// storedBooking is a booking as read, with what resolve needs.
type storedBooking struct {
	Booking
	body      bookingBody
	committed bool // at central (record Seq > 0, or read at central)
}

// scanBookings returns the bookings of partition that keep (nil: all)
// keeps, their states resolved (see the package comment above): a booking
// not committed at central and overlapping one committed is
// BookingRefused.
func scanBookings(r record.Reader, partition string, keep func(bookingBody) bool) ([]Booking, error) {
	var all []storedBooking
	err := r.Scan(partition, KindBooking, func(rec record.Record) error {
		var b bookingBody
		if err := json.Unmarshal(rec.Body, &b); err != nil {
			return fmt.Errorf("decode booking %s: %w", rec.ID, err)
		}
		if keep != nil && !keep(b) {
			return nil
		}
		all = append(all, storedBooking{Booking: bookingOf(rec, b), body: b, committed: rec.Seq > 0})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range all {
		s := &all[i]
		if s.committed || s.State == BookingCancelled || s.body.Origin == record.OriginCentral {
			continue
		}
		for _, o := range all {
			if o.committed && o.State == BookingConfirmed && o.body.Resource == s.body.Resource &&
				o.Date == s.Date && o.Start < s.End && s.Start < o.End {
				s.State = BookingRefused
				s.Refusal = fmt.Sprintf("Ce créneau a été réservé d'abord par %s (%s–%s).", o.AuthorName, o.Start, o.End)
				break
			}
		}
	}
	out := make([]Booking, len(all))
	for i, s := range all {
		out[i] = s.Booking
	}
	return out, nil
}

// bookingOf decodes a booking as stored, before resolution: confirmed,
// pending until central commits it, or cancelled.
func bookingOf(rec record.Record, b bookingBody) Booking {
	st := BookingConfirmed
	switch {
	case b.Cancelled:
		st = BookingCancelled
	case rec.Seq == 0 && b.Origin != record.OriginCentral:
		st = BookingPending
	}
	return Booking{ID: rec.ID, Partition: rec.Partition, ResourceID: b.Resource, ResourceName: b.ResourceName,
		Date: b.Date, Start: b.Start, End: b.End, Purpose: b.Purpose, AuthorID: b.AuthorID,
		AuthorLogin: b.AuthorLogin, AuthorName: b.AuthorName, Made: time.UnixMilli(b.Made), State: st,
		CancelledBy: b.CancelledBy}
}

// dayBookings returns the bookings of resource on date, resolved.
func dayBookings(r record.Reader, partition, resource, date string) ([]Booking, error) {
	return scanBookings(r, partition, func(b bookingBody) bool { return b.Resource == resource && b.Date == date })
}

func sortBookings(bs []Booking) {
	sort.SliceStable(bs, func(i, j int) bool {
		a, b := bs[i], bs[j]
		if a.Date != b.Date {
			return a.Date < b.Date
		}
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.ID < b.ID
	})
}

// ListResources returns the resources of u's lycée, by name; nothing for
// those who do not book.
func (s *Service) ListResources(ctx context.Context, u User) ([]Resource, error) {
	if !CanBook(u) {
		return nil, nil
	}
	var out []Resource
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(u.UAI, KindResource, func(rec record.Record) error {
			res, err := decodeResource(rec)
			out = append(out, res)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

// GetResource returns resource id of u's lycée, or ErrNotFound.
func (s *Service) GetResource(ctx context.Context, u User, id string) (Resource, error) {
	if !CanBook(u) {
		return Resource{}, ErrNotFound
	}
	var res Resource
	var ok bool
	err := s.store.View(func(r record.Reader) (err error) {
		res, ok, err = resourceIn(r, u.UAI, id)
		return err
	})
	if err != nil {
		return Resource{}, fmt.Errorf("get resource: %w", err)
	}
	if !ok {
		return Resource{}, ErrNotFound
	}
	return res, nil
}

// PutResource declares a resource (a.ID "") or replaces resource a.ID, by
// one of the lycée's staff. Refusals are *record.Rejection.
func (s *Service) PutResource(ctx context.Context, u User, a ResourceArgs) (Resource, error) {
	if !CanManageResources(u) {
		return Resource{}, rejectForbidden("Seuls les personnels du lycée déclarent les salles et le matériel.")
	}
	a.Name, a.Description = strings.TrimSpace(a.Name), strings.TrimSpace(a.Description)
	if err := checkResource(a); err != nil {
		return Resource{}, err
	}
	if a.ID == "" {
		a.ID = record.NewID()
	} else if _, err := s.GetResource(ctx, u, a.ID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Resource{}, errNoResource()
		}
		return Resource{}, err
	}
	at := s.now()
	if err := s.submit(ctx, u, OpResourcePut, u.UAI, a, at); err != nil {
		return Resource{}, err
	}
	return Resource{ID: a.ID, Partition: u.UAI, Name: a.Name, Kind: a.Kind, Description: a.Description,
		Updated: time.UnixMilli(at.UnixMilli())}, nil
}

// Planning returns the bookings of resource id from date from to date to
// (AAAA-MM-JJ, both included), by date and time, cancelled and refused
// ones included (their State says so).
func (s *Service) Planning(ctx context.Context, u User, id, from, to string) ([]Booking, error) {
	if _, err := s.GetResource(ctx, u, id); err != nil {
		return nil, err
	}
	var out []Booking
	err := s.store.View(func(r record.Reader) (err error) {
		out, err = scanBookings(r, u.UAI, func(b bookingBody) bool {
			return b.Resource == id && b.Date >= from && b.Date <= to
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("planning: %w", err)
	}
	sortBookings(out)
	return out, nil
}

// MyBookings returns u's bookings, whatever their state, by date and time.
func (s *Service) MyBookings(ctx context.Context, u User) ([]Booking, error) {
	if !CanBook(u) {
		return nil, nil
	}
	var out []Booking
	err := s.store.View(func(r record.Reader) (err error) {
		all, err := scanBookings(r, u.UAI, nil)
		for _, b := range all {
			if b.AuthorID == u.ID {
				out = append(out, b)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("my bookings: %w", err)
	}
	sortBookings(out)
	return out, nil
}

// GetBooking returns booking id of u's lycée, or ErrNotFound.
func (s *Service) GetBooking(ctx context.Context, u User, id string) (Booking, error) {
	if !CanBook(u) {
		return Booking{}, ErrNotFound
	}
	var out []Booking
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(u.UAI, id)
		if err != nil || !ok || rec.Deleted || rec.Kind != KindBooking {
			return err
		}
		var b bookingBody
		if err := json.Unmarshal(rec.Body, &b); err != nil {
			return fmt.Errorf("decode booking %s: %w", id, err)
		}
		day, err := dayBookings(r, u.UAI, b.Resource, b.Date)
		for _, d := range day {
			if d.ID == id {
				out = append(out, d)
			}
		}
		return err
	})
	if err != nil {
		return Booking{}, fmt.Errorf("get booking: %w", err)
	}
	if len(out) == 0 {
		return Booking{}, ErrNotFound
	}
	return out[0], nil
}

// MakeBooking books a resource for u. A slot already held is refused with
// "conflict", naming who holds it. Refusals are *record.Rejection.
func (s *Service) MakeBooking(ctx context.Context, u User, a BookingArgs) (Booking, error) {
	if !CanBook(u) {
		return Booking{}, errCannotBook()
	}
	a.Purpose = strings.TrimSpace(a.Purpose)
	if err := checkSlot(a); err != nil {
		return Booking{}, err
	}
	if _, err := s.GetResource(ctx, u, a.Resource); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Booking{}, errNoResource()
		}
		return Booking{}, err
	}
	a.ID = record.NewID()
	if err := s.submit(ctx, u, OpBookingMake, u.UAI, a, s.now()); err != nil {
		return Booking{}, err
	}
	return s.GetBooking(ctx, u, a.ID)
}

// CancelBooking cancels booking id: u is its author or one of the lycée's
// staff. Refusals are *record.Rejection; a booking u does not see is
// "not_found".
func (s *Service) CancelBooking(ctx context.Context, u User, id string) error {
	b, err := s.GetBooking(ctx, u, id)
	if errors.Is(err, ErrNotFound) {
		return errNoBooking()
	}
	if err != nil {
		return err
	}
	if b.AuthorID != u.ID && !CanManageResources(u) {
		return rejectForbidden("Seuls l'auteur de la réservation et les personnels du lycée l'annulent.")
	}
	if b.State == BookingCancelled {
		return nil
	}
	return s.submit(ctx, u, OpBookingCancel, u.UAI, BookingCancelArgs{ID: id}, s.now())
}
