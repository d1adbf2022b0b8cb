package ent_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/record"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func chunkCount(st interface{ Records() []record.Record }, partition string) int {
	n := 0
	for _, r := range st.Records() {
		if r.Kind == ent.KindFileChunk && r.Partition == partition {
			n++
		}
	}
	return n
}

// TestStoreAndReadFile stores a file of several chunks and reads it back
// whole, by ranges, and stored a second time without a new chunk.
func TestStoreAndReadFile(t *testing.T) {
	svc, st, _ := newService(t)
	data := randomBytes(2*ent.ChunkSize+1234, 1)
	ref, err := svc.StoreFile(t.Context(), teacherA, uaiA, "C:\\Cours\\chapitre 1.pdf", "application/pdf", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if ref.Name != "chapitre 1.pdf" || ref.Size != int64(len(data)) || len(ref.Chunks) != 3 || ref.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("StoreFile = %+v, want chapitre 1.pdf, %d bytes, 3 chunks, sha256 %x", ref, len(data), sum)
	}
	if err := ent.CheckFileRef(ref); err != nil {
		t.Fatalf("CheckFileRef(stored ref) = %v", err)
	}
	got, err := io.ReadAll(svc.OpenFile(uaiA, ref))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, err %v; want the %d bytes stored", len(got), err, len(data))
	}
	// A ranged read across a chunk boundary.
	fr := svc.OpenFile(uaiA, ref)
	if _, err := fr.Seek(ent.ChunkSize-10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 20)
	if _, err := io.ReadFull(fr, part); err != nil || !bytes.Equal(part, data[ent.ChunkSize-10:ent.ChunkSize+10]) {
		t.Fatalf("ranged read = %x, %v; want %x", part, err, data[ent.ChunkSize-10:ent.ChunkSize+10])
	}
	if n := chunkCount(st, uaiA); n != 3 {
		t.Fatalf("%d chunks stored, want 3", n)
	}
	// The same bytes again, by another member: no new chunk, the same ref.
	commands := len(st.Commands())
	again, err := svc.StoreFile(t.Context(), studentA, uaiA, "copie.pdf", "application/pdf", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if n := chunkCount(st, uaiA); n != 3 || len(st.Commands()) != commands || again.SHA256 != ref.SHA256 {
		t.Fatalf("second store: %d chunks, %d new commands, sha %s; want 3, 0, %s", n, len(st.Commands())-commands, again.SHA256, ref.SHA256)
	}
	if n, err := svc.FileChunksHere(uaiA, ref); n != 3 || err != nil {
		t.Fatalf("FileChunksHere = %d, %v; want 3", n, err)
	}
}

func TestStoreFileRefusals(t *testing.T) {
	svc, _, _ := newService(t)
	small := strings.NewReader("bonjour")
	tests := []struct {
		name      string
		u         ent.User
		partition string
		r         io.Reader
	}{
		{"another lycée's partition", teacherB, uaiA, small},
		{"inactive account", formerA, uaiA, small},
		{"empty file", teacherA, uaiA, strings.NewReader("")},
		{"too large", teacherA, uaiA, io.LimitReader(zeros{}, ent.MaxFileSize+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.StoreFile(t.Context(), tt.u, tt.partition, "f.txt", "text/plain", tt.r)
			if _, ok := record.AsRejection(err); !ok {
				t.Fatalf("StoreFile = %v, want a rejection", err)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestFileChunkExec checks the command itself: what an edge, honest or
// not, may send.
func TestFileChunkExec(t *testing.T) {
	data := []byte("un morceau de fichier")
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	cmd := func(u ent.User, a ent.FileChunkArgs) record.Command {
		return record.Command{Origin: uaiA, User: u.ID, Op: ent.OpFileChunk, Partition: uaiA, Args: mustJSON(t, a), Time: t0}
	}
	tests := []struct {
		name string
		cmd  record.Command
		want string
	}{
		{"hash does not match", cmd(teacherA, ent.FileChunkArgs{Hash: strings.Repeat("0", 64), Data: data}), "invalid"},
		{"malformed hash", cmd(teacherA, ent.FileChunkArgs{Hash: "abc", Data: data}), "invalid"},
		{"upper-case hash", cmd(teacherA, ent.FileChunkArgs{Hash: strings.ToUpper(h), Data: data}), "invalid"},
		{"empty chunk", cmd(teacherA, ent.FileChunkArgs{Hash: h}), "invalid"},
		{"oversized chunk", cmd(teacherA, ent.FileChunkArgs{Hash: h, Data: make([]byte, ent.ChunkSize+1)}), "invalid"},
		{"not a member", cmd(teacherB, ent.FileChunkArgs{Hash: h, Data: data}), "forbidden"},
		{"member", cmd(studentA, ent.FileChunkArgs{Hash: h, Data: data}), ""},
		{"retransmitted", cmd(studentA, ent.FileChunkArgs{Hash: h, Data: data}), ""},
	}
	tx := homeworkTx(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ent.Exec(tx, tt.cmd)
			code := ""
			if rej, ok := record.AsRejection(err); ok {
				code = rej.Code
			} else if err != nil {
				t.Fatalf("Exec = %v, want a rejection or nil", err)
			}
			if code != tt.want {
				t.Fatalf("Exec = %q (%v), want %q", code, err, tt.want)
			}
		})
	}
	if tx.puts != 1 {
		t.Fatalf("%d records written, want 1 (the member's chunk, once)", tx.puts)
	}
}

// TestReadDetectsMissingAndTamperedChunks: a chunk not here yet, or whose
// bytes changed, fails the read instead of serving wrong bytes.
func TestReadDetectsMissingChunks(t *testing.T) {
	svc, _, _ := newService(t)
	ref, err := svc.StoreFile(t.Context(), teacherA, uaiA, "a.bin", "", bytes.NewReader(randomBytes(1000, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Type != "application/octet-stream" {
		t.Fatalf("type = %q, want application/octet-stream", ref.Type)
	}
	missing := ref
	missing.Chunks = []string{strings.Repeat("ab", 32)}
	if _, err := io.ReadAll(svc.OpenFile(uaiA, missing)); !errors.Is(err, ent.ErrFileIncomplete) {
		t.Fatalf("read of a file whose chunk is missing: %v, want ErrFileIncomplete", err)
	}
	if _, err := io.ReadAll(svc.OpenFile(uaiB, ref)); !errors.Is(err, ent.ErrFileIncomplete) {
		t.Fatalf("read from another partition: %v, want ErrFileIncomplete", err)
	}
}

func TestCheckFileRef(t *testing.T) {
	good := ent.FileRef{Name: "cours.pdf", Type: "application/pdf", Size: ent.ChunkSize + 1,
		SHA256: strings.Repeat("a", 64), Chunks: []string{strings.Repeat("b", 64), strings.Repeat("c", 64)}}
	if err := ent.CheckFileRef(good); err != nil {
		t.Fatalf("CheckFileRef(good) = %v", err)
	}
	bad := map[string]func(*ent.FileRef){
		"path in name":     func(f *ent.FileRef) { f.Name = "../etc/passwd" },
		"control in name":  func(f *ent.FileRef) { f.Name = "a\nb" },
		"empty name":       func(f *ent.FileRef) { f.Name = "" },
		"chunk count":      func(f *ent.FileRef) { f.Chunks = f.Chunks[:1] },
		"negative size":    func(f *ent.FileRef) { f.Size = -1 },
		"too large":        func(f *ent.FileRef) { f.Size = ent.MaxFileSize + 1 },
		"bad type":         func(f *ent.FileRef) { f.Type = "pas un type" },
		"bad file hash":    func(f *ent.FileRef) { f.SHA256 = "x" },
		"bad chunk hash":   func(f *ent.FileRef) { f.Chunks[1] = "zz" },
		"upper-case chunk": func(f *ent.FileRef) { f.Chunks[0] = strings.Repeat("B", 64) },
	}
	for name, mutate := range bad {
		f := good
		f.Chunks = append([]string(nil), good.Chunks...)
		mutate(&f)
		if _, ok := record.AsRejection(ent.CheckFileRef(f)); !ok {
			t.Errorf("CheckFileRef(%s) accepted %+v", name, f)
		}
	}
}

func TestCleanFileName(t *testing.T) {
	for in, want := range map[string]string{
		"C:\\Users\\prof\\TP 3.odt": "TP 3.odt",
		"/tmp/../x/Résumé.pdf":      "Résumé.pdf",
		"..":                        "fichier",
		"  ":                        "fichier",
		"a\x00b\tc.txt":             "abc.txt",
	} {
		if got := ent.CleanFileName(in); got != want {
			t.Errorf("CleanFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChunkIDIsAValidRecordID(t *testing.T) {
	id := ent.ChunkID(strings.Repeat("7f", 32))
	if len(id) != 36 || id[14] != '8' {
		t.Fatalf("ChunkID = %q, want a version-8 UUID", id)
	}
	if ent.ChunkID("nothex") != "" {
		t.Fatal("ChunkID of a malformed hash is not empty")
	}
}
