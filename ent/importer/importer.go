package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/directory"
	"atrium/record"

	"github.com/google/uuid"
)

// Target is the cluster an import reads and writes: central.Node.
type Target interface {
	View(fn func(record.Reader) error) error
	// SubmitBatch executes the commands in one raft entry and returns each
	// one's outcome (nil or a *record.Rejection). A run calls it from
	// several goroutines at once.
	SubmitBatch(ctx context.Context, cmds []record.Command) ([]error, error)
	// Partitions lists the partitions the cluster holds.
	Partitions() ([]string, error)
}

// File is one file of a set.
type File struct {
	Name string // base name: …_Complet_AAAAMMJJ_<Category>_NNNN.xml, or a CSV file
	Open func() (io.ReadCloser, error)
}

// Options configure a run.
type Options struct {
	DryRun bool
	// Now is the run's time (MissingSince, the grace period, the report);
	// zero means time.Now().
	Now time.Time
	// Grace is how long a person may be missing from the directory before
	// their account is deactivated; zero means DefaultGrace.
	Grace time.Duration
	// Code returns the activation code of a new account; nil leaves new
	// accounts without one (an administrator resets them).
	Code func(userID string) string
	// Batch is the number of commands per raft entry; zero means 250
	// (central keeps its recent raft entries in memory: smaller entries,
	// several in flight, cost the same commits and less memory).
	Batch int
	// Progress, when set, is called as the run advances.
	Progress func(Progress)
}

// DefaultGrace is the grace period before a person missing from the
// directory loses their account's use: a month covers an export that
// forgot someone, or a student between two lycées over the summer.
const DefaultGrace = 30 * 24 * time.Hour

// Progress is where a run stands.
type Progress struct {
	Stage    string `json:"stage"` // "read", "plan", "write"
	Academie string `json:"academie,omitempty"`
	File     string `json:"file,omitempty"`
	Done     int    `json:"done"`  // operations read (read), persons planned (write)
	Total    int    `json:"total"` // persons to plan (write); 0 if unknown
}

// Problem is a record refused by the import, or a warning.
type Problem struct {
	File   string `json:"file,omitempty"`
	Record string `json:"record"`
	Reason string `json:"reason"`
}

// String is "file: record: reason", without the file when the problem
// arose while writing (the cluster refused the record).
func (p Problem) String() string {
	if p.File == "" {
		return p.Record + ": " + p.Reason
	}
	return p.File + ": " + p.Record + ": " + p.Reason
}

// maxProblems bounds the problems a report lists (the counts stay exact).
const maxProblems = 1000

// Report is what a run did.
type Report struct {
	ID          string    `json:"id"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	DryRun      bool      `json:"dryRun,omitempty"`
	Files       []string  `json:"files"`
	Academies   []string  `json:"academies"`
	Persons     int       `json:"persons"` // persons in the views after the run
	UAIs        []string  `json:"uais"`    // the lycées of the views
	Lycees      int       `json:"lycees"`  // lycées created or changed
	Created     int       `json:"created"`
	Updated     int       `json:"updated"`
	Unchanged   int       `json:"unchanged"`
	Disappeared int       `json:"disappeared"` // missing from the directory, still within the grace period
	Deactivated int       `json:"deactivated"` // missing beyond the grace period: deactivated by this run
	Rejected    int       `json:"rejected"`
	Warnings    int       `json:"warnings"`
	// RejectedList and WarningList give the first problems (file, record,
	// reason).
	RejectedList []Problem `json:"rejectedList,omitempty"`
	WarningList  []Problem `json:"warningList,omitempty"`
}

func (r *Report) reject(p Problem) {
	r.Rejected++
	if len(r.RejectedList) < maxProblems {
		r.RejectedList = append(r.RejectedList, p)
	}
}

func (r *Report) warn(p Problem) {
	r.Warnings++
	if len(r.WarningList) < maxProblems {
		r.WarningList = append(r.WarningList, p)
	}
}

// String is the report as the CLI prints it: one summary line in which
// each word is followed by its count, then the problems.
func (r Report) String() string {
	var b strings.Builder
	mode := ""
	if r.DryRun {
		mode = " (dry run: nothing written)"
	}
	fmt.Fprintf(&b, "import %s%s: %d files, académies %s, %d persons in %s\n", r.ID, mode, len(r.Files),
		strings.Join(r.Academies, ", "), r.Persons, r.Finished.Sub(r.Started).Round(time.Millisecond))
	fmt.Fprintf(&b, "created %d, updated %d, unchanged %d, disappeared %d, deactivated %d, rejected %d, warnings %d\n",
		r.Created, r.Updated, r.Unchanged, r.Disappeared, r.Deactivated, r.Rejected, r.Warnings)
	for _, p := range r.RejectedList {
		fmt.Fprintf(&b, "rejected: %s\n", p)
	}
	if r.Rejected > len(r.RejectedList) {
		fmt.Fprintf(&b, "rejected: … and %d more\n", r.Rejected-len(r.RejectedList))
	}
	for _, p := range r.WarningList {
		fmt.Fprintf(&b, "warning: %s\n", p)
	}
	if r.Warnings > len(r.WarningList) {
		fmt.Fprintf(&b, "warning: … and %d more\n", r.Warnings-len(r.WarningList))
	}
	return b.String()
}

// set is the files of one académie's set, in application order.
type set struct {
	info  aaf.FileInfo
	files []File
}

// Run imports files into t. An error means the run stopped: a file that
// cannot be read (naming the file, the record and the reason) stops it
// before anything of its académie is written; a cluster failure stops it
// wherever it was (commands are idempotent: run it again).
func Run(ctx context.Context, t Target, files []File, opt Options) (Report, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.Grace <= 0 {
		opt.Grace = DefaultGrace
	}
	if opt.Batch <= 0 {
		opt.Batch = 250
	}
	if opt.Progress == nil {
		opt.Progress = func(Progress) {}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Report{}, err
	}
	rep := Report{ID: id.String(), Started: opt.Now, DryRun: opt.DryRun}
	if len(files) == 0 {
		return rep, ErrNoFiles
	}
	byAcad, err := groupFiles(files)
	if err != nil {
		return rep, err
	}
	for _, f := range files {
		rep.Files = append(rep.Files, f.Name)
	}
	sort.Strings(rep.Files)
	acads := make([]string, 0, len(byAcad))
	for a := range byAcad {
		acads = append(acads, a)
	}
	sort.Strings(acads)
	rep.Academies = acads
	run := &run{t: t, opt: opt, rep: &rep}
	for _, a := range acads {
		if err := run.academie(ctx, a, byAcad[a]); err != nil {
			return rep, err
		}
	}
	rep.Finished = time.Now()
	if rep.Finished.Before(rep.Started) {
		rep.Finished = rep.Started
	}
	if !opt.DryRun {
		if err := run.storeReport(ctx); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// groupFiles sorts the files into académies and sets.
func groupFiles(files []File) (map[string][]set, error) {
	out := map[string][]set{}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f.Name] {
			return nil, fmt.Errorf("%w: %s given twice", ErrFileName, f.Name)
		}
		seen[f.Name] = true
		info, err := aaf.ParseFileName(f.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFileName, f.Name, err)
		}
		acad, err := academieOf(f, info)
		if err != nil {
			return nil, err
		}
		sets := out[acad]
		i := slices.IndexFunc(sets, func(s set) bool {
			return s.info.Prefix == info.Prefix && s.info.Complet == info.Complet && s.info.Date.Equal(info.Date)
		})
		if i < 0 {
			sets = append(sets, set{info: info})
			i = len(sets) - 1
		}
		sets[i].files = append(sets[i].files, f)
		out[acad] = sets
	}
	order := map[string]int{}
	for i, c := range aaf.CategoryOrder() {
		order[c] = i
	}
	for a, sets := range out {
		// Sets by day; on one day, a Complet before a Delta.
		sort.SliceStable(sets, func(i, j int) bool {
			if !sets[i].info.Date.Equal(sets[j].info.Date) {
				return sets[i].info.Date.Before(sets[j].info.Date)
			}
			return sets[i].info.Complet && !sets[j].info.Complet
		})
		for _, s := range sets {
			sort.SliceStable(s.files, func(i, j int) bool {
				fi, _ := aaf.ParseFileName(s.files[i].Name)
				fj, _ := aaf.ParseFileName(s.files[j].Name)
				if order[fi.Category] != order[fj.Category] {
					return order[fi.Category] < order[fj.Category]
				}
				return fi.Part < fj.Part
			})
		}
		out[a] = sets
	}
	return out, nil
}

// academieOf reads the académie from the file's header comment
// (ACADEMIE=…), else from its name's prefix without a leading "ENT_".
func academieOf(f File, info aaf.FileInfo) (string, error) {
	var acad string
	if strings.EqualFold(pathExt(f.Name), ".xml") {
		rc, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("open %s: %w", f.Name, err)
		}
		r := aaf.NewReader(rc)
		r.SetFile(f.Name)
		acad = r.Header().Academie
		rc.Close()
	}
	if acad == "" {
		p := info.Prefix
		if i := strings.LastIndex(p, "/"); i >= 0 {
			p = p[i+1:]
		}
		acad = strings.TrimPrefix(strings.TrimPrefix(p, "ENT_"), "ENT-")
	}
	acad = strings.ToUpper(strings.TrimSpace(acad))
	if acad == "" || strings.ContainsAny(acad, ": \t\r\n$") {
		return "", fmt.Errorf("%w: %s: no académie in its header (ACADEMIE=…) nor in its name's prefix", ErrFileName, f.Name)
	}
	return acad, nil
}

func pathExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

// opReader is what a run reads a file with: aaf.Reader or aaf.CSVReader.
type opReader interface {
	SetFile(name string)
	Next() (aaf.Op, error)
}

func newOpReader(f File, r io.Reader) opReader {
	if strings.EqualFold(pathExt(f.Name), ".csv") {
		return aaf.NewCSVReader(r)
	}
	return aaf.NewReader(r)
}

type run struct {
	t   Target
	opt Options
	rep *Report
}

// stored is what central holds before the run.
type stored struct {
	users   map[string]ent.User    // this académie's imported users, by id
	lycees  map[string]storedLycee // by UAI
	buckets map[int]string         // the view's stored buckets: number -> hash
}

type storedLycee struct{ id, body string }

func (r *run) academie(ctx context.Context, acad string, sets []set) error {
	im, err := directory.NewImport(acad)
	if err != nil {
		return err
	}
	st, err := r.load(im)
	if err != nil {
		return err
	}
	if len(sets) > 0 && !sets[0].info.Complet {
		if err := r.seed(im, acad); err != nil {
			return err
		}
	}
	persons := 0
	for _, s := range sets {
		for _, f := range s.files {
			n, err := r.readFile(ctx, im, acad, f, persons)
			if err != nil {
				return err
			}
			persons += n
		}
	}
	for _, p := range im.Rejected() {
		r.rep.reject(Problem(p))
	}
	r.opt.Progress(Progress{Stage: "plan", Academie: acad, Done: persons})
	// One walk of the view gives the accounts and the warnings.
	users, warnings := im.UsersAndWarnings()
	for _, p := range warnings {
		r.rep.warn(Problem(p))
	}
	r.rep.Persons += im.Len()
	w := newWriter(ctx, r, acad)
	err = r.plan(acad, im, users, st, w)
	if cerr := w.close(); err == nil {
		err = cerr
	}
	return err
}

// readFile applies one file to the view and returns the operations read.
// Parsing (three quarters of reading) runs on a goroutine of its own, a
// few batches of operations ahead of the view.
func (r *run) readFile(ctx context.Context, im *directory.Import, acad string, f File, before int) (int, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", f.Name, err)
	}
	defer rc.Close()
	rd := newOpReader(f, rc)
	rd.SetFile(f.Name)
	im.SetFile(f.Name)
	batches := make(chan opBatch, parsedAhead)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { parse(rd, batches, done) })
	defer func() { close(done); wg.Wait() }() // before rc.Close
	n := 0
	for b := range batches {
		for _, op := range b.ops {
			if err := im.Apply(op); err != nil {
				return n, fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			n++
			if n%10000 == 0 {
				if err := ctx.Err(); err != nil {
					return n, err
				}
				r.opt.Progress(Progress{Stage: "read", Academie: acad, File: f.Name, Done: before + n})
			}
		}
		if errors.Is(b.err, io.EOF) {
			break
		}
		if b.err != nil {
			return n, fmt.Errorf("%w: %w", ErrMalformed, b.err)
		}
	}
	r.opt.Progress(Progress{Stage: "read", Academie: acad, File: f.Name, Done: before + n})
	return n, nil
}

// opBatch is a batch of operations parsed, and the error that ended the
// file (io.EOF at its end) after them.
type opBatch struct {
	ops []aaf.Op
	err error
}

// Parsing runs up to parsedAhead batches of opsPerBatch operations ahead.
const (
	parsedAhead = 4
	opsPerBatch = 256
)

// parse sends rd's operations to batches until the file ends or fails,
// or done is closed; it closes batches.
func parse(rd opReader, batches chan<- opBatch, done <-chan struct{}) {
	defer close(batches)
	ops := make([]aaf.Op, 0, opsPerBatch)
	for {
		op, err := rd.Next()
		if err == nil {
			if ops = append(ops, op); len(ops) < opsPerBatch {
				continue
			}
		}
		select {
		case batches <- opBatch{ops, err}:
		case <-done:
			return
		}
		if err != nil {
			return
		}
		ops = make([]aaf.Op, 0, opsPerBatch)
	}
}

// load reads what central holds: the académie's users, the lycées and the
// académie's directory entries; it reserves every login of the region in
// im.
func (r *run) load(im *directory.Import) (stored, error) {
	acad := im.Academie()
	st := stored{users: map[string]ent.User{}, lycees: map[string]storedLycee{}, buckets: map[int]string{}}
	parts, err := r.t.Partitions()
	if err != nil {
		return st, fmt.Errorf("list partitions: %w", err)
	}
	prefix := acad + ":"
	// A user record's key is its login: the logins are reserved from the
	// records without decoding them, a chunk at a time. Only a body that
	// may hold a join key of this académie (its prefix as is, or any
	// escape) is decoded.
	logins := make([]ent.User, 0, 1024)
	reserve := func() {
		im.Reserve(logins)
		logins = logins[:0]
	}
	raw := []byte(prefix)
	err = r.t.View(func(rd record.Reader) error {
		for _, p := range parts {
			switch {
			case p == ent.DirectoryPartition(acad):
				err := rd.Scan(p, ent.KindDirectoryEntry, func(rec record.Record) error {
					var b bucketHead
					if err := json.Unmarshal(rec.Body, &b); err != nil {
						return fmt.Errorf("decode directory bucket %s: %w", rec.ID, err)
					}
					st.buckets[b.Bucket] = b.Hash
					return nil
				})
				if err != nil {
					return err
				}
				continue
			case strings.Contains(p, ":"):
				continue // other central-only partitions
			}
			err := rd.Scan(p, ent.KindUser, func(rec record.Record) error {
				if logins = append(logins, ent.User{ID: rec.ID, Login: rec.Key}); len(logins) == cap(logins) {
					reserve()
				}
				if !bytes.Contains(rec.Body, raw) && bytes.IndexByte(rec.Body, '\\') < 0 {
					return nil
				}
				var u ent.User
				if err := json.Unmarshal(rec.Body, &u); err != nil {
					return fmt.Errorf("decode user %s: %w", rec.ID, err)
				}
				if strings.HasPrefix(u.JoinKey, prefix) {
					st.users[u.ID] = u
				}
				return nil
			})
			if err != nil {
				return err
			}
			err = rd.Scan(p, ent.KindLycee, func(rec record.Record) error {
				st.lycees[rec.Key] = storedLycee{id: rec.ID, body: string(rec.Body)}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("read stored directory: %w", err)
	}
	reserve()
	return st, nil
}

// plan compares the view with what central holds and hands the commands
// to send to w, counting the report as it goes.
func (r *run) plan(acad string, im *directory.Import, users []ent.User, st stored, w *writer) error {
	now := r.opt.Now.UnixMilli()
	send := func(p phase, op, partition string, args []byte) error {
		return w.add(p, record.Command{Origin: record.OriginCentral, Op: op, Partition: partition, Args: args, Time: now})
	}
	cmd := func(p phase, op, partition string, args any) error {
		b, err := json.Marshal(args)
		if err != nil {
			return err
		}
		return send(p, op, partition, b)
	}
	// user.import's arguments are encoded without reflection (the same
	// bytes), one per person of the region.
	userCmd := func(p phase, a ent.UserImportArgs) error {
		return send(p, ent.OpUserImport, a.User.Partition(), ent.MarshalUserImportArgs(a))
	}

	// Lycées first: accounts are written in their lycée's partition.
	// Entries gives the structures first: stop there (the people after
	// them cost seconds to go through in a region).
	var lycees []ent.Lycee
	err := im.Entries(func(e directory.Entry) error {
		if e.Category != aaf.EtabEducNat {
			return errStructuresDone
		}
		lycees = append(lycees, lyceeOf(ent.DirectoryEntry{Category: e.Category, ID: e.ID, Attrs: e.Attrs}))
		return nil
	})
	if err != nil && !errors.Is(err, errStructuresDone) {
		return err
	}
	for _, l := range lycees {
		if l.UAI == "" {
			continue
		}
		r.rep.UAIs = append(r.rep.UAIs, l.UAI)
		prev, ok := st.lycees[l.UAI]
		id := prev.id
		if !ok {
			id = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://atrium.region/lycee/"+l.UAI)).String()
		}
		if body, _ := json.Marshal(l); ok && string(body) == prev.body {
			continue
		}
		r.rep.Lycees++
		if err := cmd(phaseLycees, ent.OpLyceePut, l.UAI, ent.LyceeArgs{ID: id, Lycee: l}); err != nil {
			return err
		}
	}

	// Memory: a user is dropped from users once its command is encoded,
	// and from st.users once compared, which then holds the missing.
	//
	// Lycée by lycée, in id order, within each phase (relatives after the
	// students they name): central keeps a partition's accounts by id, so
	// the writes of a batch land in one partition, on neighbouring pages
	// of its B-trees, instead of all over the region's. Ids are unique:
	// the order is total. The positions are sorted, not the accounts
	// (hundreds of bytes each).
	order := make([]int32, len(users))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &users[i], &users[j]
		ra, rb := a.Profile == ent.Relative, b.Profile == ent.Relative
		if ra != rb {
			if rb {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.UAI, b.UAI); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	w.total = len(users)
	for i, k := range order {
		u := users[k]
		users[k] = ent.User{}
		w.planned = i + 1
		p := phaseUsers
		if u.Profile == ent.Relative {
			p = phaseRelatives
		}
		old, had := st.users[u.ID]
		delete(st.users, u.ID)
		args := ent.UserImportArgs{User: u}
		if !had {
			if r.opt.Code != nil {
				args.User.ActivationHash = ent.ActivationHash(r.opt.Code(u.ID))
			}
			r.rep.Created++
			if err := userCmd(p, args); err != nil {
				return err
			}
			continue
		}
		if old.Partition() != u.Partition() {
			args.From = old.Partition()
		}
		if args.From == "" && sameAccount(old, u) {
			r.rep.Unchanged++
			continue
		}
		r.rep.Updated++
		if err := userCmd(p, args); err != nil {
			return err
		}
	}
	users, order = nil, nil
	// Missing from the view: marked, then deactivated after the grace period.
	missing := make([]ent.User, 0, len(st.users))
	for _, u := range st.users {
		missing = append(missing, u)
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].ID < missing[j].ID })
	for _, u := range missing {
		nu := u
		nu.PasswordHash, nu.ActivationHash, nu.Active = "", "", false
		switch {
		case u.Departed:
			r.rep.Unchanged++
			continue
		case u.MissingSince == 0:
			nu.MissingSince = now
			r.rep.Disappeared++
		case r.opt.Now.Sub(time.UnixMilli(u.MissingSince)) >= r.opt.Grace:
			nu.Departed = true
			r.rep.Deactivated++
		default:
			r.rep.Disappeared++
			continue
		}
		if err := userCmd(phaseMissing, ent.UserImportArgs{User: nu}); err != nil {
			return err
		}
	}

	// The view, for later Delta sets: the buckets that changed.
	buckets, err := packView(acad, im)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		if st.buckets[b.Bucket] == b.Hash || (b.Count == 0 && st.buckets[b.Bucket] == "") {
			continue
		}
		if err := cmd(phaseView, ent.OpDirectoryPut, ent.DirectoryPartition(acad), b); err != nil {
			return err
		}
	}
	return nil
}

// errStructuresDone stops plan's walk of the view's entries after the
// structures.
var errStructuresDone = errors.New("structures done")

// lyceeOf reads a structure entry.
func lyceeOf(e ent.DirectoryEntry) ent.Lycee {
	get := func(name string) string {
		if v := e.Attrs[name]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	u := strings.ToUpper(get("ENTStructureUAI"))
	if u == "" {
		u = strings.ToUpper(e.ID)
	}
	name := get("ENTStructureNomCourant")
	city := get("l")
	if city != "" {
		name = strings.TrimSuffix(name, " - "+city)
	}
	if name == "" {
		name = u
	}
	if city == "" {
		city = "—"
	}
	return ent.Lycee{UAI: u, Name: titleCase(name), City: titleCase(city)}
}

// titleCase turns the export's upper-case names into "Lycee Thiers".
func titleCase(s string) string {
	words := strings.Fields(strings.ToLower(s))
	for i, w := range words {
		r := []rune(w)
		if len(r) > 0 {
			r[0] = []rune(strings.ToUpper(string(r[0])))[0]
		}
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// sameAccount reports whether writing u (directory fields) over old
// (stored account) would change nothing: what user.import would write
// equals what is stored.
func sameAccount(old, u ent.User) bool {
	if old.MissingSince != 0 || old.Departed {
		return false // back in the directory: clear the marks
	}
	nu := u
	nu.PasswordHash, nu.ActivationHash = old.PasswordHash, old.ActivationHash
	nu.Active = nu.PasswordHash != "" && nu.ActivationHash == "" && !nu.Departed
	a, _ := json.Marshal(old)
	b, _ := json.Marshal(nu)
	return string(a) == string(b)
}

// maxBatchBytes bounds the arguments of one batch: a raft entry of
// hundreds of megabytes would stall the cluster's heartbeats, and every
// central node keeps its recent entries in memory.
const maxBatchBytes = 1 << 20

// inFlight is how many batches a run keeps submitted at once: while
// central commits one, the next are on their way and the run plans on.
// Raft groups the entries that arrive together into one append and one
// state-machine transaction: 8 (was 4) took about a fifth off bbolt's
// commits in a region's import; 16 took no more off them and raised the
// peak heap by 30–40 MB (docs/benchmarks.md, "Directory import").
const inFlight = 8

// A phase is a group of commands that may be applied in any order; the
// writer waits for every batch of one phase before it sends the next
// phase's first. Lycées come before the accounts written in their
// partitions; a relative's user.import checks that their children are live
// students, so relatives come after the other accounts (and after a
// student's move); the missing are marked once the present are written;
// the view's buckets last.
type phase int

const (
	phaseLycees phase = iota
	phaseUsers
	phaseRelatives
	phaseMissing
	phaseView
)

// writer sends the planned commands in batches, one raft entry each: at
// most Options.Batch commands and about maxBatchBytes of arguments, up to
// inFlight batches at once within a phase. The outcomes of batches are
// counted in the order the batches were cut, so a report does not depend
// on which batch central answered first. A dry run sends nothing. add,
// wait and close are called from the planning goroutine only, which alone
// touches the report.
type writer struct {
	r       *run
	acad    string
	phase   phase
	pending []record.Command
	size    int
	cut     int // batches cut so far
	sent    int // commands cut so far
	planned int // persons planned (progress)
	total   int // persons to plan (progress)

	ctx    context.Context // cancelled at the first failure
	cancel context.CancelFunc
	slots  chan struct{} // one per batch in flight
	wg     sync.WaitGroup

	mu   sync.Mutex      // guards what follows
	err  error           // the first failure
	held map[int]outcome // answered batches not counted yet, by number
	next int             // the batch whose outcome count takes next
}

// outcome is a batch's answer, held until the batches cut before it are
// counted.
type outcome struct {
	batch []record.Command
	errs  []error
	done  int // persons planned when the batch was cut
}

func newWriter(ctx context.Context, r *run, acad string) *writer {
	w := &writer{r: r, acad: acad, slots: make(chan struct{}, inFlight), held: map[int]outcome{}}
	w.ctx, w.cancel = context.WithCancel(ctx)
	return w
}

// add queues c, a command of phase p; it returns the run's first failure,
// if any.
func (w *writer) add(p phase, c record.Command) error {
	if w.r.opt.DryRun {
		return nil
	}
	if p != w.phase {
		if err := w.wait(); err != nil {
			return err
		}
		w.phase = p
	}
	if len(w.pending) > 0 && (len(w.pending) >= w.r.opt.Batch || w.size+len(c.Args) > maxBatchBytes) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.pending = append(w.pending, c)
	w.size += len(c.Args)
	return nil
}

// flush sends the pending commands as one batch, once fewer than inFlight
// batches are outstanding.
func (w *writer) flush() error {
	w.count()
	if len(w.pending) == 0 {
		return w.failure()
	}
	select {
	case w.slots <- struct{}{}:
	case <-w.ctx.Done():
		if err := w.failure(); err != nil {
			return err
		}
		return w.ctx.Err()
	}
	if err := w.failure(); err != nil {
		<-w.slots
		return err
	}
	batch, n, first, done := w.pending, w.cut, w.sent, w.planned
	w.pending, w.size = nil, 0
	w.cut++
	w.sent += len(batch)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.slots }()
		errs, err := w.r.submit(w.ctx, batch)
		if err != nil {
			w.fail(fmt.Errorf("write %s (commands %d–%d): %w", w.acad, first+1, first+len(batch), err))
			return
		}
		w.mu.Lock()
		w.held[n] = outcome{batch: batch, errs: errs, done: done}
		w.mu.Unlock()
	}()
	return nil
}

// wait sends what is pending and waits for every batch in flight.
func (w *writer) wait() error {
	err := w.flush()
	w.wg.Wait()
	w.count()
	if err != nil {
		return err
	}
	return w.failure()
}

// close waits for the batches in flight and releases the writer.
func (w *writer) close() error {
	err := w.wait()
	w.cancel()
	return err
}

func (w *writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

// count takes into the report the outcomes of the batches answered so
// far, in the order the batches were cut. It runs on the planning
// goroutine, as the plan's own counting does.
func (w *writer) count() {
	var ready []outcome
	w.mu.Lock()
	for {
		o, ok := w.held[w.next]
		if !ok {
			break
		}
		delete(w.held, w.next)
		w.next++
		ready = append(ready, o)
	}
	w.mu.Unlock()
	for _, o := range ready {
		for k, e := range o.errs {
			if e == nil {
				continue
			}
			w.r.rep.reject(Problem{Record: describe(o.batch[k]), Reason: e.Error()})
			w.r.unCount(o.batch[k])
		}
		w.r.opt.Progress(Progress{Stage: "write", Academie: w.acad, Done: o.done, Total: w.total})
	}
}

// submit sends a batch, again after a failure of the cluster (a leader
// lost while committing, say): the commands are idempotent, so a batch
// applied twice changes nothing more.
func (r *run) submit(ctx context.Context, batch []record.Command) ([]error, error) {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		outcomes, err := r.t.SubmitBatch(ctx, batch)
		if err == nil || attempt == submitAttempts || ctx.Err() != nil {
			return outcomes, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// submitAttempts is how many times a batch is sent before the run stops.
const submitAttempts = 5

// unCount takes a refused user command out of the created/updated counts.
func (r *run) unCount(c record.Command) {
	if c.Op != ent.OpUserImport {
		return
	}
	var a ent.UserImportArgs
	if json.Unmarshal(c.Args, &a) != nil {
		return
	}
	switch {
	case a.User.Departed:
		r.rep.Deactivated--
	case a.User.MissingSince != 0:
		r.rep.Disappeared--
	default:
		// Created or updated: the plan does not keep which; count it out
		// of the created ones first.
		if r.rep.Created > 0 {
			r.rep.Created--
		} else if r.rep.Updated > 0 {
			r.rep.Updated--
		}
	}
}

// describe names a refused command's subject for the report.
func describe(c record.Command) string {
	switch c.Op {
	case ent.OpUserImport:
		var a ent.UserImportArgs
		if json.Unmarshal(c.Args, &a) == nil {
			return a.User.JoinKey + " (" + a.User.Login + ")"
		}
	case ent.OpLyceePut:
		return "lycée " + c.Partition
	}
	return c.Op
}

func (r *run) storeReport(ctx context.Context) error {
	body, err := json.Marshal(r.rep)
	if err != nil {
		return err
	}
	args, err := json.Marshal(ent.ImportReportArgs{ID: r.rep.ID, Report: body})
	if err != nil {
		return err
	}
	outcomes, err := r.t.SubmitBatch(ctx, []record.Command{{
		Origin: record.OriginCentral, Op: ent.OpImportReport, Partition: ent.CentralPartition, Args: args, Time: r.rep.Finished.UnixMilli(),
	}})
	if err == nil && outcomes[0] != nil {
		err = outcomes[0]
	}
	if err != nil {
		return fmt.Errorf("store import report: %w", err)
	}
	return nil
}

// Reports returns the stored reports, newest first, at most limit (zero:
// all).
func Reports(v interface {
	View(fn func(record.Reader) error) error
}, limit int) ([]Report, error) {
	var out []Report
	err := v.View(func(rd record.Reader) error {
		return rd.Scan(ent.CentralPartition, ent.KindImportReport, func(rec record.Record) error {
			var r Report
			if err := json.Unmarshal(rec.Body, &r); err != nil {
				return fmt.Errorf("decode import report %s: %w", rec.ID, err)
			}
			out = append(out, r)
			if limit > 0 && len(out) >= limit {
				return record.ErrStop
			}
			return nil
		})
	})
	return out, err
}
