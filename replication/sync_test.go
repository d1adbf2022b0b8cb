package replication

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/internal/faultproxy"
	"atrium/internal/metrictest"
	"atrium/record"
)

const (
	uaiA = "0130040Y"
	uaiB = "0060001A"
)

func TestClientSyncsPartitionsAndPushesOutbox(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	newsA := src.put(record.Record{Partition: uaiA, ID: "news-a", Kind: "news", Body: []byte(`{}`)})
	userA := src.put(record.Record{Partition: uaiA, ID: "user-a", Kind: "user", Key: "eleve.a"})
	src.put(record.Record{Partition: record.Region, ID: "staff", Kind: "user", Key: "region.staff"})
	newsR := src.put(record.Record{Partition: record.Region, ID: "news-r", Kind: "news"})
	src.put(record.Record{Partition: uaiB, ID: "news-b", Kind: "news"})

	reg := prometheus.NewRegistry()
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TLS: pki.serverTLS(), Source: src, UAIOf: appliance.EdgeUAI, Visible: visibleNoUsers, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "server", srv.Serve)

	sink := newFakeSink(uaiA, 1000)
	sink.submit("hors-ligne 1")
	sink.submit("hors-ligne 2")
	c := startClient(t, ClientConfig{UAI: uaiA, Servers: []string{srv.Addr().String()}, TLS: pki.edgeTLS(t, uaiA), Sink: sink, MinBackoff: 20 * time.Millisecond})

	waitFor(t, "outbox pushed and acknowledged", 10*time.Second, func() bool { return sink.OutboxLen() == 0 && src.appliedCount() == 2 })
	// The feed brings back the outcome of the pushed commands.
	waitFor(t, "feed applied", 10*time.Second, func() bool {
		return sink.has(uaiA, newsA.ID) && sink.has(uaiA, userA.ID) && sink.has(record.Region, newsR.ID) && sink.has(uaiA, uaiA+"-2")
	})
	if sink.has(record.Region, "staff") {
		t.Error("edge holds a region user, want it filtered out")
	}
	if n := sink.count(uaiB); n != 0 {
		t.Errorf("edge holds %d records of lycée B, want 0", n)
	}
	if got := c.Status().Checkpoints[record.Region]; got != 2 {
		t.Errorf("region checkpoint = %d, want 2 (past the filtered user)", got)
	}
	if !c.Connected() {
		t.Error("Connected() = false while syncing")
	}

	// A change at central reaches the edge by long-poll; a local write
	// reaches central.
	later := src.put(record.Record{Partition: record.Region, ID: "news-later", Kind: "news"})
	sink.submit("en ligne")
	waitFor(t, "live change and push", 10*time.Second, func() bool { return sink.has(record.Region, later.ID) && src.appliedCount() == 3 })

	edges := srv.Edges()
	if len(edges) != 1 || edges[0].UAI != uaiA || !edges[0].Connected || edges[0].Epoch != 1000 {
		t.Errorf("Edges() = %+v, want lycée A connected with epoch 1000", edges)
	}
	for name, want := range map[string]float64{
		"atrium_replication_edge_connected":         1,
		"atrium_replication_commands_applied_total": 3,
		"atrium_replication_edge_outbox":            0,
	} {
		if got := metrictest.Value(t, reg, name, "uai", uaiA); got != want {
			t.Errorf("%s{uai=%q} = %v, want %v", name, uaiA, got, want)
		}
	}
	// Sent: the news and the user of A, 3 outcomes of pushes, 2 region news.
	if got := metrictest.Value(t, reg, "atrium_replication_records_sent_total", "uai", uaiA); got != 7 {
		t.Errorf("atrium_replication_records_sent_total = %v, want 7", got)
	}
}

// rawSession dials the server with the given certificate and says Hello as
// lycée uai, the way a client would, without the Client's checks.
func rawSession(t *testing.T, pki *testPKI, srv *Server, certUAI, helloUAI string, epoch uint64) (*conn, Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	cn, err := dial(ctx, srv.Addr().String(), pki.edgeTLS(t, certUAI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.close("test over") })
	resp, err := call(ctx, cn, &Hello{ProtocolVersion: ProtocolVersion, UAI: helloUAI, Epoch: epoch}, 5*time.Second)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			return cn, &Error{Code: re.Code, Message: re.Message}
		}
		t.Fatal(err)
	}
	return cn, resp
}

func TestRetransmittedPushAppliedOnce(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	srv := startServer(t, pki, src)
	cn, resp := rawSession(t, pki, srv, uaiA, uaiA, 7)
	if ok, _ := resp.(*HelloOK); ok == nil || ok.HighWater != 0 {
		t.Fatalf("Hello = %#v, want HelloOK with high-water 0", resp)
	}
	sink := newFakeSink(uaiA, 7)
	for i := range 3 {
		sink.submit(fmt.Sprint("m", i))
	}
	batch, _ := sink.Outbox(0, 10)
	for range 2 { // the second push stands for a retransmission after a lost Ack
		resp, err := call(t.Context(), cn, &Push{Epoch: 7, Commands: batch}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ack, _ := resp.(*Ack); ack == nil || ack.HighWater != 3 {
			t.Fatalf("Push = %#v, want Ack 3", resp)
		}
	}
	if n := src.appliedCount(); n != 3 {
		t.Errorf("commands applied = %d, want 3", n)
	}
	// A new session of the same epoch learns the high-water mark.
	_, resp = rawSession(t, pki, srv, uaiA, uaiA, 7)
	if ok, _ := resp.(*HelloOK); ok == nil || ok.HighWater != 3 {
		t.Errorf("second Hello = %#v, want HelloOK with high-water 3", resp)
	}
}

func TestConfinementByCertificate(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	src.put(record.Record{Partition: uaiB, ID: "secret", Kind: "message"})
	srv := startServer(t, pki, src)

	// Lycée A's certificate cannot open a session as lycée B.
	if _, resp := rawSession(t, pki, srv, uaiA, uaiB, 1); !isError(resp, CodeForbidden) {
		t.Errorf("Hello as B with A's certificate = %#v, want Error forbidden", resp)
	}

	cn, resp := rawSession(t, pki, srv, uaiA, uaiA, 1)
	if _, ok := resp.(*HelloOK); !ok {
		t.Fatalf("Hello = %#v, want HelloOK", resp)
	}
	_, err := call(t.Context(), cn, &Pull{Partition: uaiB, Limit: 10}, 5*time.Second)
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("Pull of B's partition = %v, want ErrForbidden", err)
	}
	if reads := src.readsOf(uaiB); len(reads) != 0 {
		t.Errorf("server read B's partition %d times, want 0", len(reads))
	}

	pushes := map[string]record.Command{
		"partition B":     {Origin: uaiA, Epoch: 1, Seq: 1, User: "u1", Op: "message.send", Partition: uaiB},
		"origin B":        {Origin: uaiB, Epoch: 1, Seq: 1, User: "u1", Op: "message.send", Partition: uaiA},
		"origin central":  {Origin: record.OriginCentral, Epoch: 1, Seq: 1, User: "u1", Op: "message.send", Partition: uaiA},
		"region":          {Origin: uaiA, Epoch: 1, Seq: 1, User: "u1", Op: "news.publish", Partition: record.Region},
		"other epoch cmd": {Origin: uaiA, Epoch: 2, Seq: 1, User: "u1", Op: "message.send", Partition: uaiA},
		// An operator's command (no acting user) never comes from an edge.
		"no user": {Origin: uaiA, Epoch: 1, Seq: 1, Op: "user.put", Partition: uaiA},
	}
	for name, bad := range pushes {
		good := record.Command{Origin: uaiA, Epoch: 1, Seq: 2, User: "u1", Op: "message.send", Partition: uaiA}
		_, err := call(t.Context(), cn, &Push{Epoch: 1, Commands: []record.Command{good, bad}}, 5*time.Second)
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("Push with %s = %v, want ErrForbidden", name, err)
		}
	}
	_, err = call(t.Context(), cn, &Push{Epoch: 2, Commands: []record.Command{{Origin: uaiA, Epoch: 2, Seq: 1, User: "u1", Partition: uaiA}}}, 5*time.Second)
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("Push of another epoch = %v, want ErrForbidden", err)
	}
	if n := src.appliedCount(); n != 0 {
		t.Errorf("commands applied = %d, want 0", n)
	}
}

func TestVersionMismatch(t *testing.T) {
	pki := newPKI(t)
	srv := startServer(t, pki, newFakeSource())
	cn, err := dial(t.Context(), srv.Addr().String(), pki.edgeTLS(t, uaiA))
	if err != nil {
		t.Fatal(err)
	}
	defer cn.close("test over")
	_, err = call(t.Context(), cn, &Hello{ProtocolVersion: 2, UAI: uaiA}, 5*time.Second)
	if !errors.Is(err, ErrVersion) {
		t.Errorf("Hello version 2 = %v, want ErrVersion", err)
	}
}

func TestMalformedFramesChangeNothing(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	srv := startServer(t, pki, src)
	cn, resp := rawSession(t, pki, srv, uaiA, uaiA, 1)
	if _, ok := resp.(*HelloOK); !ok {
		t.Fatalf("Hello = %#v, want HelloOK", resp)
	}
	push, _ := AppendFrame(nil, &Push{Epoch: 1, Commands: []record.Command{{Origin: uaiA, Epoch: 1, Seq: 1, User: "u1", Partition: uaiA}}})
	garbage := map[string][]byte{
		"unknown type":  {0x42, 0},
		"truncated":     push[:len(push)-2],
		"trailing byte": append(append([]byte{typePush}, byte(push[1]+1)), append(push[2:], 0)...),
		"huge length":   {typePush, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"ack to server": {typeAck, 1, 1},
	}
	for name, b := range garbage {
		st, err := cn.openStream(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		st.setDeadline(time.Now().Add(5 * time.Second))
		if _, err := st.Write(b); err != nil {
			t.Fatal(err)
		}
		st.closeWrite()
		m, err := ReadFrame(bufio.NewReader(st))
		st.finish()
		if err != nil || !isError(m, CodeMalformed) {
			t.Errorf("%s: answer = %#v, %v; want Error malformed", name, m, err)
		}
	}
	if n := src.appliedCount(); n != 0 {
		t.Errorf("commands applied = %d, want 0", n)
	}
	// The session survives: a valid request still works.
	if _, err := call(t.Context(), cn, &Pull{Partition: uaiA}, 5*time.Second); err != nil {
		t.Errorf("Pull after malformed frames = %v, want nil", err)
	}
}

func isError(m Message, code string) bool {
	e, ok := m.(*Error)
	return ok && e.Code == code
}

// TestCutLinkReconnectsAndResumes cuts the WAN between an edge and central:
// the edge notices, and once the link is back it reconnects and resumes
// from its checkpoint rather than from the start.
func TestCutLinkReconnectsAndResumes(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	for i := range 5 {
		src.put(record.Record{Partition: uaiA, ID: fmt.Sprint("r", i), Kind: "news"})
	}
	srv := startServer(t, pki, src)
	proxy, err := faultproxy.New("127.0.0.1:0", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "proxy", proxy.Serve)

	sink := newFakeSink(uaiA, 1)
	c := startClient(t, ClientConfig{UAI: uaiA, Servers: []string{proxy.Addr()}, TLS: pki.edgeTLS(t, uaiA), Sink: sink,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	waitFor(t, "initial sync", 10*time.Second, func() bool { return c.Connected() && sink.count(uaiA) == 5 })

	proxy.Cut()
	waitFor(t, "client notices the cut", 10*time.Second, func() bool { return !c.Connected() })
	waitFor(t, "server notices the cut", 10*time.Second, func() bool {
		e := srv.Edges()
		return len(e) == 1 && !e[0].Connected
	})
	// Work goes on on both sides while cut off.
	src.put(record.Record{Partition: uaiA, ID: "during-cut", Kind: "news"})
	sink.submit("écrit hors ligne")
	readsBefore := len(src.readsOf(uaiA))

	proxy.Restore()
	waitFor(t, "resync after restore", 15*time.Second, func() bool {
		return c.Connected() && sink.has(uaiA, "during-cut") && src.appliedCount() == 1 && sink.OutboxLen() == 0
	})
	// Every pull after the cut started from the checkpoint, never from 0.
	if reads := src.readsOf(uaiA)[readsBefore:]; slices.Contains(reads, 0) {
		t.Errorf("pulls of A after reconnect started from %v, want from the checkpoint 5 on", reads)
	}
}

// preparingSink is a fakeSink that counts the pages it was given to
// prepare ahead, and the pages applied that had been prepared (the same
// slice).
type preparingSink struct {
	*fakeSink
	mu       sync.Mutex
	prepared map[*record.Record]int // first record of each page prepared: its length
	applied  int                    // pages applied
	ahead    int                    // of them, prepared before
}

func (k *preparingSink) Prepare(p string, recs []record.Record) {
	if len(recs) == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.prepared[&recs[0]] = len(recs)
}

func (k *preparingSink) ApplyChanges(p string, recs []record.Record, cp uint64) error {
	if len(recs) > 0 {
		k.mu.Lock()
		k.applied++
		if n, ok := k.prepared[&recs[0]]; ok && n == len(recs) {
			k.ahead++
		}
		k.mu.Unlock()
	}
	return k.fakeSink.ApplyChanges(p, recs, cp)
}

// TestPagesPreparedBeforeApplied: a Sink that prepares is given each page
// of a catch-up to prepare before the client applies that same page.
func TestPagesPreparedBeforeApplied(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	for i := range 250 {
		src.put(record.Record{Partition: uaiA, ID: fmt.Sprintf("news-%03d", i), Kind: "news", Body: []byte(`{}`)})
	}
	srv := startServer(t, pki, src)
	sink := &preparingSink{fakeSink: newFakeSink(uaiA, 1000), prepared: map[*record.Record]int{}}
	startClient(t, ClientConfig{UAI: uaiA, Servers: []string{srv.Addr().String()}, TLS: pki.edgeTLS(t, uaiA), Sink: sink, PullLimit: 100})
	waitFor(t, "catch-up applied", 10*time.Second, func() bool { return sink.count(uaiA) == 250 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.applied < 3 || sink.ahead != sink.applied {
		t.Errorf("%d pages applied, %d of them prepared before; want at least 3, all prepared", sink.applied, sink.ahead)
	}
}
