package central

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"atrium/internal/metrictest"
)

// member returns what n's Members() says of name.
func member(n *tnode, name string) (Member, bool) {
	for _, m := range n.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// raftServers returns the servers of n's latest raft configuration.
func raftServers(t testing.TB, n *tnode) []raft.Server {
	t.Helper()
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatalf("raft configuration of %s: %v", n.cfg.Name, err)
	}
	return f.Configuration().Servers
}

// raftConfig returns n's latest raft configuration and the log index that
// set it: a removal followed by a re-add changes the index.
func raftConfig(t testing.TB, n *tnode) ([]raft.Server, uint64) {
	t.Helper()
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatalf("raft configuration of %s: %v", n.cfg.Name, err)
	}
	return f.Configuration().Servers, f.Index()
}

// membersGauge reads atrium_central_members{status=status}.
func membersGauge(t testing.TB, reg *prometheus.Registry, status string) float64 {
	t.Helper()
	if v, ok := metrictest.Values(t, reg)["atrium_central_members{status="+status+"}"]; ok {
		return v
	}
	return -1 // not exported (yet)
}

// TestMembershipFailedNodeThenRemoveNode kills a follower, checks that the
// survivors report it failed and keep it a voter, then removes it as an
// operator would, through the other follower.
func TestMembershipFailedNodeThenRemoveNode(t *testing.T) {
	c := newCluster(t)
	ctx := ctxTimeout(t, 30*time.Second)
	l := c.leader()
	victimCfg := c.follower().cfg
	victim := victimCfg.Name
	c.kill(victim)

	ok := t.Run("killed node is failed and still a voter", func(t *testing.T) {
		for _, n := range c.nodes {
			waitFor(t, 15*time.Second, victim+" failed in Members() of "+n.cfg.Name, func() bool {
				m, ok := member(n, victim)
				return ok && m.Status == "failed"
			})
			// The reconcile loop sets the gauge from the view of serf it acts
			// on: once the leader's reads 1, a removal by the loop would show.
			waitFor(t, 5*time.Second, `atrium_central_members{status="failed"} = 1 on `+n.cfg.Name, func() bool {
				return membersGauge(t, n.reg, "failed") == 1
			})
			if got := membersGauge(t, n.reg, "alive"); got != 2 {
				t.Errorf(`atrium_central_members{status="alive"} on %s = %v, want 2`, n.cfg.Name, got)
			}
		}
		if err := l.Submit(ctx, putCmd("central", "P", "while-failed", "", "1", time.Now().UnixMilli())); err != nil {
			t.Fatalf("Submit with one node failed: %v", err)
		}
		for _, n := range c.nodes {
			if m, _ := member(n, victim); !m.Voter {
				t.Errorf("%s: Members()[%s] = %+v, want a voter", n.cfg.Name, victim, m)
			}
		}
		if got := raftServers(t, l); len(got) != 3 {
			t.Errorf("leader's raft configuration = %v, want 3 servers: a failed node is never removed by itself", got)
		}
	})
	if !ok {
		return
	}

	t.Run("RemoveNode through a follower", func(t *testing.T) {
		f := c.follower()
		if err := f.RemoveNode(ctx, victim); err != nil {
			t.Fatalf("RemoveNode(%s) on follower %s: %v", victim, f.cfg.Name, err)
		}
		for _, n := range c.nodes {
			waitFor(t, 5*time.Second, "2 raft servers on "+n.cfg.Name, func() bool {
				return len(raftServers(t, n)) == 2
			})
			waitFor(t, 5*time.Second, victim+" gone from Members() of "+n.cfg.Name, func() bool {
				m, ok := member(n, victim)
				return !ok || (m.Status == "left" && !m.Voter)
			})
			waitFor(t, 5*time.Second, `atrium_central_members{status="failed"} = 0 on `+n.cfg.Name, func() bool {
				return membersGauge(t, n.reg, "failed") == 0
			})
		}
		for _, s := range raftServers(t, c.leader()) {
			if string(s.ID) == victim {
				t.Errorf("raft configuration still holds %s: %+v", victim, s)
			}
		}
		for _, n := range c.nodes {
			id := "after-remove-" + n.cfg.Name
			if err := n.Submit(ctx, putCmd("central", "P", id, "", "2", time.Now().UnixMilli())); err != nil {
				t.Fatalf("Submit on %s after RemoveNode: %v", n.cfg.Name, err)
			}
			if v, ok := readValue(t, n, "P", id); !ok || v != "2" {
				t.Errorf("Get(%s) on %s = %q %v, want 2", id, n.cfg.Name, v, ok)
			}
		}
	})

	t.Run("removed node is not added back", func(t *testing.T) {
		// The leader's reconcile loop adds every alive serf member missing
		// from raft; the removed node is gone from serf, so it has nothing
		// to add. Run one pass here rather than wait for the loop.
		l := c.leader()
		l.reconcile(map[string]string{})
		if !l.IsLeader() {
			t.Fatalf("%s lost leadership during the check", l.cfg.Name)
		}
		if got := raftServers(t, l); len(got) != 2 {
			t.Errorf("after a reconcile pass, leader's raft configuration = %v, want 2 servers", got)
		}
	})

	t.Run("RemoveNode of an unknown name", func(t *testing.T) {
		for _, n := range []*tnode{c.follower(), c.leader()} {
			if err := n.RemoveNode(ctx, "n9"); !errors.Is(err, ErrUnknownNode) {
				t.Errorf("RemoveNode(n9) on %s (%s) = %v, want ErrUnknownNode", n.cfg.Name, n.RaftState(), err)
			}
		}
	})

	t.Run("removed node restarted rejoins", func(t *testing.T) {
		// As DESIGN.md says: a removed node that is started again rejoins
		// through serf and the leader makes it a voter again.
		cfg := victimCfg
		cfg.Bootstrap, cfg.Join = false, []string{c.leader().cfg.SerfAddr}
		r := c.start(cfg)
		c.waitVoters(3)
		id := "after-rejoin"
		if err := r.Submit(ctx, putCmd("central", "P", id, "", "3", time.Now().UnixMilli())); err != nil {
			t.Fatalf("Submit on rejoined %s: %v", victim, err)
		}
		if v, ok := readValue(t, r, "P", "after-remove-"+c.leader().cfg.Name); !ok || v != "2" {
			t.Errorf("rejoined %s: Get(after-remove-%s) = %q %v, want 2 (caught up)", victim, c.leader().cfg.Name, v, ok)
		}
	})
}

// TestMembershipRemoveAliveNode: RemoveNode refuses a node serf reports
// alive, through the leader or a follower, and the raft configuration
// stays as it was (not removed and added back).
func TestMembershipRemoveAliveNode(t *testing.T) {
	c := newCluster(t)
	ctx := ctxTimeout(t, 20*time.Second)
	l := c.leader()
	before, index := raftConfig(t, l)
	var f1, f2 *tnode
	for _, n := range c.nodes {
		switch {
		case n == l:
		case f1 == nil:
			f1 = n
		default:
			f2 = n
		}
	}
	for _, tc := range []struct{ by, target *tnode }{
		{l, f1},  // an alive follower, at the leader
		{f2, f1}, // an alive follower, forwarded
		{f1, l},  // the leader, forwarded
		{l, l},   // the leader itself
	} {
		err := tc.by.RemoveNode(ctx, tc.target.cfg.Name)
		if !errors.Is(err, ErrNodeAlive) {
			t.Errorf("RemoveNode(%s) on %s = %v, want ErrNodeAlive", tc.target.cfg.Name, tc.by.cfg.Name, err)
			continue
		}
		want := "central: node " + tc.target.cfg.Name + " is alive: stop it before removing it, or it rejoins"
		if err.Error() != want {
			t.Errorf("RemoveNode(%s) on %s = %q, want %q", tc.target.cfg.Name, tc.by.cfg.Name, err, want)
		}
	}
	if !l.IsLeader() {
		t.Fatalf("%s lost leadership during the test", l.cfg.Name)
	}
	after, indexAfter := raftConfig(t, l)
	if diff := cmp.Diff(before, after); diff != "" || indexAfter != index {
		t.Errorf("raft configuration changed by refused removals: index %d -> %d (-before +after):\n%s", index, indexAfter, diff)
	}
	for _, n := range c.nodes {
		for _, m := range n.Members() {
			if m.Status != "alive" || !m.Voter {
				t.Errorf("%s: Members()[%s] = %+v, want an alive voter", n.cfg.Name, m.Name, m)
			}
		}
	}
}

// logWatch counts the log records with a given message.
type logWatch struct {
	slog.Handler
	msg  string
	seen *atomic.Int32
}

func (h logWatch) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.seen.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h logWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return logWatch{h.Handler.WithAttrs(as), h.msg, h.seen}
}

func (h logWatch) WithGroup(g string) slog.Handler {
	return logWatch{h.Handler.WithGroup(g), h.msg, h.seen}
}

// TestMembershipJoinRetries starts a node whose Join names a member that is
// not listening yet: it joins once that member comes up.
func TestMembershipJoinRetries(t *testing.T) {
	c := &cluster{t: t, nodes: map[string]*tnode{}}
	t.Cleanup(func() { c.logMu.Lock(); c.done = true; c.logMu.Unlock() })
	t.Cleanup(c.closeAll)

	first := c.config("n1", true, nil)
	early := c.config("n2", false, []string{first.SerfAddr})
	var failures atomic.Int32
	early.Logger = slog.New(logWatch{early.Logger.Handler(), "serf join failed, retrying", &failures})
	n2 := c.start(early)
	waitFor(t, 5*time.Second, "n2's first failed join", func() bool { return failures.Load() > 0 })
	if m, ok := member(n2, "n1"); ok {
		t.Fatalf("before n1 starts, n2 lists it: %+v", m)
	}

	// A call to the leader made before any leader is known waits for one
	// (the leader's own answer comes back) instead of failing at once.
	removed := make(chan error, 1)
	removeCtx := ctxTimeout(t, 15*time.Second)
	go func() { removed <- n2.RemoveNode(removeCtx, "n9") }()

	c.start(first)
	c.waitVoters(2)
	if err := <-removed; !errors.Is(err, ErrUnknownNode) {
		t.Errorf("RemoveNode(n9) on n2 started before n1 = %v, want ErrUnknownNode from the leader", err)
	}
	if m, _ := member(n2, "n1"); m.Status != "alive" || !m.Voter || !m.Leader {
		t.Errorf("n2: Members()[n1] = %+v, want the alive leader", m)
	}
	if _, err := n2.Secrets(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatalf("Secrets(n2): %v", err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	if err := n2.Submit(ctx, putCmd("central", "P", "joined", "", "1", time.Now().UnixMilli())); err != nil {
		t.Fatalf("Submit on n2 after its join: %v", err)
	}
}
