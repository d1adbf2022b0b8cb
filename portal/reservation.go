package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"atrium/ent"
	"atrium/record"
)

// The réservation of rooms and equipment: pages under /reservation, JSON
// under /api/v1/resources and /api/v1/bookings. ent decides who sees,
// books and cancels what (reservation.go); the pages only hide what a user
// could not do anyway.

// reservationPage is what the réservation's templates read.
type reservationPage struct {
	*view
	CanManage bool // the lycée's staff: declare resources, cancel any booking
	// List.
	Resources []ent.Resource
	Mine      []bookingRow
	// Planning of a resource for a day, and the booking form.
	Resource ent.Resource
	Day      string // AAAA-MM-JJ
	DayText  string // JJ/MM/AAAA
	Bookings []bookingRow
	Starts   []string // the form's choices of start, HH:MM
	Ends     []string
	// Form of a resource.
	Kinds []ent.Choice
	// Read.
	Booking   bookingRow
	CanCancel bool
}

// bookingRow is a booking as the pages show it, its date in French.
type bookingRow struct {
	ent.Booking
	DateText string
}

func newBookingRow(b ent.Booking) bookingRow { return bookingRow{Booking: b, DateText: frDate(b.Date)} }

func errNoReservation() error {
	return record.Reject("forbidden", "La réservation des salles et du matériel est ouverte aux enseignants et aux personnels du lycée.")
}

func (p *Portal) reservationPage(r *http.Request, title string, s *session) *reservationPage {
	return &reservationPage{view: p.newView(r, title, s), CanManage: ent.CanManageResources(s.user)}
}

func (p *Portal) reservationList(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanBook(s.user) {
		p.fail(w, r, s, errNoReservation())
		return
	}
	res, err := p.cfg.Service.ListResources(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	mine, err := p.cfg.Service.MyBookings(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.reservationPage(r, "Réservation des salles et du matériel", s)
	pg.Resources = res
	today := time.Now().In(p.paris).Format("2006-01-02")
	for _, b := range mine {
		if b.Date >= today || b.State == ent.BookingRefused {
			pg.Mine = append(pg.Mine, newBookingRow(b))
		}
	}
	p.render(w, http.StatusOK, "reservation_list", pg)
}

func (p *Portal) resourceForm(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanManageResources(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les personnels du lycée déclarent les salles et le matériel."))
		return
	}
	pg := p.reservationPage(r, "Nouvelle ressource", s)
	pg.Kinds = ent.ResourceKinds()
	p.render(w, http.StatusOK, "reservation_resource", pg)
}

func (p *Portal) resourcePost(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.ResourceArgs{Name: f.Get("name"), Kind: f.Get("kind"), Description: f.Get("description")}
	res, err := p.cfg.Service.PutResource(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusForbidden {
			p.fail(w, r, s, err)
			return
		}
		pg := p.reservationPage(r, "Nouvelle ressource", s)
		pg.Kinds = ent.ResourceKinds()
		pg.Error = msg
		pg.Form["name"], pg.Form["kind"], pg.Form["description"] = a.Name, a.Kind, a.Description
		p.render(w, code, "reservation_resource", pg)
		return
	}
	http.Redirect(w, r, "/reservation/ressources/"+url.PathEscape(res.ID), http.StatusSeeOther)
}

// slotChoices returns the bookable starts and ends, every 15 minutes.
func slotChoices() (starts, ends []string) {
	for m := 7 * 60; m <= 20*60; m += 15 {
		t := fmt.Sprintf("%02d:%02d", m/60, m%60)
		if m < 20*60 {
			starts = append(starts, t)
		}
		if m > 7*60 {
			ends = append(ends, t)
		}
	}
	return starts, ends
}

// planningPage fills the planning of resource id for the day: the
// request's ?date=, or today.
func (p *Portal) planningPage(r *http.Request, s *session, day string) (*reservationPage, error) {
	res, err := p.cfg.Service.GetResource(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if _, err := time.Parse("2006-01-02", day); err != nil {
		day = time.Now().In(p.paris).Format("2006-01-02")
	}
	bookings, err := p.cfg.Service.Planning(r.Context(), s.user, res.ID, day, day)
	if err != nil {
		return nil, err
	}
	pg := p.reservationPage(r, res.Name, s)
	pg.Resource, pg.Day, pg.DayText = res, day, frDate(day)
	for _, b := range bookings {
		if b.Live() {
			pg.Bookings = append(pg.Bookings, newBookingRow(b))
		}
	}
	pg.Starts, pg.Ends = slotChoices()
	pg.Form["date"] = day
	return pg, nil
}

func (p *Portal) resourcePlanning(w http.ResponseWriter, r *http.Request, s *session) {
	pg, err := p.planningPage(r, s, r.URL.Query().Get("date"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, http.StatusOK, "reservation_planning", pg)
}

func (p *Portal) bookingPost(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.BookingArgs{Resource: r.PathValue("id"), Date: f.Get("date"), Start: f.Get("start"), End: f.Get("end"), Purpose: f.Get("purpose")}
	b, err := p.cfg.Service.MakeBooking(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusForbidden || code == http.StatusNotFound {
			p.fail(w, r, s, err)
			return
		}
		pg, perr := p.planningPage(r, s, a.Date)
		if perr != nil {
			p.fail(w, r, s, perr)
			return
		}
		pg.Error = msg
		pg.Form["start"], pg.Form["end"], pg.Form["purpose"] = a.Start, a.End, a.Purpose
		p.render(w, code, "reservation_planning", pg)
		return
	}
	http.Redirect(w, r, "/reservation/"+url.PathEscape(b.ID), http.StatusSeeOther)
}

func (p *Portal) bookingRead(w http.ResponseWriter, r *http.Request, s *session) {
	b, err := p.cfg.Service.GetBooking(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.reservationPage(r, "Réservation : "+b.ResourceName, s)
	pg.Booking = newBookingRow(b)
	pg.CanCancel = b.Live() && (b.AuthorID == s.user.ID || ent.CanManageResources(s.user))
	p.render(w, http.StatusOK, "reservation_read", pg)
}

func (p *Portal) bookingCancel(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if err := p.cfg.Service.CancelBooking(r.Context(), s.user, id); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/reservation/"+url.PathEscape(id), http.StatusSeeOther)
}

// apiResource is a resource as the API shows it.
type apiResource struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
}

// apiBooking is a booking as the API shows it.
type apiBooking struct {
	ID          string `json:"id"`
	Resource    string `json:"resource"`
	Name        string `json:"resourceName"`
	Date        string `json:"date"`
	Start       string `json:"start"`
	End         string `json:"end"`
	Purpose     string `json:"purpose"`
	Author      string `json:"author"`
	AuthorID    string `json:"authorId"`
	Made        string `json:"made"`
	State       string `json:"state"`
	CancelledBy string `json:"cancelledBy,omitempty"`
	Refusal     string `json:"refusal,omitempty"`
}

func toAPIResource(r ent.Resource) apiResource {
	return apiResource{ID: r.ID, Name: r.Name, Kind: r.Kind, Description: r.Description}
}

func toAPIBooking(b ent.Booking) apiBooking {
	return apiBooking{ID: b.ID, Resource: b.ResourceID, Name: b.ResourceName, Date: b.Date, Start: b.Start,
		End: b.End, Purpose: b.Purpose, Author: b.AuthorName, AuthorID: b.AuthorID,
		Made: b.Made.UTC().Format(time.RFC3339), State: b.State, CancelledBy: b.CancelledBy, Refusal: b.Refusal}
}

func toAPIBookings(bs []ent.Booking) []apiBooking {
	out := make([]apiBooking, 0, len(bs))
	for _, b := range bs {
		out = append(out, toAPIBooking(b))
	}
	return out
}

func (p *Portal) apiResourceList(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanBook(s.user) {
		p.apiError(w, r, errNoReservation())
		return
	}
	res, err := p.cfg.Service.ListResources(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiResource, 0, len(res))
	for _, x := range res {
		out = append(out, toAPIResource(x))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiResourcePut declares a resource (POST) or replaces {id} (PUT).
func (p *Portal) apiResourcePut(w http.ResponseWriter, r *http.Request, s *session) {
	var in apiResource
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	id := r.PathValue("id")
	res, err := p.cfg.Service.PutResource(r.Context(), s.user, ent.ResourceArgs{ID: id, Name: in.Name, Kind: in.Kind, Description: in.Description})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	code := http.StatusOK
	if id == "" {
		code = http.StatusCreated
	}
	writeJSON(w, code, toAPIResource(res))
}

func (p *Portal) apiResourceBookings(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	if from == "" {
		from = time.Now().In(p.paris).Format("2006-01-02")
	}
	if to == "" {
		to = from
	}
	bs, err := p.cfg.Service.Planning(r.Context(), s.user, r.PathValue("id"), from, to)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIBookings(bs))
}

func (p *Portal) apiBookingList(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanBook(s.user) {
		p.apiError(w, r, errNoReservation())
		return
	}
	bs, err := p.cfg.Service.MyBookings(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIBookings(bs))
}

func (p *Portal) apiBookingPost(w http.ResponseWriter, r *http.Request, s *session) {
	var in ent.BookingArgs
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	in.ID = ""
	b, err := p.cfg.Service.MakeBooking(r.Context(), s.user, in)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIBooking(b))
}

func (p *Portal) apiBookingGet(w http.ResponseWriter, r *http.Request, s *session) {
	b, err := p.cfg.Service.GetBooking(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIBooking(b))
}

func (p *Portal) apiBookingCancel(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.CancelBooking(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
