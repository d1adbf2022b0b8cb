package edge

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/appliance/appliancetest"
	"atrium/internal/metrictest"
	"atrium/record"
	"atrium/replication"
)

// fakeCentral is an in-memory central for the replication server: a feed
// per partition and the edges' high-water marks. It applies test.put
// commands as central would (its own version and sequence).
type fakeCentral struct {
	mu      sync.Mutex
	feeds   map[string][]record.Record
	changed chan struct{}
	hwm     map[string]uint64
}

func newFakeCentral() *fakeCentral {
	return &fakeCentral{feeds: map[string][]record.Record{}, changed: make(chan struct{}), hwm: map[string]uint64{}}
}

func (c *fakeCentral) put(r record.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(r)
}

func (c *fakeCentral) putLocked(r record.Record) {
	feed := c.feeds[r.Partition]
	r.Seq = uint64(len(feed) + 1)
	r.Version.Central++
	c.feeds[r.Partition] = append(feed, r)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *fakeCentral) Changes(partition string, since uint64, limit int) ([]record.Record, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	feed := c.feeds[partition]
	if since >= uint64(len(feed)) {
		return nil, since, nil
	}
	out := append([]record.Record(nil), feed[since:min(uint64(len(feed)), since+uint64(limit))]...)
	return out, out[len(out)-1].Seq, nil
}

func (c *fakeCentral) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *fakeCentral) ApplyOutbox(_ context.Context, uai string, epoch uint64, cmds []record.Command) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := fmt.Sprint(uai, "/", epoch)
	for _, cmd := range cmds {
		if cmd.Seq <= c.hwm[key] {
			continue
		}
		var r record.Record
		if err := json.Unmarshal(cmd.Args, &r); err != nil {
			return 0, err
		}
		r.Version = record.Version{Edge: 1, HLC: record.Stamp(cmd.Time, 0)}
		c.putLocked(r)
		c.hwm[key] = cmd.Seq
	}
	return c.hwm[key], nil
}

func (c *fakeCentral) HighWater(uai string, epoch uint64) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hwm[fmt.Sprint(uai, "/", epoch)], nil
}

// testTLS returns the TLS configurations central's listener on loopback
// and lycée uai's enrolled appliance use, from a fresh region CA.
func testTLS(t *testing.T, uai string) (server, client *tls.Config) {
	t.Helper()
	ca := appliancetest.NewCA(t)
	return appliancetest.ServerTLS(t, ca), appliancetest.Enrolled(t, ca, uai).ClientTLS()
}

// serve runs serve until the test ends and checks it returned nil.
func serve(t *testing.T, name string, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s Serve = %v, want nil", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNodeSyncsWithCentral(t *testing.T) {
	central := newFakeCentral()
	user := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: "jdupont", Body: []byte(`{}`)}
	news := record.Record{Partition: record.Region, ID: record.NewID(), Kind: "news", Body: []byte(`{}`)}
	regionStaff := record.Record{Partition: record.Region, ID: record.NewID(), Kind: "user", Key: "agent", Body: []byte(`{}`)}
	elsewhere := record.Record{Partition: otherUAI, ID: record.NewID(), Kind: "news", Body: []byte(`{}`)}
	for _, r := range []record.Record{user, news, regionStaff, elsewhere} {
		central.put(r)
	}

	serverTLS, edgeTLS := testTLS(t, testUAI)
	srv, err := replication.NewServer(replication.ServerConfig{
		Addr: "127.0.0.1:0", TLS: serverTLS, Source: central, UAIOf: appliance.EdgeUAI,
		Visible: func(uai string, r record.Record) bool { return r.Partition == uai || r.Kind == "news" },
	})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, "server", srv.Serve)

	reg := prometheus.NewRegistry()
	node, err := New(Config{DataDir: t.TempDir(), UAI: testUAI, Exec: testExec, Servers: []string{srv.Addr().String()}, TLS: edgeTLS, Registerer: reg})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	stopNode := serve(t, "node", node.Serve)
	store := node.Store()

	// The feed arrives: the lycée's user and the region's news, not the
	// region's staff nor another lycée's data.
	waitFor(t, "lycée and region feeds applied", func() bool {
		st := node.Status()
		return st.Checkpoints[testUAI] == 1 && st.Checkpoints[record.Region] == 2
	})
	if got, ok := byKey(t, store, "user", "jdupont"); !ok || got.ID != user.ID {
		t.Errorf("ByKey(jdupont) at the edge = %+v, %v; want %s", got, ok, user.ID)
	}
	if _, ok := get(t, store, record.Region, news.ID); !ok {
		t.Errorf("region news missing at the edge")
	}
	if _, ok := byKey(t, store, "user", "agent"); ok {
		t.Errorf("region staff reached the edge")
	}
	if _, ok := get(t, store, otherUAI, elsewhere.ID); ok {
		t.Errorf("another lycée's record reached the edge")
	}
	if !node.Connected() || !node.Status().Connected {
		t.Errorf("Connected = false while synced")
	}
	if got := metrictest.Value(t, reg, "atrium_edge_connected"); got != 1 {
		t.Errorf("atrium_edge_connected = %v, want 1", got)
	}

	// A local write goes up, is acknowledged, and comes back from central.
	msg := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "message", Body: []byte(`{"subject":"Bonjour"}`)}
	if err := store.Submit(t.Context(), putCmd(t, opPut, msg)); err != nil {
		t.Fatalf("Submit = %v", err)
	}
	waitFor(t, "outbox acknowledged and the write back from central", func() bool {
		r, ok := get(t, store, testUAI, msg.ID)
		return store.OutboxLen() == 0 && ok && r.Seq == 2
	})
	if st := node.Status(); st.Outbox != 0 || st.LastSync.IsZero() {
		t.Errorf("Status = %+v, want empty outbox and a last sync time", st)
	}
	want := map[string]float64{
		"atrium_edge_outbox_depth":                   0,
		"atrium_edge_checkpoint{partition=0130040Y}": 2,
		"atrium_edge_checkpoint{partition=region}":   2,
	}
	got := metrictest.Values(t, reg)
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("metric %s = %v (present %v), want %v", name, g, ok, v)
		}
	}

	stopNode()
	if err := store.Submit(t.Context(), putCmd(t, opPut, msg)); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Serve returned = %v, want ErrClosed", err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	_, edgeTLS := testTLS(t, testUAI)
	good := Config{DataDir: t.TempDir(), UAI: testUAI, Exec: testExec, Servers: []string{"127.0.0.1:1"}, TLS: edgeTLS}
	for name, mutate := range map[string]func(*Config){
		"DataDir": func(c *Config) { c.DataDir = "" },
		"UAI":     func(c *Config) { c.UAI = "" },
		"Exec":    func(c *Config) { c.Exec = nil },
		"Servers": func(c *Config) { c.Servers = nil },
		"TLS":     func(c *Config) { c.TLS = nil },
	} {
		cfg := good
		mutate(&cfg)
		if n, err := New(cfg); err == nil || !strings.Contains(err.Error(), name) {
			if n != nil {
				n.Close()
			}
			t.Errorf("New without %s = %v, want an error naming it", name, err)
		}
	}
}
