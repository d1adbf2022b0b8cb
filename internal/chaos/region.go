package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"atrium/central/admin"
	"atrium/internal/faultproxy"
	"atrium/internal/poll"
	"atrium/internal/ports"
)

// Roles of the processes.
const (
	roleCentral = "central"
	roleEdge    = "edge"
)

// proc is one atrium process of the region, started again (same
// addresses, same data) after each kill.
type proc struct {
	name string
	role string
	uai  string // edges only
	url  string // HTTP base URL
	args []string
	// firstArgs are added to args at the first start only (an edge's
	// enrolment).
	firstArgs []string
	logPath   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process exited
	up     bool          // started and not killed or stopped by us
	starts int
}

// region is the running processes and the WAN proxies.
type region struct {
	binary string
	dir    string
	token  string // operator token
	out    func(format string, args ...any)

	centrals []*proc
	edges    []*proc                        // by UAI order
	proxies  map[string][]*faultproxy.Proxy // UAI -> one per central node

	proxyCancel context.CancelFunc
	proxyWG     sync.WaitGroup

	mu      sync.Mutex
	crashes []string // processes that exited without being killed
}

func newRegion(binary, dir, token string, out func(string, ...any)) *region {
	return &region{binary: binary, dir: dir, token: token, out: out, proxies: map[string][]*faultproxy.Proxy{}}
}

func loopback() string {
	addr, err := ports.Loopback()
	if err != nil {
		panic(err)
	}
	return addr
}

// addCentrals declares the three central nodes, their addresses picked
// once (raft and serf remember them across restarts).
func (r *region) addCentrals(n int) {
	type addrs struct{ http, raft, serf, quic string }
	var as []addrs
	for range n {
		as = append(as, addrs{loopback(), loopback(), loopback(), loopback()})
	}
	for i, a := range as {
		name := fmt.Sprintf("central-%d", i+1)
		args := []string{"central", "--name", name, "--data", filepath.Join(r.dir, name),
			"--http", a.http, "--raft", a.raft, "--serf", a.serf, "--quic", a.quic}
		if i == 0 {
			// Starts a cluster only when its data directory holds none.
			args = append(args, "--bootstrap")
		} else {
			var join []string
			for j, b := range as {
				if j != i {
					join = append(join, b.serf)
				}
			}
			args = append(args, "--join", strings.Join(join, ","))
		}
		r.centrals = append(r.centrals, &proc{name: name, role: roleCentral, url: "http://" + a.http, args: args,
			logPath: filepath.Join(r.dir, "logs", name+".log")})
	}
}

// quicAddr is a central node's replication address, from its arguments.
func (p *proc) quicAddr() string {
	i := slices.Index(p.args, "--quic")
	return p.args[i+1]
}

// addEdge declares the edge of lycée uai behind one fault proxy per
// central node, enrolled with token at its first start.
func (r *region) addEdge(ctx context.Context, uai, token string) error {
	var servers []string
	for _, c := range r.centrals {
		p, err := faultproxy.New("127.0.0.1:0", c.quicAddr())
		if err != nil {
			return fmt.Errorf("WAN proxy for %s: %w", uai, err)
		}
		r.proxyWG.Add(1)
		go func() { defer r.proxyWG.Done(); p.Serve(ctx) }()
		r.proxies[uai] = append(r.proxies[uai], p)
		servers = append(servers, p.Addr())
	}
	name := "edge-" + uai
	httpAddr := loopback()
	r.edges = append(r.edges, &proc{name: name, role: roleEdge, uai: uai, url: "http://" + httpAddr,
		args: []string{"edge", "--name", name, "--data", filepath.Join(r.dir, name), "--http", httpAddr,
			"--servers", strings.Join(servers, ",")},
		firstArgs: []string{"--enroll", token, "--central", r.centrals[0].url},
		logPath:   filepath.Join(r.dir, "logs", name+".log")})
	return nil
}

func (r *region) edge(uai string) *proc {
	for _, e := range r.edges {
		if e.uai == uai {
			return e
		}
	}
	return nil
}

func (r *region) all() []*proc { return append(slices.Clone(r.centrals), r.edges...) }

// start starts p's process (again).
func (r *region) start(p *proc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.up {
		return nil
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := p.args
	if p.starts == 0 {
		args = append(slices.Clone(args), p.firstArgs...)
	}
	fmt.Fprintf(logf, "\n=== chaos: start %s at %s\n", p.name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(r.binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "ATRIUM_OPERATOR_TOKEN="+r.token)
	// Its own process group, killed whole; Pdeathsig stops it if the test
	// process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.up = cmd, done, true
	p.starts++
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		crashed := p.up && p.cmd == cmd
		if crashed {
			p.up = false
		}
		p.mu.Unlock()
		if crashed {
			r.mu.Lock()
			r.crashes = append(r.crashes, fmt.Sprintf("%s exited by itself at %s (%v): see %s",
				p.name, time.Now().UTC().Format(time.TimeOnly), err, p.logPath))
			r.mu.Unlock()
		}
		close(done)
	}()
	return nil
}

// isUp reports whether p runs (started, not killed).
func (p *proc) isUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// kill kills p's process group with SIGKILL and waits for it to exit.
func (r *region) kill(p *proc) bool {
	return r.signal(p, syscall.SIGKILL, 0)
}

// stop asks p to stop (SIGTERM) and kills it after grace.
func (r *region) stop(p *proc, grace time.Duration) bool {
	return r.signal(p, syscall.SIGTERM, grace)
}

func (r *region) signal(p *proc, sig syscall.Signal, grace time.Duration) bool {
	p.mu.Lock()
	if !p.up {
		p.mu.Unlock()
		return false
	}
	p.up = false
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	pid := cmd.Process.Pid
	if sig == syscall.SIGTERM {
		_ = syscall.Kill(pid, sig) // the node itself: it stops its own work
	} else {
		_ = syscall.Kill(-pid, sig)
	}
	if grace > 0 {
		select {
		case <-done:
			return true
		case <-time.After(grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	<-done
	return true
}

// healLinks restores every edge's WAN link to a clean one.
func (r *region) healLinks() {
	for _, ps := range r.proxies {
		for _, p := range ps {
			p.Restore()
			p.SetLoss(0)
			p.SetDelay(0)
		}
	}
}

// shutdown stops the edges, then the central nodes, then the proxies.
func (r *region) shutdown() {
	var wg sync.WaitGroup
	for _, ps := range [][]*proc{r.edges, r.centrals} {
		for _, p := range ps {
			wg.Add(1)
			go func() { defer wg.Done(); r.stop(p, 10*time.Second) }()
		}
		wg.Wait()
	}
	if r.proxyCancel != nil {
		r.proxyCancel()
	}
	r.proxyWG.Wait()
}

func (r *region) takeCrashes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.crashes
	r.crashes = nil
	return c
}

func (r *region) operator(url string) *admin.Client {
	return &admin.Client{Server: url, Token: r.token}
}

// waitCluster waits until every central node is ready and the cluster
// has as many alive voters.
func (r *region) waitCluster(ctx context.Context, api *apiClient, timeout time.Duration) error {
	return poll.Until(ctx, timeout, func() error {
		if c := r.takeCrashes(); len(c) > 0 {
			return poll.Stop(errors.New(strings.Join(c, "; ")))
		}
		for _, c := range r.centrals {
			if err := api.ready(ctx, c.url); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
		nodes, err := r.operator(r.centrals[0].url).Nodes(ctx)
		if err != nil {
			return err
		}
		voters := 0
		for _, n := range nodes {
			if n.Voter && n.Status == "alive" {
				voters++
			}
		}
		if voters < len(r.centrals) {
			return fmt.Errorf("%d of %d voters alive", voters, len(r.centrals))
		}
		return nil
	})
}
