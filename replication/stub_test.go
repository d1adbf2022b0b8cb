package replication

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/internal/metrictest"
	"atrium/record"
)

// stubMessages holds messages with stub records and Pull.Stubs, which
// neither the golden file of version 1 nor digestMessages has.
func stubMessages() []Message {
	return []Message{
		&Pull{Partition: "0130040Y", Since: 17, Limit: 2000, WaitMillis: 20000, WantDigest: true, Stubs: true},
		&Pull{Partition: "0130040Y", Stubs: true},
		&Changes{Partition: "0130040Y", Last: 12, More: true, Stubs: []bool{true, false, true}, Records: []record.Record{
			{Partition: "0130040Y", ID: "5f1c0a2e-93d4-8b61-a0c2-1d2e3f405162", Kind: "file.chunk", Version: record.Version{Central: 1, Edge: 1, HLC: record.Stamp(1767225600000, 0)}, Seq: 10},
			{Partition: "0130040Y", ID: "0190d5a0-0000-7000-8000-000000000001", Kind: "news", Seq: 11, Body: []byte(`{}`)},
			{Partition: "0130040Y", ID: "6a7b8c9d-0e1f-8a2b-bc4d-5e6f708192a3", Kind: "file.chunk", Key: "k", Version: record.Version{Central: 2, Edge: 1}, Seq: 12},
		}},
		&Changes{Partition: "0130040Y", Last: 3, Digest: bytes.Repeat([]byte{0xcd}, record.DigestSize), Stubs: []bool{true}, Records: []record.Record{
			{Partition: "0130040Y", ID: "c", Kind: "file.chunk", Version: record.Version{Central: 1, Edge: 1}, Seq: 3},
		}},
	}
}

func TestStubsRoundTrip(t *testing.T) {
	checkRoundTrip(t, stubMessages())
}

// TestStubsGolden pins the encoding of stubs and Pull.Stubs, which
// atrium-sync/1.1 added to version 1 (frames-v1.golden is unchanged).
func TestStubsGolden(t *testing.T) {
	checkGolden(t, "frames-v1.1-stubs.golden", stubMessages(), "peers that negotiated "+alpnStubs+" read the old one")
}

// A stub carries no body: its frame is shorter than the whole record's by
// the body and its length, whatever the body the sender's record held.
func TestStubCarriesNoBody(t *testing.T) {
	body := bytes.Repeat([]byte("chunk bytes "), 1000)
	rec := record.Record{Partition: "p", ID: "c1", Kind: "file.chunk", Version: record.Version{Central: 1, Edge: 1}, Seq: 4, Body: body}
	whole := encodeAll(t, []Message{&Changes{Partition: "p", Last: 4, Records: []record.Record{rec}}})
	stub := encodeAll(t, []Message{&Changes{Partition: "p", Last: 4, Records: []record.Record{rec}, Stubs: []bool{true}}})
	// The frame's length field shrinks too: from 2 bytes to 1.
	if want := len(whole) - len(body) - 2 - 1; len(stub) != want {
		t.Errorf("len(stub frame) = %d, want %d (whole %d less the body of %d and its length)", len(stub), want, len(whole), len(body))
	}
	if bytes.Contains(stub, body[:100]) {
		t.Errorf("stub frame carries the body")
	}
	got, _, err := DecodeFrame(stub)
	if err != nil {
		t.Fatal(err)
	}
	ch := got.(*Changes)
	if len(ch.Records) != 1 || ch.Records[0].Body != nil || !slices.Equal(ch.Stubs, []bool{true}) {
		t.Errorf("decoded stub = %+v, stubs %v; want one record without body, marked", ch.Records, ch.Stubs)
	}

	// A Pull without Stubs keeps the encoding it had; with it, one flag bit.
	p := &Pull{Partition: "p", Since: 1, WantDigest: true}
	ps := *p
	ps.Stubs = true
	a, b := encodeAll(t, []Message{p}), encodeAll(t, []Message{&ps})
	if len(a) != len(b) || a[len(a)-1] != pullWantDigest || b[len(b)-1] != pullWantDigest|pullStubs {
		t.Errorf("Pull flags = %x, with Stubs %x; want ...%02x and ...%02x", a, b, pullWantDigest, pullWantDigest|pullStubs)
	}
}

func TestStubFlagsStrict(t *testing.T) {
	// Changes "p", last 1, one record: flags, id "i", kind "k", key "",
	// version 1/1/0, seq 1, and no body for a stub.
	frame := func(flags byte, tail ...byte) []byte {
		b := append([]byte{typeChanges, 0, 1, 'p', 1, 0, 1, flags, 1, 'i', 1, 'k', 0, 1, 1, 0, 1}, tail...)
		b[1] = byte(len(b) - 2)
		return b
	}
	if _, _, err := DecodeFrame(frame(recStub)); err != nil {
		t.Fatalf("DecodeFrame(stub) = %v, want nil", err)
	}
	for name, b := range map[string][]byte{
		"deleted stub":         frame(recStub | recDeleted),
		"stub with a body":     frame(recStub, 2, '{', '}'),
		"unknown flag":         frame(1 << 3),
		"whole without a body": frame(0),
	} {
		if _, _, err := DecodeFrame(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeFrame(%s) = %v, want ErrMalformed", name, err)
		}
	}
}

// chunkStub stubs the chunks the edge wrote, as central's rule does.
func chunkStub(uai string, r record.Record) bool {
	return r.Partition == uai && r.Kind == "file.chunk" && r.Version.Edge > 0
}

func TestServerStubsOnlyWhatItMay(t *testing.T) {
	mine := record.Record{Partition: uaiA, ID: "c1", Kind: "file.chunk", Version: record.Version{Central: 1, Edge: 1}, Seq: 1, Body: []byte(`{"data":"AAAA"}`)}
	central := record.Record{Partition: uaiA, ID: "c2", Kind: "file.chunk", Version: record.Version{Central: 1}, Seq: 2, Body: []byte(`{"data":"BBBB"}`)}
	news := record.Record{Partition: uaiA, ID: "n", Kind: "news", Version: record.Version{Central: 1, Edge: 1}, Seq: 3, Body: []byte(`{}`)}
	gone := record.Record{Partition: uaiA, ID: "c3", Kind: "file.chunk", Version: record.Version{Central: 2, Edge: 1}, Seq: 4, Deleted: true}
	region := record.Record{Partition: record.Region, ID: "c4", Kind: "file.chunk", Version: record.Version{Central: 1, Edge: 1}, Seq: 5, Body: []byte(`{"data":"CCCC"}`)}
	everything := func(string, record.Record) bool { return true }
	for _, tc := range []struct {
		name  string
		stub  func(string, record.Record) bool
		pull  Pull
		recs  []record.Record
		stubs []bool
	}{
		{"not asked", chunkStub, Pull{Partition: uaiA}, []record.Record{mine, central}, nil},
		{"asked", chunkStub, Pull{Partition: uaiA, Stubs: true}, []record.Record{central, mine, news, gone}, []bool{false, true, false, false}},
		{"no rule", nil, Pull{Partition: uaiA, Stubs: true}, []record.Record{mine}, nil},
		{"never a tombstone", everything, Pull{Partition: uaiA, Stubs: true}, []record.Record{gone}, nil},
		{"never the region", everything, Pull{Partition: record.Region, Stubs: true}, []record.Record{region}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: ServerConfig{Visible: func(string, record.Record) bool { return true }, Stub: tc.stub},
				m: newServerMetrics(), edges: map[string]*edgeState{}, heads: map[string]uint64{}}
			c := s.changes(uaiA, &tc.pull, tc.recs, nil, 9, false)
			if !slices.Equal(c.Stubs, tc.stubs) {
				t.Fatalf("changes(%+v).Stubs = %v, want %v", tc.pull, c.Stubs, tc.stubs)
			}
			for i, r := range c.Records {
				if want := tc.recs[i].Body; c.stub(i) && r.Body != nil || !c.stub(i) && !bytes.Equal(r.Body, want) {
					t.Errorf("record %s body = %q (stub %v), want %q, or none for a stub", r.ID, r.Body, c.stub(i), want)
				}
			}
		})
	}
}

// stubSink is fakeSink completing stubs from its own records, as the
// edge's store does.
type stubSink struct {
	*fakeSink
	calls atomic.Int64 // ApplyStubbed calls
}

var _ StubSink = (*stubSink)(nil)

func (k *stubSink) ApplyStubbed(p string, recs []record.Record, stubs []bool, cp uint64) (int, error) {
	k.calls.Add(1)
	k.mu.Lock()
	filled := slices.Clone(recs)
	missing := 0
	for i, stub := range stubs {
		if !stub {
			continue
		}
		old, ok := k.records[p][recs[i].ID]
		if !ok || old.Deleted || old.Kind != recs[i].Kind {
			missing++
			continue
		}
		filled[i].Body = old.Body
	}
	k.mu.Unlock()
	if missing > 0 {
		return missing, nil
	}
	return 0, k.ApplyChanges(p, filled, cp)
}

func (k *fakeSink) get(p, id string) (record.Record, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.records[p][id]
	return r, ok
}

// keep stores r as a local write would, before central's version of it.
func (k *fakeSink) keep(r record.Record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.records[r.Partition] == nil {
		k.records[r.Partition] = map[string]record.Record{}
	}
	k.records[r.Partition][r.ID] = r
}

// stubRegion is a central holding lycée A's upload (a 200 kB chunk its
// edge wrote), a small record and a chunk uploaded at central, with its
// server.
type stubRegion struct {
	src                 *fakeSource
	upload, news, other record.Record
	reg                 *prometheus.Registry
	srv                 *Server
}

func newStubRegion(t *testing.T, pki *testPKI, alpn []string) *stubRegion {
	t.Helper()
	return newStubRegionWith(t, pki, alpn, nil)
}

// newStubRegionWith is newStubRegion with the server reading through
// wrap(src) when wrap is not nil.
func newStubRegionWith(t *testing.T, pki *testPKI, alpn []string, wrap func(*fakeSource) Source) *stubRegion {
	t.Helper()
	src := newFakeSource()
	r := &stubRegion{src: src, reg: prometheus.NewRegistry()}
	r.upload = src.put(record.Record{Partition: uaiA, ID: "chunk-1", Kind: "file.chunk", Version: record.Version{Edge: 1}, Body: bytes.Repeat([]byte("v"), 200_000)})
	r.news = src.put(record.Record{Partition: uaiA, ID: "news-1", Kind: "news", Body: []byte(`{}`)})
	r.other = src.put(record.Record{Partition: uaiA, ID: "chunk-2", Kind: "file.chunk", Body: []byte(`{"data":"AAAA"}`)})
	var source Source = src
	if wrap != nil {
		source = wrap(src)
	}
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", TLS: pki.serverTLS(), Source: source, UAIOf: appliance.EdgeUAI,
		Visible: visibleNoUsers, Registerer: r.reg, Stub: chunkStub, alpn: alpn})
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "server", srv.Serve)
	r.srv = srv
	return r
}

// checkSynced waits until sink applied lycée A's feed and checks that it
// holds central's three records as they are.
func (r *stubRegion) checkSynced(t *testing.T, sink *stubSink) {
	t.Helper()
	waitFor(t, "lycée A's feed applied", 10*time.Second, func() bool {
		cp, _ := sink.Checkpoint(uaiA)
		return cp == r.other.Seq
	})
	for _, want := range []record.Record{r.upload, r.news, r.other} {
		got, ok := sink.get(uaiA, want.ID)
		if diff := cmp.Diff(want, got); !ok || diff != "" {
			t.Errorf("edge's %s (held %v) differs from central's (-central +edge):\n%s", want.ID, ok, diff)
		}
	}
}

// TestEdgeUploadNotSentBack: the edge's own chunk comes back as a stub,
// completed from its copy; the edge holds central's record whole and
// received a small part of its bytes.
func TestEdgeUploadNotSentBack(t *testing.T) {
	pki := newPKI(t)
	region := newStubRegion(t, pki, nil)
	sink := &stubSink{fakeSink: newFakeSink(uaiA, 1000)}
	local := region.upload
	local.Seq, local.Version = 0, record.Version{Edge: 1} // as the edge wrote it, before central's verdict
	sink.keep(local)
	wan := NewWAN(0)
	creg := prometheus.NewRegistry()
	startClient(t, ClientConfig{UAI: uaiA, Servers: []string{region.srv.Addr().String()}, TLS: pki.edgeTLS(t, uaiA), Sink: sink,
		MinBackoff: 20 * time.Millisecond, WAN: wan, Registerer: creg})

	region.checkSynced(t, sink)
	if got := wan.Received(); got >= uint64(len(region.upload.Body))/10 {
		t.Errorf("edge received %d bytes for a feed whose upload weighs %d, want less than a tenth", got, len(region.upload.Body))
	}
	if got := metrictest.Value(t, region.reg, "atrium_replication_stubs_sent_total", "uai", uaiA); got != 1 {
		t.Errorf("atrium_replication_stubs_sent_total = %v, want 1", got)
	}
	if got := metrictest.Value(t, region.reg, "atrium_replication_stub_body_bytes_total", "uai", uaiA); got != float64(len(region.upload.Body)) {
		t.Errorf("atrium_replication_stub_body_bytes_total = %v, want %d", got, len(region.upload.Body))
	}
	if applied, misses := metrictest.Sum(t, creg, "atrium_edge_stubs_applied_total"), metrictest.Sum(t, creg, "atrium_edge_stub_misses_total"); applied != 1 || misses != 0 {
		t.Errorf("stubs applied, misses = %v, %v; want 1, 0", applied, misses)
	}
}

// TestStubMissingPulledWhole: an edge that lacks its own upload (restored
// from an older backup) applies nothing of the stubbed page and pulls it
// again whole.
func TestStubMissingPulledWhole(t *testing.T) {
	pki := newPKI(t)
	region := newStubRegion(t, pki, nil)
	sink := &stubSink{fakeSink: newFakeSink(uaiA, 1000)}
	creg := prometheus.NewRegistry()
	startClient(t, ClientConfig{UAI: uaiA, Servers: []string{region.srv.Addr().String()}, TLS: pki.edgeTLS(t, uaiA), Sink: sink,
		MinBackoff: 20 * time.Millisecond, Registerer: creg})

	waitFor(t, "lycée A's feed applied", 10*time.Second, func() bool {
		cp, _ := sink.Checkpoint(uaiA)
		return cp == region.other.Seq
	})
	if got, ok := sink.get(uaiA, region.upload.ID); !ok || !bytes.Equal(got.Body, region.upload.Body) {
		t.Errorf("edge's upload = %d bytes (held %v), want central's %d", len(got.Body), ok, len(region.upload.Body))
	}
	if reads := region.src.readsOf(uaiA); len(reads) < 2 || reads[0] != 0 || reads[1] != 0 {
		t.Errorf("reads of lycée A's feed from = %v, want the first page twice", reads)
	}
	if misses, applied := metrictest.Sum(t, creg, "atrium_edge_stub_misses_total"), metrictest.Sum(t, creg, "atrium_edge_stubs_applied_total"); misses != 1 || applied != 0 {
		t.Errorf("stub misses, applied = %v, %v; want 1, 0", misses, applied)
	}
}

// TestStubsNeedBothSides: with a central or an edge of an earlier release
// (ALPN atrium-sync/1 only), no stub is asked for nor sent, and the edge
// gets its upload whole.
func TestStubsNeedBothSides(t *testing.T) {
	for _, tc := range []struct {
		name                string
		server, client      []string
		wantStubs, wantCall bool
	}{
		{"both new", nil, nil, true, true},
		{"central older", []string{ALPN}, nil, false, false},
		{"edge older", nil, []string{ALPN}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pki := newPKI(t)
			region := newStubRegion(t, pki, tc.server)
			sink := &stubSink{fakeSink: newFakeSink(uaiA, 1000)}
			local := region.upload
			local.Seq = 0
			sink.keep(local)
			wan := NewWAN(0)
			startClient(t, ClientConfig{UAI: uaiA, Servers: []string{region.srv.Addr().String()}, TLS: pki.edgeTLS(t, uaiA), Sink: sink,
				MinBackoff: 20 * time.Millisecond, WAN: wan, alpn: tc.client})
			waitFor(t, "lycée A's feed applied", 10*time.Second, func() bool {
				cp, _ := sink.Checkpoint(uaiA)
				return cp == region.other.Seq
			})
			if got, ok := sink.get(uaiA, region.upload.ID); !ok || !cmp.Equal(got, region.upload) {
				t.Errorf("edge's upload = seq %d, %d bytes (held %v); want central's record", got.Seq, len(got.Body), ok)
			}
			stubbed := metrictest.Value(t, region.reg, "atrium_replication_records_sent_total", "uai", uaiA) > 0 &&
				metrictest.Sum(t, region.reg, "atrium_replication_stubs_sent_total") > 0
			if stubbed != tc.wantStubs {
				t.Errorf("central sent stubs = %v, want %v", stubbed, tc.wantStubs)
			}
			if called := sink.calls.Load() > 0; called != tc.wantCall {
				t.Errorf("ApplyStubbed called = %v, want %v", called, tc.wantCall)
			}
			if small := wan.Received() < uint64(len(region.upload.Body)); small != tc.wantStubs {
				t.Errorf("edge received %d bytes for an upload of %d: less = %v, want %v", wan.Received(), len(region.upload.Body), small, tc.wantStubs)
			}
		})
	}
}

// bodilessSource is a fakeSource that leaves out the bodies of the records
// a stubbed pull's predicate accepts (StubSource), as central does for the
// chunks it keeps as blobs, and counts its reads of each kind.
type bodilessSource struct {
	*fakeSource
	mu             sync.Mutex
	stubbed, plain int
}

func (s *bodilessSource) Changes(partition string, since uint64, limit int) ([]record.Record, uint64, error) {
	s.mu.Lock()
	s.plain++
	s.mu.Unlock()
	return s.fakeSource.Changes(partition, since, limit)
}

func (s *bodilessSource) ChangesStubbed(partition string, since uint64, limit int, stub func(record.Record) bool) ([]record.Record, uint64, []int, error) {
	s.mu.Lock()
	s.stubbed++
	s.mu.Unlock()
	recs, last, err := s.fakeSource.Changes(partition, since, limit)
	left := make([]int, len(recs))
	for i := range recs {
		if stub(recs[i]) {
			left[i] = len(recs[i].Body)
			recs[i].Body = nil
		}
	}
	return recs, last, left, err
}

// TestStubsFromABodilessSource: a Source that leaves out the bodies of
// what goes as stubs serves the edge its feed as well: an edge holding its
// upload gets central's record whole and the bytes left out are counted;
// an edge that lacks it pulls the page again, read whole.
func TestStubsFromABodilessSource(t *testing.T) {
	for _, holds := range []bool{true, false} {
		t.Run(fmt.Sprintf("edge holds its upload=%v", holds), func(t *testing.T) {
			pki := newPKI(t)
			var bs *bodilessSource
			region := newStubRegionWith(t, pki, nil, func(src *fakeSource) Source {
				bs = &bodilessSource{fakeSource: src}
				return bs
			})
			sink := &stubSink{fakeSink: newFakeSink(uaiA, 1000)}
			if holds {
				local := region.upload
				local.Seq, local.Version = 0, record.Version{Edge: 1}
				sink.keep(local)
			}
			startClient(t, ClientConfig{UAI: uaiA, Servers: []string{region.srv.Addr().String()}, TLS: pki.edgeTLS(t, uaiA), Sink: sink,
				MinBackoff: 20 * time.Millisecond})
			region.checkSynced(t, sink)
			bs.mu.Lock()
			stubbed, plain := bs.stubbed, bs.plain
			bs.mu.Unlock()
			if stubbed == 0 {
				t.Errorf("the server never read without bodies")
			}
			if !holds && plain == 0 {
				t.Errorf("the page pulled again whole was not read whole")
			}
			wantSaved := 0.0
			if holds {
				wantSaved = float64(len(region.upload.Body))
			}
			if got := metrictest.Value(t, region.reg, "atrium_replication_stub_body_bytes_total", "uai", uaiA); got < wantSaved {
				t.Errorf("atrium_replication_stub_body_bytes_total = %v, want at least %v", got, wantSaved)
			}
		})
	}
}
