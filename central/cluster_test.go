package central

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/internal/metrictest"
	"atrium/internal/ports"
	"atrium/record"
)

// freeAddr returns a loopback host:port for a node (see package ports).
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := ports.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// tnode is one in-process central node with its HTTP server.
type tnode struct {
	*Node
	cfg Config
	srv *http.Server
	reg *prometheus.Registry
}

type cluster struct {
	t     testing.TB
	nodes map[string]*tnode
	logMu sync.Mutex
	done  bool
}

func fakeCA() ([]byte, []byte, error) { return []byte("ca-cert"), []byte("ca-key"), nil }

func (c *cluster) config(name string, bootstrap bool, join []string) Config {
	return Config{
		Name: name, DataDir: filepath.Join(c.t.TempDir(), name),
		RaftAddr: freeAddr(c.t), SerfAddr: freeAddr(c.t), HTTPURL: "http://" + freeAddr(c.t),
		QUICAddr: "127.0.0.1:4433", Bootstrap: bootstrap, Join: join,
		Exec: testExec, NewCA: fakeCA,
		Logger: slog.New(slog.NewTextHandler(testWriter{t: c.t, mu: &c.logMu, done: &c.done}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// testWriter sends logs to the test until it ends: memberlist's probe
// goroutines may still log a line just after serf's Shutdown returns.
type testWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// start runs a node on cfg (a fresh one, or a restart on its DataDir).
func (c *cluster) start(cfg Config) *tnode {
	c.t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	n, err := New(cfg)
	if err != nil {
		c.t.Fatalf("New(%s): %v", cfg.Name, err)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(cfg.HTTPURL, "http://"))
	if err != nil {
		n.Close()
		c.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/internal/v1/", n.InternalHandler())
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	tn := &tnode{Node: n, cfg: cfg, srv: srv, reg: reg}
	c.nodes[cfg.Name] = tn
	return tn
}

func (c *cluster) kill(name string) {
	tn := c.nodes[name]
	tn.srv.Close()
	if err := tn.Close(); err != nil {
		c.t.Errorf("close %s: %v", name, err)
	}
	delete(c.nodes, name)
}

func (c *cluster) closeAll() {
	for name := range c.nodes {
		c.kill(name)
	}
}

// newCluster starts three nodes: one bootstrapped, two joined through serf.
func newCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{t: t, nodes: map[string]*tnode{}}
	t.Cleanup(func() { c.logMu.Lock(); c.done = true; c.logMu.Unlock() })
	t.Cleanup(c.closeAll)
	first := c.start(c.config("n1", true, nil))
	c.start(c.config("n2", false, []string{first.cfg.SerfAddr}))
	c.start(c.config("n3", false, []string{c.nodes["n2"].cfg.SerfAddr}))
	c.waitVoters(3)
	for _, n := range c.nodes {
		if _, err := n.Secrets(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatalf("Secrets(%s): %v", n.cfg.Name, err)
		}
	}
	return c
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *cluster) waitVoters(want int) {
	c.t.Helper()
	waitFor(c.t, 15*time.Second, fmt.Sprintf("%d voters seen by every node", want), func() bool {
		for _, n := range c.nodes {
			voters := 0
			for _, m := range n.Members() {
				if m.Voter {
					voters++
				}
			}
			if voters != want {
				return false
			}
		}
		return true
	})
}

func (c *cluster) leader() *tnode {
	c.t.Helper()
	var l *tnode
	waitFor(c.t, 10*time.Second, "a leader", func() bool {
		for _, n := range c.nodes {
			if n.IsLeader() {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

func (c *cluster) follower() *tnode {
	c.t.Helper()
	l := c.leader()
	for _, n := range c.nodes {
		if n != l {
			return n
		}
	}
	c.t.Fatal("no follower")
	return nil
}

func readValue(t testing.TB, n *tnode, partition, id string) (string, bool) {
	t.Helper()
	var v string
	var ok bool
	err := n.View(func(r record.Reader) error {
		rec, found, err := r.Get(partition, id)
		if found {
			v, ok = valueOf(t, rec), true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

func TestCluster(t *testing.T) {
	c := newCluster(t)
	ctx := ctxTimeout(t, 60*time.Second)
	acked := map[string]string{} // id -> value of every acknowledged write

	submit := func(n *tnode, id, value string) {
		t.Helper()
		if err := n.Submit(ctx, putCmd("central", "P", id, "", value, time.Now().UnixMilli())); err != nil {
			t.Fatalf("Submit(%s) on %s: %v", id, n.cfg.Name, err)
		}
		acked[id] = value
	}

	t.Run("members", func(t *testing.T) {
		l := c.leader()
		ms := l.Members()
		leaders := 0
		for _, m := range ms {
			if m.Status != "alive" || !m.Voter || m.HTTPURL == "" || m.QUICAddr == "" {
				t.Errorf("member %+v, want alive voter with its addresses", m)
			}
			if m.Leader {
				leaders++
			}
		}
		if len(ms) != 3 || leaders != 1 {
			t.Errorf("Members() = %+v, want 3 with one leader", ms)
		}
		if got := metrictest.Value(t, l.reg, "atrium_raft_state"); got != 2 {
			t.Errorf("atrium_raft_state on leader = %v, want 2", got)
		}
	})

	t.Run("forwarded submit reads its own write", func(t *testing.T) {
		f := c.follower()
		for i := range 20 {
			id := fmt.Sprintf("fw%d", i)
			submit(f, id, "v")
			if v, ok := readValue(t, f, "P", id); !ok || v != "v" {
				t.Fatalf("right after Submit on follower %s, Get(%s) = %q %v, want v", f.cfg.Name, id, v, ok)
			}
		}
		err := f.Submit(ctx, record.Command{Origin: "central", Op: "test.reject", Partition: "P", Time: 1})
		if r, ok := record.AsRejection(err); !ok || r.Code != "forbidden" {
			t.Errorf("forwarded rejected Submit = %v, want a forbidden *record.Rejection", err)
		}
	})

	t.Run("outbox retransmission applied once", func(t *testing.T) {
		f := c.follower()
		const uai = "0130040Y"
		var cmds []record.Command
		for seq := uint64(1); seq <= 5; seq++ {
			cm := putCmd(uai, uai, fmt.Sprintf("ob%d", seq), "", "x", 1000)
			cm.Epoch, cm.Seq = 3, seq
			cmds = append(cmds, cm)
		}
		for range 2 {
			hwm, err := f.ApplyOutbox(ctx, uai, 3, cmds)
			if err != nil || hwm != 5 {
				t.Fatalf("ApplyOutbox = %d, %v; want 5, nil", hwm, err)
			}
		}
		var rec record.Record
		f.View(func(r record.Reader) error { rec, _, _ = r.Get(uai, "ob1"); return nil })
		if rec.Version.Central != 1 || rec.Version.Edge != 1 {
			t.Errorf("ob1 version = %+v, want applied once {1 1}", rec.Version)
		}
		if hwm, _ := f.HighWater(uai, 3); hwm != 5 {
			t.Errorf("HighWater = %d, want 5", hwm)
		}
		bad := append([]record.Command(nil), cmds...)
		bad[1].Origin = "0060001A"
		if _, err := f.ApplyOutbox(ctx, uai, 3, bad); !errors.Is(err, ErrBadOutbox) {
			t.Errorf("ApplyOutbox(foreign command) = %v, want ErrBadOutbox", err)
		}
	})

	t.Run("enrolment tokens", func(t *testing.T) {
		f := c.follower()
		if err := f.AddEnrolToken(ctx, "0130040Y", "hash1", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if uai, err := f.ConsumeEnrolToken(ctx, "hash1"); err != nil || uai != "0130040Y" {
			t.Fatalf("first ConsumeEnrolToken = %q, %v; want 0130040Y", uai, err)
		}
		if _, err := f.ConsumeEnrolToken(ctx, "hash1"); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("second ConsumeEnrolToken = %v, want ErrTokenUsed", err)
		}
		if err := f.AddEnrolToken(ctx, "0130040Y", "hash2", time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ConsumeEnrolToken(ctx, "hash2"); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("expired ConsumeEnrolToken = %v, want ErrTokenExpired", err)
		}
	})

	t.Run("snapshot then restart keeps records", func(t *testing.T) {
		f := c.follower()
		submit(f, "before-snap", "1")
		waitFor(t, 5*time.Second, "follower applied", func() bool { _, ok := readValue(t, f, "P", "before-snap"); return ok })
		if err := f.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		cfg := f.cfg
		c.kill(cfg.Name)
		submit(c.leader(), "while-down", "2")
		cfg.Bootstrap, cfg.Join = false, []string{c.leader().cfg.SerfAddr}
		r := c.start(cfg)
		waitFor(t, 15*time.Second, "restarted node catches up", func() bool {
			for id, want := range acked {
				if v, ok := readValue(t, r, "P", id); !ok || v != want {
					return false
				}
			}
			return true
		})
	})

	t.Run("leader killed", func(t *testing.T) {
		old := c.leader()
		c.kill(old.cfg.Name)
		start := time.Now()
		l := c.leader()
		t.Logf("new leader %s after %v", l.cfg.Name, time.Since(start))
		for _, n := range c.nodes {
			submit(n, "after-"+n.cfg.Name, "3")
		}
		for _, n := range c.nodes {
			waitFor(t, 5*time.Second, "survivors hold every acknowledged write", func() bool {
				for id, want := range acked {
					if v, ok := readValue(t, n, "P", id); !ok || v != want {
						return false
					}
				}
				return true
			})
		}
		failed := false
		waitFor(t, 15*time.Second, "killed leader reported failed", func() bool {
			for _, m := range l.Members() {
				if m.Name == old.cfg.Name {
					failed = m.Status == "failed" && m.Voter
				}
			}
			return failed
		})
	})
}

// TestFollowersStartedFirstJoinTheBootstrapNode starts the two nodes that
// join before the one that bootstraps the cluster, each naming both
// others: their first joins reach only each other, and they must go on
// until the bootstrapping node answers, or the region is left with two
// groups that never meet (a cluster without a leader).
func TestFollowersStartedFirstJoinTheBootstrapNode(t *testing.T) {
	c := &cluster{t: t, nodes: map[string]*tnode{}}
	t.Cleanup(func() { c.logMu.Lock(); c.done = true; c.logMu.Unlock() })
	t.Cleanup(c.closeAll)
	cfg1 := c.config("n1", true, nil)
	cfg2 := c.config("n2", false, nil)
	cfg3 := c.config("n3", false, nil)
	cfg2.Join = []string{cfg1.SerfAddr, cfg3.SerfAddr}
	cfg3.Join = []string{cfg1.SerfAddr, cfg2.SerfAddr}
	n2 := c.start(cfg2)
	c.start(cfg3)
	waitFor(t, 10*time.Second, "n2 and n3 to see each other", func() bool { return len(n2.member.serf.Members()) == 2 })
	// Past the first retry of both (250 ms): a join that stopped at the
	// first node it reached has stopped by now.
	time.Sleep(time.Second)
	c.start(cfg1)
	c.waitVoters(3)
}

// TestJoinStopsOnceALeaderIsKnown starts a node whose join list names a
// member that never comes (removed for good, say) beside one that is up:
// once the node knows the cluster's leader, it stops trying the missing
// one instead of warning about it every 10 s for as long as it runs.
func TestJoinStopsOnceALeaderIsKnown(t *testing.T) {
	c := &cluster{t: t, nodes: map[string]*tnode{}}
	t.Cleanup(func() { c.logMu.Lock(); c.done = true; c.logMu.Unlock() })
	t.Cleanup(c.closeAll)
	first := c.start(c.config("n1", true, nil))
	cfg := c.config("n2", false, []string{first.cfg.SerfAddr, freeAddr(t)})
	var failures atomic.Int32
	cfg.Logger = slog.New(logWatch{cfg.Logger.Handler(), "serf join failed, retrying", &failures})
	c.start(cfg)
	c.waitVoters(2)
	waitFor(t, 10*time.Second, "n2 to know the leader", func() bool {
		_, id := c.nodes["n2"].raft.LeaderWithID()
		return id != ""
	})
	// The loop's waits double from 250 ms: past the leader, at most one
	// more attempt.
	time.Sleep(3 * time.Second)
	before := failures.Load()
	time.Sleep(5 * time.Second)
	if after := failures.Load(); after != before {
		t.Errorf("join attempts went on once a leader was known: %d failures, then %d", before, after)
	}
}
