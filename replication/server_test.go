package replication

import (
	"strings"
	"testing"
	"time"

	"atrium/appliance"
	"atrium/record"
)

func TestChangesCutAtFrameSize(t *testing.T) {
	s := &Server{cfg: ServerConfig{Visible: visibleNoUsers}, heads: map[string]uint64{}}
	s.m = newServerMetrics()
	big := make([]byte, 3<<20)
	recs := []record.Record{
		{Partition: uaiA, ID: "1", Seq: 1, Body: big},
		{Partition: uaiA, ID: "2", Seq: 2, Body: big},
		{Partition: uaiA, ID: "3", Seq: 3, Body: big},
	}
	c := s.changes(uaiA, &Pull{Partition: uaiA}, recs, nil, 3, false)
	if len(c.Records) != 2 || c.Last != 2 || !c.More {
		t.Errorf("changes of 3×3 MiB = %d records, last %d, more %v; want 2, 2, true", len(c.Records), c.Last, c.More)
	}
	if _, err := AppendFrame(nil, c); err != nil {
		t.Errorf("AppendFrame(cut changes) = %v", err)
	}
}

func TestChangesFilteredAdvanceCheckpoint(t *testing.T) {
	s := &Server{cfg: ServerConfig{Visible: visibleNoUsers}, heads: map[string]uint64{}}
	s.m = newServerMetrics()
	recs := []record.Record{
		{Partition: record.Region, ID: "n", Kind: "news", Seq: 4},
		{Partition: record.Region, ID: "u", Kind: "user", Seq: 5},
	}
	c := s.changes(uaiA, &Pull{Partition: record.Region, Since: 3}, recs, nil, 5, false)
	if len(c.Records) != 1 || c.Records[0].ID != "n" || c.Last != 5 {
		t.Errorf("changes = %+v, want only the news and last 5", c)
	}
}

func TestConfigValidation(t *testing.T) {
	pki := newPKI(t)
	full := ServerConfig{Addr: "127.0.0.1:0", TLS: pki.serverTLS(), Source: newFakeSource(), UAIOf: appliance.EdgeUAI, Visible: visibleNoUsers}
	for field, mutate := range map[string]func(*ServerConfig){
		"Addr":    func(c *ServerConfig) { c.Addr = "" },
		"TLS":     func(c *ServerConfig) { c.TLS = nil },
		"Source":  func(c *ServerConfig) { c.Source = nil },
		"UAIOf":   func(c *ServerConfig) { c.UAIOf = nil },
		"Visible": func(c *ServerConfig) { c.Visible = nil },
	} {
		cfg := full
		mutate(&cfg)
		if _, err := NewServer(cfg); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("NewServer without %s = %v, want an error naming it", field, err)
		}
	}
	cfull := ClientConfig{UAI: uaiA, Servers: []string{"127.0.0.1:1"}, TLS: pki.edgeTLS(t, uaiA), Sink: newFakeSink(uaiA, 1)}
	for field, mutate := range map[string]func(*ClientConfig){
		"UAI":     func(c *ClientConfig) { c.UAI = "" },
		"Servers": func(c *ClientConfig) { c.Servers = nil },
		"TLS":     func(c *ClientConfig) { c.TLS = nil },
		"Sink":    func(c *ClientConfig) { c.Sink = nil },
	} {
		cfg := cfull
		mutate(&cfg)
		if _, err := NewClient(cfg); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("NewClient without %s = %v, want an error naming it", field, err)
		}
	}
	c, err := NewClient(cfull)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.cfg.Partitions; len(got) != 2 || got[0] != uaiA || got[1] != record.Region {
		t.Errorf("default partitions = %v, want [%s region]", got, uaiA)
	}
}

func TestEdgeLag(t *testing.T) {
	pki := newPKI(t)
	src := newFakeSource()
	for range 5 {
		src.put(record.Record{Partition: uaiA, ID: record.NewID(), Kind: "news"})
	}
	srv := startServer(t, pki, src)
	cn, _ := rawSession(t, pki, srv, uaiA, uaiA, 1)
	lag := func() uint64 {
		e := srv.Edges()
		if len(e) != 1 {
			t.Fatalf("Edges() = %+v, want one edge", e)
		}
		return e[0].Lag
	}
	if _, err := call(t.Context(), cn, &Pull{Partition: uaiA, Since: 0, Limit: 2}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := lag(); got != 5 {
		t.Errorf("lag after a pull from 0 = %d, want 5", got)
	}
	if _, err := call(t.Context(), cn, &Pull{Partition: uaiA, Since: 5}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := lag(); got != 0 {
		t.Errorf("lag after a pull from 5 = %d, want 0", got)
	}
}
