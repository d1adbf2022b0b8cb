package regiontest_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// pagesInflight is how many page requests BenchmarkEdgePages keeps in
// flight (each loop goes through the 64 users in turn).
var pagesInflight = flag.Int("pages.inflight", pagesClients, "BenchmarkEdgePages: requests in flight")

// pagesCPUProfile, when set, is where BenchmarkEdgePages writes a CPU
// profile of its measured window alone (without the lycée's loading).
var pagesCPUProfile = flag.String("pages.cpuprofile", "", "BenchmarkEdgePages: write a CPU profile of the measured window to this file")

// Shape of the lycée the page benchmark loads, and of the load.
const (
	pagesClasses          = 6  // classes of the lycée
	pagesStudentsPerClass = 30 // each with a legal relative
	pagesTeachers         = 18 // each teaching two classes
	pagesStaff            = 6
	pagesClients          = 64 // concurrent users at the edge, each a different account
	pagesDuration         = 20 * time.Second
	pagesPassword         = "banc-d-essai-1"
)

// pagesLycee is the synthetic lycée of BenchmarkEdgePages, as written at
// central: its accounts and, for each, the pages they open.
type pagesLycee struct {
	cmds      []record.Command
	at        time.Time
	users     []ent.User
	students  map[string][]ent.User // by class
	teachers  []ent.User
	staff     []ent.User
	relatives map[string]ent.User // each student's legal relative, by the student's id
	// Ids of what each kind of page reads.
	news      []string
	messages  map[string][]string // by user id: messages they received
	homework  map[string][]string // by class
	forums    map[string]string   // by class
	blogPosts []string            // whole-lycée posts
}

func (l *pagesLycee) add(user, op string, args any) {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	l.cmds = append(l.cmds, record.Command{Origin: record.OriginCentral, User: user, Op: op, Partition: lyceeA, Args: b, Time: l.at.UnixMilli()})
	l.at = l.at.Add(time.Second)
}

func (l *pagesLycee) user(tb testing.TB, hash, login, name, profile string, classes []string, children ...string) ent.User {
	u := ent.User{ID: record.NewID(), Login: login, Name: name, Profile: profile, UAI: lyceeA,
		PasswordHash: hash, Active: true, Classes: classes, Children: children}
	if profile == ent.Teacher {
		u.Subjects = []string{"Mathématiques"}
	}
	l.add("", ent.OpUserPut, u)
	l.users = append(l.users, u)
	return u
}

// newPagesLycee builds the commands of a lycée of about 400 accounts with
// a school term's worth of news, messages, homework, grades, absences,
// forums and blog posts.
func newPagesLycee(tb testing.TB) *pagesLycee {
	hash, err := ent.HashPassword(pagesPassword)
	if err != nil {
		tb.Fatal(err)
	}
	l := &pagesLycee{at: time.Now().Add(-24 * time.Hour), students: map[string][]ent.User{}, relatives: map[string]ent.User{},
		messages: map[string][]string{}, homework: map[string][]string{}, forums: map[string]string{}}
	classes := make([]string, pagesClasses)
	for i := range classes {
		classes[i] = fmt.Sprintf("B%d", i+1)
	}
	for i := range pagesStaff {
		l.staff = append(l.staff, l.user(tb, hash, fmt.Sprintf("perso.%d", i), fmt.Sprintf("Personnel %d", i), ent.Personnel, nil))
	}
	for i := range pagesTeachers {
		cs := []string{classes[i%pagesClasses], classes[(i+1)%pagesClasses]}
		l.teachers = append(l.teachers, l.user(tb, hash, fmt.Sprintf("prof.%d", i), fmt.Sprintf("Professeur %d", i), ent.Teacher, cs))
	}
	for _, c := range classes {
		for i := range pagesStudentsPerClass {
			st := l.user(tb, hash, fmt.Sprintf("eleve.%s.%d", strings.ToLower(c), i), fmt.Sprintf("Élève %s %d", c, i), ent.Student, []string{c})
			l.students[c] = append(l.students[c], st)
			l.relatives[st.ID] = l.user(tb, hash, fmt.Sprintf("parent.%s.%d", strings.ToLower(c), i), fmt.Sprintf("Parent %s %d", c, i), ent.Relative, nil, st.ID)
		}
	}
	teachersOf := func(c string) []ent.User {
		var out []ent.User
		for _, t := range l.teachers {
			if slices.Contains(t.Classes, c) {
				out = append(out, t)
			}
		}
		return out
	}
	body := "Bonjour à toutes et à tous. Ce texte d'environ deux cents caractères tient la place d'une annonce, d'un message ou d'une séance ordinaire du lycée, avec ses accents."
	for i := range 30 {
		author := l.staff[i%len(l.staff)]
		if i%2 == 1 {
			author = l.teachers[i%len(l.teachers)]
		}
		id := record.NewID()
		l.add(author.ID, ent.OpNewsPublish, ent.NewsArgs{ID: id, Title: fmt.Sprintf("Actualité %d", i), Body: body})
		l.news = append(l.news, id)
	}
	send := func(from, to ent.User, i int) {
		id := record.NewID()
		l.add(from.ID, ent.OpMessageSend, ent.MessageArgs{ID: id, To: to.ID, Subject: fmt.Sprintf("Message %d", i), Body: body})
		l.messages[to.ID] = append(l.messages[to.ID], id)
	}
	for _, c := range classes {
		ts := teachersOf(c)
		for si, st := range l.students[c] {
			rel := l.relatives[st.ID]
			for i := range 10 {
				t := ts[(si+i)%len(ts)]
				send(t, st, i)
				send(st, t, i)
				if i%2 == 0 {
					send(rel, t, i)
					send(t, rel, i)
				}
			}
			for i := range 3 {
				send(l.staff[(si+i)%len(l.staff)], rel, i)
			}
		}
		for d := range 30 {
			t := ts[d%len(ts)]
			date := time.Date(2026, time.January, 5+d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			due := time.Date(2026, time.January, 6+d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			id := record.NewID()
			l.add(t.ID, ent.OpHomeworkWrite, ent.HomeworkArgs{ID: id, Class: c, Subject: "Mathématiques", Date: date,
				Title: fmt.Sprintf("Séance %d", d), Content: body, Work: "Exercices 1 à 4 page 112.", Due: due})
			l.homework[c] = append(l.homework[c], id)
		}
		for e := range 8 {
			t := ts[e%len(ts)]
			eid := record.NewID()
			l.add(t.ID, ent.OpEvaluationCreate, ent.EvaluationArgs{ID: eid, Class: c, Subject: "Mathématiques",
				Title: fmt.Sprintf("Devoir %d", e), Date: time.Date(2026, time.January, 5+e, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), OutOf: "20", Coefficient: "1"})
			for si, st := range l.students[c] {
				l.add(t.ID, ent.OpGradeSet, ent.GradeArgs{ID: record.NewID(), Evaluation: eid, Student: st.ID, Value: fmt.Sprintf("%d", 8+(si+e)%12)})
			}
		}
		for si, st := range l.students[c] {
			for a := range 3 {
				l.add(ts[0].ID, ent.OpAbsenceRecord, ent.AbsenceArgs{ID: record.NewID(), Student: st.ID,
					Date: time.Date(2026, time.January, 5+a+si%5, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), Start: "08:00", End: "09:00", Kind: ent.AbsenceAbsent})
			}
		}
		fid := record.NewID()
		l.add(ts[0].ID, ent.OpForumCreate, ent.ForumArgs{ID: fid, Title: "Forum de la " + c, Audience: ent.AudienceClass, Class: c})
		l.forums[c] = fid
		for tp := range 5 {
			tid := record.NewID()
			l.add(l.students[c][tp].ID, ent.OpForumTopic, ent.ForumTopicArgs{ID: tid, ForumID: fid, Title: fmt.Sprintf("Question %d", tp), Body: body})
			for r := range 4 {
				l.add(l.students[c][tp+r+1].ID, ent.OpForumPost, ent.ForumPostArgs{ID: record.NewID(), TopicID: tid, Body: body})
			}
		}
	}
	for i := range 20 {
		id := record.NewID()
		l.add(l.staff[i%len(l.staff)].ID, ent.OpBlogPublish, ent.BlogPostArgs{ID: id, Title: fmt.Sprintf("Article %d", i), Body: body})
		l.blogPosts = append(l.blogPosts, id)
	}
	return l
}

// pages lists the pages user u opens, as paths of the edge's portal: every
// section of the portal their profile has, a list and an item each.
func (l *pagesLycee) pages(u ent.User) []string {
	p := []string{"/", "/actualites", "/actualites/" + l.news[len(u.Login)%len(l.news)],
		"/messagerie", "/cahier-de-textes", "/notes", "/absences", "/forum", "/blog",
		"/blog/" + l.blogPosts[len(u.Name)%len(l.blogPosts)]}
	if ms := l.messages[u.ID]; len(ms) > 0 {
		p = append(p, "/messagerie/"+ms[0])
	}
	class := ""
	switch {
	case len(u.Classes) > 0:
		class = u.Classes[0]
	case len(u.Children) > 0:
		for c, sts := range l.students {
			if slices.ContainsFunc(sts, func(s ent.User) bool { return s.ID == u.Children[0] }) {
				class = c
			}
		}
	}
	if class != "" {
		p = append(p, "/cahier-de-textes/"+l.homework[class][0])
		if u.Profile != ent.Relative {
			p = append(p, "/forum/"+l.forums[class])
		}
	}
	return p
}

// BenchmarkEdgePages measures authenticated pages/s and their latency at
// the edge of a lycée whose link to central is cut: 64 users of every
// profile of the lycée, each with a keep-alive connection, open the
// portal's pages as fast as the edge serves them. Any answer but 200 is
// an error and fails the run. -pages.inflight N sets the requests in
// flight; -pages.cpuprofile FILE profiles the measured window alone (on a
// shared machine, the portal handler's CPU per page read from it is
// steadier than the process's: go tool pprof -top -cum, the handler's
// cumulative time over the pages).
//
//	go test -run '^$' -bench BenchmarkEdgePages -benchtime 1x ./internal/regiontest/
func BenchmarkEdgePages(b *testing.B) {
	for b.Loop() {
		// One central node: only the edge is measured, and a lone node
		// loses no leadership under the load of the other tests.
		r := regiontest.Start(b, regiontest.Options{NoEdges: true, Centrals: 1})
		ctx := b.Context()
		l := newPagesLycee(b)
		for i := 0; i < len(l.cmds); i += 500 {
			res, err := r.Admin().Commands(ctx, l.cmds[i:min(i+500, len(l.cmds))])
			if err != nil {
				b.Fatalf("load the lycée: %v", err)
			}
			if len(res.Rejected) > 0 {
				b.Fatalf("load the lycée: %d refused, first %+v", len(res.Rejected), res.Rejected[0])
			}
		}
		head, err := r.AnyCentral().Node.LastSeq(lyceeA)
		if err != nil {
			b.Fatal(err)
		}
		e := r.AddEdge(lyceeA)
		regiontest.Eventually(b, 5*time.Minute, func() error {
			if got := e.Node.Status().Checkpoints[lyceeA]; got < head {
				return fmt.Errorf("edge checkpoint %d of %d", got, head)
			}
			return nil
		})
		r.WaitSynced(lyceeA)
		r.CutWAN(lyceeA)
		r.WaitOffline(lyceeA)
		base := r.Edge(lyceeA).URL()

		// 64 users: 24 students, 16 relatives, 18 teachers, 6 staff.
		var who []ent.User
		for i := 0; len(who) < 24; i++ {
			for _, sts := range l.students {
				if i < len(sts) && len(who) < 24 {
					who = append(who, sts[i])
				}
			}
		}
		for _, st := range who[:16] {
			who = append(who, l.relatives[st.ID])
		}
		who = append(who, l.teachers...)
		who = append(who, l.staff...)
		if len(who) != pagesClients {
			b.Fatalf("%d clients, want %d", len(who), pagesClients)
		}
		tr := &http.Transport{MaxIdleConns: pagesClients, MaxIdleConnsPerHost: pagesClients, IdleConnTimeout: time.Minute}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		type client struct {
			u      ent.User
			cookie string
			pages  []string
		}
		clients := make([]client, len(who))
		// One login at a time: the edge verifies a couple of passwords
		// at once and refuses more (ErrBusy).
		for i, u := range who {
			s, err := regiontest.Login(ctx, base, u.Login, pagesPassword)
			if err != nil {
				b.Fatal(err)
			}
			clients[i] = client{u: u, cookie: "atrium_session=" + s.Token(), pages: l.pages(u)}
		}

		get := func(c *client, path string, buf []byte) (int, []byte, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if err != nil {
				return 0, nil, err
			}
			req.Header.Set("Cookie", c.cookie)
			resp, err := hc.Do(req)
			if err != nil {
				return 0, nil, err
			}
			defer resp.Body.Close()
			w := bytes.NewBuffer(buf[:0])
			_, err = io.Copy(w, resp.Body)
			return resp.StatusCode, w.Bytes(), err
		}
		// Every page once, as its user would see it: 200, signed in,
		// with the offline banner.
		for i := range clients {
			c := &clients[i]
			for _, path := range c.pages {
				code, body, err := get(c, path, nil)
				if err != nil || code != http.StatusOK {
					b.Fatalf("GET %s as %s (%s) = %d, %v, want 200: %.300s", path, c.u.Login, c.u.Profile, code, err, body)
				}
				if !bytes.Contains(body, []byte("Se déconnecter")) || !bytes.Contains(body, []byte("Connexion au réseau régional interrompue")) {
					b.Fatalf("GET %s as %s: page without the logout button or the offline banner: %.2000s", path, c.u.Login, body)
				}
			}
		}

		// inflight requests at a time, each loop taking the users in turn:
		// with fewer loops than users, latency is the server's, not the
		// queue of a saturating load generator.
		inflight := min(max(*pagesInflight, 1), len(clients))
		lat := make([][]time.Duration, inflight)
		failures := make([]int, inflight)
		firstErr := make([]string, inflight)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		stopProfile := startCPUProfile(b, *pagesCPUProfile)
		cpu0 := cpuTime()
		start := time.Now()
		for i := range inflight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 0, 64<<10)
				lat[i] = make([]time.Duration, 0, 1<<15)
				for n := i; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					c := &clients[(i+n/len(clients[i].pages)*inflight)%len(clients)]
					path := c.pages[n%len(c.pages)]
					t0 := time.Now()
					code, body, err := get(c, path, buf)
					lat[i] = append(lat[i], time.Since(t0))
					buf = body
					if err != nil || code != http.StatusOK {
						if failures[i] == 0 {
							firstErr[i] = fmt.Sprintf("GET %s as %s = %d, %v", path, c.u.Login, code, err)
						}
						failures[i]++
					}
				}
			}()
		}
		select { // the measured run lasts a fixed time
		case <-time.After(pagesDuration):
		case <-ctx.Done():
		}
		close(stop)
		wg.Wait()
		elapsed := time.Since(start)
		cpu := cpuTime() - cpu0
		stopProfile()

		var all []time.Duration
		nerr := 0
		for i := range inflight {
			all = append(all, lat[i]...)
			nerr += failures[i]
			if failures[i] > 0 {
				b.Errorf("%d errors, first: %s", failures[i], firstErr[i])
			}
		}
		slices.Sort(all)
		pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "pages/s")
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		// The process's CPU time per page (server and load generator):
		// steadier than pages/s on a shared machine.
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/page")
		b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
		b.ReportMetric(float64(nerr), "errors")
		b.ReportMetric(float64(len(all)), "pages")
	}
}
