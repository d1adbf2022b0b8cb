package replication

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/record"
)

// Sink is what the client applies the feed to and takes the outbox from:
// the edge's local store.
type Sink interface {
	// Epoch is the store's epoch, minted when it was created.
	Epoch() uint64
	// Checkpoint is the last sequence of partition applied.
	Checkpoint(partition string) (uint64, error)
	// ApplyChanges stores recs as received and the new checkpoint, in one
	// transaction.
	ApplyChanges(partition string, recs []record.Record, checkpoint uint64) error
	// Outbox returns up to limit commands not yet acknowledged whose
	// sequence is above after (the last one in flight), oldest first.
	Outbox(after uint64, limit int) ([]record.Command, error)
	// AckOutbox drops the commands of epoch up to hwm from the outbox.
	AckOutbox(epoch, hwm uint64) error
	// OutboxChanged returns a channel closed at the next outbox append.
	OutboxChanged() <-chan struct{}
}

// outboxLener is implemented by a Sink that knows its outbox depth; the
// client then reports it to central for the operators' dashboard.
type outboxLener interface{ OutboxLen() int }

// StubSink is implemented by a Sink that can complete stub records from
// its own (the edge's store); the client then takes stubs in the feed of
// the edge's own partition from a central that sends them (Pull.Stubs):
// the edge's uploads are not sent back to it.
type StubSink interface {
	// ApplyStubbed is ApplyChanges for a page where stubs[i] marks
	// recs[i] as a stub, without its body: the sink takes the body from
	// its own live record of the same partition, id and kind, in the same
	// transaction, so that it stores central's record byte for byte. When
	// it holds no such record for some stubs, it applies nothing (not
	// even the checkpoint) and returns how many it lacked; the client
	// then pulls the page again, whole.
	ApplyStubbed(partition string, recs []record.Record, stubs []bool, checkpoint uint64) (missing int, err error)
}

// Preparer is implemented by a Sink that can start on a page of the feed
// before applying it: the work that follows from the records alone (the
// edge's store: encoding, sealing, index terms, digests). The client calls
// Prepare as soon as a page arrives, while it still applies the page
// before, then passes the same slice to ApplyChanges.
type Preparer interface {
	Prepare(partition string, recs []record.Record)
}

// Client tuning.
const (
	pullLimit   = 5000
	pullWait    = 20 * time.Second
	pushBatch   = 1000
	pushTick    = time.Second
	dialTimeout = 5 * time.Second
	callTimeout = 15 * time.Second // a Push, or a Pull beyond its long-poll wait
)

// ClientConfig configures a Client. UAI, Servers, TLS and Sink are required.
type ClientConfig struct {
	UAI        string      // the lycée this edge serves, as its certificate names it
	Partitions []string    // partitions to pull; nil = {UAI, record.Region}
	Servers    []string    // UDP host:port of central's listeners, tried in turn
	TLS        *tls.Config // client certificate and RootCAs
	Sink       Sink
	Logger     *slog.Logger          // nil = slog.Default()
	Registerer prometheus.Registerer // nil = no metrics registered
	MinBackoff time.Duration         // first reconnect delay bound; 0 = 200ms
	MaxBackoff time.Duration         // largest reconnect delay bound; 0 = 10s
	// PullLimit is the most records asked for in one Pull (a page of a
	// catch-up, a repair or a snapshot); 0 = 5000 (central serves at most
	// that many).
	PullLimit int
	// WAN caps the edge's QUIC traffic and counts its bytes (shaper.go);
	// nil = no cap, not counted.
	WAN *WAN

	// alpn replaces the protocols offered (tests play an older edge).
	alpn []string
}

// ClientStatus is the state of an edge's sync link.
type ClientStatus struct {
	Connected   bool              `json:"connected"`
	Server      string            `json:"server,omitempty"` // the central listener in use
	LastSync    time.Time         `json:"lastSync"`         // last Changes or Ack received
	Checkpoints map[string]uint64 `json:"checkpoints"`
	Digest      DigestStatus      `json:"digest"` // the lycée's partition against central's (digest.go)
	// Snapshots are the snapshots taken or in progress, by partition
	// (snapshot.go); absent for a partition that never needed one.
	Snapshots map[string]SnapshotStatus `json:"snapshots,omitempty"`
}

// Client keeps an edge in sync with central: it pulls the feed of its
// partitions by long-poll and pushes its outbox, reconnecting with jittered
// exponential backoff whenever the link fails. It is safe for concurrent use.
type Client struct {
	cfg ClientConfig
	log *slog.Logger

	connected  prometheus.Gauge
	applied    prometheus.Counter
	stubs      prometheus.Counter // stubs completed from the sink's own records
	stubMisses prometheus.Counter // pages pulled again whole: the sink lacked a stub's record
	dm         digestMetrics      // digest.go
	sm         snapshotMetrics    // snapshot.go

	mu        sync.Mutex
	status    ClientStatus
	digest    DigestStatus
	snapshots map[string]SnapshotStatus
}

// NewClient validates cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	switch {
	case cfg.UAI == "":
		return nil, errors.New("replication client: UAI is required")
	case len(cfg.Servers) == 0:
		return nil, errors.New("replication client: Servers is required")
	case cfg.TLS == nil:
		return nil, errors.New("replication client: TLS is required")
	case cfg.Sink == nil:
		return nil, errors.New("replication client: Sink is required")
	}
	if cfg.Partitions == nil {
		cfg.Partitions = []string{cfg.UAI, record.Region}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	c := &Client{
		cfg: cfg,
		log: cfg.Logger,
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "atrium_edge_connected", Help: "1 while the edge has a sync session with central.",
		}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atrium_edge_records_applied_total", Help: "Records received from central and applied locally.",
		}),
		stubs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atrium_edge_stubs_applied_total", Help: "Records central sent as stubs (the edge's own uploads) and the edge completed from its own copy.",
		}),
		stubMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atrium_edge_stub_misses_total", Help: "Pages of the feed pulled again whole because the edge lacked the record of a stub (restored from a backup, reinstalled).",
		}),
		status:    ClientStatus{Checkpoints: map[string]uint64{}},
		dm:        newDigestMetrics(),
		sm:        newSnapshotMetrics(),
		snapshots: map[string]SnapshotStatus{},
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if cfg.Registerer != nil {
		ms := append([]prometheus.Collector{c.connected, c.applied, c.stubs, c.stubMisses}, c.dm.collectors()...)
		for _, m := range append(ms, c.sm.collectors()...) {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("replication client: register metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Connected reports whether a session with central is open.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.Connected
}

// Status returns the state of the link.
func (c *Client) Status() ClientStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.status
	st.Checkpoints = maps.Clone(c.status.Checkpoints)
	st.Digest = c.digest
	if len(c.snapshots) > 0 {
		st.Snapshots = maps.Clone(c.snapshots)
	}
	return st
}

// pullLimit is the page size of the client's Pulls.
func (c *Client) pullLimit() int {
	if c.cfg.PullLimit > 0 {
		return c.cfg.PullLimit
	}
	return pullLimit
}

// Serve keeps the edge in sync until ctx is cancelled, then returns nil.
// Every failure is retried, except central's answer that this edge's
// certificate is revoked: Serve then returns an error matching ErrRevoked.
func (c *Client) Serve(ctx context.Context) error {
	attempt := 0
	next := 0 // server to try first: the last one that worked
	for {
		used, ok, err := c.connectOnce(ctx, next)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRevoked) {
			c.log.Error("central revoked this edge's certificate", "err", err)
			return fmt.Errorf("replication client: %w", err)
		}
		if ok {
			next = used
			attempt = 0
		}
		var d time.Duration
		if retry, busy := busyRetry(err); busy {
			// Central has no catch-up slot for this edge yet: not a
			// failure, so the backoff does not grow; come back when told,
			// plus a jitter of our own.
			c.log.Info("central busy, waiting for a catch-up slot", "retryAfter", retry)
			d = max(retry, c.cfg.MinBackoff) + rand.N(c.cfg.MinBackoff+1)
			if !ok {
				next = used // the same listener: it keeps our place in line
			}
		} else {
			c.log.Warn("sync link down", "err", err)
			d = c.backoff(attempt)
			attempt++
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// busyRetry reports whether err is central's busy answer, and the wait it
// asked for.
func busyRetry(err error) (time.Duration, bool) {
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeBusy {
		return 0, false
	}
	return re.RetryAfter, true
}

// backoff is a full-jitter exponential delay: uniform in [0, min(max, min·2^attempt)].
func (c *Client) backoff(attempt int) time.Duration {
	bound := c.cfg.MaxBackoff
	if attempt < 30 {
		bound = min(c.cfg.MaxBackoff, c.cfg.MinBackoff<<attempt)
	}
	return rand.N(bound + 1)
}

// connectOnce tries the servers in turn from first; the first that accepts
// a session is used until the session fails. It returns the index of that
// server and whether a session was opened.
func (c *Client) connectOnce(ctx context.Context, first int) (int, bool, error) {
	var errs []error
	n := len(c.cfg.Servers)
	for k := range n {
		i := (first + k) % n
		addr := c.cfg.Servers[i]
		cn, hwm, err := c.open(ctx, addr)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil || errors.Is(err, ErrRevoked) || errors.Is(err, ErrBusy) {
				// Busy: the listener keeps this edge's place in line;
				// another one would put it at the back of its own.
				return i, false, err
			}
			continue
		}
		err = c.session(ctx, cn, addr, hwm)
		return i, true, err
	}
	return first, false, errors.Join(errs...)
}

// open dials addr and says Hello.
func (c *Client) open(ctx context.Context, addr string) (*conn, uint64, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	cn, err := dialWAN(dctx, addr, c.cfg.TLS, c.cfg.WAN, c.cfg.alpn)
	if err != nil {
		return nil, 0, err
	}
	depth := uint64(0)
	if o, ok := c.cfg.Sink.(outboxLener); ok {
		depth = uint64(o.OutboxLen())
	}
	resp, err := call(dctx, cn, &Hello{ProtocolVersion: ProtocolVersion, UAI: c.cfg.UAI, Epoch: c.cfg.Sink.Epoch(), OutboxDepth: depth}, dialTimeout)
	if err != nil {
		cn.close("hello failed")
		return nil, 0, fmt.Errorf("hello %s: %w", addr, err)
	}
	ok, isOK := resp.(*HelloOK)
	if !isOK {
		cn.close("unexpected answer")
		return nil, 0, fmt.Errorf("hello %s: %w: %T", addr, ErrUnexpected, resp)
	}
	c.log.Info("sync link up", "server", addr, "node", ok.Node, "highWater", ok.HighWater, "protocol", cn.protocol())
	return cn, ok.HighWater, nil
}

// session runs the pull loops and the push loop on cn until one fails or
// ctx is cancelled.
func (c *Client) session(ctx context.Context, cn *conn, addr string, hwm uint64) error {
	defer cn.close("session ended")
	epoch := c.cfg.Sink.Epoch()
	if hwm > 0 {
		// Central applied these before a lost Ack: drop them now.
		if err := c.cfg.Sink.AckOutbox(epoch, hwm); err != nil {
			return fmt.Errorf("ack outbox: %w", err)
		}
	}
	c.setConnected(true, addr)
	defer c.setConnected(false, "")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(c.cfg.Partitions)+1)
	var wg sync.WaitGroup
	for _, p := range c.cfg.Partitions {
		wg.Go(func() { errc <- c.pullLoop(ctx, cn, p) })
	}
	wg.Go(func() { errc <- c.pushLoop(ctx, cn, epoch) })

	var err error
	select {
	case err = <-errc:
	case <-cn.done():
		err = ErrLinkClosed
	case <-ctx.Done():
	}
	cancel()
	cn.close("session ended")
	wg.Wait()
	return err
}

func (c *Client) pullLoop(ctx context.Context, cn *conn, partition string) error {
	since, err := c.cfg.Sink.Checkpoint(partition)
	if err != nil {
		return fmt.Errorf("read checkpoint of %s: %w", partition, err)
	}
	c.setCheckpoint(partition, since)
	// A snapshot left unfinished by an earlier session (or run of the
	// edge) is resumed before anything else (snapshot.go).
	if pending, err := c.pendingSnapshot(partition); err != nil {
		return err
	} else if pending {
		if since, err = c.snapshot(ctx, cn, partition, errors.New("snapshot in progress")); err != nil {
			return err
		}
	}
	type pulled struct {
		resp  Message
		err   error
		stubs bool // the Pull took stubs
	}
	stubSink, takesStubs := c.takesStubs(cn, partition)
	preparer, _ := c.cfg.Sink.(Preparer)
	fetch := func(from uint64, stubs bool) chan pulled {
		ch := make(chan pulled, 1) // the goroutine never blocks, even if the loop has returned
		go func() {
			resp, err := call(ctx, cn, &Pull{Partition: partition, Since: from, Limit: uint64(c.pullLimit()), WaitMillis: uint64(pullWait / time.Millisecond),
				WantDigest: c.wantDigest(partition), Stubs: stubs}, pullWait+callTimeout)
			if page, ok := resp.(*Changes); ok && page.Stubs == nil && preparer != nil {
				preparer.Prepare(partition, page.Records)
			}
			ch <- pulled{resp, err, stubs}
		}()
		return ch
	}
	next := fetch(since, takesStubs)
	for {
		var p pulled
		select {
		case p = <-next:
		case <-ctx.Done():
			return ctx.Err()
		}
		if errors.Is(p.err, ErrHorizon) {
			// Deletions after the checkpoint are no longer in the feed:
			// take the partition whole (snapshot.go).
			if since, err = c.snapshot(ctx, cn, partition, p.err); err != nil {
				return err
			}
			next = fetch(since, takesStubs)
			continue
		}
		if p.err != nil {
			return fmt.Errorf("pull %s: %w", partition, p.err)
		}
		ch, ok := p.resp.(*Changes)
		if !ok {
			return fmt.Errorf("pull %s: %w: %T", partition, ErrUnexpected, p.resp)
		}
		if err := checkChanges(ch, partition, since); err != nil {
			return err
		}
		if ch.Stubs != nil && !p.stubs {
			return fmt.Errorf("pull %s: %w: stubs in the answer to a pull that takes none", partition, ErrUnexpected)
		}
		// While catching up, ask for the next page before applying this
		// one, so that central's read and the transfer overlap the fsync.
		next = nil
		if ch.More {
			next = fetch(ch.Last, takesStubs)
		}
		if ch.Stubs != nil {
			missing, err := stubSink.ApplyStubbed(partition, ch.Records, ch.Stubs, ch.Last)
			if err != nil {
				return fmt.Errorf("apply changes of %s: %w", partition, err)
			}
			if missing > 0 {
				// Not all of this edge's records are here (a store
				// restored from a backup, reinstalled): nothing was
				// applied; the same page again, whole. The next page,
				// if asked for, would follow a page not applied.
				c.stubMisses.Inc()
				c.log.Info("pulling a page again whole: the edge lacks records central sent as stubs",
					"partition", partition, "since", since, "missing", missing, "records", len(ch.Records))
				next = fetch(since, false)
				continue
			}
			since = ch.Last
			c.applied.Add(float64(len(ch.Records)))
			c.stubs.Add(float64(countTrue(ch.Stubs)))
		} else if ch.Last > since || len(ch.Records) > 0 {
			if err := c.cfg.Sink.ApplyChanges(partition, ch.Records, ch.Last); err != nil {
				return fmt.Errorf("apply changes of %s: %w", partition, err)
			}
			since = ch.Last
			c.applied.Add(float64(len(ch.Records)))
		}
		if ch.Digest != nil {
			// Compare with central's digest, repair if they differ
			// (digest.go); a repair moves the checkpoint.
			if since, err = c.checkDigest(ctx, cn, partition, ch); err != nil {
				return err
			}
		}
		c.setCheckpoint(partition, since)
		if next == nil {
			next = fetch(since, takesStubs)
		}
	}
}

// takesStubs reports whether the pulls of partition on cn take stub
// records: only the edge's own partition (the region's records are never
// the edge's), with a sink that completes them, from a central that
// speaks alpnStubs (an older one would refuse Pull.Stubs as malformed).
func (c *Client) takesStubs(cn *conn, partition string) (StubSink, bool) {
	ss, ok := c.cfg.Sink.(StubSink)
	if !ok || partition != c.cfg.UAI || cn.protocol() != alpnStubs {
		return nil, false
	}
	return ss, true
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// checkChanges refuses an answer that would make the edge hold another
// partition's records or move its checkpoint backwards.
func checkChanges(ch *Changes, partition string, since uint64) error {
	if ch.Partition != partition || ch.Last < since {
		return fmt.Errorf("pull %s: %w: changes of %q up to %d", partition, ErrUnexpected, ch.Partition, ch.Last)
	}
	for i := range ch.Records {
		if ch.Records[i].Partition != partition {
			return fmt.Errorf("pull %s: %w: record of partition %q", partition, ErrUnexpected, ch.Records[i].Partition)
		}
	}
	return nil
}

func (c *Client) pushLoop(ctx context.Context, cn *conn, epoch uint64) error {
	tick := time.NewTicker(pushTick)
	defer tick.Stop()
	// Acknowledged commands leave the outbox in the background: the next
	// batch (read after the last one sent) need not wait for that fsync.
	acks := newAcker(c.cfg.Sink, epoch)
	defer func() { acks.close() }()
	var sent uint64 // last sequence pushed and acknowledged in this session
	for {
		changed := c.cfg.Sink.OutboxChanged() // before reading, so no append is missed
		cmds, err := c.cfg.Sink.Outbox(sent, pushBatch)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(cmds) == 0 {
			if err := acks.err(); err != nil {
				return err
			}
			select {
			case <-changed:
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		cmds = fitFrame(cmds)
		if e := cmds[0].Epoch; e != acks.epoch {
			// Commands of an earlier start of the edge's store go first,
			// each epoch acknowledged under its own high-water mark.
			acks.close()
			if err := acks.err(); err != nil {
				return err
			}
			acks = newAcker(c.cfg.Sink, e)
		}
		r := c.push(ctx, cn, cmds[0].Epoch, cmds)
		if r.err != nil {
			return r.err
		}
		last := cmds[len(cmds)-1].Seq
		if r.hwm < last {
			// Central stays below this batch (an earlier batch of the
			// epoch is missing there): pushing again would loop, so let
			// the backoff pace the retries from a fresh session.
			return fmt.Errorf("push: %w: ack %d below command %d", ErrUnexpected, r.hwm, last)
		}
		// The next batch starts after this one, not after the high-water
		// mark: an epoch's mark may pass the sequence numbers a later
		// epoch reused (a store restored from a backup).
		sent = last
		acks.ack(r.hwm)
		if err := acks.err(); err != nil {
			return err
		}
		c.mu.Lock()
		c.status.LastSync = time.Now()
		c.mu.Unlock()
	}
}

// acker removes acknowledged commands from the outbox in the background,
// coalescing acknowledgements that arrive while it is busy.
type acker struct {
	sink  Sink
	epoch uint64
	mu    sync.Mutex
	hwm   uint64 // highest acknowledged, not yet removed
	fail  error
	wake  chan struct{}
	done  chan struct{}
}

func newAcker(sink Sink, epoch uint64) *acker {
	a := &acker{sink: sink, epoch: epoch, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *acker) ack(hwm uint64) {
	a.mu.Lock()
	a.hwm = max(a.hwm, hwm)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *acker) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fail
}

func (a *acker) run() {
	defer close(a.done)
	var removed uint64
	for range a.wake {
		a.mu.Lock()
		hwm := a.hwm
		a.mu.Unlock()
		if hwm <= removed {
			continue
		}
		if err := a.sink.AckOutbox(a.epoch, hwm); err != nil {
			a.mu.Lock()
			a.fail = fmt.Errorf("ack outbox: %w", err)
			a.mu.Unlock()
			continue
		}
		removed = hwm
	}
}

// close removes what is still acknowledged and stops the acker.
func (a *acker) close() {
	close(a.wake)
	<-a.done
}

// fitFrame keeps the first commands of a batch whose arguments fit in a
// frame (at least one), whatever the Sink returned: commands carrying
// chunks of files are large.
func fitFrame(cmds []record.Command) []record.Command {
	size := 0
	for i, c := range cmds {
		size += len(c.Args) + len(c.Op) + len(c.Partition) + len(c.User) + 64
		if i > 0 && size > softFrameSize {
			return cmds[:i]
		}
	}
	return cmds
}

// pushResult is central's answer to one pushed batch.
type pushResult struct {
	hwm uint64
	err error
}

func (c *Client) push(ctx context.Context, cn *conn, epoch uint64, cmds []record.Command) pushResult {
	depth := uint64(len(cmds))
	if o, ok := c.cfg.Sink.(outboxLener); ok {
		depth = max(depth, uint64(o.OutboxLen()))
	}
	resp, err := call(ctx, cn, &Push{Epoch: epoch, Outbox: depth, Commands: cmds}, callTimeout)
	if err != nil {
		return pushResult{err: fmt.Errorf("push %d commands: %w", len(cmds), err)}
	}
	ack, ok := resp.(*Ack)
	if !ok {
		return pushResult{err: fmt.Errorf("push: %w: %T", ErrUnexpected, resp)}
	}
	return pushResult{hwm: ack.HighWater}
}

func (c *Client) setConnected(up bool, server string) {
	c.mu.Lock()
	c.status.Connected = up
	c.status.Server = server
	if up {
		c.status.LastSync = time.Now()
	}
	c.mu.Unlock()
	if up {
		c.connected.Set(1)
	} else {
		c.connected.Set(0)
	}
}

func (c *Client) setCheckpoint(partition string, seq uint64) {
	c.mu.Lock()
	c.status.Checkpoints[partition] = seq
	c.status.LastSync = time.Now()
	c.mu.Unlock()
}

// call sends req on a new stream and reads the answer; an Error answer
// is returned as a *RemoteError.
func call(ctx context.Context, cn *conn, req Message, timeout time.Duration) (Message, error) {
	st, err := cn.openStream(ctx)
	if err != nil {
		return nil, err
	}
	st.setDeadline(time.Now().Add(timeout))
	if err := WriteFrame(st, req); err != nil {
		st.abort()
		return nil, err
	}
	resp, err := ReadFrame(bufio.NewReader(st))
	st.finish()
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if e, ok := resp.(*Error); ok {
		re := &RemoteError{Code: e.Code, Message: e.Message}
		switch e.Code {
		case CodeBusy:
			re.RetryAfter = parseRetryAfter(e.Message)
		case CodeHorizon:
			re.Floor = parseFloor(e.Message) // snapshot.go
		}
		return nil, re
	}
	return resp, nil
}
