package replication

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/record"
)

// Source is what the server reads the feed from and applies outboxes to:
// central's replicated state.
type Source interface {
	// Changes returns up to limit records of partition with a sequence
	// number above since, in sequence order, and the last sequence number
	// it scanned.
	Changes(partition string, since uint64, limit int) (recs []record.Record, last uint64, err error)
	// Changed returns a channel closed at the next change of any partition.
	Changed() <-chan struct{}
	// ApplyOutbox applies a batch of an edge's outbox and its new
	// high-water mark in one replicated step; commands at or below the
	// stored high-water mark are skipped. It returns the new mark.
	ApplyOutbox(ctx context.Context, uai string, epoch uint64, cmds []record.Command) (hwm uint64, err error)
	// HighWater returns the stored high-water mark of the edge's epoch.
	HighWater(uai string, epoch uint64) (uint64, error)
}

// StubSource is implemented by a Source that can leave out the bodies of
// the records a Pull that takes stubs sends as stubs (ServerConfig.Stub),
// instead of reading them: central keeps the chunks of files once per
// content, and an edge catching up on its own uploads would have it read
// and encode every chunk for nothing. ChangesStubbed is Changes where the
// records stub accepts may come without their body; left[i] is the length
// of the body left out of recs[i] (left is nil when none was). The pages
// it returns are bounded by what is read, so more stubs fit in one.
type StubSource interface {
	ChangesStubbed(partition string, since uint64, limit int, stub func(record.Record) bool) (recs []record.Record, last uint64, left []int, err error)
}

// LastSeqer is implemented by a Source that can say cheaply the latest
// sequence number of a partition; the server then reports exact lag.
// Without it, lag is measured against the newest sequence the server has
// seen of the partition.
type LastSeqer interface {
	LastSeq(partition string) (uint64, error)
}

// Floorer is implemented by a Source that purges tombstones past a
// horizon (central does, central/horizon.go): Floor is the highest
// sequence number of partition whose change may be missing from the feed.
// The server then answers a Pull whose Since is above 0 and below it with
// Error{CodeHorizon}: the edge takes a snapshot (snapshot.go).
type Floorer interface {
	Floor(partition string) (uint64, error)
}

// Server limits.
const (
	maxWait      = 25 * time.Second // longest long-poll
	maxPullLimit = 5000             // records asked of the Source per Pull
	defPullLimit = 1000
	maxPushBatch = 10000 // commands accepted in one Push
	helloTimeout = 10 * time.Second
)

// ServerConfig configures a Server. Every field is required except Node,
// Logger, Registerer, Anonymous, Revoked, Admission and Stub.
type ServerConfig struct {
	Addr       string                                  // UDP host:port to listen on; port 0 picks one
	Node       string                                  // this node's name, told to edges ("" = the listen address)
	TLS        *tls.Config                             // server certificate, ClientCAs, RequireAndVerifyClientCert
	Source     Source                                  // central's state
	UAIOf      func(*x509.Certificate) (string, error) // the UAI a verified edge certificate names
	Visible    func(uai string, r record.Record) bool  // whether edge uai may hold r
	Logger     *slog.Logger                            // nil = slog.Default()
	Registerer prometheus.Registerer                   // nil = no metrics registered
	// Anonymous reports the ops an edge may push without an acting user
	// (the appliance's own records, such as a failed login's audit
	// entry); nil = none. Such commands stay confined to the edge's
	// partition, and central's executor still decides.
	Anonymous func(op string) bool
	// Revoked reports whether an operator revoked the certificate an edge
	// of uai presents (a stolen or retired appliance); nil = none is. A
	// revoked edge is answered CodeRevoked at Hello and at every request,
	// and its open sessions are closed within a second of the revocation
	// reaching this node (the Source's Changed wakes the check).
	Revoked func(uai string, cert *x509.Certificate) (bool, error)
	// Admission bounds the edges catching up at once (admission.go); the
	// zero value is the defaults, Slots < 0 turns it off.
	Admission Admission
	// Stub reports whether record r of edge uai's own partition may be
	// sent to that edge as a stub, without its body, because the edge
	// holds it already; nil = none may. It is the ENT's decision: it
	// answers true only for records whose body is a function of their
	// partition, id and kind (content-addressed: the chunks of files) and
	// that the edge itself wrote. The server asks only about live records
	// of the edge's own partition, for a Pull that takes stubs (Pull.Stubs,
	// never a snapshot's or a repair's). An edge that does not hold one
	// pulls the page again without Stubs and gets it whole.
	Stub func(uai string, r record.Record) bool

	// alpn replaces the protocols offered (tests play an older central).
	alpn []string
}

// EdgeStatus is what central knows of one edge's sync link.
type EdgeStatus struct {
	UAI       string    `json:"uai"`
	Connected bool      `json:"connected"`
	Epoch     uint64    `json:"epoch"`
	Outbox    int       `json:"outbox"` // as last reported by the edge
	Lag       uint64    `json:"lag"`    // records the edge has not pulled yet
	LastSeen  time.Time `json:"last_seen"`
	// Revoked and RevokedReason are set, by central's operator API, for an
	// edge whose certificates an operator revoked.
	Revoked       *time.Time `json:"revoked,omitempty"`
	RevokedReason string     `json:"revoked_reason,omitempty"`
}

// Server serves the sync protocol to edges over QUIC. It confines each edge
// to the partitions its certificate allows: its own lycée's and, filtered
// by Visible, the region's. It is safe for concurrent use.
type Server struct {
	cfg ServerConfig
	log *slog.Logger
	ln  *listener
	m   serverMetrics
	adm *admission

	mu    sync.Mutex
	edges map[string]*edgeState
	heads map[string]uint64 // newest sequence seen per partition

	closeOnce sync.Once
}

type edgeState struct {
	conns    int
	epoch    uint64
	outbox   uint64
	since    map[string]uint64
	lastSeen time.Time
}

type serverMetrics struct {
	connected *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	outbox    *prometheus.GaugeVec
	sent      *prometheus.CounterVec
	stubs     *prometheus.CounterVec
	stubBytes *prometheus.CounterVec
	applied   *prometheus.CounterVec
	refused   *prometheus.CounterVec
}

// NewServer validates cfg and binds its UDP address; Serve then serves it.
func NewServer(cfg ServerConfig) (*Server, error) {
	switch {
	case cfg.Addr == "":
		return nil, errors.New("replication server: Addr is required")
	case cfg.TLS == nil:
		return nil, errors.New("replication server: TLS is required")
	case cfg.Source == nil:
		return nil, errors.New("replication server: Source is required")
	case cfg.UAIOf == nil:
		return nil, errors.New("replication server: UAIOf is required")
	case cfg.Visible == nil:
		return nil, errors.New("replication server: Visible is required")
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger,
		edges: map[string]*edgeState{},
		heads: map[string]uint64{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.m = newServerMetrics()
	s.adm = newAdmission(cfg.Admission)
	if cfg.Registerer != nil {
		cs := []prometheus.Collector{s.m.connected, s.m.lag, s.m.outbox, s.m.sent, s.m.stubs, s.m.stubBytes, s.m.applied, s.m.refused}
		for _, c := range append(cs, s.adm.collectors()...) {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("replication server: register metrics: %w", err)
			}
		}
	}
	ln, err := listenALPN(cfg.Addr, cfg.TLS, cfg.alpn)
	if err != nil {
		return nil, fmt.Errorf("replication server: %w", err)
	}
	s.ln = ln
	if s.cfg.Node == "" {
		s.cfg.Node = ln.addr().String()
	}
	return s, nil
}

// Addr is the UDP address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.addr() }

// Close releases the listening socket of a server whose Serve was never
// called. Serve closes it itself when it returns.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.ln.close() })
	return err
}

// Serve accepts edges until ctx is cancelled, then closes every session and
// returns nil once all of them have ended.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		_ = s.Close()
		wg.Wait()
	}()
	for {
		c, err := s.ln.accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("replication server: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// Edges returns the status of every edge seen since the server started,
// sorted by UAI.
func (s *Server) Edges() []EdgeStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EdgeStatus, 0, len(s.edges))
	for uai, e := range s.edges {
		out = append(out, EdgeStatus{
			UAI:       uai,
			Connected: e.conns > 0,
			Epoch:     e.epoch,
			Outbox:    int(e.outbox),
			Lag:       s.lagLocked(e),
			LastSeen:  e.lastSeen,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UAI < out[j].UAI })
	return out
}

// session is one edge's authenticated connection.
type session struct {
	uai   string
	epoch uint64
	cert  *x509.Certificate
}

func (s *Server) serveConn(ctx context.Context, c *conn) {
	defer c.close("server closing")
	uai, err := s.peerUAI(c)
	if err != nil {
		s.log.Warn("edge certificate names no lycée", "remote", c.remoteAddr().String(), "err", err)
		s.m.refused.WithLabelValues(CodeForbidden).Inc()
		return
	}
	// The first stream carries Hello; every later one a Pull or a Push.
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	st, err := c.acceptStream(hctx)
	cancel()
	if err != nil {
		return
	}
	sess, ok := s.hello(ctx, c, st, uai, c.peerCertificates()[0])
	st.finish()
	if !ok {
		// Closing now would discard the refusal in flight: give the edge
		// a moment to read it and hang up.
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-c.done():
		case <-t.C:
		case <-ctx.Done():
		}
		return
	}
	s.connected(sess.uai, +1)
	defer s.connected(sess.uai, -1)
	defer s.adm.release(sess.uai)
	s.log.Info("edge connected", "uai", uai, "epoch", sess.epoch, "remote", c.remoteAddr().String())
	if s.cfg.Revoked != nil {
		go s.watchRevoked(ctx, c, sess)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := c.acceptStream(ctx)
		if err != nil {
			s.log.Info("edge disconnected", "uai", uai, "err", err)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveStream(ctx, st, sess)
		}()
	}
}

func (s *Server) peerUAI(c *conn) (string, error) {
	certs := c.peerCertificates()
	if len(certs) == 0 {
		return "", errors.New("no client certificate")
	}
	uai, err := s.cfg.UAIOf(certs[0])
	if err != nil {
		return "", err
	}
	if uai == "" || uai == record.Region || uai == record.OriginCentral {
		return "", fmt.Errorf("certificate names %q", uai)
	}
	return uai, nil
}

func (s *Server) hello(ctx context.Context, c *conn, st *stream, uai string, cert *x509.Certificate) (session, bool) {
	st.setDeadline(time.Now().Add(helloTimeout))
	m, err := ReadFrame(bufio.NewReader(st))
	if err != nil {
		s.refuse(st, CodeMalformed, "hello: "+err.Error())
		return session{}, false
	}
	h, ok := m.(*Hello)
	if !ok {
		s.refuse(st, CodeHello, "the first message must be Hello")
		return session{}, false
	}
	if e := s.checkRevoked(session{uai: uai, cert: cert}); e != nil {
		s.refuse(st, e.Code, e.Message)
		return session{}, false
	}
	if h.ProtocolVersion != ProtocolVersion {
		s.refuse(st, CodeVersion, fmt.Sprintf("protocol version %d, server speaks %d", h.ProtocolVersion, ProtocolVersion))
		return session{}, false
	}
	if h.UAI != uai {
		s.log.Warn("edge hello names another lycée", "uai", uai, "hello", h.UAI)
		s.refuse(st, CodeForbidden, "certificate names "+uai)
		return session{}, false
	}
	hwm, err := s.cfg.Source.HighWater(uai, h.Epoch)
	if err != nil {
		s.log.Error("read edge high-water mark", "uai", uai, "err", err)
		s.refuse(st, CodeInternal, "high-water mark unavailable")
		return session{}, false
	}
	if s.adm.heavy(h.OutboxDepth) {
		// A full outbox to drain: the session takes a slot from the start.
		ok, retry := s.adm.wait(ctx, uai, h.OutboxDepth)
		if !ok {
			e := busyError(retry)
			s.refuse(st, e.Code, e.Message)
			return session{}, false
		}
		s.adm.done(uai, "push", h.OutboxDepth)
	}
	s.mu.Lock()
	e := s.edgeLocked(uai)
	e.epoch = h.Epoch
	e.outbox = h.OutboxDepth
	e.lastSeen = time.Now()
	s.mu.Unlock()
	s.m.outbox.WithLabelValues(uai).Set(float64(h.OutboxDepth))
	if err := WriteFrame(st, &HelloOK{Node: s.cfg.Node, HighWater: hwm}); err != nil {
		return session{}, false
	}
	return session{uai: uai, epoch: h.Epoch, cert: cert}, true
}

func (s *Server) serveStream(ctx context.Context, st *stream, sess session) {
	defer st.finish()
	st.setDeadline(time.Now().Add(maxWait + 10*time.Second))
	m, err := ReadFrame(bufio.NewReader(st))
	if err != nil {
		s.log.Warn("edge sent a bad frame", "uai", sess.uai, "err", err)
		s.refuse(st, CodeMalformed, err.Error())
		return
	}
	var resp Message
	switch m := m.(type) {
	case *Pull:
		resp = s.pull(ctx, st, sess, m)
	case *Push:
		// The edge may give up on this push (its link cut, its session
		// ended): stop waiting for central then, rather than let such
		// waits pile up across reconnections.
		pctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(st.context(), cancel)
		resp = s.push(pctx, sess, m)
		stop()
		cancel()
	case *Hello:
		resp = &Error{Code: CodeHello, Message: "session already open"}
	default:
		resp = &Error{Code: CodeMalformed, Message: fmt.Sprintf("unexpected message type %d", m.frameType())}
	}
	if resp == nil {
		return
	}
	if e, ok := resp.(*Error); ok {
		s.m.refused.WithLabelValues(e.Code).Inc()
	}
	if err := WriteFrame(st, resp); err != nil {
		s.log.Debug("write response", "uai", sess.uai, "err", err)
	}
}

// checkFloor returns the answer to a Pull the feed cannot serve whole,
// nil otherwise. A feed Pull is served when its Since is 0 (the feed
// holds every live record) or at least the partition's floor. A page of a
// snapshot begun at floor F is served while the floor is at most
// max(F, Since): a tombstone purged since then was at or below Since,
// already passed (snapshot.go). The refusal names the floor ("floor=N;").
func (s *Server) checkFloor(p *Pull) *Error {
	fl, ok := s.cfg.Source.(Floorer)
	if !ok || p.Since == 0 && !p.Snapshot {
		return nil
	}
	floor, err := fl.Floor(p.Partition)
	if err != nil {
		s.log.Error("read partition floor", "partition", p.Partition, "err", err)
		return &Error{Code: CodeInternal, Message: "floor unavailable"}
	}
	if p.Snapshot {
		if floor <= max(p.SnapshotFloor, p.Since) {
			return nil
		}
		return &Error{Code: CodeHorizon, Message: fmt.Sprintf("%s%d; snapshot of %s begun at floor %d, staged up to %d: begin it again", floorPrefix, floor, p.Partition, p.SnapshotFloor, p.Since)}
	}
	if p.Since >= floor {
		return nil
	}
	return &Error{Code: CodeHorizon, Message: fmt.Sprintf("%s%d; checkpoint %d of %s is older than the tombstone horizon: take a snapshot", floorPrefix, floor, p.Since, p.Partition)}
}

func (s *Server) refuse(st *stream, code, msg string) {
	s.m.refused.WithLabelValues(code).Inc()
	_ = WriteFrame(st, &Error{Code: code, Message: msg})
}

// pull answers a Pull, or returns nil when there is no one left to answer.
func (s *Server) pull(ctx context.Context, st *stream, sess session, p *Pull) Message {
	if e := s.checkRevoked(sess); e != nil {
		return e
	}
	if p.Partition != sess.uai && p.Partition != record.Region {
		s.log.Warn("edge asked for another partition", "uai", sess.uai, "partition", p.Partition)
		return &Error{Code: CodeForbidden, Message: "partition " + p.Partition + " is not this edge's"}
	}
	limit := defPullLimit
	if p.Limit > 0 && p.Limit < maxPullLimit {
		limit = int(p.Limit)
	} else if p.Limit >= maxPullLimit {
		limit = maxPullLimit
	}
	if e := s.checkFloor(p); e != nil {
		return e // before a catch-up slot: the edge comes back from 0
	}
	var answered *Changes
	if lag := s.pulled(sess.uai, p.Partition, p.Since); s.adm.heavy(lag) {
		ok, retry := s.adm.wait(ctx, sess.uai, lag)
		if !ok {
			return busyError(retry)
		}
		defer func() {
			// What is left after this answer: the slot frees at once
			// when nothing heavy is left.
			rest := lag
			if answered != nil {
				rest -= min(lag, answered.Last-p.Since)
			}
			s.adm.done(sess.uai, "pull "+p.Partition, rest)
		}()
	}

	wait := maxWait
	if p.WaitMillis < uint64(maxWait/time.Millisecond) {
		wait = time.Duration(p.WaitMillis) * time.Millisecond
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed := s.cfg.Source.Changed() // before reading, so no change is missed
		recs, last, left, err := s.read(sess.uai, p, limit)
		if err != nil {
			s.log.Error("read changes", "partition", p.Partition, "err", err)
			return &Error{Code: CodeInternal, Message: "changes unavailable"}
		}
		// The floor is read after the changes: if it is still at or below
		// Since, no tombstone above Since had been purged when they were
		// read, so they are complete.
		if e := s.checkFloor(p); e != nil {
			return e
		}
		if last > p.Since || wait == 0 {
			c := s.changes(sess.uai, p, recs, left, last, len(recs) >= limit)
			s.attachDigest(sess.uai, p, c) // digest.go
			answered = c
			return c
		}
		select {
		case <-changed:
		case <-timer.C:
			wait = 0
		case <-ctx.Done():
			return nil // shutting down: the session ends, nobody to answer
		case <-st.done():
			return nil // the edge went away during its long-poll
		}
	}
}

// takesStubs reports whether the answer to p, a Pull of edge uai, sends
// stubs.
func (s *Server) takesStubs(uai string, p *Pull) bool {
	return p.Stubs && p.Partition == uai && s.cfg.Stub != nil
}

// read reads the changes p asks for, without the bodies of what will go
// as stubs when the Source can leave them out (StubSource).
func (s *Server) read(uai string, p *Pull, limit int) ([]record.Record, uint64, []int, error) {
	if ss, ok := s.cfg.Source.(StubSource); ok && s.takesStubs(uai, p) {
		return ss.ChangesStubbed(p.Partition, p.Since, limit, func(r record.Record) bool {
			return !r.Deleted && s.cfg.Stub(uai, r)
		})
	}
	recs, last, err := s.cfg.Source.Changes(p.Partition, p.Since, limit)
	return recs, last, nil, err
}

// changes builds the answer to a Pull from what the Source returned:
// records the edge may not hold are left out (the checkpoint still moves
// past them), those it holds already go as stubs when the Pull takes them
// (ServerConfig.Stub), and a frame that grows too large is cut, with More
// set.
// left[i], when left is not nil, is the length of the body the Source left
// out of recs[i] (StubSource).
func (s *Server) changes(uai string, p *Pull, recs []record.Record, left []int, last uint64, more bool) *Changes {
	c := &Changes{Partition: p.Partition, Last: last, More: more, Records: make([]record.Record, 0, len(recs))}
	stubs := s.takesStubs(uai, p)
	size, stubbed, saved := 0, 0, 0
	for i := range recs {
		r := &recs[i]
		if !s.cfg.Visible(uai, *r) {
			continue
		}
		if size >= softFrameSize {
			c.Last = c.Records[len(c.Records)-1].Seq
			c.More = true
			break
		}
		rec := *r
		if stubs && !rec.Deleted && s.cfg.Stub(uai, rec) {
			if c.Stubs == nil {
				c.Stubs = make([]bool, len(c.Records), len(recs))
			}
			c.Stubs = append(c.Stubs, true)
			stubbed++
			saved += len(rec.Body)
			if left != nil {
				saved += left[i]
			}
			rec.Body = nil
		} else if c.Stubs != nil {
			c.Stubs = append(c.Stubs, false)
		}
		size += len(rec.ID) + len(rec.Kind) + len(rec.Key) + len(rec.Body) + 32
		c.Records = append(c.Records, rec)
	}
	if c.Last < p.Since {
		c.Last = p.Since // a Source never moves a checkpoint backwards
	}
	s.m.sent.WithLabelValues(uai).Add(float64(len(c.Records)))
	if stubbed > 0 {
		s.m.stubs.WithLabelValues(uai).Add(float64(stubbed))
		s.m.stubBytes.WithLabelValues(uai).Add(float64(saved))
	}
	s.mu.Lock()
	if c.Last > s.heads[p.Partition] {
		s.heads[p.Partition] = c.Last
	}
	s.mu.Unlock()
	return c
}

func (s *Server) push(ctx context.Context, sess session, p *Push) (resp Message) {
	if p.Epoch == 0 || p.Epoch > sess.epoch {
		// Earlier epochs are the same appliance's commands written before
		// it restarted (every start of an edge's store mints an epoch).
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("epoch %d, session opened with %d", p.Epoch, sess.epoch)}
	}
	if len(p.Commands) > maxPushBatch {
		return &Error{Code: CodeMalformed, Message: fmt.Sprintf("%d commands in one push, at most %d", len(p.Commands), maxPushBatch)}
	}
	for _, c := range p.Commands {
		if c.User == "" && (s.cfg.Anonymous == nil || !s.cfg.Anonymous(c.Op)) {
			// An edge acts only for the users logged in there, and for
			// itself in the ops Anonymous allows.
			s.log.Warn("edge pushed a command without a user", "uai", sess.uai, "op", c.Op)
			return &Error{Code: CodeForbidden, Message: fmt.Sprintf("command %d: no acting user", c.Seq)}
		}
		if c.Origin != sess.uai || c.Partition != sess.uai || c.Epoch != p.Epoch {
			s.log.Warn("edge pushed a command outside its lycée", "uai", sess.uai, "origin", c.Origin, "partition", c.Partition, "epoch", c.Epoch)
			return &Error{Code: CodeForbidden, Message: fmt.Sprintf("command %d: origin %q, partition %q, epoch %d not this edge's", c.Seq, c.Origin, c.Partition, c.Epoch)}
		}
	}
	if e := s.checkRevoked(sess); e != nil {
		return e
	}
	if backlog := max(p.Outbox, uint64(len(p.Commands))); s.adm.heavy(backlog) {
		ok, retry := s.adm.wait(ctx, sess.uai, backlog)
		if !ok {
			return busyError(retry)
		}
		defer func() {
			// What is left after this push: the slot frees at once when
			// nothing heavy is left.
			rest := backlog
			if _, ok := resp.(*Ack); ok {
				rest -= min(backlog, uint64(len(p.Commands)))
			}
			s.adm.done(sess.uai, "push", rest)
		}()
	}
	hwm, err := s.cfg.Source.ApplyOutbox(ctx, sess.uai, p.Epoch, p.Commands)
	if err != nil {
		// The Source refuses an epoch revoked meanwhile: say so.
		if e := s.checkRevoked(sess); e != nil {
			return e
		}
		s.log.Error("apply edge outbox", "uai", sess.uai, "commands", len(p.Commands), "err", err)
		return &Error{Code: CodeInternal, Message: "outbox not applied"}
	}
	s.m.applied.WithLabelValues(sess.uai).Add(float64(len(p.Commands)))
	s.mu.Lock()
	e := s.edgeLocked(sess.uai)
	e.outbox = p.Outbox - min(p.Outbox, uint64(len(p.Commands)))
	e.lastSeen = time.Now()
	outbox := e.outbox
	s.mu.Unlock()
	s.m.outbox.WithLabelValues(sess.uai).Set(float64(outbox))
	return &Ack{HighWater: hwm}
}

func newServerMetrics() serverMetrics {
	return serverMetrics{
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "atrium_replication_edge_connected", Help: "1 while the edge has a sync session open."}, []string{"uai"}),
		lag:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "atrium_replication_lag_records", Help: "Records of its partitions the edge has not pulled yet."}, []string{"uai"}),
		outbox:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "atrium_replication_edge_outbox", Help: "Commands waiting in the edge's outbox, as reported by the edge."}, []string{"uai"}),
		sent:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atrium_replication_records_sent_total", Help: "Records sent to edges."}, []string{"uai"}),
		stubs:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atrium_replication_stubs_sent_total", Help: "Records sent to edges as stubs, without the body the edge holds already (counted in records_sent_total too)."}, []string{"uai"}),
		stubBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atrium_replication_stub_body_bytes_total", Help: "Body bytes not sent to edges because they went as stubs."}, []string{"uai"}),
		applied:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atrium_replication_commands_applied_total", Help: "Outbox commands from edges handed to the state machine (a retransmitted command is counted again but applied once)."}, []string{"uai"}),
		refused:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "atrium_replication_refused_total", Help: "Requests refused, by error code."}, []string{"code"}),
	}
}

func (s *Server) edgeLocked(uai string) *edgeState {
	e := s.edges[uai]
	if e == nil {
		e = &edgeState{since: map[string]uint64{}}
		s.edges[uai] = e
	}
	return e
}

func (s *Server) connected(uai string, delta int) {
	s.mu.Lock()
	e := s.edgeLocked(uai)
	e.conns += delta
	e.lastSeen = time.Now()
	up := e.conns > 0
	s.mu.Unlock()
	if up {
		s.m.connected.WithLabelValues(uai).Set(1)
	} else {
		s.m.connected.WithLabelValues(uai).Set(0)
	}
}

// pulled records that the edge holds partition up to since, and returns
// how far behind the partition's head that is.
func (s *Server) pulled(uai, partition string, since uint64) uint64 {
	var head uint64
	if h, ok := s.cfg.Source.(LastSeqer); ok {
		if v, err := h.LastSeq(partition); err == nil {
			head = v
		}
	}
	s.mu.Lock()
	s.heads[partition] = max(head, s.heads[partition])
	e := s.edgeLocked(uai)
	e.since[partition] = since
	e.lastSeen = time.Now()
	lag := s.lagLocked(e)
	behind := s.heads[partition] - min(since, s.heads[partition])
	s.mu.Unlock()
	s.m.lag.WithLabelValues(uai).Set(float64(lag))
	return behind
}

func (s *Server) lagLocked(e *edgeState) uint64 {
	var lag uint64
	for p, since := range e.since {
		if h := s.heads[p]; h > since {
			lag += h - since
		}
	}
	return lag
}

// checkRevoked returns the answer to a revoked edge, or to a failed check;
// nil when the edge may go on.
func (s *Server) checkRevoked(sess session) *Error {
	if s.cfg.Revoked == nil {
		return nil
	}
	revoked, err := s.cfg.Revoked(sess.uai, sess.cert)
	if err != nil {
		s.log.Error("read edge revocations", "uai", sess.uai, "err", err)
		return &Error{Code: CodeInternal, Message: "revocations unavailable"}
	}
	if revoked {
		s.log.Warn("revoked edge refused", "uai", sess.uai, "serial", sess.cert.SerialNumber.String())
		return &Error{Code: CodeRevoked, Message: "certificate of " + sess.uai + " revoked"}
	}
	return nil
}

// revokeCheckEvery spaces the checks of an open session for revocation:
// the Source's Changed fires at every applied batch, and hundreds of edges
// checking at each would be wasted reads.
const revokeCheckEvery = 250 * time.Millisecond

// watchRevoked closes the session's connection once its certificate is
// revoked; the edge then hears CodeRevoked when it says Hello again.
func (s *Server) watchRevoked(ctx context.Context, c *conn, sess session) {
	for {
		changed := s.cfg.Source.Changed()
		select {
		case <-changed:
		case <-c.done():
			return
		case <-ctx.Done():
			return
		}
		if revoked, err := s.cfg.Revoked(sess.uai, sess.cert); err == nil && revoked {
			s.log.Warn("closing the session of a revoked edge", "uai", sess.uai)
			s.m.refused.WithLabelValues(CodeRevoked).Inc()
			c.close(CodeRevoked)
			return
		}
		t := time.NewTimer(revokeCheckEvery)
		select {
		case <-t.C:
		case <-c.done():
			t.Stop()
			return
		}
	}
}
