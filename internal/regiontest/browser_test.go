package regiontest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/synth"
	"atrium/internal/browsertest"
	"atrium/internal/regiontest"
)

// TestMain stops the browser the journeys share after the package's tests.
func TestMain(m *testing.M) { browsertest.Main(m) }

const (
	// offlineBanner opens the banner the edge shows while its link is down.
	offlineBanner = "Connexion au réseau régional interrompue"
	// maxPageWeight is what a page with all its resources may weigh, for
	// a lycée on a slow link.
	maxPageWeight = 100_000
)

// People in a real browser, through the portal's pages, at central and at an
// edge with its link cut. One region serves the journeys (each writes its
// own messages); the offline one runs last, as it cuts lycée A's link.
func TestBrowserJourneys(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{})
	central := r.AnyCentral().URL()
	student, teacher := r.Account(lyceeA, ent.Student), r.Account(lyceeA, ent.Teacher)

	t.Run("central", func(t *testing.T) {
		lea := browsertest.New(t)
		journeyLogIn(t, lea, central, student)
		if page := lea.Text("body"); strings.Contains(page, offlineBanner) {
			t.Errorf("central shows the offline banner:\n%s", page)
		}
		journeyReadNews(t, lea)

		paul := browsertest.New(t)
		journeyLogIn(t, paul, central, teacher)
		subject := "Exposé d'histoire : le plan"
		journeySend(t, paul, student, subject, "Bonjour Léa, le plan est validé.")
		journeyRead(t, lea, central, teacher, subject, "Bonjour Léa, le plan est validé.")
	})

	t.Run("page weight", func(t *testing.T) {
		for _, node := range []struct{ name, url, uai string }{
			{"central", central, lyceeA},
			{"edge " + lyceeB, r.Edge(lyceeB).URL(), lyceeB},
		} {
			b := browsertest.New(t)
			journeyLogIn(t, b, node.url, r.Account(node.uai, ent.Student))
			for _, path := range []string{"/", "/actualites", "/messagerie", "/messagerie/nouveau"} {
				if got := b.PageWeight(node.url + path); got > maxPageWeight {
					t.Errorf("%s: page weight of %s = %d bytes with its resources, want at most %d", node.name, path, got, maxPageWeight)
				}
				if got := b.Status(); got != 200 {
					t.Errorf("%s: status of %s = %d, want 200", node.name, path, got)
				}
			}
		}
	})

	t.Run("without JavaScript", func(t *testing.T) {
		paul := browsertest.New(t)
		paul.DisableJavaScript()
		journeyLogIn(t, paul, central, teacher)
		journeyReadNews(t, paul)
		subject := "Sortie au MuCEM : autorisation"
		journeySend(t, paul, student, subject, "Merci de rapporter l'autorisation signée.")
		paul.Submit("form[action='/deconnexion']")
		if got := paul.Text("main h1"); got != "Connexion" {
			t.Errorf("after « Se déconnecter », the page's heading = %q, want %q", got, "Connexion")
		}
	})

	t.Run("edge offline", func(t *testing.T) {
		edge := r.Edge(lyceeA).URL()
		r.CutWAN(lyceeA)
		t.Cleanup(func() { r.RestoreWAN(lyceeA) })
		r.WaitOffline(lyceeA)

		lea := browsertest.New(t)
		journeyLogIn(t, lea, edge, student)
		lea.WaitVisible(".hors-ligne")
		if got := lea.Text(".hors-ligne"); !strings.HasPrefix(got, offlineBanner) || !strings.Contains(got, "Vous pouvez continuer à travailler") {
			t.Errorf("edge offline banner = %q, want it to start with %q and say work can go on", got, offlineBanner)
		}
		journeyReadNews(t, lea)

		paul := browsertest.New(t)
		journeyLogIn(t, paul, edge, teacher)
		subject := "Devoir maison pendant la coupure"
		body := "Le devoir est à rendre lundi, sur papier."
		journeySend(t, paul, student, subject, body)
		journeyRead(t, lea, edge, teacher, subject, body)

		// At home, Léa does not have it yet: the link is down.
		home := browsertest.New(t)
		journeyLogIn(t, home, central, student)
		home.Visit(central + "/messagerie")
		if page := home.Text("main"); strings.Contains(page, subject) {
			t.Fatalf("central lists the message written offline before the link returned:\n%s", page)
		}

		r.RestoreWAN(lyceeA)
		r.WaitSynced(lyceeA)
		journeyRead(t, home, central, teacher, subject, body)
		lea.Visit(edge + "/")
		if page := lea.Text("body"); strings.Contains(page, offlineBanner) {
			t.Errorf("edge still shows the offline banner after the link returned:\n%s", page)
		}
	})
}

// journeyLogIn logs a in through the login form of the node at base, as a
// person does, and checks the home page greets them.
func journeyLogIn(t *testing.T, b *browsertest.Browser, base string, a synth.Account) {
	t.Helper()
	b.Visit(base + "/")
	if got := b.Text("main h1"); got != "Connexion" {
		t.Fatalf("%s/ before logging in: heading %q, want the login page's %q", base, got, "Connexion")
	}
	for sel, want := range map[string]string{
		"label[for=login]":    "Identifiant",
		"label[for=password]": "Mot de passe",
		"main form button":    "Se connecter",
	} {
		if got := b.Text(sel); got != want {
			t.Errorf("login form: text of %s = %q, want %q", sel, got, want)
		}
	}
	b.Fill("#login", a.Login)
	b.Fill("#password", a.Password)
	b.Submit("form[action='/connexion']")
	if got, want := b.Text("main h1"), "Bonjour "+a.Name; got != want {
		t.Fatalf("home page after logging in as %s at %s: heading %q, want %q", a.Login, base, got, want)
	}
	if got := b.Title(); !strings.HasSuffix(got, "– Atrium") {
		t.Errorf("home page title = %q, want it to end with « – Atrium »", got)
	}
}

// journeyReadNews opens Actualités from the home page and reads an item of
// the user's lycée (Thiers); Masséna's news is not listed.
func journeyReadNews(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	b.ClickLink("Actualités")
	list := b.Text("main")
	for _, want := range []string{"Sortie au MuCEM", "Rentrée de janvier : le point sur les transports scolaires"} {
		if !strings.Contains(list, want) {
			t.Errorf("Actualités does not list %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "Fermeture du CDI mercredi") {
		t.Errorf("Actualités of a Thiers user lists Masséna's news:\n%s", list)
	}
	b.ClickLink("Sortie au MuCEM")
	if got := b.Text("main h1"); got != "Sortie au MuCEM" {
		t.Errorf("news item heading = %q, want %q", got, "Sortie au MuCEM")
	}
	if got := b.Text("article"); !strings.Contains(got, "Rendez-vous à 8 h 15 devant le lycée.") {
		t.Errorf("news item text = %q, want the item's body", got)
	}
}

// journeySend writes a message to the user to through the Messagerie's form.
func journeySend(t *testing.T, b *browsertest.Browser, to synth.Account, subject, body string) {
	t.Helper()
	b.ClickLink("Messagerie")
	b.ClickLink("Écrire un message")
	b.Select("#to", to.Name)
	b.Fill("#subject", subject)
	b.Fill("#body", body)
	b.Submit("form[action='/messagerie/nouveau']")
	if got := b.Text("main h1"); got != subject {
		t.Fatalf("after sending, heading = %q, want the message's subject %q (error shown: %q)", got, subject, b.Text("main"))
	}
	if got := b.Text("article"); !strings.Contains(got, "À : "+to.Name) {
		t.Errorf("sent message = %q, want « À : %s »", got, to.Name)
	}
}

// journeyRead waits until the Messagerie at base lists subject from the
// sender, then opens it and checks its text.
func journeyRead(t *testing.T, b *browsertest.Browser, base string, from synth.Account, subject, body string) {
	t.Helper()
	regiontest.Eventually(t, 15*time.Second, func() error {
		b.Visit(base + "/messagerie")
		if list := b.Text("main"); !strings.Contains(list, subject) {
			return fmt.Errorf("%s/messagerie does not list %q yet:\n%s", base, subject, list)
		}
		return nil
	})
	b.ClickLink(subject)
	if got := b.Text("main h1"); got != subject {
		t.Fatalf("opened message heading = %q, want %q", got, subject)
	}
	msg := b.Text("article")
	if !strings.Contains(msg, "De : "+from.Name) || !strings.Contains(msg, body) {
		t.Errorf("message as read = %q, want « De : %s » and %q", msg, from.Name, body)
	}
}
