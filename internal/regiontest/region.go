package regiontest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"sync"
	"testing"
	"time"

	"atrium/central/admin"
	"atrium/ent/synth"
	"atrium/internal/faultproxy"
	"atrium/internal/ports"
	"atrium/node"
)

// Options shapes a test region. The zero value is three central nodes and
// an edge for each lycée of the synthetic region.
type Options struct {
	Centrals int  // default 3
	NoEdges  bool // start no edge (tests that start their own)
	// DirectWAN connects edges straight to central's QUIC listeners, with
	// no fault proxy between (CutWAN is then unavailable): for benchmarks,
	// where the proxy's extra copies would be measured too.
	DirectWAN bool
	Seed      int64
	Logger    *slog.Logger // default: errors only, to the test log
	// UsageFlush is how often every node flushes its usage counts; zero
	// means a minute (ent.DefaultUsageFlush).
	UsageFlush time.Duration
	// EdgeTTL is the life of the edge certificates central issues; zero
	// means appliance.DefaultEdgeTTL. A few seconds make edges renew
	// theirs during a test.
	EdgeTTL time.Duration
	// TombstoneHorizon and PurgeEvery are central's (node.CentralConfig);
	// zero: 35 days, hourly. EdgePullLimit is the edges' page size
	// (node.EdgeConfig.PullLimit); zero: 5000.
	TombstoneHorizon, PurgeEvery time.Duration
	EdgePullLimit                int
}

// Region is a running test region. Its methods are safe to call from one
// test goroutine at a time.
type Region struct {
	t             testing.TB
	opts          Options
	base          string
	OperatorToken string
	Accounts      []synth.Account

	mu       sync.Mutex
	centrals []*centralSlot
	edges    map[string]*edgeSlot
}

type centralSlot struct {
	cfg  node.CentralConfig
	node *node.Central // nil while killed
}

type edgeSlot struct {
	uai     string
	cfg     node.EdgeConfig
	node    *node.Edge // nil while stopped
	proxies []*faultproxy.Proxy
}

// Start brings a region up and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts Options) *Region {
	t.Helper()
	if opts.Centrals == 0 {
		opts.Centrals = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	r := &Region{t: t, opts: opts, base: t.TempDir(), OperatorToken: "test-operator-token", edges: map[string]*edgeSlot{}}
	t.Cleanup(r.close)
	for i := 0; i < opts.Centrals; i++ {
		name := fmt.Sprintf("central-%d", i+1)
		cfg := node.CentralConfig{
			Name: name, DataDir: filepath.Join(r.base, name),
			HTTPAddr: FreeAddr(t), RaftAddr: FreeAddr(t), SerfAddr: FreeAddr(t), QUICAddr: FreeAddr(t),
			Bootstrap: i == 0, OperatorToken: r.OperatorToken, Logger: opts.Logger, UsageFlush: opts.UsageFlush,
			EdgeTTL: opts.EdgeTTL, TombstoneHorizon: opts.TombstoneHorizon, PurgeEvery: opts.PurgeEvery,
		}
		if i > 0 {
			cfg.Join = []string{r.centrals[0].cfg.SerfAddr}
		}
		c, err := labelled(name, func() (*node.Central, error) { return node.StartCentral(t.Context(), cfg) })
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		r.centrals = append(r.centrals, &centralSlot{cfg: cfg, node: c})
	}
	r.WaitVoters(opts.Centrals)
	for _, c := range r.centrals {
		waitReady(t, c.node.URL())
	}

	cmds, accounts := synth.Region(opts.Seed)
	res, err := r.Admin().Commands(t.Context(), cmds)
	if err != nil {
		t.Fatalf("load synthetic region: %v", err)
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("load synthetic region: %d refused, first %+v", len(res.Rejected), res.Rejected[0])
	}
	r.Accounts = accounts
	if !opts.NoEdges {
		for _, uai := range r.Lycees() {
			r.AddEdge(uai)
		}
		for _, uai := range r.Lycees() {
			r.WaitSynced(uai)
		}
	}
	return r
}

// Lycees lists the UAIs of the synthetic region's lycées.
func (r *Region) Lycees() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range r.Accounts {
		if a.UAI != "" && a.UAI != "region" && !seen[a.UAI] {
			seen[a.UAI] = true
			out = append(out, a.UAI)
		}
	}
	sort.Strings(out)
	return out
}

// Account returns the first synthetic account of profile in lycée uai
// ("region" for the Région's staff).
func (r *Region) Account(uai, profile string) synth.Account {
	r.t.Helper()
	for _, a := range r.Accounts {
		if a.UAI == uai && a.Profile == profile {
			return a
		}
	}
	r.t.Fatalf("no synthetic %s account in %s", profile, uai)
	return synth.Account{}
}

// Admin returns an operator API client on a live central node.
func (r *Region) Admin() *admin.Client {
	return &admin.Client{Server: r.AnyCentral().URL(), Token: r.OperatorToken}
}

// Central returns central node i (0-based), or nil if it is killed.
func (r *Region) Central(i int) *node.Central {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.centrals[i].node
}

// AnyCentral returns a live central node.
func (r *Region) AnyCentral() *node.Central {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.centrals {
		if c.node != nil {
			return c.node
		}
	}
	r.t.Fatal("no live central node")
	return nil
}

// Leader waits for a live node that is the raft leader and returns its index.
func (r *Region) Leader() int {
	r.t.Helper()
	var idx int
	Eventually(r.t, 20*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, c := range r.centrals {
			if c.node != nil && c.node.Node.IsLeader() {
				idx = i
				return nil
			}
		}
		return errors.New("no leader among live central nodes")
	})
	return idx
}

// WaitVoters waits until n live nodes are raft voters seen by every live node.
func (r *Region) WaitVoters(n int) {
	r.t.Helper()
	Eventually(r.t, 30*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.centrals {
			if c.node == nil {
				continue
			}
			voters := 0
			for _, m := range c.node.Node.Members() {
				if m.Voter && m.Status == "alive" {
					voters++
				}
			}
			if voters < n {
				return fmt.Errorf("%s sees %d alive voters, want %d", c.cfg.Name, voters, n)
			}
			if _, err := c.node.Node.Secrets(context.Background()); err != nil {
				return err
			}
		}
		return nil
	})
}

// Kill stops central node i abruptly (its listeners close; its data stays).
func (r *Region) Kill(i int) {
	r.t.Helper()
	r.mu.Lock()
	c := r.centrals[i].node
	r.centrals[i].node = nil
	r.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Restart starts central node i again on its data directory.
func (r *Region) Restart(i int) {
	r.t.Helper()
	r.mu.Lock()
	slot := r.centrals[i]
	r.mu.Unlock()
	cfg := slot.cfg
	cfg.Bootstrap = false
	var peers []string
	for j, c := range r.centrals {
		if j != i {
			peers = append(peers, c.cfg.SerfAddr)
		}
	}
	cfg.Join = peers
	c, err := labelled(cfg.Name, func() (*node.Central, error) { return node.StartCentral(r.t.Context(), cfg) })
	if err != nil {
		r.t.Fatalf("restart %s: %v", cfg.Name, err)
	}
	r.mu.Lock()
	slot.node = c
	r.mu.Unlock()
	waitReady(r.t, c.URL())
}

// waitReady waits until the node at base answers /readyz with 200.
func waitReady(t testing.TB, base string) {
	t.Helper()
	Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s/readyz: %s", base, resp.Status)
		}
		return nil
	})
}

// AddEdge enrols and starts the edge of lycée uai behind a WAN fault proxy.
func (r *Region) AddEdge(uai string) *node.Edge {
	r.t.Helper()
	tok, err := r.Admin().AddEdge(r.t.Context(), uai)
	if err != nil {
		r.t.Fatalf("enrolment token for %s: %v", uai, err)
	}
	slot := &edgeSlot{uai: uai}
	var servers []string
	for _, c := range r.centrals {
		if r.opts.DirectWAN {
			servers = append(servers, c.cfg.QUICAddr)
			continue
		}
		p, err := faultproxy.New("127.0.0.1:0", c.cfg.QUICAddr)
		if err != nil {
			r.t.Fatalf("WAN proxy: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); p.Serve(ctx) }()
		r.t.Cleanup(func() { cancel(); <-done })
		slot.proxies = append(slot.proxies, p)
		servers = append(servers, p.Addr())
	}
	slot.cfg = node.EdgeConfig{
		DataDir: filepath.Join(r.base, "edge-"+uai), HTTPAddr: FreeAddr(r.t),
		EnrolToken: tok.Token, CentralURL: r.AnyCentral().URL(), Servers: servers, Logger: r.opts.Logger,
		UsageFlush: r.opts.UsageFlush, PullLimit: r.opts.EdgePullLimit,
	}
	e, err := labelled("edge-"+uai, func() (*node.Edge, error) { return node.StartEdge(r.t.Context(), slot.cfg) })
	if err != nil {
		r.t.Fatalf("start edge %s: %v", uai, err)
	}
	slot.node = e
	r.mu.Lock()
	r.edges[uai] = slot
	r.mu.Unlock()
	return e
}

// Edge returns the running edge of lycée uai (nil if stopped).
func (r *Region) Edge(uai string) *node.Edge {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.edges[uai]; s != nil {
		return s.node
	}
	return nil
}

// StopEdge stops the edge of lycée uai (its data stays).
func (r *Region) StopEdge(uai string) {
	r.mu.Lock()
	s := r.edges[uai]
	e := s.node
	s.node = nil
	r.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// labelled runs start with the profiler label node=name, which the
// goroutines it starts inherit, and theirs in turn: a CPU profile of a
// region in one process splits by node (go tool pprof -tags, or
// -tagfocus node=central-1).
func labelled[N any](name string, start func() (N, error)) (n N, err error) {
	pprof.Do(context.Background(), pprof.Labels("node", name), func(context.Context) { n, err = start() })
	return n, err
}

// RestartEdge starts the edge of lycée uai again on its data directory.
func (r *Region) RestartEdge(uai string) *node.Edge {
	r.t.Helper()
	r.mu.Lock()
	s := r.edges[uai]
	r.mu.Unlock()
	cfg := s.cfg
	cfg.EnrolToken = ""
	e, err := labelled("edge-"+uai, func() (*node.Edge, error) { return node.StartEdge(r.t.Context(), cfg) })
	if err != nil {
		r.t.Fatalf("restart edge %s: %v", uai, err)
	}
	r.mu.Lock()
	s.node = e
	r.mu.Unlock()
	return e
}

// CutWAN drops every datagram between the edge of uai and central.
func (r *Region) CutWAN(uai string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.edges[uai].proxies {
		p.Cut()
	}
}

// RestoreWAN lets the edge of uai reach central again.
func (r *Region) RestoreWAN(uai string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.edges[uai].proxies {
		p.Restore()
	}
}

// DelayWAN delays every datagram between the edge of uai and central by d
// (0: none), as a slow link would.
func (r *Region) DelayWAN(uai string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.edges[uai].proxies {
		p.SetDelay(d)
	}
}

// WaitSynced waits until the edge of uai is connected and has no change
// waiting in its outbox.
func (r *Region) WaitSynced(uai string) {
	r.t.Helper()
	Eventually(r.t, 30*time.Second, func() error {
		e := r.Edge(uai)
		if e == nil {
			return errors.New("edge stopped")
		}
		st := e.Node.Status()
		if !st.Connected {
			return fmt.Errorf("edge %s not connected", uai)
		}
		if st.Outbox != 0 {
			return fmt.Errorf("edge %s has %d changes waiting", uai, st.Outbox)
		}
		if st.Checkpoints[uai] == 0 {
			return fmt.Errorf("edge %s has not received its partition yet", uai)
		}
		return nil
	})
}

// WaitOffline waits until the edge of uai noticed that central is gone.
func (r *Region) WaitOffline(uai string) {
	r.t.Helper()
	Eventually(r.t, 20*time.Second, func() error {
		if r.Edge(uai).Node.Connected() {
			return fmt.Errorf("edge %s still believes it is connected", uai)
		}
		return nil
	})
}

func (r *Region) close() {
	r.mu.Lock()
	var edges []*node.Edge
	for _, s := range r.edges {
		if s.node != nil {
			edges = append(edges, s.node)
			s.node = nil
		}
	}
	var centrals []*node.Central
	for _, c := range r.centrals {
		if c.node != nil {
			centrals = append(centrals, c.node)
			c.node = nil
		}
	}
	r.mu.Unlock()
	for _, e := range edges {
		e.Close()
	}
	var wg sync.WaitGroup
	for _, c := range centrals {
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
}

// Eventually polls f until it returns nil or the timeout ends, then fails
// the test with f's last error.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreeAddr returns a loopback address for a node that must know its
// address before it listens (raft and serf remember addresses, so they
// cannot listen on :0), free on TCP and UDP; see package ports.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := ports.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// QUICAddrs lists the central nodes' replication listeners (bypassing the
// WAN proxies).
func (r *Region) QUICAddrs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.centrals {
		out = append(out, c.cfg.QUICAddr)
	}
	return out
}

// EdgeDataDir is the data directory of the edge of lycée uai.
func (r *Region) EdgeDataDir(uai string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.edges[uai].cfg.DataDir
}
