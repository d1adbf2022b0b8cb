package chaos

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"atrium/demo"
	"atrium/ent"
	"atrium/internal/poll"
)

// Config configures a chaos run.
type Config struct {
	Binary   string        // the atrium executable (required)
	Dir      string        // the region's data and logs (required; kept: the caller removes it)
	Seed     int64         // faults, writers and synthetic data
	Duration time.Duration // how long faults and writers run; zero means one minute
	// Converge bounds the wait for the region to converge once healed;
	// zero means three minutes.
	Converge time.Duration
	Out      io.Writer // progress; nil means io.Discard
}

// Writers per lycée and end: append-only writers (messages and forum
// posts, as the teacher and as the staff member) and one booking writer.
const appendWriters = 2

// Run brings a region up in cfg.Dir, writes and injects faults for
// cfg.Duration, heals it, waits for it to converge and checks it. The
// error is for a region that could not be brought up or read; what the
// checks found is in the report's Failures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Binary == "" || cfg.Dir == "" {
		return nil, errors.New("chaos: Config needs Binary and Dir")
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Minute
	}
	if cfg.Converge <= 0 {
		cfg.Converge = 3 * time.Minute
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	var outMu sync.Mutex
	logf := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	tok := make([]byte, 24)
	crand.Read(tok)
	token := hex.EncodeToString(tok)

	rep := &Report{Seed: cfg.Seed, Duration: cfg.Duration, Dir: cfg.Dir, Started: time.Now()}
	r := newRegion(cfg.Binary, cfg.Dir, token, logf)
	proxyCtx, proxyCancel := context.WithCancel(context.Background())
	r.proxyCancel = proxyCancel
	defer r.shutdown()
	api := newAPIClient(token)
	defer api.close()

	// The region, as the demo brings it up.
	logf("chaos: seed %d, starting three central nodes in %s", cfg.Seed, cfg.Dir)
	r.addCentrals(3)
	for _, c := range r.centrals {
		if err := r.start(c); err != nil {
			return nil, err
		}
	}
	if err := r.waitCluster(ctx, api, 90*time.Second); err != nil {
		return nil, fmt.Errorf("chaos: central cluster did not come up: %w", err)
	}
	accounts, err := demo.Seed(ctx, r.operator(r.centrals[0].url), filepath.Join(cfg.Dir, "aaf"), cfg.Seed, writerFunc(logf))
	if err != nil {
		return nil, fmt.Errorf("chaos: seed the region: %w", err)
	}
	lycees, err := setUp(ctx, api, r, accounts)
	if err != nil {
		return nil, err
	}
	for _, ly := range lycees {
		rep.UAIs = append(rep.UAIs, ly.uai)
		t, err := r.operator(r.centrals[0].url).AddEdge(ctx, ly.uai)
		if err != nil {
			return nil, fmt.Errorf("chaos: enrolment token for %s: %w", ly.uai, err)
		}
		if err := r.addEdge(proxyCtx, ly.uai, t.Token); err != nil {
			return nil, err
		}
		if err := r.start(r.edge(ly.uai)); err != nil {
			return nil, err
		}
	}
	for _, ly := range lycees {
		if err := edgeSessions(ctx, api, r, ly); err != nil {
			return nil, err
		}
	}
	rep.Setup = time.Since(rep.Started)
	logf("chaos: region up in %s; writing and injecting faults for %s", rep.Setup.Round(time.Second), cfg.Duration)

	// Writers and faults.
	led := newLedger()
	wctx, stopWriters := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stream := uint64(1)
	for _, ly := range lycees {
		for _, end := range []string{roleCentral, roleEdge} {
			pairs := [][2]*account{{ly.teacher, ly.staff}, {ly.staff, ly.teacher}}
			for i := range appendWriters {
				stream++
				w := &writer{led: led, api: api, r: r, ly: ly, end: end, me: pairs[i%2][0], peer: pairs[i%2][1],
					rng: rand.New(rand.NewPCG(uint64(cfg.Seed), stream)), cur: int(stream) % len(r.centrals)}
				wg.Add(1)
				go func() { defer wg.Done(); w.run(wctx) }()
			}
			// The booking writers: the teacher at central, the staff
			// member at the edge, contending for the same slots.
			me := ly.teacher
			if end == roleEdge {
				me = ly.staff
			}
			stream++
			w := &writer{led: led, api: api, r: r, ly: ly, end: end, me: me, bookings: true,
				rng: rand.New(rand.NewPCG(uint64(cfg.Seed), stream)), cur: int(stream) % len(r.centrals)}
			wg.Add(1)
			go func() { defer wg.Done(); w.run(wctx) }()
		}
	}
	in := newInjector(r, api, cfg.Seed, logf)
	fctx, stopFaults := context.WithCancel(ctx)
	faultsDone := make(chan struct{})
	go func() { defer close(faultsDone); in.run(fctx) }()

	select {
	case <-ctx.Done():
	case <-time.After(cfg.Duration):
	}
	stopWriters()
	wg.Wait()
	stopFaults()
	<-faultsDone
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Heal everything, restart what is down.
	r.healLinks()
	for _, p := range r.all() {
		if !p.isUp() {
			if err := r.start(p); err != nil {
				return nil, err
			}
		}
	}
	healed := time.Now()
	rep.Faults, rep.Timeline, rep.ReadyAfter = in.counts, in.timeline, in.readyAfter
	for _, e := range in.errs {
		rep.fail("restart failed: %s", e)
	}
	for _, c := range r.takeCrashes() {
		rep.fail("process crash during the run: %s", c)
	}
	logf("chaos: faults stopped (%d injected), region healed; waiting for convergence", len(in.timeline))

	conv, convErr := converge(ctx, api, r, lycees, cfg.Converge)
	rep.Converge = time.Since(healed)
	if convErr != nil {
		rep.fail("no convergence within %s of the heal: %v", cfg.Converge, convErr)
		rep.check("region converged (digests equal, outboxes empty)", false, convErr.Error())
	} else {
		logf("chaos: converged %s after the heal", rep.Converge.Round(100*time.Millisecond))
		rep.check("region converged (digests equal, outboxes empty)", true,
			fmt.Sprintf("%d partitions, %s after the heal", len(conv.digests), rep.Converge.Round(100*time.Millisecond)))
		rep.check("every partition's digest equal on every central node and verified by each edge", true,
			fmt.Sprintf("%d partitions at the central nodes; each edge's own", len(conv.digests)))
	}
	for _, c := range r.takeCrashes() {
		rep.fail("process crash after the heal: %s", c)
	}

	rep.Writes, rep.Reasons = tally(led), reasons(led)
	if err := checkContent(ctx, api, r, lycees, led, rep); err != nil {
		return rep, fmt.Errorf("chaos: read the replicas: %w", err)
	}
	checkMismatchLogs(r, rep)
	if convErr == nil {
		checkStoppedEdges(ctx, api, r, lycees, rep)
	}
	rep.Total = time.Since(rep.Started)
	return rep, nil
}

type writerFunc func(string, ...any)

func (f writerFunc) Write(b []byte) (int, error) {
	f("%s", string(b))
	return len(b), nil
}

// setUp logs the demo's teacher and staff member of each lycée in at
// central and, as the staff member, declares a room and opens a forum and
// a topic for the writers.
func setUp(ctx context.Context, api *apiClient, r *region, accounts []demo.Account) ([]*lycee, error) {
	by := map[string]*lycee{}
	for _, a := range accounts {
		if a.UAI == "" || a.UAI == "region" {
			continue
		}
		ly := by[a.UAI]
		if ly == nil {
			ly = &lycee{uai: a.UAI}
			by[a.UAI] = ly
		}
		switch a.Profile {
		case ent.Teacher:
			ly.teacher = &account{login: a.Login, password: a.Password}
		case ent.Personnel:
			ly.staff = &account{login: a.Login, password: a.Password}
		}
	}
	var lycees []*lycee
	for _, ly := range by {
		if ly.teacher == nil || ly.staff == nil {
			return nil, fmt.Errorf("chaos: lycée %s has no demo teacher or staff account", ly.uai)
		}
		lycees = append(lycees, ly)
	}
	sort.Slice(lycees, func(i, j int) bool { return lycees[i].uai < lycees[j].uai })
	base := r.centrals[0].url
	for _, ly := range lycees {
		for _, a := range []*account{ly.teacher, ly.staff} {
			t, err := api.login(ctx, base, a.login, a.password)
			if err != nil {
				return nil, fmt.Errorf("chaos: log %s in at central: %w", a.login, err)
			}
			a.central = t
		}
		var v struct {
			ID string `json:"id"`
		}
		if err := api.postJSON(ctx, base+"/api/v1/resources", ly.staff.central,
			map[string]string{"name": "Salle C01", "kind": "salle", "description": "Salle de l'essai de résistance"}, &v); err != nil {
			return nil, fmt.Errorf("chaos: declare a room in %s: %w", ly.uai, err)
		}
		ly.resource = v.ID
		if err := api.postJSON(ctx, base+"/api/v1/forums", ly.staff.central,
			map[string]string{"title": "Essai de résistance", "audience": "tous"}, &v); err != nil {
			return nil, fmt.Errorf("chaos: open a forum in %s: %w", ly.uai, err)
		}
		ly.forum = v.ID
		if err := api.postJSON(ctx, base+"/api/v1/forums/"+ly.forum+"/topics", ly.staff.central,
			map[string]string{"title": "Fil de l'essai", "body": "Les réponses de l'essai de résistance."}, &v); err != nil {
			return nil, fmt.Errorf("chaos: open a topic in %s: %w", ly.uai, err)
		}
		ly.topic = v.ID
	}
	return lycees, nil
}

// edgeSessions waits until ly's edge serves the forum topic set up at
// central, then logs its writers in there.
func edgeSessions(ctx context.Context, api *apiClient, r *region, ly *lycee) error {
	e := r.edge(ly.uai)
	err := poll.Until(ctx, 90*time.Second, func() error {
		if c := r.takeCrashes(); len(c) > 0 {
			return poll.Stop(fmt.Errorf("%v", c))
		}
		if err := api.ready(ctx, e.url); err != nil {
			return err
		}
		for _, a := range []*account{ly.teacher, ly.staff} {
			if a.edge != "" {
				continue
			}
			t, err := api.login(ctx, e.url, a.login, a.password)
			if err != nil {
				return err
			}
			a.edge = t
		}
		var topic any
		return api.getJSON(ctx, e.url+"/api/v1/forums/"+ly.forum+"/topics/"+ly.topic, ly.teacher.edge, &topic)
	})
	if err != nil {
		return fmt.Errorf("chaos: edge of %s did not come up with its data: %w", ly.uai, err)
	}
	return nil
}
