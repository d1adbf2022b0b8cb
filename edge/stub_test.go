package edge

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"atrium/appliance"
	"atrium/internal/metrictest"
	"atrium/record"
	"atrium/replication"
)

// chunkRecord is a chunk of a file as the ENT writes it: a body made of
// its bytes (ent/files.go).
func chunkRecord(id string, data []byte) record.Record {
	return record.Record{Partition: testUAI, ID: id, Kind: "file.chunk",
		Body: []byte(`{"data":"` + base64.StdEncoding.EncodeToString(data) + `"}`)}
}

// asCentral is r as central's feed holds it once the edge's command was
// executed there: at seq, with central's version, and as a stub (no body).
func asCentral(r record.Record, seq uint64) (whole, stub record.Record) {
	r.Seq, r.Version = seq, record.Version{Central: 1, Edge: 1, HLC: record.Stamp(testTime, 0)}
	stub = r
	stub.Body = nil
	return r, stub
}

// TestApplyStubbedFromLocalChunk: a stub of a chunk the edge wrote is
// stored as central's record, byte for byte, with the local body: the
// digest is the one of central's records and the local write is settled.
func TestApplyStubbedFromLocalChunk(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		t.Run(map[bool]string{true: "sealed", false: "clear"}[sealed], func(t *testing.T) {
			if !sealed {
				clearByDefault(t)
			}
			s, _ := newTestStore(t)
			local := chunkRecord(record.NewID(), bytes.Repeat([]byte{7}, 1000))
			if err := s.Submit(t.Context(), putCmd(t, opPut, local)); err != nil {
				t.Fatal(err)
			}
			if _, _, settled := storeDigest(t, s, testUAI); settled {
				t.Fatalf("a local write awaiting central's verdict reads as settled")
			}
			chunk, stub := asCentral(local, 1)
			news := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: 2, Version: record.Version{Central: 1}, Body: []byte(`{}`)}
			missing, err := s.ApplyStubbed(testUAI, []record.Record{stub, news}, []bool{true, false}, 2)
			if missing != 0 || err != nil {
				t.Fatalf("ApplyStubbed(stub of a local chunk) = %d, %v; want 0, nil", missing, err)
			}
			got, ok := get(t, s, testUAI, local.ID)
			if diff := cmp.Diff(chunk, got); !ok || diff != "" {
				t.Errorf("stored chunk (held %v) differs from central's (-central +edge):\n%s", ok, diff)
			}
			if _, ok := get(t, s, testUAI, news.ID); !ok {
				t.Errorf("the whole record of the page was not applied")
			}
			d, cp, settled := storeDigest(t, s, testUAI)
			if want := digestOf(chunk, news); d != want || cp != 2 || !settled {
				t.Errorf("Digest = %v at %d, settled %v; want central's %v at 2, settled", d, cp, settled, want)
			}
		})
	}
}

// TestApplyStubbedWithoutLocalChunk: a stub the store cannot complete
// makes the whole page refused: nothing written, not even the checkpoint,
// and the count of stubs it lacks returned.
func TestApplyStubbedWithoutLocalChunk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		local func(t *testing.T, s *Store, chunk record.Record)
	}{
		{"absent", func(*testing.T, *Store, record.Record) {}},
		{"deleted here", func(t *testing.T, s *Store, chunk record.Record) {
			gone := chunk
			gone.Deleted, gone.Body, gone.Seq, gone.Version = true, nil, 1, record.Version{Central: 1}
			if err := s.ApplyChanges(testUAI, []record.Record{gone}, 1); err != nil {
				t.Fatal(err)
			}
		}},
		{"another kind", func(t *testing.T, s *Store, chunk record.Record) {
			other := chunk
			other.Kind = "news"
			if err := s.Submit(t.Context(), putCmd(t, opPut, other)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestStore(t)
			chunk := chunkRecord(record.NewID(), []byte("octets"))
			tc.local(t, s, chunk)
			before, cpBefore, _ := storeDigest(t, s, testUAI)
			news := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news", Seq: 2, Version: record.Version{Central: 1}, Body: []byte(`{}`)}
			_, stub := asCentral(chunk, 3)
			missing, err := s.ApplyStubbed(testUAI, []record.Record{news, stub}, []bool{false, true}, 3)
			if missing != 1 || err != nil {
				t.Fatalf("ApplyStubbed(stub without a local chunk) = %d, %v; want 1, nil", missing, err)
			}
			if _, ok := get(t, s, testUAI, news.ID); ok {
				t.Errorf("a record of the refused page was written")
			}
			if got, ok := get(t, s, testUAI, chunk.ID); ok && got.Kind == "file.chunk" && !got.Deleted {
				t.Errorf("the stub was stored: %+v", got)
			}
			if d, cp, _ := storeDigest(t, s, testUAI); d != before || cp != cpBefore {
				t.Errorf("after a refused page: digest %v at %d, want %v at %d (unchanged)", d, cp, before, cpBefore)
			}
		})
	}
}

func TestApplyStubbedRefusesStubsOutsideTheLycee(t *testing.T) {
	s, _ := newTestStore(t)
	region := record.Record{Partition: record.Region, ID: record.NewID(), Kind: "file.chunk", Seq: 1}
	if _, err := s.ApplyStubbed(record.Region, []record.Record{region}, []bool{true}, 1); err == nil {
		t.Errorf("ApplyStubbed(stub of the region) = nil, want an error")
	}
	gone := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "file.chunk", Seq: 1, Deleted: true}
	if _, err := s.ApplyStubbed(testUAI, []record.Record{gone}, []bool{true}, 1); err == nil {
		t.Errorf("ApplyStubbed(stub of a tombstone) = nil, want an error")
	}
}

// ownChunks stubs the chunks the edge wrote, as central's rule does
// (node/central.go).
func ownChunks(uai string, r record.Record) bool {
	return r.Partition == uai && r.Kind == "file.chunk" && !r.Deleted && r.Version.Edge > 0
}

// TestNodeUploadComesBackAsStub: a chunk uploaded at the edge goes to
// central in the outbox and comes back as a stub; the edge then holds
// central's record, its digest equals central's, and it received a small
// part of the chunk's bytes. A chunk central holds as this edge's but
// the edge lacks (it was restored from an older backup) is pulled whole.
func TestNodeUploadComesBackAsStub(t *testing.T) {
	central := digestCentral{newFakeCentral()}
	serverTLS, edgeTLS := testTLS(t, testUAI)
	srv, err := replication.NewServer(replication.ServerConfig{
		Addr: "127.0.0.1:0", TLS: serverTLS, Source: central, UAIOf: appliance.EdgeUAI,
		Visible: func(uai string, r record.Record) bool { return r.Partition == uai },
		Stub:    ownChunks,
	})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, "server", srv.Serve)
	reg := prometheus.NewRegistry()
	wan := replication.NewWAN(0)
	node, err := New(Config{DataDir: t.TempDir(), UAI: testUAI, Exec: testExec, Servers: []string{srv.Addr().String()},
		TLS: edgeTLS, Registerer: reg, WAN: wan})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, "node", node.Serve)
	store := node.Store()

	const size = 200_000
	upload := chunkRecord(record.NewID(), bytes.Repeat([]byte{1}, size))
	if err := store.Submit(t.Context(), putCmd(t, opPut, upload)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "upload pushed, back and verified", func() bool {
		return store.OutboxLen() == 0 && node.Status().Digest.VerifiedSeq == 1
	})
	got, _ := get(t, store, testUAI, upload.ID)
	if !bytes.Equal(got.Body, upload.Body) || got.Seq != 1 || got.Version.Central != 1 {
		t.Errorf("edge's chunk = seq %d, version %+v, %d bytes; want central's at seq 1 with the %d bytes", got.Seq, got.Version, len(got.Body), len(upload.Body))
	}
	if recv := wan.Received(); recv > size/10 {
		t.Errorf("edge received %d bytes while its %d-byte upload came back, want at most a tenth", recv, size)
	}
	if applied, misses := metrictest.Sum(t, reg, "atrium_edge_stubs_applied_total"), metrictest.Sum(t, reg, "atrium_edge_stub_misses_total"); applied != 1 || misses != 0 {
		t.Errorf("stubs applied, misses = %v, %v; want 1, 0", applied, misses)
	}

	// Central holds a chunk of this edge's that it lost.
	lost := chunkRecord(record.NewID(), bytes.Repeat([]byte{2}, size))
	lost.Version.Edge = 1
	central.put(lost)
	before := wan.Received()
	waitFor(t, "lost chunk pulled whole and verified", func() bool { return node.Status().Digest.VerifiedSeq == 2 })
	if got, ok := get(t, store, testUAI, lost.ID); !ok || !bytes.Equal(got.Body, lost.Body) {
		t.Errorf("lost chunk at the edge = %d bytes (held %v), want its %d", len(got.Body), ok, len(lost.Body))
	}
	if recv := wan.Received() - before; recv < size {
		t.Errorf("edge received %d bytes for a chunk of %d it lacked, want it whole", recv, size)
	}
	if misses := metrictest.Sum(t, reg, "atrium_edge_stub_misses_total"); misses != 1 {
		t.Errorf("stub misses = %v, want 1", misses)
	}
	want, _, _ := central.Digest(testUAI)
	if d, cp, _ := storeDigest(t, store, testUAI); d != want || cp != 2 {
		t.Errorf("edge digest = %v at %d, want central's %v at 2", d, cp, want)
	}
}
