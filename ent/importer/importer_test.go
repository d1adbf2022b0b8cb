package importer_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/directory"
	"atrium/ent/enttest"
	"atrium/ent/importer"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

// target runs an import against the in-memory store of ent's unit tests:
// a batch is its commands one after the other (central applies them in one
// raft entry, with the same outcomes).
type target struct{ *enttest.Store }

func (t target) SubmitBatch(ctx context.Context, cmds []record.Command) ([]error, error) {
	out := make([]error, len(cmds))
	for i, c := range cmds {
		err := t.Submit(ctx, c)
		if _, ok := record.AsRejection(err); err != nil && !ok {
			return nil, err
		}
		out[i] = err
	}
	return out, nil
}

func (t target) Partitions() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, r := range t.Records() {
		if !seen[r.Partition] {
			seen[r.Partition] = true
			out = append(out, r.Partition)
		}
	}
	sort.Strings(out)
	return out, nil
}

func newTarget() target { return target{enttest.New(ent.Exec)} }

var day0 = time.Date(2025, 9, 1, 20, 0, 0, 0, time.UTC)

func generate(t *testing.T, cfg aaf.GenConfig) (string, aaf.GenSummary) {
	t.Helper()
	dir := t.TempDir()
	sum, err := aaf.Generate(dir, cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return dir, sum
}

// files lists the files of dir whose names contain every one of parts.
func files(t *testing.T, dir string, parts ...string) []importer.File {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []importer.File
	for _, e := range ents {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(e.Name(), p)
		}
		if ok {
			path := filepath.Join(dir, e.Name())
			out = append(out, importer.File{Name: e.Name(), Open: func() (io.ReadCloser, error) { return os.Open(path) }})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no file in %s with %v", dir, parts)
	}
	return out
}

func run(t *testing.T, tg target, fs []importer.File, opt importer.Options) importer.Report {
	t.Helper()
	rep, err := importer.Run(t.Context(), tg, fs, opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// users returns the stored accounts by id.
func users(t *testing.T, tg target) map[string]ent.User {
	t.Helper()
	out := map[string]ent.User{}
	for _, r := range tg.Records() {
		if r.Kind != ent.KindUser || r.Deleted {
			continue
		}
		var u ent.User
		if err := json.Unmarshal(r.Body, &u); err != nil {
			t.Fatal(err)
		}
		out[u.ID] = u
	}
	return out
}

func TestCompletThenSameAgain(t *testing.T) {
	dir, sum := generate(t, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 30, Seed: 3})
	tg := newTarget()
	code := func(id string) string { return "CODE-" + id[:4] }
	rep := run(t, tg, files(t, dir, "_Complet_"), importer.Options{Now: day0, Code: code})
	persons := sum.Students + sum.Relatives + sum.Teachers + sum.Staff
	if rep.Created == 0 || rep.Created > persons || rep.Rejected != 0 || rep.Persons != persons {
		t.Fatalf("first import: created %d, rejected %d, persons %d; want 1..%d created, none rejected, %d persons\n%s",
			rep.Created, rep.Rejected, rep.Persons, persons, persons, rep)
	}
	if len(rep.UAIs) != 2 {
		t.Errorf("report UAIs = %v, want the 2 lycées", rep.UAIs)
	}
	us := users(t, tg)
	if len(us) != rep.Created {
		t.Fatalf("%d accounts stored, report says %d created", len(us), rep.Created)
	}
	var student, relative ent.User
	for _, u := range us {
		if u.Active || u.PasswordHash != "" {
			t.Fatalf("imported account %s active=%v with a password: want inactive, none", u.Login, u.Active)
		}
		if u.ActivationHash != ent.ActivationHash(code(u.ID)) {
			t.Fatalf("account %s: activation hash not that of its code", u.Login)
		}
		if u.Profile == ent.Student && student.ID == "" {
			student = u
		}
		if u.Profile == ent.Relative && len(u.Children) > 0 && relative.ID == "" {
			relative = u
		}
	}
	if len(student.Classes) == 0 || student.BirthDate == "" || !strings.HasPrefix(student.JoinKey, "AIX-MARSEILLE:") && !strings.HasPrefix(student.JoinKey, "NICE:") {
		t.Errorf("student %+v: want classes, a birth date and a join key namespaced by académie", student)
	}
	if relative.ID == "" {
		t.Errorf("no relative linked to a child")
	}

	again := run(t, tg, files(t, dir, "_Complet_"), importer.Options{Now: day0.Add(time.Hour), Code: code})
	if again.Created != 0 || again.Updated != 0 || again.Disappeared != 0 || again.Unchanged != rep.Created {
		t.Errorf("same set again: created %d, updated %d, disappeared %d, unchanged %d; want 0, 0, 0, %d",
			again.Created, again.Updated, again.Disappeared, again.Unchanged, rep.Created)
	}
	if n := len(tg.Commands()); n == 0 {
		t.Fatal("no command recorded")
	}
}

// TestDeltaSetsMatchOneImport imports the Complet, then each Delta day in
// a run of its own (central seeds the view from what it kept), and checks
// the accounts are those of the whole set applied in one view.
func TestDeltaSetsMatchOneImport(t *testing.T) {
	dir, sum := generate(t, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 40, DeltaDays: 2, Seed: 5})
	tg := newTarget()
	run(t, tg, files(t, dir, "_Complet_"), importer.Options{Now: day0})
	d1 := run(t, tg, files(t, dir, "_Delta_20250902_"), importer.Options{Now: day0.Add(24 * time.Hour)})
	d2 := run(t, tg, files(t, dir, "_Delta_20250903_"), importer.Options{Now: day0.Add(48 * time.Hour)})
	if d1.Created+d2.Created == 0 || d1.Updated+d2.Updated == 0 || d1.Disappeared+d2.Disappeared == 0 {
		t.Errorf("deltas: created %d+%d, updated %d+%d, disappeared %d+%d; the generator made %d arrivals, %d class changes, %d departures",
			d1.Created, d2.Created, d1.Updated, d2.Updated, d1.Disappeared, d2.Disappeared, sum.Arrivals, sum.Changes, sum.Departures)
	}

	// The same set in one view, with the directory package alone.
	want := map[string]ent.User{}
	for _, acad := range []string{"AIX-MARSEILLE", "NICE"} {
		im, err := directory.NewImport(acad)
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range []string{"_Complet_20250901_", "_Delta_20250902_", "_Delta_20250903_"} {
			for _, cat := range aaf.CategoryOrder() {
				for _, f := range files(t, dir, "ENT_"+acad+set+cat+"_") {
					apply(t, im, f)
				}
			}
		}
		for _, u := range im.Users() {
			want[u.ID] = u
		}
	}
	got := users(t, tg)
	present := 0
	for id, g := range got {
		w, ok := want[id]
		if !ok {
			if g.MissingSince == 0 {
				t.Errorf("account %s (%s) stored and not marked missing, but absent from the directory", g.Login, g.JoinKey)
			}
			continue
		}
		present++
		if g.Name != w.Name || g.UAI != w.UAI || g.Profile != w.Profile || strings.Join(g.Classes, ",") != strings.Join(w.Classes, ",") ||
			strings.Join(sorted(g.Children), ",") != strings.Join(sorted(w.Children), ",") || g.MissingSince != 0 {
			t.Errorf("account %s = %s %s %s %v children %v missing %d; want %s %s %s %v children %v",
				id, g.Name, g.UAI, g.Profile, g.Classes, g.Children, g.MissingSince, w.Name, w.UAI, w.Profile, w.Classes, w.Children)
		}
	}
	if present != len(want) {
		t.Errorf("%d of the directory's %d persons have an account", present, len(want))
	}
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func apply(t *testing.T, im *directory.Import, f importer.File) {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r := aaf.NewReader(rc)
	r.SetFile(f.Name)
	im.SetFile(f.Name)
	for {
		op, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := im.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGracePeriod: a person missing from a Complet set is marked, keeps
// their account through the grace period, loses its use after it, and
// gets it back when the directory lists them again.
func TestGracePeriod(t *testing.T) {
	dir, _ := generate(t, aaf.GenConfig{Lycees: 1, StudentsPerLycee: 20, Seed: 9})
	tg := newTarget()
	all := files(t, dir, "_Complet_")
	run(t, tg, all, importer.Options{Now: day0})

	// Give a student a password, as activation would.
	var lea ent.User
	for _, u := range users(t, tg) {
		if u.Profile == ent.Student && (lea.ID == "" || u.ID < lea.ID) {
			lea = u
		}
	}
	hash, err := ent.HashPassword("secret-password")
	if err != nil {
		t.Fatal(err)
	}
	lea.PasswordHash, lea.ActivationHash, lea.Active = hash, "", true
	args, _ := json.Marshal(lea)
	if err := tg.Submit(t.Context(), record.Command{Origin: record.OriginCentral, Op: ent.OpUserPut, Partition: lea.UAI, Args: args, Time: 1}); err != nil {
		t.Fatal(err)
	}

	// The next Complet lacks her.
	without := t.TempDir()
	for _, f := range all {
		copyWithout(t, f, filepath.Join(without, f.Name), lea.JoinKey[strings.IndexByte(lea.JoinKey, ':')+1:])
	}
	grace := 30 * 24 * time.Hour
	steps := []struct {
		at                     time.Time
		set                    string
		active, departed       bool
		missing                bool
		disappeared, deactived int
	}{
		{day0.Add(24 * time.Hour), without, true, false, true, 1, 0},
		{day0.Add(10 * 24 * time.Hour), without, true, false, true, 1, 0},
		{day0.Add(24*time.Hour + grace), without, false, true, true, 0, 1},
		{day0.Add(40 * 24 * time.Hour), dir, true, false, false, 0, 0},
	}
	// A relative whose only child she is leaves the directory with her.
	gone := 0
	for i, s := range steps {
		rep := run(t, tg, files(t, s.set, "_Complet_"), importer.Options{Now: s.at, Grace: grace})
		if i == 0 {
			gone = rep.Disappeared
		}
		u := users(t, tg)[lea.ID]
		if u.Active != s.active || u.Departed != s.departed || (u.MissingSince != 0) != s.missing ||
			rep.Disappeared != s.disappeared*gone || rep.Deactivated != s.deactived*gone || u.PasswordHash != hash {
			t.Errorf("at %s: active %v, departed %v, missing since %d, report disappeared %d deactivated %d, password kept %v; want %v, %v, missing %v, %d, %d, kept",
				s.at.Format(time.DateOnly), u.Active, u.Departed, u.MissingSince, rep.Disappeared, rep.Deactivated, u.PasswordHash == hash,
				s.active, s.departed, s.missing, s.disappeared, s.deactived)
		}
	}
}

// copyWithout copies an AAF file, leaving out the operation of AAF id.
func copyWithout(t *testing.T, f importer.File, to, id string) {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if i := strings.Index(s, "<id>"+id+"</id>"); i >= 0 {
		start := strings.LastIndex(s[:i], "<addRequest>")
		end := strings.Index(s[i:], "</addRequest>") + i + len("</addRequest>")
		s = s[:start] + s[end:]
	}
	if err := os.WriteFile(to, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMalformedFileAppliesNothing: a truncated file fails the run with an
// error naming it, and nothing of the set is written.
func TestMalformedFileAppliesNothing(t *testing.T) {
	dir, _ := generate(t, aaf.GenConfig{Lycees: 1, StudentsPerLycee: 20, Seed: 4})
	all := files(t, dir, "_Complet_")
	for i, f := range all {
		if strings.Contains(f.Name, "_PersRelEleve_") {
			b, err := os.ReadFile(filepath.Join(dir, f.Name))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), f.Name)
			if err := os.WriteFile(path, b[:len(b)*2/3], 0o600); err != nil {
				t.Fatal(err)
			}
			all[i].Open = func() (io.ReadCloser, error) { return os.Open(path) }
		}
	}
	tg := newTarget()
	_, err := importer.Run(t.Context(), tg, all, importer.Options{Now: day0})
	if !errors.Is(err, importer.ErrMalformed) || !strings.Contains(err.Error(), "_PersRelEleve_") {
		t.Fatalf("Run over a truncated file = %v, want ErrMalformed naming the file", err)
	}
	if n := len(tg.Records()); n != 0 {
		t.Errorf("%d records written by a failed run, want none", n)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	dir, _ := generate(t, aaf.GenConfig{Lycees: 1, StudentsPerLycee: 20, Seed: 4})
	tg := newTarget()
	rep := run(t, tg, files(t, dir, "_Complet_"), importer.Options{Now: day0, DryRun: true})
	if rep.Created == 0 || !rep.DryRun {
		t.Errorf("dry run report: created %d, dry run %v; want the accounts it would create", rep.Created, rep.DryRun)
	}
	if n := len(tg.Records()); n != 0 {
		t.Errorf("dry run wrote %d records, want none", n)
	}
	if !strings.Contains(rep.String(), "created ") || !strings.Contains(rep.String(), "dry run") {
		t.Errorf("report text %q lacks the counts or the dry-run mark", rep.String())
	}
}

func TestBadFileNames(t *testing.T) {
	tg := newTarget()
	for _, fs := range [][]importer.File{
		nil,
		{{Name: "notes.txt", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("")), nil }}},
	} {
		if _, err := importer.Run(t.Context(), tg, fs, importer.Options{}); err == nil {
			t.Errorf("Run(%v) = nil error, want one", fs)
		}
	}
}

// TestIdentifiersReusedAcrossProfiles: the next set gives an identifier
// to someone else (a student's id now names a relative of another
// lycée). The people the directory no longer lists are marked missing
// with the children who are still students of their lycée; nothing is
// refused.
func TestIdentifiersReusedAcrossProfiles(t *testing.T) {
	a, _ := generate(t, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 60, DeltaDays: 1, Seed: 1})
	b, _ := generate(t, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 60, DeltaDays: 1, Seed: 0})
	tg := newTarget()
	run(t, tg, files(t, a, "ENT_"), importer.Options{Now: day0})
	rep := run(t, tg, files(t, b, "ENT_"), importer.Options{Now: day0.Add(time.Hour)})
	if rep.Rejected != 0 || rep.Disappeared == 0 {
		t.Errorf("second region over the first: %s; want people marked missing and nothing rejected", rep)
	}
}

// TestAgriculturalCSV: the agricultural lycées' CSV file goes through the
// same import, under its own namespace.
func TestAgriculturalCSV(t *testing.T) {
	const name = "ENT_AGRICULTURE_Complet_20250901_Agricole_0001.csv"
	path := filepath.Join("..", "aaf", "testdata", name)
	f := importer.File{Name: name, Open: func() (io.ReadCloser, error) { return os.Open(path) }}
	tg := newTarget()
	rep := run(t, tg, []importer.File{f}, importer.Options{Now: day0})
	if rep.Created == 0 || rep.Rejected != 0 || len(rep.Academies) != 1 || rep.Academies[0] != "AGRICULTURE" {
		t.Fatalf("CSV import: %s; want accounts created under AGRICULTURE, none rejected", rep)
	}
	for _, u := range users(t, tg) {
		if !strings.HasPrefix(u.JoinKey, "AGRICULTURE:") {
			t.Errorf("account %s has join key %q, want it namespaced AGRICULTURE:", u.Login, u.JoinKey)
		}
	}
	again := run(t, tg, []importer.File{f}, importer.Options{Now: day0.Add(time.Hour)})
	if again.Created != 0 || again.Updated != 0 {
		t.Errorf("same CSV again: %s; want nothing changed", again)
	}
}

// phased is a target that checks the writer's pipelining: batches of one
// phase only are in flight together, and it counts how many at most.
type phased struct {
	target
	mu       sync.Mutex
	inFlight map[string]int // phase -> batches in flight
	most     int
	mixed    []string
	arrived  chan struct{} // closed and replaced at each call
}

func phaseOf(c record.Command) string {
	if c.Op != ent.OpUserImport {
		return c.Op
	}
	var a ent.UserImportArgs
	json.Unmarshal(c.Args, &a)
	switch {
	case a.User.MissingSince != 0 || a.User.Departed:
		return "missing"
	case a.User.Profile == ent.Relative:
		return "relatives"
	}
	return "users"
}

func (p *phased) SubmitBatch(ctx context.Context, cmds []record.Command) ([]error, error) {
	ph := phaseOf(cmds[0])
	p.mu.Lock()
	for other, n := range p.inFlight {
		if n > 0 && other != ph {
			p.mixed = append(p.mixed, other+" with "+ph)
		}
	}
	for _, c := range cmds[1:] {
		if q := phaseOf(c); q != ph {
			p.mixed = append(p.mixed, q+" in a batch of "+ph)
		}
	}
	p.inFlight[ph]++
	total := 0
	for _, n := range p.inFlight {
		total += n
	}
	p.most = max(p.most, total)
	close(p.arrived)
	p.arrived = make(chan struct{})
	next := p.arrived
	p.mu.Unlock()
	// Give the next batch a moment to arrive while this one is in flight;
	// the checks above do not depend on it.
	select {
	case <-next:
	case <-time.After(20 * time.Millisecond):
	}
	out, err := p.target.SubmitBatch(ctx, cmds)
	p.mu.Lock()
	p.inFlight[ph]--
	p.mu.Unlock()
	return out, err
}

// TestPipelinedWrites: small batches sent several at a time give the
// accounts and the report one batch at a time gives, and phases do not
// overlap (relatives after the students they name).
func TestPipelinedWrites(t *testing.T) {
	a, _ := generate(t, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 40, DeltaDays: 1, Seed: 1})
	b, _ := generate(t, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 40, DeltaDays: 1, Seed: 0})
	one := newTarget()
	many := &phased{target: newTarget(), inFlight: map[string]int{}, arrived: make(chan struct{})}
	var reps [2][]importer.Report
	for i, tg := range []importer.Target{one, many} {
		batch := 100000
		if i == 1 {
			batch = 7
		}
		for k, dir := range []string{a, b} {
			rep, err := importer.Run(t.Context(), tg, files(t, dir, "ENT_"), importer.Options{Now: day0.Add(time.Duration(k) * time.Hour), Batch: batch})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			rep.ID, rep.Started, rep.Finished = "", time.Time{}, time.Time{}
			reps[i] = append(reps[i], rep)
		}
	}
	if diff := cmp.Diff(reps[0], reps[1]); diff != "" {
		t.Errorf("reports (-one batch at a time +pipelined):\n%s", diff)
	}
	if diff := cmp.Diff(users(t, one), users(t, many.target)); diff != "" {
		t.Errorf("accounts (-one batch at a time +pipelined):\n%s", diff)
	}
	if len(many.mixed) > 0 {
		t.Errorf("phases overlapped: %v", many.mixed[:min(5, len(many.mixed))])
	}
	if many.most < 2 {
		t.Errorf("at most %d batch in flight, want several", many.most)
	}
}

// failing fails every batch after the first n.
type failing struct {
	target
	mu sync.Mutex
	n  int
}

var errCluster = errors.New("cluster unavailable")

func (f *failing) SubmitBatch(ctx context.Context, cmds []record.Command) ([]error, error) {
	f.mu.Lock()
	f.n--
	fail := f.n < 0
	f.mu.Unlock()
	if fail {
		return nil, errCluster
	}
	return f.target.SubmitBatch(ctx, cmds)
}

// TestClusterFailureStopsTheRun: a batch the cluster keeps failing stops
// the run with the cluster's error and the commands it covered.
func TestClusterFailureStopsTheRun(t *testing.T) {
	dir, _ := generate(t, aaf.GenConfig{Lycees: 1, StudentsPerLycee: 30, Seed: 2})
	tg := &failing{target: newTarget(), n: 3}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := importer.Run(ctx, tg, files(t, dir, "_Complet_"), importer.Options{Now: day0, Batch: 5})
	if !errors.Is(err, errCluster) || !strings.Contains(err.Error(), "commands ") {
		t.Fatalf("Run against a failing cluster = %v, want the cluster's error naming the commands", err)
	}
}

// TestCancelledReadStopsItsParser cancels a run while it reads a file of
// more than 10,000 operations: the run ends with the context's error, and
// the goroutine that parses the file stops reading it before it is closed.
func TestCancelledReadStopsItsParser(t *testing.T) {
	dir, _ := generate(t, aaf.GenConfig{Lycees: 1, StudentsPerLycee: 12000, Seed: 9})
	all := files(t, dir, "_Complet_")
	var closedThenRead atomic.Bool
	for i, f := range all {
		open := f.Open
		all[i].Open = func() (io.ReadCloser, error) {
			rc, err := open()
			if err != nil {
				return nil, err
			}
			return &watchedFile{rc: rc, readAfterClose: &closedThenRead}, nil
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	before := runtime.NumGoroutine()
	_, err := importer.Run(ctx, newTarget(), all, importer.Options{Now: day0, Progress: func(p importer.Progress) {
		if p.Stage == "read" && p.Done >= 10000 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run cancelled while reading = %v, want context.Canceled", err)
	}
	if closedThenRead.Load() {
		t.Error("a file was read after it was closed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the run, %d before", n, before)
	}
}

// watchedFile records a Read after Close.
type watchedFile struct {
	rc             io.ReadCloser
	closed         atomic.Bool
	readAfterClose *atomic.Bool
}

func (w *watchedFile) Read(p []byte) (int, error) {
	if w.closed.Load() {
		w.readAfterClose.Store(true)
	}
	return w.rc.Read(p)
}

func (w *watchedFile) Close() error {
	w.closed.Store(true)
	return w.rc.Close()
}
