package regiontest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/browsertest"
	"atrium/internal/regiontest"
)

// servicePages are the pages of the services a teacher reaches from the
// home page, which PageWeight measures.
var servicePages = []string{"/", "/actualites", "/messagerie", "/cahier-de-textes", "/notes", "/absences",
	"/reservation", "/forum", "/blog", "/assistance", "/parc"}

// serviceWrites is what one services journey wrote, for the checks at
// central once an edge's link returns.
type serviceWrites struct {
	homework   string // title of the cahier de textes' entry
	evaluation string // title of the evaluation graded
	grade      string // Léa's grade in it, as entered
	absenceDay string // AAAA-MM-JJ of Léa's absence
	motif      string // its justification's code
	room       string // name of the room booked
	bookingDay string // AAAA-MM-JJ of the booking
}

// The cahier de textes, the notes, the absences and the réservation in a
// real browser, through their forms, at central and at an edge with its
// link cut; what was written at the edge reaches central once.
func TestBrowserServiceJourneys(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	central := r.AnyCentral().URL()
	leaID := userID(t, r, "lea.martin")

	t.Run("central", func(t *testing.T) {
		servicesJourney(t, r, central, leaID, "centre", 0)
	})

	t.Run("without JavaScript", func(t *testing.T) {
		paul := browsertest.New(t)
		paul.DisableJavaScript()
		journeyLogIn(t, paul, central, r.Account(lyceeA, ent.Teacher))
		due := day(10)
		journeyWriteHomework(t, paul, "Séance sans JavaScript", "Relire le chapitre 3", due)
		paul.ClickLink("Retour au cahier de textes")
		if list := paul.Text("main"); !strings.Contains(list, "Pour le "+frDate(due)+" · Histoire (1B)") {
			t.Errorf("cahier de textes without JavaScript does not list the work for %s:\n%s", frDate(due), list)
		}
	})

	t.Run("page weight", func(t *testing.T) {
		for _, node := range []struct{ name, url, uai string }{
			{"central", central, lyceeA},
			{"edge " + lyceeB, r.Edge(lyceeB).URL(), lyceeB},
		} {
			b := browsertest.New(t)
			journeyLogIn(t, b, node.url, r.Account(node.uai, ent.Teacher))
			for _, path := range servicePages {
				if got := b.PageWeight(node.url + path); got > maxPageWeight {
					t.Errorf("%s: page weight of %s = %d bytes with its resources, want at most %d", node.name, path, got, maxPageWeight)
				}
				if got := b.Status(); got != http.StatusOK {
					t.Errorf("%s: status of %s = %d, want 200", node.name, path, got)
				}
			}
		}
	})

	t.Run("edge offline", func(t *testing.T) {
		edge := r.Edge(lyceeA).URL()
		r.CutWAN(lyceeA)
		t.Cleanup(func() { r.RestoreWAN(lyceeA) })
		r.WaitOffline(lyceeA)
		w := servicesJourney(t, r, edge, leaID, "coupure", 20)

		r.RestoreWAN(lyceeA)
		r.WaitSynced(lyceeA)
		checkReachedCentral(t, r, w)
	})
}

// day is the date n days from today, AAAA-MM-JJ.
func day(n int) string { return time.Now().AddDate(0, 0, n).Format("2006-01-02") }

// servicesJourney has the teacher, the student, her relative and the staff
// of Thiers use the services at base; tag and offset keep its writes apart
// from another journey's in the same region.
func servicesJourney(t *testing.T, r *regiontest.Region, base, leaID, tag string, offset int) serviceWrites {
	t.Helper()
	w := serviceWrites{
		homework:   "Les Lumières (" + tag + ")",
		evaluation: "Contrôle de suites (" + tag + ")",
		grade:      "16,5",
		absenceDay: day(-1 - offset),
		motif:      ent.MotifMedical,
		room:       "Salle B12 (" + tag + ")",
		bookingDay: day(7 + offset),
	}
	teacher, student := r.Account(lyceeA, ent.Teacher), r.Account(lyceeA, ent.Student)
	relative, staff := r.Account(lyceeA, ent.Relative), r.Account(lyceeA, ent.Personnel)
	offline := base == r.Edge(lyceeA).URL()

	paul := browsertest.New(t)
	journeyLogIn(t, paul, base, teacher)
	if offline {
		paul.WaitVisible(".hors-ligne")
		if got := paul.Text(".hors-ligne"); !strings.HasPrefix(got, offlineBanner) {
			t.Errorf("edge offline banner = %q, want it to start with %q", got, offlineBanner)
		}
	}

	// The teacher writes homework, grades Léa and records her absence.
	work := "Lire le texte de Voltaire (" + tag + ")"
	due := day(5 + offset)
	journeyWriteHomework(t, paul, w.homework, work, due)

	paul.ClickLink("Accueil")
	paul.ClickLink("Notes")
	paul.ClickLink("Nouvelle évaluation")
	paul.Select("#class", "1B")
	paul.Fill("#subject", "Mathématiques")
	paul.Fill("#title", w.evaluation)
	paul.Submit("form[action='/notes/nouvelle']")
	if got := paul.Text("main h1"); got != w.evaluation {
		t.Fatalf("after creating the evaluation, heading = %q, want %q (page: %q)", got, w.evaluation, paul.Text("main"))
	}
	paul.Fill("#grade-"+leaID, w.grade)
	paul.Submit("form[action$='/saisie']")
	if page := paul.Text("main"); strings.Contains(page, "n'ont pas été enregistrées") {
		t.Fatalf("grades refused:\n%s", page)
	}

	paul.ClickLink("Accueil")
	paul.ClickLink("Absences")
	paul.ClickLink("Signaler une absence ou un retard")
	paul.Select("#student", student.Name)
	paul.Fill("#date", w.absenceDay)
	paul.Fill("#start", "08:00")
	paul.Fill("#end", "09:00")
	paul.Submit("form[action='/absences/nouvelle']")
	if got := paul.Text("article dl"); !strings.Contains(got, student.Name+" (1B)") || !strings.Contains(got, frDate(w.absenceDay)) {
		t.Fatalf("recorded absence = %q, want %s (1B) on %s", got, student.Name, frDate(w.absenceDay))
	}

	// Léa sees the homework and her grade.
	lea := browsertest.New(t)
	journeyLogIn(t, lea, base, student)
	lea.ClickLink("Cahier de textes")
	if list := lea.Text("main"); !strings.Contains(list, "Pour le "+frDate(due)+" · Histoire (1B)") || !strings.Contains(list, work) {
		t.Errorf("Léa's cahier de textes does not list %q for %s:\n%s", work, frDate(due), list)
	}
	lea.ClickLink("Accueil")
	lea.ClickLink("Notes")
	if got := gradeRow(t, lea, w.evaluation); !strings.Contains(got, w.grade+" / 20") {
		t.Errorf("Léa's row for %q = %q, want « %s / 20 »", w.evaluation, got, w.grade)
	}

	// Her mother sees them too, and justifies the absence.
	sophie := browsertest.New(t)
	journeyLogIn(t, sophie, base, relative)
	sophie.ClickLink("Cahier de textes")
	if list := sophie.Text("main"); !strings.Contains(list, work) {
		t.Errorf("Sophie's cahier de textes does not list %q:\n%s", work, list)
	}
	sophie.ClickLink("Accueil")
	sophie.ClickLink("Notes")
	if got := gradeRow(t, sophie, w.evaluation); !strings.Contains(got, student.Name) || !strings.Contains(got, w.grade+" / 20") {
		t.Errorf("Sophie's row for %q = %q, want %s and « %s / 20 »", w.evaluation, got, student.Name, w.grade)
	}
	sophie.ClickLink("Accueil")
	sophie.ClickLink("Absences")
	sophie.ClickLink(frDate(w.absenceDay))
	sophie.Select("#motif", "Rendez-vous médical")
	sophie.Fill("#comment", "Rendez-vous chez l'orthodontiste.")
	sophie.Submit("form[action$='/justifier']")
	if got := sophie.Text("article dl"); !strings.Contains(got, "Rendez-vous médical ("+relative.Name) {
		t.Errorf("justified absence = %q, want « Rendez-vous médical (%s, le … »", got, relative.Name)
	}

	// The staff declare a room; the teacher books it; the same slot is
	// then refused to the staff, with the reason on the page.
	nadia := browsertest.New(t)
	journeyLogIn(t, nadia, base, staff)
	nadia.ClickLink("Réservation")
	nadia.ClickLink("Déclarer une ressource")
	nadia.Fill("#name", w.room)
	nadia.Select("#kind", "Salle")
	nadia.Fill("#description", "Salle de 30 places, vidéoprojecteur.")
	nadia.Submit("form[action='/reservation/ressources/nouvelle']")

	paul.ClickLink("Accueil")
	paul.ClickLink("Réservation")
	book := func(b *browsertest.Browser, purpose string) {
		t.Helper()
		b.ClickLink(w.room)
		b.Fill("#date", w.bookingDay)
		b.Select("#start", "10:00")
		b.Select("#end", "11:00")
		b.Fill("#purpose", purpose)
		b.Submit("form[action$='/reserver']")
	}
	book(paul, "Cours de 1B")
	if got, want := paul.Text("main h1"), w.room+" · "+frDate(w.bookingDay)+" de 10:00 à 11:00"; got != want {
		t.Fatalf("after booking, heading = %q, want %q (page: %q)", got, want, paul.Text("main"))
	}
	nadia.ClickLink("Retour à la réservation")
	book(nadia, "Conseil de classe")
	refusal := "Ce créneau est déjà réservé : " + w.room + " le " // then the day in words
	if got := nadia.Text(".erreur"); !strings.HasPrefix(got, refusal) || !strings.HasSuffix(got, "de 10:00 à 11:00 par "+teacher.Name+".") {
		t.Errorf("second booking of the slot: message = %q, want %q… « de 10:00 à 11:00 par %s. »", got, refusal, teacher.Name)
	}
	if got := nadia.Status(); got != http.StatusConflict {
		t.Errorf("second booking of the slot: status = %d, want %d", got, http.StatusConflict)
	}
	return w
}

// journeyWriteHomework writes an entry for 1B in the cahier de textes
// through its form, from the home page, and checks the entry shown.
func journeyWriteHomework(t *testing.T, b *browsertest.Browser, title, work, due string) {
	t.Helper()
	b.ClickLink("Cahier de textes")
	b.ClickLink("Nouvelle entrée")
	b.Select("#class", "1B")
	b.Fill("#subject", "Histoire")
	b.Fill("#title", title)
	b.Fill("#content", "Le siècle des Lumières : Voltaire, Diderot.")
	b.Fill("#work", work)
	b.Fill("#due", due)
	b.Submit("form[action='/cahier-de-textes/nouvelle']")
	if got := b.Text("main h1"); got != title {
		t.Fatalf("after writing homework, heading = %q, want %q (page: %q)", got, title, b.Text("main"))
	}
	if got := b.Text("article section"); !strings.Contains(got, "Travail à faire pour le "+frDate(due)) || !strings.Contains(got, work) {
		t.Errorf("homework entry's work = %q, want « Travail à faire pour le %s » and %q", got, frDate(due), work)
	}
}

// gradeRow is the text of the row of the grades table that names the
// evaluation title; the test fails if there is none.
func gradeRow(t *testing.T, b *browsertest.Browser, title string) string {
	t.Helper()
	table := b.Text("main table tbody")
	for row := range strings.SplitSeq(table, "\n") {
		if strings.Contains(row, title) {
			return row
		}
	}
	t.Fatalf("%s: no grade for %q in:\n%s", b.URL(), title, table)
	return ""
}

// checkReachedCentral checks, through the API at central, that what a
// journey wrote at the edge is there exactly once.
func checkReachedCentral(t *testing.T, r *regiontest.Region, w serviceWrites) {
	t.Helper()
	central := r.AnyCentral().URL()
	paul := login(t, central, byLogin(t, r, "paul.durand"))
	sophie := login(t, central, byLogin(t, r, "sophie.martin"))
	regiontest.Eventually(t, 20*time.Second, func() error {
		var hw []struct{ Title string }
		if code, msg := ticketCall(t, paul, http.MethodGet, "/api/v1/homework", nil, &hw); code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/homework at central = %d %s", code, msg)
		}
		if n := count(hw, func(e struct{ Title string }) bool { return e.Title == w.homework }); n != 1 {
			return fmt.Errorf("central holds %d homework entries titled %q, want 1", n, w.homework)
		}

		var evals []struct{ ID, Title string }
		if code, msg := ticketCall(t, paul, http.MethodGet, "/api/v1/evaluations", nil, &evals); code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/evaluations at central = %d %s", code, msg)
		}
		var evalID string
		if n := count(evals, func(e struct{ ID, Title string }) bool {
			if e.Title == w.evaluation {
				evalID = e.ID
			}
			return e.Title == w.evaluation
		}); n != 1 {
			return fmt.Errorf("central holds %d evaluations titled %q, want 1", n, w.evaluation)
		}
		sheet, err := getSheet(t, paul, evalID)
		if err != nil {
			return err
		}
		if got, want := sheet.values()["Léa Martin"], strings.ReplaceAll(w.grade, ",", "."); got != want {
			return fmt.Errorf("Léa's grade in %q at central = %q, want %q", w.evaluation, got, want)
		}

		var abs []struct{ Date, Motif, Comment string }
		if code, msg := ticketCall(t, sophie, http.MethodGet, "/api/v1/absences", nil, &abs); code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/absences at central = %d %s", code, msg)
		}
		var onDay []string
		for _, a := range abs {
			if a.Date == w.absenceDay {
				onDay = append(onDay, a.Motif+" "+a.Comment)
			}
		}
		if want := w.motif + " Rendez-vous chez l'orthodontiste."; len(onDay) != 1 || onDay[0] != want {
			return fmt.Errorf("Léa's absences of %s at central = %q, want one justified %q", w.absenceDay, onDay, want)
		}

		var rooms []struct{ ID, Name string }
		if code, msg := ticketCall(t, paul, http.MethodGet, "/api/v1/resources", nil, &rooms); code != http.StatusOK {
			return fmt.Errorf("GET /api/v1/resources at central = %d %s", code, msg)
		}
		var roomID string
		if n := count(rooms, func(e struct{ ID, Name string }) bool {
			if e.Name == w.room {
				roomID = e.ID
			}
			return e.Name == w.room
		}); n != 1 {
			return fmt.Errorf("central holds %d rooms named %q, want 1", n, w.room)
		}
		live, all, err := planning(t, paul, roomID, w.bookingDay)
		if err != nil {
			return err
		}
		if len(all) != 1 || len(live) != 1 || live[0].Start != "10:00" || live[0].Author != "Paul Durand" {
			return fmt.Errorf("bookings of %q on %s at central = %q, want Paul's 10:00–11:00 alone", w.room, w.bookingDay, describe(all))
		}
		return nil
	})
}

// count is how many elements of s satisfy f.
func count[T any](s []T, f func(T) bool) int {
	n := 0
	for _, e := range s {
		if f(e) {
			n++
		}
	}
	return n
}
