package ent_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/record"
)

const (
	cat1 = "01890000-0000-7000-8000-0000000000d1"
	cat2 = "01890000-0000-7000-8000-0000000000d2"
	cat3 = "01890000-0000-7000-8000-0000000000d3"
)

func catCmd(t testing.TB, by ent.User, partition, op string, args any, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: op, Partition: partition, Args: mustJSON(t, args), Time: at}
}

func catLink(id, title string, classes ...string) ent.CatalogueArgs {
	return ent.CatalogueArgs{ID: id, Title: title, Description: "Pour réviser.", Discipline: "Mathématiques",
		Level: ent.LevelPremiere, Classes: classes, Link: "https://example.org/suites"}
}

// catFile is a well-formed FileRef of one chunk (CheckFileRef does not
// need the chunk to be stored).
func catFile() *ent.FileRef {
	h := strings.Repeat("ab", 32)
	return &ent.FileRef{Name: "cours.pdf", Type: "application/pdf", Size: 1000, SHA256: h, Chunks: []string{h}}
}

// TestCatalogueExecRules runs commands in order on one store: each is
// accepted or refused with its code, and a refusal writes nothing.
func TestCatalogueExecRules(t *testing.T) {
	tx := homeworkTx(t)
	withFile := catLink(cat2, "Cours")
	withFile.Link, withFile.File = "", catFile()
	both := catLink(cat2, "Cours")
	both.File = catFile()
	badRef := catLink(cat2, "Cours")
	badRef.Link, badRef.File = "", &ent.FileRef{Name: "a/b", Type: "application/pdf", Size: 10, SHA256: strings.Repeat("ab", 32), Chunks: []string{strings.Repeat("ab", 32)}}
	wrongChunks := catLink(cat2, "Cours")
	wrongChunks.Link, wrongChunks.File = "", catFile()
	wrongChunks.File.Size = ent.ChunkSize + 1
	js := catLink(cat2, "Cours")
	js.Link = "javascript:alert(1)"
	noLevel := catLink(cat2, "Cours")
	noLevel.Level = "cm2"
	edited := catLink(cat1, "Suites (corrigé)", "1B")
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"student publishes", catCmd(t, studentA, uaiA, ent.OpCataloguePublish, catLink(cat1, "Suites"), t0), "forbidden"},
		{"relative publishes", catCmd(t, relativeA, uaiA, ent.OpCataloguePublish, catLink(cat1, "Suites"), t0), "forbidden"},
		{"former teacher publishes", catCmd(t, formerA, uaiA, ent.OpCataloguePublish, catLink(cat1, "Suites"), t0), "forbidden"},
		{"teacher of another lycée", catCmd(t, teacherB, uaiA, ent.OpCataloguePublish, catLink(cat1, "Suites"), t0), "forbidden"},
		{"teacher in the region's catalogue", catCmd(t, teacherA, record.Region, ent.OpCataloguePublish, catLink(cat1, "Suites"), t0), "forbidden"},
		{"region staff in a lycée", catCmd(t, regionUser, uaiA, ent.OpCataloguePublish, catLink(cat1, "Suites"), t0), "forbidden"},
		{"teacher, class not theirs", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, catLink(cat1, "Suites", "2C"), t0), "forbidden"},
		{"bad id", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, catLink("x", "Suites"), t0), "invalid"},
		{"no title", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, catLink(cat1, " "), t0), "invalid"},
		{"unknown level", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, noLevel, t0), "invalid"},
		{"javascript link", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, js, t0), "invalid"},
		{"file and link", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, both, t0), "invalid"},
		{"neither file nor link", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, ent.CatalogueArgs{ID: cat2, Title: "Cours", Discipline: "Maths", Level: ent.LevelAll}, t0), "invalid"},
		{"file name with a slash", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, badRef, t0), "invalid"},
		{"file chunks do not match its size", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, wrongChunks, t0), "invalid"},
		{"region item for classes", catCmd(t, regionUser, record.Region, ent.OpCataloguePublish, catLink(cat3, "Annales", "1B"), t0), "invalid"},
		{"teacher, own class", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, catLink(cat1, "Suites", "1B"), t0), ""},
		{"retransmitted publish", catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, catLink(cat1, "Autre titre"), t0+5), ""},
		{"staff, with a file", catCmd(t, staffA, uaiA, ent.OpCataloguePublish, withFile, t0), ""},
		{"region staff, region", catCmd(t, regionUser, record.Region, ent.OpCataloguePublish, catLink(cat3, "Annales du bac"), t0), ""},
		{"colleague edits", catCmd(t, colleagueA, uaiA, ent.OpCatalogueUpdate, edited, t0+10), "forbidden"},
		{"student edits", catCmd(t, studentA, uaiA, ent.OpCatalogueUpdate, edited, t0+10), "forbidden"},
		{"teacher edits a region item", catCmd(t, teacherA, record.Region, ent.OpCatalogueUpdate, catLink(cat3, "Annales"), t0+10), "forbidden"},
		{"edit of an unknown item", catCmd(t, teacherA, uaiA, ent.OpCatalogueUpdate, catLink(hw1, "Suites"), t0+10), "not_found"},
		{"author edits", catCmd(t, teacherA, uaiA, ent.OpCatalogueUpdate, edited, t0+10), ""},
		{"older edit (no-op)", catCmd(t, staffA, uaiA, ent.OpCatalogueUpdate, catLink(cat1, "Ancien titre"), t0+5), ""},
		{"colleague retires", catCmd(t, colleagueA, uaiA, ent.OpCatalogueRetire, ent.CatalogueRetireArgs{ID: cat1}, t0+20), "forbidden"},
		{"retire a user", catCmd(t, staffA, uaiA, ent.OpCatalogueRetire, ent.CatalogueRetireArgs{ID: studentA.ID}, t0+20), "not_found"},
		{"staff retire the teacher's item", catCmd(t, staffA, uaiA, ent.OpCatalogueRetire, ent.CatalogueRetireArgs{ID: cat1}, t0+20), ""},
		{"retransmitted retire", catCmd(t, staffA, uaiA, ent.OpCatalogueRetire, ent.CatalogueRetireArgs{ID: cat1}, t0+20), ""},
		{"edit after retire (no-op)", catCmd(t, teacherA, uaiA, ent.OpCatalogueUpdate, edited, t0+30), ""},
		{"region staff retire", catCmd(t, regionUser, record.Region, ent.OpCatalogueRetire, ent.CatalogueRetireArgs{ID: cat3}, t0+20), ""},
	}
	for _, tt := range tests {
		before := tx.puts
		err := ent.Exec(tx, tt.cmd)
		if got := code(err); got != tt.want {
			t.Errorf("%s: Exec = %q (%v), want %q", tt.name, got, err, tt.want)
		}
		if tt.want != "" && tx.puts != before {
			t.Errorf("%s: refused command wrote %d records", tt.name, tx.puts-before)
		}
	}
}

// TestCatalogueLastEditWins applies two edits in both orders: the later one
// by time is what is stored, and a retransmission writes nothing.
func TestCatalogueLastEditWins(t *testing.T) {
	older := catCmd(t, teacherA, uaiA, ent.OpCatalogueUpdate, catLink(cat1, "Version de 10 h"), t0+10)
	newer := catCmd(t, staffA, uaiA, ent.OpCatalogueUpdate, catLink(cat1, "Version de 11 h"), t0+20)
	for _, order := range [][]record.Command{{older, newer}, {newer, older}} {
		tx := homeworkTx(t)
		if err := ent.Exec(tx, catCmd(t, teacherA, uaiA, ent.OpCataloguePublish, catLink(cat1, "Suites"), t0)); err != nil {
			t.Fatal(err)
		}
		for _, c := range order {
			if err := ent.Exec(tx, c); err != nil {
				t.Fatal(err)
			}
		}
		puts := tx.puts
		if err := ent.Exec(tx, order[1]); err != nil || tx.puts != puts {
			t.Errorf("retransmitted edit = %v, wrote %d records; want nil, none", err, tx.puts-puts)
		}
		rec, _, err := tx.Get(uaiA, cat1)
		if err != nil || !strings.Contains(string(rec.Body), "Version de 11 h") || !strings.Contains(string(rec.Body), teacherA.ID) {
			t.Errorf("after edits at 10 h and 11 h (applied %s first): body = %s, %v; want the 11 h version, still by its author",
				order[0].Args, rec.Body, err)
		}
	}
}

// TestCatalogueReading checks who reads what through the Service: the
// region's items for everyone, a lycée's unrestricted items for its users,
// class-restricted ones for the class, its relatives, the teachers and the
// staff; filters by discipline and level.
func TestCatalogueReading(t *testing.T) {
	svc, st, _ := newService(t)
	for _, u := range homeworkUsers {
		if err := st.Submit(t.Context(), userPut(t, u)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	data := bytes.Repeat([]byte("Annales du baccalauréat.\n"), 20000)
	ref, err := svc.StoreFile(ctx, regionUser, record.Region, "annales.txt", "text/plain", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := svc.PublishCatalogue(ctx, regionUser, ent.CatalogueArgs{Title: "Annales", Discipline: "Mathématiques", Level: ent.LevelTerminale, File: &ref})
	if err != nil || !reg.Region() {
		t.Fatalf("region publish = %+v, %v", reg, err)
	}
	open, err := svc.PublishCatalogue(ctx, teacherA, catLink("", "Pour tous"))
	if err != nil {
		t.Fatal(err)
	}
	a := catLink("", "Pour la 1B", "1B")
	a.Discipline, a.Level = "Physique-chimie", ent.LevelAll
	only1B, err := svc.PublishCatalogue(ctx, teacherA, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PublishCatalogue(ctx, studentA, catLink("", "Triche")); code(err) != "forbidden" {
		t.Errorf("PublishCatalogue(student) = %v, want forbidden", err)
	}

	ids := func(its []ent.CatalogueItem) []string {
		var out []string
		for _, it := range its {
			out = append(out, it.Title)
		}
		return out
	}
	tests := []struct {
		u           ent.User
		f           ent.CatalogueFilter
		region, lyc []string
		readsOnly1B bool
	}{
		{studentA, ent.CatalogueFilter{}, []string{"Annales"}, []string{"Pour la 1B", "Pour tous"}, true},
		{student2CA, ent.CatalogueFilter{}, []string{"Annales"}, []string{"Pour tous"}, false},
		{relativeA, ent.CatalogueFilter{}, []string{"Annales"}, []string{"Pour la 1B", "Pour tous"}, true},
		{teacher2CA, ent.CatalogueFilter{}, []string{"Annales"}, []string{"Pour la 1B", "Pour tous"}, true},
		{staffA, ent.CatalogueFilter{}, []string{"Annales"}, []string{"Pour la 1B", "Pour tous"}, true},
		{studentB, ent.CatalogueFilter{}, []string{"Annales"}, nil, false},
		{regionUser, ent.CatalogueFilter{}, []string{"Annales"}, nil, false},
		{studentA, ent.CatalogueFilter{Discipline: "physique-chimie"}, nil, []string{"Pour la 1B"}, true},
		{studentA, ent.CatalogueFilter{Level: ent.LevelPremiere}, nil, []string{"Pour la 1B", "Pour tous"}, true},
		{studentA, ent.CatalogueFilter{Level: ent.LevelTerminale}, []string{"Annales"}, []string{"Pour la 1B"}, true},
	}
	for _, tt := range tests {
		region, lyc, err := svc.ListCatalogue(ctx, tt.u, tt.f)
		if err != nil || !slices.Equal(ids(region), tt.region) || !slices.Equal(ids(lyc), tt.lyc) {
			t.Errorf("ListCatalogue(%s, %+v) = %v, %v, %v; want %v, %v", tt.u.Login, tt.f, ids(region), ids(lyc), err, tt.region, tt.lyc)
		}
		if tt.f != (ent.CatalogueFilter{}) {
			continue
		}
		_, err = svc.GetCatalogueItem(ctx, tt.u, only1B.ID)
		if got := err == nil; got != tt.readsOnly1B || (err != nil && !errors.Is(err, ent.ErrNotFound)) {
			t.Errorf("GetCatalogueItem(%s, the 1B item) = %v, want read %v", tt.u.Login, err, tt.readsOnly1B)
		}
		if got, err := svc.GetCatalogueItem(ctx, tt.u, reg.ID); err != nil || got.File == nil || got.File.SHA256 != ref.SHA256 {
			t.Errorf("GetCatalogueItem(%s, the region item) = %+v, %v; want it with its file", tt.u.Login, got, err)
		}
	}

	// Edits: the author keeps the link when sending none; a colleague may not.
	if _, err := svc.UpdateCatalogue(ctx, teacher2CA, catLink(open.ID, "Piraté")); code(err) != "forbidden" {
		t.Errorf("UpdateCatalogue(colleague) = %v, want forbidden", err)
	}
	e := catLink(open.ID, "Pour tous, revu")
	e.Link = ""
	if got, err := svc.UpdateCatalogue(ctx, teacherA, e); err != nil || got.Link != "https://example.org/suites" {
		t.Errorf("UpdateCatalogue(author, no link) = %+v, %v; want the link kept", got, err)
	}
	if err := svc.RetireCatalogue(ctx, studentA, open.ID); code(err) != "forbidden" {
		t.Errorf("RetireCatalogue(student) = %v, want forbidden", err)
	}
	if err := svc.RetireCatalogue(ctx, teacherA, open.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetCatalogueItem(ctx, studentA, open.ID); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("GetCatalogueItem(retired) = %v, want ErrNotFound", err)
	}
}

func TestCataloguePublishedToEdge(t *testing.T) {
	tests := []struct {
		r    record.Record
		want bool
	}{
		{record.Record{Partition: record.Region, Kind: ent.KindCatalogueItem}, true},
		{record.Record{Partition: record.Region, Kind: ent.KindFileChunk}, true},
		{record.Record{Partition: uaiA, Kind: ent.KindCatalogueItem}, true},
		{record.Record{Partition: uaiB, Kind: ent.KindCatalogueItem}, false},
		{record.Record{Partition: uaiB, Kind: ent.KindFileChunk}, false},
	}
	for _, tt := range tests {
		if got := ent.PublishedToEdge(uaiA, tt.r); got != tt.want {
			t.Errorf("PublishedToEdge(%s, %s/%s) = %v, want %v", uaiA, tt.r.Partition, tt.r.Kind, got, tt.want)
		}
	}
}
