package browsertest_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"atrium/internal/browsertest"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// site is a tiny server-rendered site: a form, a page that answers it, a
// cookie, a script, and a page with a stylesheet of known sizes.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, title, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>%s</title></head><body>%s</body></html>`, title, body)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Accueil", `<main><h1>Accueil</h1><p><a href="/formulaire">Écrire un mot</a></p></main>`)
	})
	mux.HandleFunc("GET /formulaire", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Formulaire", `<form method="post" action="/formulaire" id="mot">
<p><label for="nom">Nom</label><input id="nom" name="nom" value="ancien" required></p>
<p><label for="a">Destinataire</label><select id="a" name="a" required><option value="">— Choisissez —</option>
<option value="lea.martin">Léa Martin (1re B)</option><option value="paul.durand">Paul Durand</option></select></p>
<p><label for="texte">Texte</label><textarea id="texte" name="texte" required></textarea></p>
<p><button type="submit">Envoyer</button></p></form>`)
	})
	mux.HandleFunc("POST /formulaire", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		page(w, "Reçu", fmt.Sprintf(`<h1 id="recu">%s a écrit à %s : %s</h1>`,
			html.EscapeString(r.PostForm.Get("nom")), html.EscapeString(r.PostForm.Get("a")), html.EscapeString(r.PostForm.Get("texte"))))
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("poser") {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "lea-secret-1", Path: "/"})
		}
		c, err := r.Cookie("session")
		v := "aucun"
		if err == nil {
			v = c.Value
		}
		page(w, "Cookie", `<p id="cookie">`+html.EscapeString(v)+`</p>`)
	})
	mux.HandleFunc("GET /script", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Script", `<p id="etat">sans script</p><script>document.getElementById("etat").textContent = "avec script"</script>`)
	})
	mux.HandleFunc("GET /lourde", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Lourde", `<link rel="stylesheet" href="/style.css"><p>`+strings.Repeat("x", 20_000)+`</p>`)
	})
	mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		fmt.Fprint(w, "p{color:#222}/*"+strings.Repeat("y", 10_000)+"*/")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestFormJourney(t *testing.T) {
	srv := site(t)
	b := browsertest.New(t)
	b.Visit(srv.URL + "/")
	if got := b.Title(); got != "Accueil" {
		t.Errorf("Title() = %q, want %q", got, "Accueil")
	}
	b.ClickLink("Écrire un mot")
	if got, want := b.URL(), srv.URL+"/formulaire"; got != want {
		t.Fatalf("URL() after following the link = %q, want %q", got, want)
	}
	b.Fill("#nom", "Léa Martin") // replaces the value already there
	b.Fill("#texte", "Bonjour, ça va ?")
	b.Select("#a", "Léa Martin")
	b.Submit("#mot")
	if got, want := b.Text("#recu"), "Léa Martin a écrit à lea.martin : Bonjour, ça va ?"; got != want {
		t.Errorf("Text(#recu) after Submit = %q, want %q", got, want)
	}
	if got := b.Status(); got != http.StatusOK {
		t.Errorf("Status() after Submit = %d, want 200", got)
	}
}

func TestBrowsersShareNoCookie(t *testing.T) {
	srv := site(t)
	lea, paul := browsertest.New(t), browsertest.New(t)
	lea.Visit(srv.URL + "/cookie?poser")
	lea.Visit(srv.URL + "/cookie")
	if got := lea.Text("#cookie"); got != "lea-secret-1" {
		t.Fatalf("cookie sent back by the browser that got it = %q, want lea-secret-1", got)
	}
	paul.Visit(srv.URL + "/cookie")
	if got := paul.Text("#cookie"); got != "aucun" {
		t.Errorf("cookie sent by another Browser = %q, want none", got)
	}
}

func TestDisableJavaScript(t *testing.T) {
	srv := site(t)
	b := browsertest.New(t)
	b.Visit(srv.URL + "/script")
	if got := b.Text("#etat"); got != "avec script" {
		t.Fatalf("with scripts, Text(#etat) = %q, want %q", got, "avec script")
	}
	b.DisableJavaScript()
	b.Visit(srv.URL + "/script")
	if got := b.Text("#etat"); got != "sans script" {
		t.Errorf("with scripts disabled, Text(#etat) = %q, want %q", got, "sans script")
	}
	// Forms still work without scripts.
	b.Visit(srv.URL + "/formulaire")
	b.Fill("#nom", "Paul")
	b.Fill("#texte", "sans script")
	b.Select("#a", "Paul Durand")
	b.Submit("#mot")
	if got, want := b.Text("#recu"), "Paul a écrit à paul.durand : sans script"; got != want {
		t.Errorf("without scripts, Text(#recu) after Submit = %q, want %q", got, want)
	}
}

func TestPageWeight(t *testing.T) {
	srv := site(t)
	b := browsertest.New(t)
	const bodies = 20_000 + 10_000 // the page's filler and the stylesheet's
	// Measured twice: the second load must not come from the cache.
	for i := range 2 {
		got := b.PageWeight(srv.URL + "/lourde")
		if got < bodies || got > bodies+3_000 {
			t.Errorf("load %d: PageWeight(/lourde) = %d bytes, want the %d bytes of the page and its stylesheet plus headers", i+1, got, bodies)
		}
	}
}

// recorder is a testing.TB whose Fatalf records the message and ends the
// goroutine, as the real one does.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A step a person could not take fails the test with what went wrong.
func TestFailuresSayWhatWentWrong(t *testing.T) {
	srv := site(t)
	tests := []struct {
		name string
		step func(b *browsertest.Browser)
		want []string
	}{
		{"required field left empty", func(b *browsertest.Browser) {
			b.Fill("#texte", "Bonjour")
			b.Submit("#mot")
		}, []string{"#mot", "/formulaire", "cannot be sent", "a: "}},
		{"no such option", func(b *browsertest.Browser) {
			b.Select("#a", "Inès Rossi")
		}, []string{`no option with "Inès Rossi"`, "Léa Martin (1re B) | Paul Durand"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				b := browsertest.New(rec)
				b.Visit(srv.URL + "/formulaire")
				tt.step(b)
			}()
			<-done
			if rec.failure == "" {
				t.Fatal("the step did not fail")
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.failure, w) {
					t.Errorf("failure = %q, want it to mention %q", rec.failure, w)
				}
			}
		})
	}
}
