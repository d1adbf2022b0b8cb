package central

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"

	"atrium/ent"
	"atrium/ent/uai"
	"atrium/internal/goldenhex"
	"atrium/record"
)

// newBlobFSM opens a state machine on the tests' executor, with blobs or,
// noBlobs, storing every chunk whole as before them.
func newBlobFSM(t *testing.T, noBlobs bool) *fsm {
	t.Helper()
	f := newTestFSM(t)
	f.noBlobs = noBlobs
	return f
}

// bytesEqual compares bodies at once (cmp would go byte by byte).
var bytesEqual = cmp.Comparer(bytes.Equal)

func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// chunkRec is the record the ENT writes for a chunk of data in partition.
func chunkRec(partition string, data []byte) record.Record {
	return record.Record{Partition: partition, ID: chunkID(sha256.Sum256(data)), Kind: chunkKind, Body: chunkBody(data)}
}

func tombstone(r record.Record) record.Record {
	r.Deleted, r.Body = true, nil
	return r
}

// storeDump is everything a reader of the store sees of some partitions.
type storeDump struct {
	Get     map[string]record.Record // partition/id
	Scan    map[string][]record.Record
	Changes map[string][]record.Record
	Digest  map[string]record.Digest
	Rebuilt map[string]record.Digest // the digest recomputed from the records
}

func dumpStore(t *testing.T, f *fsm, partitions ...string) storeDump {
	t.Helper()
	d := storeDump{Get: map[string]record.Record{}, Scan: map[string][]record.Record{}, Changes: map[string][]record.Record{},
		Digest: map[string]record.Digest{}, Rebuilt: map[string]record.Digest{}}
	err := f.view(func(r reader) error {
		for _, p := range partitions {
			recs, _, _, err := r.changes(p, 0, 1000, nil)
			if err != nil {
				return err
			}
			d.Changes[p] = recs
			for _, rec := range recs {
				got, ok, err := r.Get(p, rec.ID)
				if err != nil || !ok {
					return fmt.Errorf("Get(%s, %s) = %v, %v", p, rec.ID, ok, err)
				}
				d.Get[p+"/"+rec.ID] = got
			}
			for _, kind := range []string{chunkKind, "item"} {
				err := r.Scan(p, kind, func(rec record.Record) error {
					d.Scan[p+"/"+kind] = append(d.Scan[p+"/"+kind], rec)
					return nil
				})
				if err != nil {
					return err
				}
			}
			dig, _, err := r.digest(p)
			if err != nil {
				return err
			}
			d.Digest[p] = dig
			if b := r.part(p); b != nil {
				if d.Rebuilt[p], err = digestRecords(b); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func blobState(t *testing.T, f *fsm, data []byte) (blobs int, size int64, refs uint64) {
	t.Helper()
	sum := sha256.Sum256(data)
	f.view(func(r reader) error {
		blobs, size = r.blobStats()
		refs = r.blobRefs(sum[:])
		return nil
	})
	return blobs, size, refs
}

// storedAsRef reports whether partition's record id is stored as a
// reference to a blob.
func storedAsRef(t *testing.T, f *fsm, partition, id string) bool {
	t.Helper()
	var ref bool
	f.view(func(r reader) error {
		v, err := r.recordValue(partition, id)
		ref = err == nil && isBlobRef(v)
		return err
	})
	return ref
}

func TestChunkFormatIsENTs(t *testing.T) {
	if chunkKind != ent.KindFileChunk {
		t.Errorf("chunkKind = %q, want ent.KindFileChunk %q", chunkKind, ent.KindFileChunk)
	}
	for _, n := range []int{1, 2, 3, 1000, ent.ChunkSize} {
		data := randomData(uint64(n), n)
		sum := sha256.Sum256(data)
		if got, want := chunkID(sum), ent.ChunkID(hex.EncodeToString(sum[:])); got != want {
			t.Errorf("chunkID(%x) = %s, want ent.ChunkID's %s", sum, got, want)
		}
		want, _ := json.Marshal(struct {
			Data []byte `json:"data"`
		}{data})
		if got := chunkBody(data); !bytes.Equal(got, want) {
			t.Errorf("chunkBody(%d bytes) = %.40q…, want json.Marshal's %.40q…", n, got, want)
		}
	}
}

// The same chunk stored by two lycées is one blob counted twice; reads are
// what they were without blobs; deleting one keeps the other; deleting
// both frees the blob, and purging the tombstones leaves reads as they were.
func TestBlobSharedAcrossPartitions(t *testing.T) {
	on, off := newBlobFSM(t, false), newBlobFSM(t, true)
	data, other := randomData(1, 300_000), randomData(2, 1000)
	a, b := chunkRec("A", data), chunkRec("B", data)
	item := record.Record{Partition: "A", ID: "i1", Kind: "item", Key: "k1", Body: []byte(`{"value":"x"}`)}
	check := func(step string, wantBlobs int, wantSize int64, wantRefs uint64) {
		t.Helper()
		if blobs, size, refs := blobState(t, on, data); blobs != wantBlobs || size != wantSize || refs != wantRefs {
			t.Errorf("%s: blobs, bytes, refs of the chunk = %d, %d, %d; want %d, %d, %d", step, blobs, size, refs, wantBlobs, wantSize, wantRefs)
		}
		if diff := cmp.Diff(dumpStore(t, off, "A", "B"), dumpStore(t, on, "A", "B"), bytesEqual); diff != "" {
			t.Errorf("%s: reads with blobs differ from reads without (-without +with):\n%s", step, diff)
		}
	}
	put := func(recs ...record.Record) {
		t.Helper()
		putRecords(t, on, recs...)
		putRecords(t, off, recs...)
	}

	put(a, b, item, chunkRec("B", other))
	check("stored by A and B", 2, int64(len(data)+len(other)), 2)
	if !storedAsRef(t, on, "A", a.ID) || !storedAsRef(t, on, "B", b.ID) {
		t.Errorf("the chunk is stored whole in A or B, want a reference to its blob in both")
	}
	if blobs, _, _ := blobState(t, off, data); blobs != 0 {
		t.Errorf("without blobs: %d blobs, want 0", blobs)
	}
	var got record.Record
	on.view(func(r reader) error { got, _, _ = r.Get("B", b.ID); return nil })
	if !bytes.Equal(got.Body, b.Body) {
		t.Errorf("Get(B, chunk) body = %d bytes, want the %d bytes written", len(got.Body), len(b.Body))
	}

	put(a) // the same chunk again: nothing more counted
	check("A stores it again", 2, int64(len(data)+len(other)), 2)
	put(tombstone(a))
	check("A deletes it", 2, int64(len(data)+len(other)), 1)
	put(a)
	check("A stores it after its tombstone", 2, int64(len(data)+len(other)), 2)
	put(tombstone(a), tombstone(b))
	check("A and B delete it", 1, int64(len(other)), 0)

	for _, f := range []*fsm{on, off} {
		applyAll(t, f, entry{Type: entryPurgeTombstones, Time: 1 << 50})
	}
	check("tombstones purged", 1, int64(len(other)), 0)
	var left int
	on.view(func(r reader) error {
		return r.tx.Bucket(bucketBlobs).Bucket(subBlobData).ForEachBucket(func([]byte) error { left++; return nil })
	})
	if left != 1 {
		t.Errorf("blobs left in the bucket = %d, want 1 (the other chunk)", left)
	}
}

// A chunk whose body does not match its id, or that is not written as the
// ENT writes it, is stored whole; its bytes never stand for another's.
func TestBlobMismatchStoredWhole(t *testing.T) {
	data, forged := randomData(3, 5000), randomData(4, 5000)
	good := chunkRec("A", data)
	enc := base64.StdEncoding.EncodeToString(data)
	odd := base64.StdEncoding.EncodeToString([]byte{1}) // "AQ==": "AR==" decodes alike, not strictly
	oddData := []byte{1}
	tests := []struct {
		name string
		rec  record.Record
	}{
		{"bytes of another chunk", record.Record{Partition: "B", ID: good.ID, Kind: chunkKind, Body: chunkBody(forged)}},
		{"a space in the JSON", record.Record{Partition: "B", ID: good.ID, Kind: chunkKind, Body: []byte(`{"data": "` + enc + `"}`)}},
		{"a line break in the base64", record.Record{Partition: "B", ID: good.ID, Kind: chunkKind, Body: []byte(`{"data":"` + enc[:76] + "\n" + enc[76:] + `"}`)}},
		{"non-zero padding bits", record.Record{Partition: "B", ID: chunkID(sha256.Sum256(oddData)), Kind: chunkKind, Body: []byte(`{"data":"` + strings.Replace(odd, "Q", "R", 1) + `"}`)}},
		{"another field", record.Record{Partition: "B", ID: good.ID, Kind: chunkKind, Body: []byte(`{"data":"` + enc + `","x":1}`)}},
		{"another kind", record.Record{Partition: "B", ID: good.ID, Kind: "item", Body: good.Body}},
		{"a tombstone with its body", record.Record{Partition: "B", ID: good.ID, Kind: chunkKind, Body: good.Body, Deleted: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range []string{"honest first", "odd first"} {
				on, off := newBlobFSM(t, false), newBlobFSM(t, true)
				recs := []record.Record{good, tt.rec}
				if order == "odd first" {
					recs = []record.Record{tt.rec, good}
				}
				for _, r := range recs {
					putRecords(t, on, r)
					putRecords(t, off, r)
				}
				if storedAsRef(t, on, "B", tt.rec.ID) {
					t.Errorf("%s: B's record is a blob reference, want it whole", order)
				}
				if !storedAsRef(t, on, "A", good.ID) {
					t.Errorf("%s: A's chunk is stored whole, want a blob reference", order)
				}
				if blobs, size, refs := blobState(t, on, data); blobs != 1 || size != int64(len(data)) || refs != 1 {
					t.Errorf("%s: blobs, bytes, refs = %d, %d, %d; want 1, %d, 1", order, blobs, size, refs, len(data))
				}
				if diff := cmp.Diff(dumpStore(t, off, "A", "B"), dumpStore(t, on, "A", "B"), bytesEqual); diff != "" {
					t.Errorf("%s: reads with blobs differ from reads without (-without +with):\n%s", order, diff)
				}
			}
		})
	}
}

func snapshotOf(t *testing.T, f *fsm) io.ReadCloser {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return io.NopCloser(&sink)
}

// blobRefValue is what a stored blob reference says, its body aside.
type blobRefValue struct {
	Hash   []byte
	Record record.Record
}

func decodeBlobRefValue(b []byte) (any, error) {
	if !isBlobRef(b) {
		return nil, fmt.Errorf("not a blob reference: %w", ErrCorrupt)
	}
	hash, head, err := splitBlobRef(b)
	if err != nil {
		return nil, err
	}
	rec, err := decodeRecordHead(head)
	if err != nil {
		return nil, err
	}
	return blobRefValue{hash, rec}, nil
}

// The stored form of a blob reference is pinned, as central's other
// encodings are (golden_test.go).
func TestBlobRefGolden(t *testing.T) {
	data := []byte("Bonjour")
	sum := sha256.Sum256(data)
	rec := record.Record{Partition: "0130040Y", ID: chunkID(sum), Kind: chunkKind, Body: chunkBody(data),
		Version: record.Version{Central: 300, Edge: 2, HLC: record.Stamp(1735689600000, 7)}, Seq: 1000}
	want := rec
	want.Body = nil
	goldenhex.Check(t, goldenhex.Case{
		Path: filepath.Join("testdata", "blob-ref.v1.golden"), About: "stored chunk record as a blob reference (parts/<partition>/r): 0x80, sha256, record format 1 with an empty body",
		Stores: "State files and raft snapshots", Value: blobRefValue{sum[:], want}, Enc: appendBlobRef(nil, sum[:], rec),
		Decode: decodeBlobRefValue, Corrupt: ErrCorrupt,
	}, *update)
}

// A snapshot carries the blobs: restored, reads and counts are the same,
// and deleting goes on counting from there.
func TestBlobSnapshotRestore(t *testing.T) {
	data := randomData(5, 100_000)
	f := newBlobFSM(t, false)
	putRecords(t, f, chunkRec("A", data), chunkRec("B", data), chunkRec("C", data))
	before := dumpStore(t, f, "A", "B", "C")

	g := newBlobFSM(t, false)
	if err := g.Restore(snapshotOf(t, f)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, dumpStore(t, g, "A", "B", "C"), bytesEqual); diff != "" {
		t.Errorf("reads after restore differ (-before +after):\n%s", diff)
	}
	if blobs, size, refs := blobState(t, g, data); blobs != 1 || size != int64(len(data)) || refs != 3 {
		t.Errorf("after restore: blobs, bytes, refs = %d, %d, %d; want 1, %d, 3", blobs, size, refs, len(data))
	}
	putRecords(t, g, tombstone(chunkRec("A", data)), tombstone(chunkRec("B", data)))
	if blobs, _, refs := blobState(t, g, data); blobs != 1 || refs != 1 {
		t.Errorf("after restore and two deletions: blobs, refs = %d, %d; want 1, 1", blobs, refs)
	}
	putRecords(t, g, tombstone(chunkRec("C", data)))
	if blobs, size, refs := blobState(t, g, data); blobs != 0 || size != 0 || refs != 0 {
		t.Errorf("after restore and three deletions: blobs, bytes, refs = %d, %d, %d; want 0, 0, 0", blobs, size, refs)
	}
}

// A snapshot made before blobs existed restores: its chunks stay whole and
// read as before, the blobs bucket starts empty, and new chunks share it.
func TestBlobOlderSnapshot(t *testing.T) {
	data := randomData(6, 100_000)
	old := newBlobFSM(t, true)
	putRecords(t, old, chunkRec("A", data), chunkRec("B", data))
	if err := old.db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketBlobs) }); err != nil {
		t.Fatal(err) // as an older version's file: no blobs bucket
	}
	before := dumpStore(t, old, "A", "B")

	f := newBlobFSM(t, false)
	if err := f.Restore(snapshotOf(t, old)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, dumpStore(t, f, "A", "B"), bytesEqual); diff != "" {
		t.Errorf("reads after restoring an older snapshot differ (-before +after):\n%s", diff)
	}
	var hasBucket bool
	f.view(func(r reader) error { hasBucket = r.tx.Bucket(bucketBlobs) != nil; return nil })
	if blobs, _, _ := blobState(t, f, data); !hasBucket || blobs != 0 {
		t.Errorf("after restoring an older snapshot: blobs bucket %v with %d blobs, want an empty one", hasBucket, blobs)
	}
	putRecords(t, f, chunkRec("C", data), tombstone(chunkRec("A", data)))
	if blobs, _, refs := blobState(t, f, data); blobs != 1 || refs != 1 {
		t.Errorf("a new lycée stores the chunk, an old one deletes its whole copy: blobs, refs = %d, %d; want 1, 1", blobs, refs)
	}
	d := dumpStore(t, f, "A", "B", "C")
	for _, p := range []string{"A", "B", "C"} {
		if d.Digest[p] != d.Rebuilt[p] {
			t.Errorf("digest of %s = %v, recomputed %v", p, d.Digest[p], d.Rebuilt[p])
		}
	}
	if got := d.Get["B/"+chunkRec("B", data).ID].Body; !bytes.Equal(got, chunkBody(data)) {
		t.Errorf("B's whole chunk reads %d bytes, want its %d", len(got), len(chunkBody(data)))
	}
}

// Opening a state file rebuilds the term index from the records, blob
// references included.
func TestBlobIndexRebuild(t *testing.T) {
	data := randomData(7, 1000)
	f := newBlobFSM(t, false)
	putRecords(t, f, chunkRec("A", data))
	byLen := termIndex{terms: func(r record.Record) []string { return []string{fmt.Sprint(len(r.Body))} }, version: "len"}
	g := newIndexedFSM(t, byLen)
	if err := g.Restore(snapshotOf(t, f)); err != nil {
		t.Fatal(err)
	}
	want := []string{chunkRec("A", data).ID}
	if got := termIDs(t, g, "A", chunkKind, fmt.Sprint(len(chunkBody(data)))); !cmp.Equal(got, want) {
		t.Errorf("ScanTerm(body length) after the index rebuild = %q, want %q", got, want)
	}
}

// entChunkFSM applies, through ent.Exec as every node does, chunks of data
// uploaded by a teacher of each of n lycées, the 256 KiB chunks of one
// lycée eight to a raft entry (as an outbox batch would bring them). It
// returns the state machine and the lycées' UAIs.
func entChunkFSM(t testing.TB, dir string, n int, data []byte, noBlobs bool) (*fsm, []string) {
	t.Helper()
	f, err := openFSM(filepath.Join(dir, "state.db"), ent.Exec, termIndex{ent.IndexTerms, ent.IndexVersion}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	f.noBlobs = noBlobs
	index := uint64(0)
	apply := func(cmds ...record.Command) {
		index++
		res := f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: encodeEntry(entry{Type: entryExecCommands, Commands: cmds})}})[0].(*result)
		for i, e := range res.Errs {
			if e != nil {
				t.Fatalf("command %d (%s): %v", i, cmds[i].Op, e.err())
			}
		}
	}
	const t0 = 1767600000000
	var uais []string
	for i := range n {
		digits := fmt.Sprintf("013%04d", i)
		code := digits + string(uai.CheckLetter(digits))
		uais = append(uais, code)
		u := ent.User{ID: fmt.Sprintf("01890000-0000-7000-8000-%012d", i+1), Login: "prof." + code, Name: "Paul Durand", Profile: ent.Teacher, UAI: code, Active: true}
		args, _ := json.Marshal(u)
		apply(record.Command{Origin: record.OriginCentral, Op: ent.OpUserPut, Partition: code, Args: args, Time: t0})
		var batch []record.Command
		for off := 0; off < len(data); off += ent.ChunkSize {
			chunk := data[off:min(off+ent.ChunkSize, len(data))]
			sum := sha256.Sum256(chunk)
			args, _ := json.Marshal(ent.FileChunkArgs{Hash: hex.EncodeToString(sum[:]), Data: chunk})
			batch = append(batch, record.Command{Origin: record.OriginCentral, User: u.ID, Op: ent.OpFileChunk, Partition: code, Args: args, Time: t0 + int64(off)})
			if len(batch) == 8 {
				apply(batch...)
				batch = nil
			}
		}
		if batch != nil {
			apply(batch...)
		}
	}
	return f, uais
}

// The ENT's own chunks are shared: uploaded by two lycées, one blob.
func TestBlobENTChunks(t *testing.T) {
	data := randomData(8, ent.ChunkSize+1000)
	f, uais := entChunkFSM(t, t.TempDir(), 2, data, false)
	blobs, size, refs := blobState(t, f, data[:ent.ChunkSize])
	if blobs != 2 || size != int64(len(data)) || refs != 2 {
		t.Errorf("a %d-byte file uploaded by two lycées: blobs, bytes, refs of its first chunk = %d, %d, %d; want 2, %d, 2", len(data), blobs, size, refs, len(data))
	}
	id := chunkRec("", data[:ent.ChunkSize]).ID
	for _, p := range uais {
		if !storedAsRef(t, f, p, id) {
			t.Errorf("the chunk uploaded by %s is stored whole, want a blob reference", p)
		}
		if rec, ok := get(t, f, p, id); !ok || !bytes.Equal(rec.Body, chunkBody(data[:ent.ChunkSize])) {
			t.Errorf("Get(%s, chunk) = %v, %d bytes; want the chunk", p, ok, len(rec.Body))
		}
	}
}

// blobMB is the size of the file TestBlobStateFileSize has lycées upload:
// small by default, to keep `make test` quick; DESIGN.md's figures are
// for 20 MB (go test -run TestBlobStateFileSize -v ./central/ -blob-mb 20,
// about 600 MB of state files).
var blobMB = flag.Int("blob-mb", 4, "size in MB (10^6 bytes) of the file TestBlobStateFileSize stores")

// TestBlobStateFileSize measures the state file at central after 2 and 10
// lycées upload the same file, without and with blobs (DESIGN.md, "Blobs").
func TestBlobStateFileSize(t *testing.T) {
	data := randomData(9, *blobMB*1_000_000)
	size := func(n int, noBlobs bool) (used, file int64) {
		dir := t.TempDir()
		f, _ := entChunkFSM(t, dir, n, data, noBlobs)
		f.view(func(r reader) error { used = r.tx.Size(); return nil })
		st, err := os.Stat(filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		f.close()
		return used, st.Size()
	}
	for _, n := range []int{2, 10} {
		before, beforeFile := size(n, true)
		after, afterFile := size(n, false)
		t.Logf("%2d lycées × %d MB: state (snapshot) %6.1f MB without blobs, %6.1f MB with (file on disk %6.1f MB, %6.1f MB)",
			n, *blobMB, float64(before)/1e6, float64(after)/1e6, float64(beforeFile)/1e6, float64(afterFile)/1e6)
		if limit := int64(len(data)) * 5 / 4; after > limit {
			t.Errorf("%d lycées × %d MB: state of %d bytes with blobs, want at most %d (the file once, and a margin)", n, *blobMB, after, limit)
		}
		if after*int64(n) > before {
			t.Errorf("%d lycées × %d MB: state of %d bytes with blobs, %d without: want at least %d× less", n, *blobMB, after, before, n)
		}
	}
}

// BenchmarkBlobChunks measures one state machine applying the ENT's chunk
// commands (256 KiB each, eight to a raft entry, as an outbox batch brings
// them) into one lycée, stored whole as before blobs or as blobs: new
// bytes, or bytes another lycée stored already. It reports MB/s of chunk.
//
//	go test -run '^$' -bench BenchmarkBlobChunks ./central/
func BenchmarkBlobChunks(b *testing.B) {
	for _, bc := range []struct {
		name            string
		noBlobs, shared bool
	}{{"whole", true, false}, {"blobs", false, false}, {"blobs-shared", false, true}} {
		b.Run(bc.name, func(b *testing.B) {
			const perEntry = 8
			data := randomData(10, b.N*perEntry*ent.ChunkSize)
			f, _ := entChunkFSM(b, b.TempDir(), 0, nil, bc.noBlobs)
			index := uint64(0)
			apply := func(en []byte) *result {
				index++
				return f.ApplyBatch([]*raft.Log{{Index: index, Type: raft.LogCommand, Data: en}})[0].(*result)
			}
			user := func(code string, n int) record.Command {
				u := ent.User{ID: fmt.Sprintf("01890000-0000-7000-8000-%012d", n), Login: "prof." + code, Name: "Paul Durand", Profile: ent.Teacher, UAI: code, Active: true}
				args, _ := json.Marshal(u)
				return record.Command{Origin: record.OriginCentral, Op: ent.OpUserPut, Partition: code, Args: args, Time: 1767600000000}
			}
			chunks := func(u record.Command) [][]byte {
				var ens [][]byte
				for i := range b.N {
					cmds := make([]record.Command, perEntry)
					for j := range cmds {
						off := (i*perEntry + j) * ent.ChunkSize
						chunk := data[off : off+ent.ChunkSize]
						sum := sha256.Sum256(chunk)
						args, _ := json.Marshal(ent.FileChunkArgs{Hash: hex.EncodeToString(sum[:]), Data: chunk})
						cmds[j] = record.Command{Origin: record.OriginCentral, User: userIDOf(u), Op: ent.OpFileChunk, Partition: u.Partition, Args: args, Time: 1767600000000 + int64(off)}
					}
					ens = append(ens, encodeEntry(entry{Type: entryExecCommands, Commands: cmds}))
				}
				return ens
			}
			a, c := user("0130040Y", 1), user("0060030A", 2)
			apply(encodeEntry(entry{Type: entryExecCommands, Commands: []record.Command{a, c}}))
			if bc.shared {
				for _, en := range chunks(c) {
					apply(en)
				}
			}
			ens := chunks(a)
			b.SetBytes(perEntry * ent.ChunkSize)
			b.ResetTimer()
			for _, en := range ens {
				if res := apply(en); res.Errs[0] != nil {
					b.Fatal(res.Errs[0].err())
				}
			}
		})
	}
}

func userIDOf(c record.Command) string {
	var u ent.User
	json.Unmarshal(c.Args, &u)
	return u.ID
}

// TestChangesLeaveOutStubbedBodies: a read of the feed for a pull that
// sends stubs gives the chunks the predicate accepts without their body
// (their length in left), everything else as a plain read gives it, and
// fits more of those chunks in one page than a plain read does.
func TestChangesLeaveOutStubbedBodies(t *testing.T) {
	f := newBlobFSM(t, false)
	const p = "0130040Y"
	var recs []record.Record
	for i := range 8 {
		recs = append(recs, chunkRec(p, randomData(uint64(i), 1<<20)))
	}
	recs = append(recs, record.Record{Partition: p, ID: "item-1", Kind: "item", Body: []byte(`{"n":1}`)})
	// Seven chunks uploaded at the lycée's edge (they go back there as
	// stubs), one at central.
	putRecordsMade(t, f, func(i int) bool { return i < 7 }, recs...)
	edgeMade := func(r record.Record) bool { return r.Kind == chunkKind && r.Version.Edge > 0 }

	var whole, stubbed []record.Record
	var left []int
	var lastWhole, lastStubbed uint64
	f.view(func(r reader) error {
		var err error
		if whole, lastWhole, _, err = r.changes(p, 0, 1000, nil); err != nil {
			t.Fatal(err)
		}
		if stubbed, lastStubbed, left, err = r.changes(p, 0, 1000, edgeMade); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	if len(whole) >= len(recs) {
		t.Errorf("plain read of 8 MB of chunks: %d records in one page, want it cut at ~4 MB", len(whole))
	}
	if len(stubbed) != len(recs) || lastStubbed <= lastWhole || len(left) != len(stubbed) {
		t.Fatalf("read leaving out 4 MB of bodies = %d records (last %d), %d lengths; want all %d in one page", len(stubbed), lastStubbed, len(left), len(recs))
	}
	for i, got := range stubbed {
		want := recs[i]
		if i < 7 {
			if got.Body != nil || left[i] != len(want.Body) {
				t.Errorf("record %d (made at the edge): body of %d bytes, left %d; want none, left %d", i, len(got.Body), left[i], len(want.Body))
			}
			want.Body = nil
		} else if left[i] != 0 {
			t.Errorf("record %d: left %d, want 0 (sent whole)", i, left[i])
		}
		if diff := cmp.Diff(want, got, bytesEqual, cmpopts.IgnoreFields(record.Record{}, "Seq", "Version")); diff != "" {
			t.Errorf("record %d (-want +got):\n%s", i, diff)
		}
	}
}
