package portal_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/portal"
	"atrium/record"
)

// snapshotDir, when set, is where TestPageSnapshots writes the pages it
// renders: two runs, before and after a change to the templates or the
// list rows, compared with diff -r, show whether a user's pages changed.
var snapshotDir = flag.String("pages.snapshot", "", "TestPageSnapshots: write the rendered pages to this directory")

// snapshotText holds every character html/template escapes, and some it
// does not, so that rows built in Go are compared with the templates'.
const snapshotText = `<b>"C++" & 'x'</b> é` + "\u2028" + ` %41 <script>alert(1)</script>`

// snapshotLycee adds to the synthetic lycée Thiers one item of every list
// the benchmark's pages show, written with snapshotText, at fixed ids and
// times.
func snapshotLycee(t *testing.T, st *enttest.Store) {
	t.Helper()
	ids := map[string]string{}
	for _, login := range []string{"lea.martin", "sophie.martin", "paul.durand", "nadia.benali", "tom.garcia"} {
		err := st.View(func(r record.Reader) error {
			rec, ok, err := r.ByKey(ent.KindUser, login)
			if !ok || err != nil {
				return fmt.Errorf("user %s: %v %v", login, ok, err)
			}
			ids[login] = rec.ID
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	const uai = "0130040Y"
	at := time.Date(2026, time.January, 12, 9, 0, 0, 0, time.UTC)
	n := 0
	id := func() string { n++; return fmt.Sprintf("019bb000-0000-7000-8000-%012d", n) }
	add := func(user, op string, args any) {
		t.Helper()
		b, _ := json.Marshal(args)
		at = at.Add(time.Minute)
		if err := st.Submit(t.Context(), record.Command{Origin: record.OriginCentral, User: ids[user], Op: op, Partition: uai, Args: b, Time: at.UnixMilli()}); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	x := snapshotText
	add("paul.durand", ent.OpNewsPublish, ent.NewsArgs{ID: id(), Title: "Actualité " + x, Body: x + "\n\nSuite " + x})
	add("paul.durand", ent.OpMessageSend, ent.MessageArgs{ID: id(), To: ids["lea.martin"], Subject: "Objet " + x, Body: x})
	add("lea.martin", ent.OpMessageSend, ent.MessageArgs{ID: id(), To: ids["paul.durand"], Subject: "Re " + x, Body: x})
	add("sophie.martin", ent.OpMessageSend, ent.MessageArgs{ID: id(), To: ids["paul.durand"], Subject: "Parent " + x, Body: x})
	for i, due := range []string{"2026-01-13", "2026-02-20", ""} {
		work := ""
		if due != "" {
			work = "Travail " + x
		}
		add("paul.durand", ent.OpHomeworkWrite, ent.HomeworkArgs{ID: id(), Class: "1B", Subject: "Maths " + x, Date: fmt.Sprintf("2026-01-1%d", i),
			Title: fmt.Sprintf("Séance %d %s", i, x), Content: "Contenu " + x, Work: work, Due: due})
	}
	eval := id()
	add("paul.durand", ent.OpEvaluationCreate, ent.EvaluationArgs{ID: eval, Class: "1B", Subject: "Maths " + x, Title: "Devoir " + x, Date: "2026-01-12", OutOf: "20", Coefficient: "1.5"})
	add("paul.durand", ent.OpGradeSet, ent.GradeArgs{ID: id(), Evaluation: eval, Student: ids["lea.martin"], Value: "12.5"})
	add("paul.durand", ent.OpGradeSet, ent.GradeArgs{ID: id(), Evaluation: eval, Student: ids["tom.garcia"], Value: ent.GradeAbsent})
	add("paul.durand", ent.OpAbsenceRecord, ent.AbsenceArgs{ID: id(), Student: ids["lea.martin"], Date: "2026-01-19", Start: "08:00", End: "09:00", Kind: ent.AbsenceAbsent})
	forum := id()
	add("paul.durand", ent.OpForumCreate, ent.ForumArgs{ID: forum, Title: "Forum " + x, Audience: ent.AudienceClass, Class: "1B"})
	topic := id()
	add("lea.martin", ent.OpForumTopic, ent.ForumTopicArgs{ID: topic, ForumID: forum, Title: "Sujet " + x, Body: x})
	add("tom.garcia", ent.OpForumPost, ent.ForumPostArgs{ID: id(), TopicID: topic, Body: "Réponse " + x})
	add("nadia.benali", ent.OpBlogPublish, ent.BlogPostArgs{ID: id(), Title: "Article " + x, Body: x})
	add("paul.durand", ent.OpBlogPublish, ent.BlogPostArgs{ID: id(), Class: "1B", Title: "Classe " + x, Body: x})
}

// escapedSnapshot is snapshotText as html/template writes it.
const escapedSnapshot = `&lt;b&gt;&#34;C&#43;&#43;&#34; &amp; &#39;x&#39;&lt;/b&gt; é` + "\u2028" + ` %41 &lt;script&gt;alert(1)&lt;/script&gt;`

// snapshotPages are the pages TestPageSnapshots renders.
var snapshotPages = []string{"/", "/actualites", "/actualites/019bb000-0000-7000-8000-000000000001", "/messagerie",
	"/messagerie/019bb000-0000-7000-8000-000000000002", "/cahier-de-textes", "/cahier-de-textes/019bb000-0000-7000-8000-000000000005",
	"/notes", "/notes/019bb000-0000-7000-8000-000000000008", "/absences", "/absences?du=2026-01-01", "/forum",
	"/forum/019bb000-0000-7000-8000-000000000012", "/forum/019bb000-0000-7000-8000-000000000012/sujets/019bb000-0000-7000-8000-000000000013",
	"/blog", "/blog/019bb000-0000-7000-8000-000000000015", "/avis", "/ressources"}

var csrfValue = regexp.MustCompile(`name="csrf" value="[^"]+"`)

// TestPageSnapshots renders the pages of the benchmark's users (every
// list and one item of each) for four profiles, with a fixed clock, checks
// that each answers 200 or 404 and shows the items' texts escaped, and
// writes them to -pages.snapshot when given.
func TestPageSnapshots(t *testing.T) {
	now := time.Date(2026, time.January, 20, 10, 0, 0, 0, time.UTC)
	e := newEnvAt(t, portal.Config{Node: "edge-test"}, func() time.Time { return now })
	snapshotLycee(t, e.store)
	for _, login := range []string{"lea.martin", "sophie.martin", "paul.durand", "nadia.benali"} {
		b := e.browser(t)
		b.login(login)
		for i, path := range snapshotPages {
			code, body := b.get(path)
			if code != http.StatusOK && code != http.StatusNotFound {
				t.Errorf("GET %s as %s = %d, want 200 or 404 (an item the user does not read)", path, login, code)
			}
			// Every list row and text shows snapshotText escaped, never
			// as markup.
			if strings.Contains(body, "<script>") || strings.Contains(body, "<b>") {
				t.Errorf("GET %s as %s shows user content unescaped: %s", path, login, body)
			}
			shows := !strings.HasPrefix(path, "/absences") && path != "/" && path != "/avis" && path != "/ressources" && // no text of snapshotLycee
				!(path == "/forum" && login == "sophie.martin") && !(path == "/messagerie" && login == "nadia.benali") // nothing to read there
			if code == http.StatusOK && shows && !strings.Contains(body, escapedSnapshot) {
				t.Errorf("GET %s as %s lacks the escaped text %s", path, login, escapedSnapshot)
			}
			if *snapshotDir == "" {
				continue
			}
			body = csrfValue.ReplaceAllString(body, `name="csrf" value="CSRF"`)
			name := filepath.Join(*snapshotDir, fmt.Sprintf("%s-%02d.html", login, i))
			if err := os.MkdirAll(*snapshotDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, []byte(fmt.Sprintf("<!-- GET %s: %d -->\n%s", path, code, body)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
