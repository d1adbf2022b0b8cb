package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"atrium/central/admin"
	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/synth"
	"atrium/internal/faultproxy"
	"atrium/internal/poll"
	"atrium/internal/ports"
)

// Config configures a demo region.
type Config struct {
	Dir    string    // state directory; created when missing
	Binary string    // the atrium executable; "" means this process's own
	Out    io.Writer // progress and the final summary; nil means os.Stdout
	Seed   int64     // synthetic data seed
}

// File is the content of demo.json, read by scripts and later tools.
type File struct {
	OperatorToken string    `json:"operator_token"`
	Control       string    `json:"control"` // URL of the running demo's WAN control
	Nodes         []Node    `json:"nodes"`
	Accounts      []Account `json:"accounts"`
}

// Node is one process of the demo region.
type Node struct {
	Name string `json:"name"`
	Role string `json:"role"` // "central" or "edge"
	UAI  string `json:"uai,omitempty"`
	PID  int    `json:"pid"`
	URL  string `json:"url"`
}

// Account is a demo login.
type Account struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	Profile  string `json:"profile"`
	UAI      string `json:"uai"`
}

// state is what a demo keeps between runs on the same directory: the
// addresses raft and serf remember, the token, and whether data was loaded.
type state struct {
	OperatorToken string            `json:"operator_token"`
	Centrals      []centralAddrs    `json:"centrals"`
	Edges         map[string]string `json:"edges"` // UAI -> HTTP address
	Accounts      []Account         `json:"accounts"`
	Seeded        bool              `json:"seeded"`
}

type centralAddrs struct {
	Name, HTTP, Raft, Serf, QUIC string
}

type proc struct {
	node Node
	cmd  *exec.Cmd
	done chan struct{}
}

// Run brings the region up, prints its URLs and accounts, serves the WAN
// control until ctx is cancelled, then stops every process it started.
func Run(ctx context.Context, cfg Config) (err error) {
	out := cfg.Out
	if out == nil {
		out = os.Stdout
	}
	if cfg.Binary == "" {
		if cfg.Binary, err = os.Executable(); err != nil {
			return fmt.Errorf("find the atrium binary: %w", err)
		}
	}
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "atrium-demo-"); err != nil {
			return err
		}
	}
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return err
	}
	release, err := lockDir(cfg.Dir)
	if err != nil {
		return err
	}
	defer release()
	// demo.json describes a running region: a stale one, from a demo that
	// stopped, must not be read as this one's until this one is up.
	if err := os.Remove(filepath.Join(cfg.Dir, "demo.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(out, "Atrium demo: state in %s\n", cfg.Dir)

	st, err := loadState(cfg.Dir)
	if err != nil {
		return err
	}
	d := &region{cfg: cfg, out: out, st: st, proxies: map[string][]*faultproxy.Proxy{}}
	defer d.stop()

	if err := d.startCentrals(ctx); err != nil {
		return err
	}
	client := &admin.Client{Server: d.procs[0].node.URL, Token: st.OperatorToken}
	if err := d.waitCluster(ctx, client); err != nil {
		return err
	}
	if !st.Seeded {
		if err := d.seed(ctx, client); err != nil {
			return err
		}
	}
	if err := d.startEdges(ctx, client); err != nil {
		return err
	}
	ctrl, err := d.serveControl(ctx)
	if err != nil {
		return err
	}
	if err := d.writeFile(ctrl); err != nil {
		return err
	}
	d.printSummary()

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nStopping the demo region…")
		return nil
	case p := <-d.exited:
		return fmt.Errorf("%s exited unexpectedly: see %s", p.node.Name, filepath.Join(cfg.Dir, "logs", p.node.Name+".log"))
	}
}

type region struct {
	cfg     Config
	out     io.Writer
	st      *state
	mu      sync.Mutex
	procs   []*proc
	proxies map[string][]*faultproxy.Proxy // UAI -> one proxy per central node
	exited  chan *proc
	cancel  []func()
	wg      sync.WaitGroup
}

func loadState(dir string) (*state, error) {
	st := &state{Edges: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		tok := make([]byte, 24)
		rand.Read(tok)
		st.OperatorToken = hex.EncodeToString(tok)
		for i := 1; i <= 3; i++ {
			st.Centrals = append(st.Centrals, centralAddrs{
				Name: fmt.Sprintf("central-%d", i),
				HTTP: freeAddr(), Raft: freeAddr(), Serf: freeAddr(), QUIC: freeAddr(),
			})
		}
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("read demo state: %w", err)
	}
	if st.Edges == nil {
		st.Edges = map[string]string{}
	}
	return st, nil
}

func (d *region) saveState() error {
	b, _ := json.MarshalIndent(d.st, "", "  ")
	return writeAtomic(filepath.Join(d.cfg.Dir, "state.json"), b)
}

func (d *region) start(n Node, args ...string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(d.cfg.Dir, "logs", n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(d.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "ATRIUM_OPERATOR_TOKEN="+d.st.OperatorToken)
	// Own process group: Ctrl-C reaches the demo only, which then stops
	// edges before central; Pdeathsig stops the children if the demo dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", n.Name, err)
	}
	n.PID = cmd.Process.Pid
	p := &proc{node: n, cmd: cmd, done: make(chan struct{})}
	d.mu.Lock()
	if d.exited == nil {
		d.exited = make(chan *proc, 16)
	}
	d.procs = append(d.procs, p)
	d.mu.Unlock()
	go func() {
		cmd.Wait()
		logf.Close()
		close(p.done)
		select {
		case d.exited <- p:
		default:
		}
	}()
	return p, nil
}

func (d *region) startCentrals(ctx context.Context) error {
	first := d.st.Centrals[0]
	for i, c := range d.st.Centrals {
		args := []string{"central", "--name", c.Name, "--data", filepath.Join(d.cfg.Dir, c.Name),
			"--http", c.HTTP, "--raft", c.Raft, "--serf", c.Serf, "--quic", c.QUIC}
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", first.Serf)
		}
		if _, err := d.start(Node{Name: c.Name, Role: "central", URL: "http://" + c.HTTP}, args...); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "  started %s at http://%s\n", c.Name, c.HTTP)
	}
	return d.saveState()
}

// waitCluster waits until every central node is ready and a voter.
func (d *region) waitCluster(ctx context.Context, client *admin.Client) error {
	fmt.Fprint(d.out, "  waiting for the central cluster (leader election, three voters)…")
	err := poll.Until(ctx, 60*time.Second, func() error {
		if err := d.checkExits(); err != nil {
			return poll.Stop(err)
		}
		for _, c := range d.st.Centrals {
			if err := getOK(ctx, "http://"+c.HTTP+"/readyz"); err != nil {
				return err
			}
		}
		nodes, err := client.Nodes(ctx)
		if err != nil {
			return err
		}
		voters := 0
		for _, n := range nodes {
			if n.Voter && n.Status == "alive" {
				voters++
			}
		}
		if voters < len(d.st.Centrals) {
			return fmt.Errorf("%d of %d voters", voters, len(d.st.Centrals))
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(d.out)
		return fmt.Errorf("central cluster did not come up: %w", err)
	}
	fmt.Fprintln(d.out, " ok")
	return nil
}

// seed loads the region (Seed, with the AAF set in DIR/aaf) and remembers
// its demo accounts.
func (d *region) seed(ctx context.Context, client *admin.Client) error {
	accounts, err := Seed(ctx, client, filepath.Join(d.cfg.Dir, "aaf"), d.cfg.Seed, d.out)
	if err != nil {
		return err
	}
	d.st.Accounts = accounts
	d.st.Seeded = true
	return d.saveState()
}

// Seed loads a region the way production does: the académies' AAF export
// set (generated from seed into aafDir, emptied first) goes through the
// directory import at client's central node; then a few of the imported
// accounts receive known passwords, and news and messages are written
// between them. It returns those accounts (one per profile in each lycée,
// the staff ones administer their lycée) and prints its progress to out.
// The chaos suite (internal/chaos) seeds its region with it too.
func Seed(ctx context.Context, client *admin.Client, aafDir string, seed int64, out io.Writer) ([]Account, error) {
	fmt.Fprint(out, "  generating the académies' AAF export set…")
	if err := os.RemoveAll(aafDir); err != nil {
		return nil, err
	}
	sum, err := aaf.Generate(aafDir, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 60, DeltaDays: 1, Seed: uint64(seed)})
	if err != nil {
		fmt.Fprintln(out)
		return nil, fmt.Errorf("generate AAF files: %w", err)
	}
	fmt.Fprintf(out, " %d files\n", len(sum.Files))
	fmt.Fprint(out, "  importing it (atrium ctl aaf import)…")
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, filepath.Join(aafDir, f))
	}
	rep, err := client.ImportFiles(ctx, paths, false, nil)
	if err != nil {
		fmt.Fprintln(out)
		return nil, fmt.Errorf("import the AAF set: %w", err)
	}
	fmt.Fprintf(out, " created %d, rejected %d\n", rep.Created, rep.Rejected)
	var users []ent.User
	for _, u := range rep.UAIs {
		us, err := client.Users(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("list the accounts of %s: %w", u, err)
		}
		users = append(users, us...)
	}
	fmt.Fprint(out, "  activating the demo accounts, writing news and messages…")
	cmds, accounts, err := synth.Demo(seed, users)
	if err != nil {
		fmt.Fprintln(out)
		return nil, err
	}
	res, err := client.Commands(ctx, cmds)
	if err != nil {
		fmt.Fprintln(out)
		return nil, fmt.Errorf("load the demo accounts: %w", err)
	}
	if len(res.Rejected) > 0 {
		fmt.Fprintln(out)
		return nil, fmt.Errorf("load the demo accounts: %d commands refused, first: %s", len(res.Rejected), res.Rejected[0].Error)
	}
	fmt.Fprintf(out, " %d commands\n", res.Applied)
	var demo []Account
	for _, a := range accounts {
		demo = append(demo, Account{Login: a.Login, Password: a.Password, Profile: a.Profile, UAI: a.UAI})
	}
	return demo, nil
}

func (d *region) lycees() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range d.st.Accounts {
		if a.UAI != "" && a.UAI != "region" && !seen[a.UAI] {
			seen[a.UAI] = true
			out = append(out, a.UAI)
		}
	}
	sort.Strings(out)
	return out
}

func (d *region) startEdges(ctx context.Context, client *admin.Client) error {
	for _, uai := range d.lycees() {
		name := "edge-" + uai
		dataDir := filepath.Join(d.cfg.Dir, name)
		var servers []string
		for _, c := range d.st.Centrals {
			p, err := faultproxy.New("127.0.0.1:0", c.QUIC)
			if err != nil {
				return fmt.Errorf("WAN proxy for %s: %w", uai, err)
			}
			pctx, cancel := context.WithCancel(context.Background())
			d.cancel = append(d.cancel, cancel)
			d.wg.Add(1)
			go func() { defer d.wg.Done(); p.Serve(pctx) }()
			d.proxies[uai] = append(d.proxies[uai], p)
			servers = append(servers, p.Addr())
		}
		httpAddr := d.st.Edges[uai]
		if httpAddr == "" {
			httpAddr = freeAddr()
			d.st.Edges[uai] = httpAddr
		}
		args := []string{"edge", "--name", name, "--data", dataDir, "--http", httpAddr, "--servers", strings.Join(servers, ",")}
		if _, err := os.Stat(filepath.Join(dataDir, "identity")); err != nil {
			t, err := client.AddEdge(ctx, uai)
			if err != nil {
				return fmt.Errorf("enrolment token for %s: %w", uai, err)
			}
			args = append(args, "--enroll", t.Token, "--central", client.Server)
		}
		if _, err := d.start(Node{Name: name, Role: "edge", UAI: uai, URL: "http://" + httpAddr}, args...); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "  started %s at http://%s\n", name, httpAddr)
	}
	if err := d.saveState(); err != nil {
		return err
	}
	fmt.Fprint(d.out, "  waiting for the edges to enrol and sync…")
	err := poll.Until(ctx, 60*time.Second, func() error {
		if err := d.checkExits(); err != nil {
			return poll.Stop(err)
		}
		for _, uai := range d.lycees() {
			if err := getOK(ctx, "http://"+d.st.Edges[uai]+"/readyz"); err != nil {
				return fmt.Errorf("edge %s: %w", uai, err)
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(d.out)
		return err
	}
	fmt.Fprintln(d.out, " ok")
	return nil
}

func (d *region) checkExits() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: see %s", p.node.Name, filepath.Join(d.cfg.Dir, "logs", p.node.Name+".log"))
		default:
		}
	}
	return nil
}

func (d *region) writeFile(control string) error {
	f := File{OperatorToken: d.st.OperatorToken, Control: control, Accounts: d.st.Accounts}
	d.mu.Lock()
	for _, p := range d.procs {
		f.Nodes = append(f.Nodes, p.node)
	}
	d.mu.Unlock()
	b, _ := json.MarshalIndent(f, "", "  ")
	return writeAtomic(filepath.Join(d.cfg.Dir, "demo.json"), b)
}

func (d *region) printSummary() {
	w := d.out
	fmt.Fprintf(w, "\nThe region is up. Nodes:\n")
	for _, p := range d.procs {
		label := p.node.Role
		if p.node.UAI != "" {
			label += " du lycée " + p.node.UAI
		}
		fmt.Fprintf(w, "  %-18s %-26s %s\n", p.node.Name, p.node.URL, label)
	}
	fmt.Fprintf(w, "\nDemo accounts (log in at any central node, or at the edge of the account's lycée):\n")
	for _, a := range d.st.Accounts {
		where := a.UAI
		if where == "" {
			where = "région"
		}
		fmt.Fprintf(w, "  %-10s %-9s %-24s %s\n", where, a.Profile, a.Login, a.Password)
	}
	fmt.Fprintf(w, "\nOperator: ATRIUM_SERVER=%s ATRIUM_TOKEN=%s atrium ctl node list\n", d.procs[0].node.URL, d.st.OperatorToken)
	if l := d.lycees(); len(l) > 0 {
		fmt.Fprintf(w, "Cut a lycée's internet link: atrium demo wan cut %s --dir %s   (restore: wan restore)\n", l[0], d.cfg.Dir)
	}
	fmt.Fprintf(w, "State and logs: %s (demo.json lists everything above). Ctrl-C stops the region.\n", d.cfg.Dir)
}

// stop stops the edges, then the central nodes, then the proxies.
func (d *region) stop() {
	d.mu.Lock()
	procs := append([]*proc(nil), d.procs...)
	d.mu.Unlock()
	for _, role := range []string{"edge", "central"} {
		var wait []*proc
		for _, p := range procs {
			if p.node.Role == role {
				p.cmd.Process.Signal(syscall.SIGTERM)
				wait = append(wait, p)
			}
		}
		for _, p := range wait {
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				p.cmd.Process.Kill()
				<-p.done
			}
		}
	}
	for _, c := range d.cancel {
		c()
	}
	d.wg.Wait()
}

// freeAddr returns a loopback address for a node (raft and serf addresses
// are remembered across restarts, so nodes cannot listen on :0); the ports
// come from below the kernel's ephemeral range (package ports), so a
// client socket cannot take one between now and the node's start.
func freeAddr() string {
	addr, err := ports.Loopback()
	if err != nil {
		panic(err)
	}
	return addr
}

func getOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
