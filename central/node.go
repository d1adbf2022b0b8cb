package central

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"

	"atrium/internal/logbridge"
	"atrium/record"
)

// Config configures a central node. Required: Name, DataDir, RaftAddr,
// SerfAddr, HTTPURL, Exec, NewCA.
type Config struct {
	Name      string // unique node name: raft server id and serf node name
	DataDir   string // raft log, snapshots, state file, serf snapshot
	RaftAddr  string // host:port raft binds and advertises (TCP)
	SerfAddr  string // host:port serf binds and advertises (TCP+UDP)
	HTTPURL   string // this node's HTTP base URL, where InternalHandler is mounted
	QUICAddr  string // advertised to peers for edges; "" if none
	Bootstrap bool   // start a new one-node cluster when DataDir holds no raft state
	Join      []string
	Exec      record.Executor
	// Indexer gives the records' index terms (record.Reader.ScanTerm);
	// IndexVersion names it: when it changes, the state file's index is
	// rebuilt. nil: no index, ScanTerm returns record.ErrNoIndex.
	Indexer      record.Indexer
	IndexVersion string
	// NewCA makes the cluster's CA when the first leader creates the
	// secrets (appliance.NewCA in production).
	NewCA func() (certPEM, keyPEM []byte, err error)
	// Logger nil: slog.Default(). Registerer nil: no metrics.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// HTTPClient carries forwarded calls to the leader; nil: a client
	// with a 30 s timeout.
	HTTPClient *http.Client
	// TombstoneHorizon is how long a deleted record's tombstone is kept
	// for the edges' feeds (horizon.go); an edge cut off for longer gets
	// a snapshot of its partition. Zero: DefaultTombstoneHorizon (35
	// days); negative: tombstones are kept for ever.
	TombstoneHorizon time.Duration
	// PurgeEvery is how often the leader purges tombstones past the
	// horizon; zero: DefaultPurgeEvery (an hour).
	PurgeEvery time.Duration
	// PurgeLimit bounds the feed entries one purge entry walks; zero:
	// 2000 (about 30 ms of apply).
	PurgeLimit int
}

// RaftConfig is the raft configuration of every central node, without
// its id and logger: timing for a LAN, batched applies, snapshot
// thresholds. The raw-ceiling benchmark (internal/regiontest) runs the same.
func RaftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.HeartbeatTimeout = heartbeatTimeout
	rc.ElectionTimeout = electionTimeout
	rc.LeaderLeaseTimeout = leaderLeaseTimeout
	rc.CommitTimeout = commitTimeout
	rc.MaxAppendEntries = maxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = 16384
	rc.TrailingLogs = 10240
	return rc
}

// LogCacheEntries is how many raft log entries a node keeps in memory in
// front of its log store (see start).
const LogCacheEntries = 64

// Raft timing for a LAN: a dead leader is replaced in about a second.
const (
	heartbeatTimeout   = 500 * time.Millisecond
	electionTimeout    = 500 * time.Millisecond
	leaderLeaseTimeout = 250 * time.Millisecond
	commitTimeout      = 5 * time.Millisecond
	maxAppendEntries   = 512
	applyTimeout       = 10 * time.Second
	retryWindow        = 10 * time.Second
	reconcileInterval  = 250 * time.Millisecond
)

// Node is one member of the central cluster. Its methods are safe for
// concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	fsm    *fsm
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	logs   *raftboltdb.BoltStore
	member *membership
	client *http.Client

	wake    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Mutex
	closed  bool
	closeEr error

	members *prometheus.GaugeVec

	// startIndex is the last index of the raft log found at start, or the
	// applied index of a state file kept (state.go): until its state
	// machine has applied that far, the node would serve an older state
	// than it did before it stopped (CaughtUp).
	startIndex uint64
	// state tells whether the state file was kept at start (state.go).
	state StateOpen
}

// New starts a node: raft on RaftAddr (from the state in DataDir, or
// bootstrapped), serf on SerfAddr (joined to cfg.Join), and the loops that
// add joining nodes to raft and create the cluster secrets. Close (or
// Serve's context) stops it all.
func New(cfg Config) (*Node, error) {
	for _, f := range []struct{ name, v string }{
		{"Name", cfg.Name}, {"DataDir", cfg.DataDir}, {"RaftAddr", cfg.RaftAddr},
		{"SerfAddr", cfg.SerfAddr}, {"HTTPURL", cfg.HTTPURL},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("central: config: %s is required", f.name)
		}
	}
	if cfg.Exec == nil {
		return nil, errors.New("central: config: Exec is required")
	}
	if cfg.NewCA == nil {
		return nil, errors.New("central: config: NewCA is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.Name)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("central: data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: log, client: cfg.HTTPClient,
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if n.client == nil {
		n.client = &http.Client{Timeout: 30 * time.Second}
	}
	if err := n.start(); err != nil {
		n.shutdown()
		return nil, err
	}
	n.register(cfg.Registerer)
	n.wg.Add(4)
	go func() { defer n.wg.Done(); n.purgeLoop() }() // horizon.go
	go func() { defer n.wg.Done(); n.member.drain(n.stop, n.poke) }()
	go func() { defer n.wg.Done(); n.reconcileLoop() }()
	go func() { defer n.wg.Done(); n.joinLoop() }()
	return n, nil
}

func (n *Node) start() error {
	var err error
	hlog := logbridge.HCLog(n.log, hclog.Warn)
	n.logs, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(n.cfg.DataDir, "raft.db")})
	if err != nil {
		return fmt.Errorf("central: open raft log: %w", err)
	}
	// The cache serves followers the entries they lag behind on without a
	// disk read. Entries carry up to about a megabyte (an edge's outbox
	// batch, an import's batch): 64 of them bound its memory. (256 cost a
	// region-size import ~65 MB of peak heap; the outbox drain is the same
	// with 64: 22.9k commands/s.)
	cache, err := raft.NewLogCache(LogCacheEntries, n.logs)
	if err != nil {
		return fmt.Errorf("central: raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, 2, hlog.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("central: snapshot store: %w", err)
	}
	// The state file is kept when it can be trusted and fits the raft log
	// (state.go); otherwise rebuilt from the latest snapshot and the log.
	pos, err := readRaftPosition(n.logs, snaps)
	if err != nil {
		return fmt.Errorf("central: %w", err)
	}
	n.fsm, n.state, err = openState(filepath.Join(n.cfg.DataDir, "state.db"), n.cfg.Exec, termIndex{n.cfg.Indexer, n.cfg.IndexVersion}, n.log, pos)
	if err != nil {
		return fmt.Errorf("central: %w", err)
	}
	adv, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAddr)
	if err != nil {
		return fmt.Errorf("central: raft address: %w", err)
	}
	n.trans, err = raft.NewTCPTransportWithLogger(n.cfg.RaftAddr, adv, 3, 10*time.Second, hlog.Named("transport"))
	if err != nil {
		return fmt.Errorf("central: raft transport: %w", err)
	}
	rc := RaftConfig()
	rc.LocalID = raft.ServerID(n.cfg.Name)
	rc.Logger = hlog.Named("raft")
	// A kept state file is at or after the latest snapshot: raft must not
	// restore the snapshot over it. Raft still starts applying after the
	// snapshot's index; ApplyBatch skips what the file already holds.
	rc.NoSnapshotRestoreOnStart = n.state.Reused

	has, err := raft.HasExistingState(cache, n.logs, snaps)
	if err != nil {
		return fmt.Errorf("central: read raft state: %w", err)
	}
	if !has && n.cfg.Bootstrap {
		conf := raft.Configuration{Servers: []raft.Server{{
			ID: rc.LocalID, Address: n.trans.LocalAddr(), Suffrage: raft.Voter,
		}}}
		if err := raft.BootstrapCluster(rc, cache, n.logs, snaps, n.trans, conf); err != nil {
			return fmt.Errorf("central: bootstrap: %w", err)
		}
		n.log.Info("bootstrapped new cluster")
	}
	if n.startIndex, err = n.logs.LastIndex(); err != nil {
		return fmt.Errorf("central: read raft log: %w", err)
	}
	if n.state.Reused {
		// A kept file is what the node served when it stopped; the entries
		// after it in its log it never applied (committed or not, they
		// wait for the leader like those written while it was down).
		n.startIndex = min(n.startIndex, n.state.Applied)
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, cache, n.logs, snaps, n.trans)
	if err != nil {
		return fmt.Errorf("central: start raft: %w", err)
	}
	n.member, err = startMembership(n.cfg, n.log)
	if err != nil {
		return fmt.Errorf("central: %w", err)
	}
	return nil
}

// joinLoop joins the serf cluster through cfg.Join, retrying with backoff
// until every address named answered, or some did and the node knows a
// raft leader, or the node stops: nodes of a cluster start in any order,
// so a member named may not be listening yet, and a join that reached
// only some of them may have reached only nodes that started without the
// others (two followers joining each other before the bootstrapping node
// listens): serf would then never bring the two groups together. A member
// named that is gone for good (removed) is not tried for ever once the
// cluster has a leader.
func (n *Node) joinLoop() {
	wait := 250 * time.Millisecond
	for {
		reached, err := n.member.join(n.cfg.Join)
		if err == nil && reached >= len(n.cfg.Join) {
			return
		}
		if _, leader := n.raft.LeaderWithID(); err == nil && leader != "" {
			return
		}
		n.log.Warn("serf join failed, retrying", "join", n.cfg.Join, "reached", reached, "retryIn", wait, "err", err)
		select {
		case <-n.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// Serve runs until ctx is cancelled, then shuts the node down.
func (n *Node) Serve(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-n.stop:
	}
	return n.Close()
}

// Close stops raft, serf and the node's loops and closes its files. The
// node does not leave the cluster: it stays a raft voter, seen as failed
// until it comes back (RemoveNode takes it out).
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return n.closeEr
	}
	n.closed = true
	n.closeEr = n.shutdown()
	return n.closeEr
}

func (n *Node) shutdown() error {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	var errs []error
	if n.member != nil {
		errs = append(errs, n.member.shutdown())
	}
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown().Error())
	}
	n.wg.Wait()
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
	}
	if n.logs != nil {
		errs = append(errs, n.logs.Close())
	}
	if n.fsm != nil {
		errs = append(errs, n.fsm.close())
	}
	return errors.Join(errs...)
}

func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// reconcileLoop keeps raft membership following serf (on the leader) and
// creates the cluster secrets once.
func (n *Node) reconcileLoop() {
	t := time.NewTicker(reconcileInterval)
	defer t.Stop()
	known := map[string]string{}
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		case <-n.wake:
		}
		n.reconcile(known)
	}
}

func (n *Node) reconcile(known map[string]string) {
	peers := n.member.peers()
	counts := map[string]float64{"alive": 0, "failed": 0, "left": 0}
	for _, p := range peers {
		counts[p.Status]++
		if known[p.Name] != p.Status {
			if p.Status == "failed" {
				n.log.Warn("central node failed", "peer", p.Name)
			} else if p.Name != n.cfg.Name {
				n.log.Info("central node status", "peer", p.Name, "status", p.Status)
			}
			known[p.Name] = p.Status
		}
	}
	if n.members != nil {
		for s, c := range counts {
			n.members.WithLabelValues(s).Set(c)
		}
	}
	if n.raft.State() != raft.Leader {
		return
	}
	n.ensureSecrets()
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	inRaft := map[raft.ServerID]raft.ServerAddress{}
	for _, s := range cf.Configuration().Servers {
		inRaft[s.ID] = s.Address
	}
	for _, p := range peers {
		if p.Status != "alive" || p.RaftAddr == "" {
			continue
		}
		id, addr := raft.ServerID(p.Name), raft.ServerAddress(p.RaftAddr)
		if cur, ok := inRaft[id]; ok && cur == addr {
			continue
		}
		if err := n.raft.AddVoter(id, addr, 0, 5*time.Second).Error(); err != nil {
			n.log.Warn("add raft voter failed", "peer", p.Name, "err", err)
			continue
		}
		n.log.Info("added raft voter", "peer", p.Name, "raftAddr", p.RaftAddr)
	}
}

// ensureSecrets has the leader create the cluster secrets when none exist.
func (n *Node) ensureSecrets() {
	if _, ok, err := n.secrets(); err != nil || ok {
		return
	}
	cert, key, err := n.cfg.NewCA()
	if err != nil {
		n.log.Error("create cluster CA failed", "err", err)
		return
	}
	s := Secrets{CACertPEM: cert, CAKeyPEM: key, SessionKey: make([]byte, 32), ClusterKey: make([]byte, 32)}
	rand.Read(s.SessionKey)
	rand.Read(s.ClusterKey)
	f := n.raft.Apply(encodeEntry(entry{Type: entrySetSecrets, Secrets: s}), applyTimeout)
	if err := f.Error(); err != nil {
		n.log.Warn("propose cluster secrets failed", "err", err)
		return
	}
	n.log.Info("created cluster secrets")
}

func (n *Node) secrets() (Secrets, bool, error) {
	var s Secrets
	var ok bool
	err := n.fsm.view(func(r reader) error {
		v := r.tx.Bucket(bucketMeta).Get(keySecrets)
		if v == nil {
			return nil
		}
		var err error
		s, err = decodeSecrets(v)
		ok = err == nil
		return err
	})
	return s, ok, err
}

// Secrets returns the cluster secrets, waiting until the first leader has
// created them and this node has applied them.
func (n *Node) Secrets(ctx context.Context) (Secrets, error) {
	for {
		ch := n.fsm.changed()
		s, ok, err := n.secrets()
		if err != nil || ok {
			return s, err
		}
		select {
		case <-ctx.Done():
			return Secrets{}, fmt.Errorf("central: wait for secrets: %w", ctx.Err())
		case <-n.stop:
			return Secrets{}, ErrClosed
		case <-ch:
		}
	}
}

// View runs fn on a consistent read-only view of this node's state. It
// reads what this node has applied: after a Submit through this node
// returns, its writes are visible here.
func (n *Node) View(fn func(record.Reader) error) error {
	return n.fsm.view(func(r reader) error { return fn(r) })
}

// Submit executes one user command in the cluster (at the leader, through
// raft) and returns its outcome: nil, a *record.Rejection, or an error.
// When it returns nil, the command's writes are visible through View.
func (n *Node) Submit(ctx context.Context, cmd record.Command) error {
	res, err := n.propose(ctx, entry{Type: entryExecCommands, Commands: []record.Command{cmd}}, false)
	if err != nil {
		return err
	}
	if len(res.Errs) != 1 {
		return fmt.Errorf("central: submit: %d outcomes for one command", len(res.Errs))
	}
	return res.Errs[0].err()
}

// Partitions returns the names of the partitions this node holds, sorted.
func (n *Node) Partitions() ([]string, error) {
	var out []string
	err := n.fsm.view(func(r reader) error {
		return r.tx.Bucket(bucketParts).ForEach(func(k, v []byte) error {
			if v == nil { // a partition is a bucket
				out = append(out, string(k))
			}
			return nil
		})
	})
	return out, err
}

// SubmitBatch executes cmds, in order, in one raft entry (an operator's
// bulk work, such as a directory import) and returns each command's
// outcome: nil or a *record.Rejection. A command refused does not stop
// the next ones. err is the entry's failure as a whole; then none applied
// — or, when the outcome is unknown (the leader was lost after the entry
// was sent), maybe all: the commands must be idempotent, as every ENT
// command is.
func (n *Node) SubmitBatch(ctx context.Context, cmds []record.Command) ([]error, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	res, err := n.propose(ctx, entry{Type: entryExecCommands, Commands: cmds}, true)
	if err != nil {
		return nil, err
	}
	if res.Errs == nil {
		return make([]error, len(cmds)), nil
	}
	if len(res.Errs) != len(cmds) {
		return nil, fmt.Errorf("central: submit batch: %d outcomes for %d commands", len(res.Errs), len(cmds))
	}
	out := make([]error, len(cmds))
	for i, e := range res.Errs {
		out[i] = e.err()
	}
	return out, nil
}

// ApplyOutbox applies a batch of an edge's outbox commands and its new
// high-water mark in one raft entry. Commands at or below the stored
// high-water mark of (uai, epoch) are skipped, so a retransmitted batch is
// applied once. A command that central refuses leaves a notice record for
// its author. It returns the high-water mark after the batch.
// maxClockAhead is how far in the future an edge's clock may stamp a
// command before central stamps it with its own time.
const maxClockAhead = 5 * time.Minute

// clampTimes returns cmds with every time an edge stamped in the future
// (an appliance whose clock was lost, say) or not at all replaced by now.
// Commands made offline keep their past times: they are when people wrote.
// Done by the proposer, so the state machine stays deterministic; the
// caller's slice is left as it is.
func clampTimes(cmds []record.Command, now time.Time) []record.Command {
	limit := now.Add(maxClockAhead).UnixMilli()
	var out []record.Command
	for i, c := range cmds {
		if c.Time > 0 && c.Time <= limit {
			continue
		}
		if out == nil {
			out = slices.Clone(cmds)
		}
		out[i].Time = now.UnixMilli()
	}
	if out == nil {
		return cmds
	}
	return out
}

func (n *Node) ApplyOutbox(ctx context.Context, uai string, epoch uint64, cmds []record.Command) (uint64, error) {
	var prev uint64
	for i, c := range cmds {
		switch {
		case c.Origin != uai:
			return 0, fmt.Errorf("%w: command %d has origin %q, want %q", ErrBadOutbox, i, c.Origin, uai)
		case c.Epoch != epoch:
			return 0, fmt.Errorf("%w: command %d has epoch %d, want %d", ErrBadOutbox, i, c.Epoch, epoch)
		case c.Seq <= prev:
			return 0, fmt.Errorf("%w: command %d has seq %d after %d", ErrBadOutbox, i, c.Seq, prev)
		}
		prev = c.Seq
	}
	if uai == "" || uai == record.OriginCentral {
		return 0, fmt.Errorf("%w: origin %q is not an edge", ErrBadOutbox, uai)
	}
	cmds = clampTimes(cmds, time.Now())
	res, err := n.propose(ctx, entry{Type: entryEdgeOutbox, UAI: uai, Epoch: epoch, Commands: cmds}, true)
	if err != nil {
		return 0, err
	}
	return res.HWM, res.Err.err()
}

// HighWater returns the last outbox sequence number of (uai, epoch) that
// this node has applied.
func (n *Node) HighWater(uai string, epoch uint64) (uint64, error) {
	var hwm uint64
	err := n.fsm.view(func(r reader) error { hwm = r.highWater(uai, epoch); return nil })
	return hwm, err
}

// Changes returns up to limit records of partition changed after sequence
// number since, oldest change first, and the checkpoint reached: the last
// returned record's sequence number, or the partition's latest sequence
// number when nothing more is left to read (so last == since means no
// change).
func (n *Node) Changes(partition string, since uint64, limit int) ([]record.Record, uint64, error) {
	if limit <= 0 {
		limit = 1000
	}
	var recs []record.Record
	var last uint64
	err := n.fsm.view(func(r reader) error {
		var err error
		recs, last, _, err = r.changes(partition, since, limit, nil)
		return err
	})
	return recs, last, err
}

// ChangesStubbed is Changes for a pull whose answer sends as stubs the
// records stub accepts: those of them that central keeps as references
// to a blob (the chunks of files) come without their body, which is not
// read. left[i] is the length of the body left out of recs[i] (nil when
// none was).
func (n *Node) ChangesStubbed(partition string, since uint64, limit int, stub func(record.Record) bool) (recs []record.Record, last uint64, left []int, err error) {
	if limit <= 0 {
		limit = 1000
	}
	err = n.fsm.view(func(r reader) error {
		var err error
		recs, last, left, err = r.changes(partition, since, limit, stub)
		return err
	})
	return recs, last, left, err
}

// LastSeq returns the partition's latest sequence number on this node.
func (n *Node) LastSeq(partition string) (uint64, error) {
	var last uint64
	err := n.fsm.view(func(r reader) error { last = r.lastSeq(partition); return nil })
	return last, err
}

// Changed returns a channel closed when this node next applies changes.
func (n *Node) Changed() <-chan struct{} { return n.fsm.changed() }

// AddEnrolToken stores a one-time enrolment token (by its hash) for the
// lycée uai, valid until expires.
func (n *Node) AddEnrolToken(ctx context.Context, uai, tokenHash string, expires time.Time) error {
	res, err := n.propose(ctx, entry{Type: entryAddEnrolToken, UAI: uai, TokenHash: tokenHash, Time: expires.UnixMilli()}, false)
	if err != nil {
		return err
	}
	return res.Err.err()
}

// ConsumeEnrolToken uses the token with that hash and returns its lycée.
// A token works once, before it expires (ErrTokenUsed, ErrTokenExpired,
// ErrTokenUnknown).
func (n *Node) ConsumeEnrolToken(ctx context.Context, tokenHash string) (string, error) {
	res, err := n.propose(ctx, entry{Type: entryConsumeEnrolToken, TokenHash: tokenHash, Time: time.Now().UnixMilli()}, false)
	if err != nil {
		return "", err
	}
	return res.UAI, res.Err.err()
}

// propose gets the entry committed and applied, at the leader or by
// forwarding it there, then waits until this node has applied it. It
// retries briefly while there is no leader or the leader changes; an
// attempt whose fate is unknown (leadership lost after the entry was sent)
// is retried only when the entry is idempotent.
func (n *Node) propose(ctx context.Context, en entry, idempotent bool) (*result, error) {
	data := encodeEntry(en)
	var res *result
	var index uint64
	err := n.retrying(ctx, func() (bool, error) {
		var err error
		var retry bool
		res, index, err, retry = n.attempt(ctx, data, idempotent)
		return retry, err
	})
	if errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader) {
		err = fmt.Errorf("%w (%w)", record.ErrUnavailable, err)
	}
	if err != nil {
		return nil, err
	}
	if err := n.waitApplied(ctx, index); err != nil {
		return nil, err
	}
	return res, nil
}

// retrying calls try until it succeeds, fails in a way try says not to
// retry, or retryWindow has passed since the first call; it backs off
// between calls. Calls that go to the leader use it to ride out an
// election or a leader not yet known to serf.
func (n *Node) retrying(ctx context.Context, try func() (retry bool, err error)) error {
	deadline := time.Now().Add(retryWindow)
	backoff := 10 * time.Millisecond
	for {
		retry, err := try()
		if err == nil || !retry || time.Now().After(deadline) {
			return err
		}
		n.log.Debug("retry call to the leader", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("central: %w (last error: %v)", ctx.Err(), err)
		case <-n.stop:
			return ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func (n *Node) attempt(ctx context.Context, data []byte, idempotent bool) (res *result, index uint64, err error, retry bool) {
	select {
	case <-n.stop:
		return nil, 0, ErrClosed, false
	default:
	}
	if n.raft.State() == raft.Leader {
		res, index, err := n.applyLocal(data)
		switch {
		case errors.Is(err, ErrNotLeader):
			return nil, 0, err, true
		case errors.Is(err, raft.ErrLeadershipLost):
			return nil, 0, fmt.Errorf("central: leadership lost: %w (%w)", record.ErrOutcomeUnknown, err), idempotent
		}
		return res, index, err, false
	}
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return nil, 0, ErrNoLeader, true
	}
	url := n.peerURL(string(id))
	if url == "" {
		return nil, 0, fmt.Errorf("%w: leader %s not known to serf yet", ErrNoLeader, id), true
	}
	return n.forward(ctx, url, data, idempotent)
}

// applyLocal applies data through raft on this node, the leader.
func (n *Node) applyLocal(data []byte) (*result, uint64, error) {
	f := n.raft.Apply(data, applyTimeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			return nil, 0, ErrNotLeader
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, 0, ErrClosed
		}
		return nil, 0, fmt.Errorf("central: apply: %w", err)
	}
	res, ok := f.Response().(*result)
	if !ok {
		return nil, 0, fmt.Errorf("central: apply: no result for entry %d", f.Index())
	}
	return res, f.Index(), nil
}

// waitApplied blocks until this node's state machine applied index.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	for {
		ch := n.fsm.changed()
		if n.fsm.applied.Load() >= index {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("central: wait for index %d: %w", index, ctx.Err())
		case <-n.stop:
			return ErrClosed
		case <-ch:
		}
	}
}

func (n *Node) peerURL(name string) string {
	for _, p := range n.member.peers() {
		if p.Name == name {
			return p.HTTPURL
		}
	}
	return ""
}

// IsLeader reports whether this node is the raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's name and HTTP URL ("" when none is known).
func (n *Node) Leader() (name, httpURL string) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return "", ""
	}
	return string(id), n.peerURL(string(id))
}

// RaftState is "Follower", "Candidate", "Leader" or "Shutdown".
func (n *Node) RaftState() string { return n.raft.State().String() }

// CommitIndex is the raft commit index known to this node.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// AppliedIndex is the last raft index this node's state machine applied.
func (n *Node) AppliedIndex() uint64 { return n.fsm.applied.Load() }

// CaughtUp reports whether the state machine has applied the raft log this
// node held when it started, or holds a state file kept from before (until
// then it serves an older state than it did before it stopped).
func (n *Node) CaughtUp() bool { return n.fsm.applied.Load() >= n.startIndex }

// StateOpen tells whether this node kept its state file at start or
// rebuilt it from snapshot and log, and why.
func (n *Node) StateOpen() StateOpen { return n.state }

// Members lists the central nodes known to serf or to raft.
func (n *Node) Members() []Member {
	_, leaderID := n.raft.LeaderWithID()
	voters := map[string]raft.ServerAddress{}
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				voters[string(s.ID)] = s.Address
			}
		}
	}
	var out []Member
	seen := map[string]bool{}
	for _, p := range n.member.peers() {
		_, voter := voters[p.Name]
		out = append(out, Member{Name: p.Name, Status: p.Status, RaftAddr: p.RaftAddr, HTTPURL: p.HTTPURL,
			QUICAddr: p.QUICAddr, Voter: voter, Leader: p.Name == string(leaderID)})
		seen[p.Name] = true
	}
	for name, addr := range voters {
		if !seen[name] {
			out = append(out, Member{Name: name, Status: "unknown", RaftAddr: string(addr), Voter: true,
				Leader: name == string(leaderID)})
		}
	}
	return out
}

// RemoveNode takes a failed (or departed) node out of the raft
// configuration and the gossip for good. Membership never shrinks by
// itself: a failed node stays a voter until an operator removes it.
//
// A node that serf reports alive is refused with ErrNodeAlive: the leader
// adds every alive serf member to raft, so it would be back at once. Stop
// it first (serf reports it failed a few seconds later). A removed node
// that is started again rejoins through serf and becomes a voter again
// (see DESIGN.md).
//
// On a follower the call goes to the leader; like a proposal, it is
// retried for up to 10 s while no leader is known or the leader changes.
func (n *Node) RemoveNode(ctx context.Context, name string) error {
	return n.retrying(ctx, func() (bool, error) { return n.tryRemove(ctx, name) })
}

// tryRemove removes name at the leader, this node or the one it knows. It
// reports retry when the removal surely did not happen and may succeed at
// a leader found later.
func (n *Node) tryRemove(ctx context.Context, name string) (retry bool, err error) {
	select {
	case <-n.stop:
		return false, ErrClosed
	default:
	}
	if n.raft.State() == raft.Leader {
		err := n.removeLocal(name)
		return errors.Is(err, ErrNotLeader), err
	}
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return true, ErrNoLeader
	}
	url := n.peerURL(string(id))
	if url == "" {
		return true, fmt.Errorf("%w: leader %s not known to serf yet", ErrNoLeader, id)
	}
	sent, err := n.forwardRemove(ctx, url, name)
	if err == nil {
		return false, nil
	}
	// A removal that may have reached the leader is not retried: a second
	// one would answer ErrUnknownNode for a node the first removed.
	return !sent || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoSecrets), err
}

// removeLocal removes name on this node, which must be the leader.
func (n *Node) removeLocal(name string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	inSerf := false
	for _, p := range n.member.peers() {
		if p.Name != name {
			continue
		}
		if p.Status == "alive" {
			return errNodeAlive(name)
		}
		inSerf = true
	}
	inRaft := false
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			if string(s.ID) == name {
				inRaft = true
			}
		}
	}
	if !inRaft && !inSerf {
		return fmt.Errorf("%w: %q", ErrUnknownNode, name)
	}
	if inRaft {
		if err := n.raft.RemoveServer(raft.ServerID(name), 0, applyTimeout).Error(); err != nil {
			if errors.Is(err, raft.ErrNotLeader) {
				return ErrNotLeader
			}
			return fmt.Errorf("central: remove %s from raft: %w", name, err)
		}
	}
	// Serf forgets the node (pruned, not merely "left"), so that nothing
	// of it remains for the reconcile loop to act on.
	if inSerf {
		if err := n.member.forceLeave(name); err != nil {
			return fmt.Errorf("central: remove %s from serf: %w", name, err)
		}
	}
	n.log.Info("removed central node", "peer", name)
	return nil
}

func (n *Node) register(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	n.members = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "atrium_central_members", Help: "Central nodes known to serf, by status.",
	}, []string{"status"})
	states := map[raft.RaftState]float64{raft.Follower: 0, raft.Candidate: 1, raft.Leader: 2, raft.Shutdown: 3}
	for _, c := range []prometheus.Collector{
		n.members,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "atrium_raft_state", Help: "Raft state of this node: 0 follower, 1 candidate, 2 leader, 3 shutdown.",
		}, func() float64 { return states[n.raft.State()] }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "atrium_raft_commit_index", Help: "Raft commit index known to this node.",
		}, func() float64 { return float64(n.raft.CommitIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "atrium_raft_applied_index", Help: "Last raft index applied by this node's state machine.",
		}, func() float64 { return float64(n.fsm.applied.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "atrium_central_state_reused", Help: "1 if this node kept its state file at start, 0 if it rebuilt it from snapshot and log.",
		}, func() float64 {
			if n.state.Reused {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "atrium_central_tombstones_purged_total", Help: "Tombstones past the horizon this node's state machine removed since it started.",
		}, func() float64 { return float64(n.fsm.purged.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "atrium_central_blob_bytes", Help: "Bytes of the chunks of files this node's state file holds once for every lycée (blobs.go).",
		}, func() float64 { _, b, _ := n.BlobStats(); return float64(b) }),
	} {
		if err := reg.Register(c); err != nil {
			n.log.Warn("register metric failed", "err", err)
		}
	}
}
