package portal

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"atrium/ent"
	"atrium/record"
)

// Usage statistics: counting visits (counted, hooked in page and api) and
// showing them to Région staff and lycées' direction: a page
// (GET /statistiques), its CSV export for the académies
// (GET /statistiques.csv) and the JSON API (GET /api/v1/usage). All three
// take the same query parameters:
//
//	from  first day, AAAA-MM-JJ (Paris time); default: 30 days ago
//	to    last day, included; default: today
//	uai   the lycée (Région staff; "" = every lycée)

// usagePrefixes maps a path's first segment to the service it counts for.
// "/" alone is the home page.
var usagePrefixes = map[string]string{
	"actualites": ent.UsageNews, "messagerie": ent.UsageMail, "cahier-de-textes": ent.UsageHomework,
	"notes": ent.UsageGrades, "absences": ent.UsageAbsences, "reservation": ent.UsageBooking,
	"ressources": ent.UsageResources, "espaces": ent.UsageCollaborative, "forum": ent.UsageForum,
	"blog": ent.UsageBlog, "assistance": ent.UsageAssistance, "parc": ent.UsageAssets, "compte": ent.UsageAccount,
}

// usageAPIPrefixes maps an API path's first segment after /api/v1/ to its
// service.
var usageAPIPrefixes = map[string]string{
	"news": ent.UsageNews, "messages": ent.UsageMail, "homework": ent.UsageHomework,
	"evaluations": ent.UsageGrades, "grades": ent.UsageGrades, "absences": ent.UsageAbsences,
	"resources": ent.UsageBooking, "bookings": ent.UsageBooking, "files": ent.UsageResources,
	"spaces": ent.UsageCollaborative, "forums": ent.UsageForum, "blog": ent.UsageBlog,
	"tickets": ent.UsageAssistance, "assets": ent.UsageAssets,
}

// UsageService returns the service label a request path counts for, or ""
// for a path that is not a service's (login, statistics, audit…).
func UsageService(path string) string {
	if path == "/" {
		return ent.UsageHome
	}
	if rest, ok := strings.CutPrefix(path, "/api/v1/"); ok {
		first, _, _ := strings.Cut(rest, "/")
		return usageAPIPrefixes[first]
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return usagePrefixes[first]
}

// counted returns w, or for a GET of a service's page or API read by u a
// writer that counts the visit once the response succeeds (a 2xx status).
func (p *Portal) counted(w http.ResponseWriter, r *http.Request, u ent.User) http.ResponseWriter {
	if p.cfg.Usage == nil || r.Method != http.MethodGet {
		return w
	}
	svc := UsageService(r.URL.Path)
	if svc == "" {
		return w
	}
	return &countingWriter{ResponseWriter: w, count: func() { p.cfg.Usage.Count(u, svc, time.Now()) }}
}

// countingWriter counts a visit when the response's status is first
// written, if it is a success.
type countingWriter struct {
	http.ResponseWriter
	count func()
	done  bool
}

func (c *countingWriter) WriteHeader(code int) {
	if !c.done {
		c.done = true
		if code >= 200 && code < 300 {
			c.count()
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if !c.done {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// usageForbidden is the refusal of the statistics to other users.
func usageForbidden() error {
	return record.Reject("forbidden", "Les statistiques d'usage sont réservées à la Région et à la direction des lycées.")
}

// usageQuery reads the query of r, with its defaults.
func (p *Portal) usageQuery(r *http.Request) (from, to, uai string) {
	v := r.URL.Query()
	today := time.Now().In(p.paris)
	from, to = strings.TrimSpace(v.Get("from")), strings.TrimSpace(v.Get("to"))
	if from == "" {
		from = today.AddDate(0, 0, -30).Format(time.DateOnly)
	}
	if to == "" {
		to = today.Format(time.DateOnly)
	}
	return from, to, strings.ToUpper(strings.TrimSpace(v.Get("uai")))
}

// usageRow is a line of the statistics as the page shows it.
type usageRow struct {
	Day, UAI, Profile, Service string
	Visits, Visitors           int
}

// usageView is what templates/usage.html reads.
type usageView struct {
	*view
	From, To, UAI    string
	RegionStaff      bool
	AtEdge           bool
	Searched         bool
	Rows             []usageRow
	Visits, Visitors int // totals (visitors: summed over rows)
	CSV              string
}

func (p *Portal) usagePage(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanReadUsage(s.user) {
		p.fail(w, r, s, usageForbidden())
		return
	}
	from, to, uai := p.usageQuery(r)
	v := &usageView{view: p.newView(r, "Statistiques d'usage", s), From: from, To: to, UAI: uai,
		RegionStaff: s.user.Profile == ent.Region, AtEdge: p.cfg.Role == "edge"}
	q := "from=" + from + "&to=" + to
	if uai != "" {
		q += "&uai=" + uai
	}
	v.CSV = "/statistiques.csv?" + q
	code := http.StatusOK
	rows, err := p.cfg.Service.Usage(r.Context(), s.user, from, to, uai)
	if err != nil {
		var msg string
		code, msg = status(err)
		if code == http.StatusInternalServerError {
			p.log.Error("usage statistics", "err", err)
		}
		v.Error = msg
	} else {
		v.Searched = true
		for _, row := range rows {
			v.Rows = append(v.Rows, usageRow{Day: row.Day, UAI: row.UAI, Profile: ent.ProfileLabel(row.Profile),
				Service: ent.UsageServiceLabel(row.Service), Visits: row.Visits, Visitors: row.Visitors})
			v.Visits += row.Visits
		}
	}
	p.render(w, code, "usage", v)
}

// usageCSVHeader is the header the académies' reports expect.
var usageCSVHeader = []string{"jour", "uai", "profil", "service", "visites", "visiteurs"}

// usageCSV exports the statistics for the académies: ";" separated, UTF-8
// without a byte order mark, CRLF line ends, the national service labels
// and the profiles' names as the records hold them (Student, Teacher…).
func (p *Portal) usageCSV(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanReadUsage(s.user) {
		p.fail(w, r, s, usageForbidden())
		return
	}
	from, to, uai := p.usageQuery(r)
	rows, err := p.cfg.Service.Usage(r.Context(), s.user, from, to, uai)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Comma, cw.UseCRLF = ';', true
	cw.Write(usageCSVHeader)
	for _, row := range rows {
		cw.Write([]string{row.Day, row.UAI, row.Profile, row.Service, strconv.Itoa(row.Visits), strconv.Itoa(row.Visitors)})
	}
	cw.Flush()
	scope := uai
	if s.user.Profile != ent.Region {
		scope = s.user.UAI
	}
	if scope == "" {
		scope = "region"
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="statistiques-`+scope+"-"+from+"-"+to+`.csv"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// apiUsage answers GET /api/v1/usage: the rows as JSON.
func (p *Portal) apiUsage(w http.ResponseWriter, r *http.Request, s *session) {
	from, to, uai := p.usageQuery(r)
	rows, err := p.cfg.Service.Usage(r.Context(), s.user, from, to, uai)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	if rows == nil {
		rows = []ent.UsageRow{}
	}
	writeJSON(w, http.StatusOK, rows)
}
