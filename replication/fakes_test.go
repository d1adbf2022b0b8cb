package replication

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"atrium/appliance"
	"atrium/appliance/appliancetest"
	"atrium/record"
)

// fakeSource is an in-memory central: partitions of records with sequence
// numbers, and the high-water marks of the edges' outboxes.
type fakeSource struct {
	mu      sync.Mutex
	parts   map[string][]record.Record // by seq, ascending
	seq     map[string]uint64
	changed chan struct{}
	hwm     map[string]uint64 // "uai/epoch"
	applied []record.Command
	reads   map[string][]uint64 // partition -> since of every Changes call
}

func newFakeSource() *fakeSource {
	return &fakeSource{
		parts: map[string][]record.Record{}, seq: map[string]uint64{},
		changed: make(chan struct{}), hwm: map[string]uint64{}, reads: map[string][]uint64{},
	}
}

// put appends a record to partition's feed and wakes the long-polls.
func (s *fakeSource) put(r record.Record) record.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putLocked(r)
}

func (s *fakeSource) putLocked(r record.Record) record.Record {
	s.seq[r.Partition]++
	r.Seq = s.seq[r.Partition]
	r.Version.Central++
	s.parts[r.Partition] = append(s.parts[r.Partition], r)
	close(s.changed)
	s.changed = make(chan struct{})
	return r
}

func (s *fakeSource) Changes(partition string, since uint64, limit int) ([]record.Record, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[partition] = append(s.reads[partition], since)
	recs := s.parts[partition]
	i, _ := slices.BinarySearchFunc(recs, since+1, func(r record.Record, seq uint64) int { return cmp.Compare(r.Seq, seq) })
	out := slices.Clone(recs[i:min(len(recs), i+limit)])
	last := since
	if len(out) > 0 {
		last = out[len(out)-1].Seq
	}
	return out, last, nil
}

func (s *fakeSource) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *fakeSource) ApplyOutbox(_ context.Context, uai string, epoch uint64, cmds []record.Command) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := fmt.Sprint(uai, "/", epoch)
	hwm := s.hwm[key]
	for _, c := range cmds {
		if c.Seq <= hwm {
			continue
		}
		s.applied = append(s.applied, c)
		s.putLocked(record.Record{Partition: c.Partition, ID: fmt.Sprint(c.Origin, "-", c.Seq), Kind: "message", Body: c.Args})
		hwm = c.Seq
	}
	s.hwm[key] = hwm
	return hwm, nil
}

func (s *fakeSource) HighWater(uai string, epoch uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hwm[fmt.Sprint(uai, "/", epoch)], nil
}

func (s *fakeSource) appliedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.applied)
}

func (s *fakeSource) readsOf(partition string) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reads[partition])
}

// fakeSink is an in-memory edge store.
type fakeSink struct {
	uai   string
	epoch uint64

	mu          sync.Mutex
	records     map[string]map[string]record.Record
	checkpoints map[string]uint64
	outbox      []record.Command
	nextSeq     uint64
	changed     chan struct{}
}

func newFakeSink(uai string, epoch uint64) *fakeSink {
	return &fakeSink{uai: uai, epoch: epoch, records: map[string]map[string]record.Record{},
		checkpoints: map[string]uint64{}, changed: make(chan struct{})}
}

func (k *fakeSink) Epoch() uint64 { return k.epoch }

func (k *fakeSink) Checkpoint(p string) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.checkpoints[p], nil
}

func (k *fakeSink) ApplyChanges(p string, recs []record.Record, cp uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.records[p] == nil {
		k.records[p] = map[string]record.Record{}
	}
	for _, r := range recs {
		k.records[p][r.ID] = r
	}
	k.checkpoints[p] = cp
	return nil
}

func (k *fakeSink) Outbox(after uint64, limit int) ([]record.Command, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := 0
	for i < len(k.outbox) && k.outbox[i].Seq <= after {
		i++
	}
	rest := k.outbox[i:]
	return slices.Clone(rest[:min(limit, len(rest))]), nil
}

func (k *fakeSink) AckOutbox(epoch, hwm uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if epoch != k.epoch {
		return nil
	}
	k.outbox = slices.DeleteFunc(k.outbox, func(c record.Command) bool { return c.Seq <= hwm })
	return nil
}

func (k *fakeSink) OutboxChanged() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.changed
}

func (k *fakeSink) OutboxLen() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.outbox)
}

// submit appends a local command to the outbox.
func (k *fakeSink) submit(body string) record.Command {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.nextSeq++
	c := record.Command{Origin: k.uai, Epoch: k.epoch, Seq: k.nextSeq, User: "u1", Op: "message.send", Partition: k.uai, Args: []byte(body), Time: 1}
	k.outbox = append(k.outbox, c)
	close(k.changed)
	k.changed = make(chan struct{})
	return c
}

func (k *fakeSink) has(p, id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.records[p][id]
	return ok
}

func (k *fakeSink) count(p string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.records[p])
}

// testPKI is a region CA made with package appliance, and the certificate
// of a central listener on loopback.
type testPKI struct {
	ca     *appliance.CA
	server *tls.Config
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	ca := appliancetest.NewCA(t)
	return &testPKI{ca: ca, server: appliancetest.ServerTLS(t, ca)}
}

// serverTLS is central's side of the link, as central builds it.
func (p *testPKI) serverTLS() *tls.Config { return p.server }

// edgeTLS is the side of lycée uai's enrolled appliance.
func (p *testPKI) edgeTLS(t testing.TB, uai string) *tls.Config {
	return appliancetest.Enrolled(t, p.ca, uai).ClientTLS()
}

// visibleNoUsers publishes everything but region users to edges, as the
// ENT's rule does.
func visibleNoUsers(uai string, r record.Record) bool {
	return r.Partition == uai || r.Kind != "user"
}

// startServer runs a server on loopback until the test ends.
func startServer(t testing.TB, pki *testPKI, src Source) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TLS: pki.serverTLS(), Source: src, UAIOf: appliance.EdgeUAI, Visible: visibleNoUsers})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "server", s.Serve)
	return s
}

func startClient(t testing.TB, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "client", c.Serve)
	return c
}

// runUntilCleanup runs serve until the test ends and checks it returned nil.
func runUntilCleanup(t testing.TB, name string, serve func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s Serve = %v, want nil", name, err)
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *fakeSource) LastSeq(partition string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq[partition], nil
}
