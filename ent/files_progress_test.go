package ent_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"atrium/ent"
	"atrium/record"
)

// FilesIncomplete counts the files whose chunks are not all in the store,
// and the bytes they miss: the last chunk counts for what is left of the
// file, not for a whole chunk.
func TestFilesIncomplete(t *testing.T) {
	svc, st, _ := newService(t)
	ctx := t.Context()
	data := randomBytes(2*ent.ChunkSize+5, 3)
	ref, err := svc.StoreFile(ctx, teacherA, uaiA, "cours.pdf", "application/pdf", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PublishCatalogue(ctx, teacherA, ent.CatalogueArgs{Title: "Cours", Discipline: "Mathématiques", Level: ent.LevelTerminale, File: &ref}); err != nil {
		t.Fatal(err)
	}
	read := func() ent.FileProgress {
		t.Helper()
		var p ent.FileProgress
		if err := st.View(func(r record.Reader) error {
			var err error
			p, err = ent.FilesIncomplete(r, uaiA)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := read(); got != (ent.FileProgress{}) {
		t.Errorf("FilesIncomplete with every chunk here = %+v, want none", got)
	}

	// A resource whose last two chunks have not arrived (as at an edge
	// catching up): its first chunk is the stored file's.
	other := func(b byte) string {
		sum := sha256.Sum256([]byte{b})
		return hex.EncodeToString(sum[:])
	}
	partial := ent.FileRef{Name: "video.mp4", Type: "video/mp4", Size: 2*ent.ChunkSize + 5, SHA256: other(0),
		Chunks: []string{ref.Chunks[0], other(1), other(2)}}
	if _, err := svc.PublishCatalogue(ctx, teacherA, ent.CatalogueArgs{Title: "Sortie", Discipline: "Histoire", Level: ent.LevelTerminale, File: &partial}); err != nil {
		t.Fatal(err)
	}
	if got, want := read(), (ent.FileProgress{Incomplete: 1, MissingBytes: ent.ChunkSize + 5}); got != want {
		t.Errorf("FilesIncomplete with two chunks missing = %+v, want %+v", got, want)
	}
}
