package portal

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"atrium/ent"
	"atrium/record"
)

// The audit trail, for lycée administrators and Région staff: a search
// page (GET /audit), its CSV export (GET /audit.csv) and the JSON API
// (GET /api/v1/audit). All three take the same query parameters:
//
//	login    the login typed or the account's, any case
//	type     an audit event type (ent.Audit…)
//	service  part of a CAS service URL
//	from     AAAA-MM-JJ (Paris time, from midnight) or RFC 3339
//	to       AAAA-MM-JJ (Paris time, that day included) or RFC 3339 (excluded)
//	uai      the lycée whose trail Région staff search ("" = the Région's own)
//	limit    at most this many entries (API and CSV only)

// csvLimit is how many entries the CSV export holds at most.
const csvLimit = ent.MaxAuditLimit

// auditQuery reads the search parameters of r.
func (p *Portal) auditQuery(r *http.Request) (ent.AuditQuery, error) {
	v := r.URL.Query()
	q := ent.AuditQuery{
		Login:   strings.TrimSpace(v.Get("login")),
		Type:    v.Get("type"),
		Service: strings.TrimSpace(v.Get("service")),
		UAI:     strings.ToUpper(strings.TrimSpace(v.Get("uai"))),
	}
	var err error
	if q.From, err = p.auditTime(v.Get("from"), false); err != nil {
		return q, err
	}
	if q.To, err = p.auditTime(v.Get("to"), true); err != nil {
		return q, err
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, record.Reject("invalid", "Nombre maximal de résultats invalide : "+s+".")
		}
		q.Limit = n
	}
	return q, nil
}

// auditTime parses a date of the search form (a day in Paris time; the
// end of the day when end is set) or an RFC 3339 time.
func (p *Portal) auditTime(s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseInLocation("2006-01-02", s, p.paris); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, record.Reject("invalid", "Date invalide : "+s+" (attendu : AAAA-MM-JJ).")
}

// auditRow is an entry as the page and the CSV export show it.
type auditRow struct {
	Time, Type, Login, Profile, UAI, IP, UserAgent, Service, Detail, Node string
	Failure                                                               bool
}

func (p *Portal) auditRow(ev ent.AuditEvent) auditRow {
	return auditRow{
		Time: ev.Time.In(p.paris).Format("02/01/2006 15:04:05"), Type: ent.AuditTypeLabel(ev.Type),
		Login: ev.Login, Profile: ent.ProfileLabel(ev.Profile), UAI: ev.UAI, IP: ev.IP, UserAgent: ev.UserAgent,
		Service: ev.Service, Detail: ev.Detail, Node: ev.Node,
		Failure: ev.Type == ent.AuditLoginFailure || ev.Type == ent.AuditTicketFailure,
	}
}

// auditOption is an event type of the search form.
type auditOption struct {
	Value, Label string
	Selected     bool
}

// auditView is what templates/audit.html reads.
type auditView struct {
	*view
	Q           map[string]string // the form's values, as typed
	Types       []auditOption
	RegionStaff bool
	AtEdge      bool
	Searched    bool
	Rows        []auditRow
	Truncated   bool   // the search stopped at its limit
	CSV         string // the export's URL for the same query
}

func (p *Portal) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanReadAudit(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Le journal des connexions est réservé aux administrateurs."))
		return
	}
	v := &auditView{
		view: p.newView(r, "Journal des connexions", s), Q: map[string]string{},
		RegionStaff: s.user.Profile == ent.Region, AtEdge: p.cfg.Role == "edge",
	}
	form := r.URL.Query()
	for _, k := range []string{"login", "type", "service", "from", "to", "uai"} {
		v.Q[k] = form.Get(k)
	}
	for _, t := range ent.AuditTypes {
		v.Types = append(v.Types, auditOption{Value: t, Label: ent.AuditTypeLabel(t), Selected: t == v.Q["type"]})
	}
	exportQuery := url.Values{}
	for k, val := range v.Q {
		if val != "" {
			exportQuery.Set(k, val)
		}
	}
	v.CSV = "/audit.csv?" + exportQuery.Encode()
	code := http.StatusOK
	q, err := p.auditQuery(r)
	if err == nil {
		var evs []ent.AuditEvent
		q.Limit = ent.DefaultAuditLimit
		evs, err = p.cfg.Service.SearchAudit(r.Context(), s.user, q)
		v.Searched = err == nil
		v.Truncated = len(evs) == q.Limit
		for _, ev := range evs {
			v.Rows = append(v.Rows, p.auditRow(ev))
		}
	}
	if err != nil {
		var msg string
		code, msg = status(err)
		if code == http.StatusInternalServerError {
			p.log.Error("audit search", "err", err)
		}
		v.Error = msg
	}
	p.render(w, code, "audit", v)
}

// csvHeader is the export's header row, in French.
var csvHeader = []string{"Date (heure de Paris)", "Événement", "Identifiant", "Profil", "UAI", "Adresse IP",
	"Navigateur", "Service", "Détail", "Serveur", "Identifiant de l'événement"}

// csvCell neutralises a value a spreadsheet would read as a formula: a
// login or a user agent is whatever a client sent.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// auditCSV exports the entries the query selects (at most csvLimit) for a
// spreadsheet: UTF-8 with a byte order mark, ";" separated (what Excel
// expects in French locales), CRLF line ends.
func (p *Portal) auditCSV(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanReadAudit(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Le journal des connexions est réservé aux administrateurs."))
		return
	}
	q, err := p.auditQuery(r)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	if q.Limit == 0 {
		q.Limit = csvLimit
	}
	evs, err := p.cfg.Service.SearchAudit(r.Context(), s.user, q)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	cw := csv.NewWriter(&buf)
	cw.Comma, cw.UseCRLF = ';', true
	cw.Write(csvHeader)
	for _, ev := range evs {
		row := p.auditRow(ev)
		cw.Write([]string{row.Time, row.Type, csvCell(row.Login), row.Profile, row.UAI, csvCell(row.IP),
			csvCell(row.UserAgent), csvCell(row.Service), csvCell(row.Detail), csvCell(row.Node), ev.ID})
	}
	cw.Flush()
	trail := q.UAI
	if s.user.Profile != ent.Region {
		trail = s.user.UAI
	}
	if trail == "" {
		trail = "region"
	}
	name := "journal-connexions-" + trail + "-" + time.Now().In(p.paris).Format("20060102") + ".csv"
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// apiAudit answers GET /api/v1/audit: the entries as JSON, newest first.
func (p *Portal) apiAudit(w http.ResponseWriter, r *http.Request, s *session) {
	q, err := p.auditQuery(r)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	evs, err := p.cfg.Service.SearchAudit(r.Context(), s.user, q)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	if evs == nil {
		evs = []ent.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, evs)
}
