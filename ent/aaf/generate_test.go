package aaf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"atrium/ent/uai"

	"github.com/google/go-cmp/cmp"
)

// genFileOps is one generated file, read back with the package's Reader.
type genFileOps struct {
	name   string
	info   FileInfo
	header Header
	ops    []Op
	raw    []byte
}

// generateAndRead generates cfg into a temporary directory and reads every
// file back, failing the test on any name or parse error.
func generateAndRead(t *testing.T, cfg GenConfig) (GenSummary, []genFileOps) {
	t.Helper()
	dir := t.TempDir()
	sum, err := Generate(dir, cfg)
	if err != nil {
		t.Fatalf("Generate(%+v) = %v", cfg, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := names, slices.Sorted(slices.Values(sum.Files)); !slices.Equal(got, want) {
		t.Fatalf("files in dir = %q, summary says %q", got, want)
	}
	var files []genFileOps
	for _, name := range sum.Files {
		fi, err := ParseFileName(name)
		if err != nil {
			t.Fatalf("ParseFileName(%q) = %v", name, err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(bytes.NewReader(raw))
		r.SetFile(name)
		h := r.Header()
		ops, err := readAll(r)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("read %s: %v", name, err)
		}
		files = append(files, genFileOps{name: name, info: fi, header: h, ops: ops, raw: raw})
	}
	return sum, files
}

func TestGenerate(t *testing.T) {
	cfg := GenConfig{Lycees: 5, StudentsPerLycee: 60, DeltaDays: 2, Seed: 7}
	sum, files := generateAndRead(t, cfg)

	// Two académies (lycées 1 and 4 are in Nice), each a Complet set and
	// two Delta sets of six files, categories in order.
	if got, want := len(files), 2*(1+cfg.DeltaDays)*len(CategoryOrder()); got != want {
		t.Fatalf("%d files, want %d", got, want)
	}
	for i, f := range files {
		if got, want := f.info.Category, CategoryOrder()[i%6]; got != want {
			t.Errorf("file %d %s: category %s, want %s", i, f.name, got, want)
		}
		acad := strings.TrimPrefix(f.info.Prefix, "ENT_")
		if f.header.Academie != acad || f.header.VersionAF != "V4.0" {
			t.Errorf("%s: header %+v, want académie %s and V4.0", f.name, f.header, acad)
		}
		for _, op := range f.ops {
			if op.Category != f.info.Category {
				t.Errorf("%s: op %s has category %q", f.name, op.ID, op.Category)
			}
		}
	}

	// The Complet sets: counts, UAIs and references.
	uais := map[string]bool{}
	relatives := map[string]bool{} // académie$id
	students := map[string]int{}   // by UAI
	var teachers, staff, nrel int
	var refs []string // académie$relative, from students
	latin9 := 0
	for _, f := range files {
		if !f.info.Complet {
			continue
		}
		if bytes.Contains(f.raw[:60], []byte(`encoding="ISO-8859-15"`)) {
			latin9++
		}
		for _, op := range f.ops {
			if op.Kind != Add {
				t.Errorf("%s: a Complet holds a %s", f.name, op.Kind)
			}
			switch f.info.Category {
			case EtabEducNat:
				if !uai.Valid(op.ID) {
					t.Errorf("%s: invalid UAI %q", f.name, op.ID)
				}
				if uais[op.ID] {
					t.Errorf("%s: UAI %s twice", f.name, op.ID)
				}
				uais[op.ID] = true
			case Eleve:
				cls := op.Attrs["ENTEleveClasses"]
				if len(cls) != 1 || len(Split(cls[0])) != 2 {
					t.Fatalf("%s: student %s ENTEleveClasses = %q, want one UAI$CLASS", f.name, op.ID, cls)
				}
				students[Split(cls[0])[0]]++
				for _, v := range op.Attrs["ENTElevePersRelEleve"] {
					parts := Split(v)
					if len(parts) != 6 {
						t.Errorf("%s: student %s ENTElevePersRelEleve %q: %d fields, want 6", f.name, op.ID, v, len(parts))
						continue
					}
					refs = append(refs, f.info.Prefix+"$"+parts[0])
				}
				if len(op.Attrs["ENTElevePersRelEleve"]) == 0 {
					t.Errorf("%s: student %s has no relative", f.name, op.ID)
				}
			case PersRelEleve:
				relatives[f.info.Prefix+"$"+op.ID] = true
				nrel++
				for _, v := range append(op.Attrs["sn"], op.Attrs["givenName"]...) {
					if !utf8.ValidString(v) || v == "" {
						t.Errorf("%s: relative %s has name %q", f.name, op.ID, v)
					}
				}
			case PersEducNat:
				fns := op.Attrs["ENTPersonFonctions"]
				if len(fns) != 1 || len(Split(fns[0])) != 5 || !uai.Valid(Split(fns[0])[0]) {
					t.Errorf("%s: %s ENTPersonFonctions = %q", f.name, op.ID, fns)
					continue
				}
				if Split(fns[0])[1] == "ENS" {
					teachers++
					cm := op.Attrs["ENTAuxEnsClassesMatieres"]
					if len(cm) == 0 || len(Split(cm[0])) != 3 {
						t.Errorf("%s: teacher %s ENTAuxEnsClassesMatieres = %q", f.name, op.ID, cm)
					}
				} else {
					staff++
				}
			}
		}
	}
	if len(uais) != cfg.Lycees || sum.Lycees != cfg.Lycees {
		t.Errorf("%d lycées in the files, %d in the summary, want %d", len(uais), sum.Lycees, cfg.Lycees)
	}
	for u := range uais {
		if students[u] != cfg.StudentsPerLycee {
			t.Errorf("lycée %s has %d students, want %d", u, students[u], cfg.StudentsPerLycee)
		}
	}
	if len(students) != cfg.Lycees {
		t.Errorf("students in %d UAIs, want %d: %v", len(students), cfg.Lycees, students)
	}
	if sum.Students != cfg.Lycees*cfg.StudentsPerLycee || sum.Relatives != nrel || sum.Teachers != teachers || sum.Staff != staff {
		t.Errorf("summary %+v; files have %d relatives, %d teachers, %d staff", sum, nrel, teachers, staff)
	}
	if teachers == 0 || staff == 0 {
		t.Errorf("%d teachers and %d staff, want some of each", teachers, staff)
	}
	for _, r := range refs {
		if !relatives[r] {
			t.Errorf("student references relative %s, missing from PersRelEleve", r)
		}
	}
	if shared := len(refs) - nrel; shared <= 0 {
		t.Errorf("%d references to %d relatives: no siblings share relatives", len(refs), nrel)
	}
	if latin9 != 1 {
		t.Errorf("%d Complet files in ISO-8859-15, want 1", latin9)
	}

	// Every Delta day brings arrivals, class changes and departures in
	// each académie; arrivals come with their relatives.
	for _, f := range files {
		if f.info.Complet || f.info.Category != Eleve {
			continue
		}
		kinds := map[Kind]int{}
		for _, op := range f.ops {
			kinds[op.Kind]++
			if op.Kind == Modify {
				if cls := op.Attrs["ENTEleveClasses"]; len(cls) != 1 || !uais[Split(cls[0])[0]] {
					t.Errorf("%s: class change %s to %q", f.name, op.ID, cls)
				}
			}
		}
		if kinds[Add] == 0 || kinds[Modify] == 0 || kinds[Delete] == 0 {
			t.Errorf("%s: %v, want adds, modifies and deletes", f.name, kinds)
		}
	}
	if sum.Arrivals == 0 || sum.Changes == 0 || sum.Departures == 0 || sum.DeltaDays != cfg.DeltaDays {
		t.Errorf("summary %+v, want delta counts", sum)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	cfg := GenConfig{Lycees: 2, StudentsPerLycee: 30, DeltaDays: 1, Seed: 42}
	_, a := generateAndRead(t, cfg)
	_, b := generateAndRead(t, cfg)
	if len(a) != len(b) {
		t.Fatalf("%d files then %d", len(a), len(b))
	}
	for i := range a {
		if a[i].name != b[i].name || !bytes.Equal(a[i].raw, b[i].raw) {
			t.Errorf("%s differs between two runs with seed %d", a[i].name, cfg.Seed)
		}
	}
	cfg.Seed = 43
	_, c := generateAndRead(t, cfg)
	if bytes.Equal(a[3].raw, c[3].raw) {
		t.Errorf("%s is the same with seeds 42 and 43", a[3].name)
	}
}

func TestGenerateConfig(t *testing.T) {
	if _, err := Generate(t.TempDir(), GenConfig{Lycees: -1}); err == nil {
		t.Error("Generate with -1 lycées succeeded")
	}
	sum, err := Generate(t.TempDir(), GenConfig{StudentsPerLycee: 10})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lycees != 4 || sum.Students != 40 || sum.DeltaDays != 0 || len(sum.Files) != 12 {
		t.Errorf("Generate(zero config) = %+v, want 4 lycées, 40 students, no Delta, 12 files", sum)
	}
	if got, want := sum.Files[0], "ENT_AIX-MARSEILLE_Complet_20250901_EtabEducNat_0000.xml"; got != want {
		t.Errorf("first file %s, want %s", got, want)
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := GenConfig{Lycees: 10, StudentsPerLycee: 500, DeltaDays: 1, Seed: 1}
	dir := b.TempDir()
	for b.Loop() {
		if _, err := Generate(dir, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGenerateNextComplet checks the next Complet against the Complet and
// the Delta sets applied to a plain model of the directory: entries by
// académie, category and id, a Modify replacing the attributes it names.
func TestGenerateNextComplet(t *testing.T) {
	for _, cfg := range []GenConfig{
		{Lycees: 4, StudentsPerLycee: 150, DeltaDays: 3, Seed: 9, NextComplet: true},
		{Lycees: 2, StudentsPerLycee: 20, Seed: 4, NextComplet: true}, // no Delta: the same state a day later
	} {
		sum, files := generateAndRead(t, cfg)
		next := cfg.Date
		if next.IsZero() {
			next = time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
		}
		next = next.AddDate(0, 0, cfg.DeltaDays+1)
		if !sum.NextComplet.Equal(next) {
			t.Errorf("%+v: summary NextComplet = %s, want %s", cfg, sum.NextComplet, next)
		}
		if got, want := len(files), sum.Academies*(2+cfg.DeltaDays)*len(CategoryOrder()); got != want {
			t.Fatalf("%+v: %d files, want %d", cfg, got, want)
		}
		state := map[string]map[string][]string{}   // the model: Complet, then Deltas
		nextSet := map[string]map[string][]string{} // the next Complet
		nextStudents, nextRelatives := 0, 0
		for _, f := range files {
			isNext := f.info.Complet && f.info.Date.Equal(next)
			for _, op := range f.ops {
				key := f.info.Prefix + "/" + f.info.Category + "/" + op.ID
				switch {
				case isNext:
					if op.Kind != Add {
						t.Fatalf("%s: a Complet holds a %s", f.name, op.Kind)
					}
					nextSet[key] = op.Attrs
					switch f.info.Category {
					case Eleve:
						nextStudents++
					case PersRelEleve:
						nextRelatives++
					}
				case op.Kind == Add:
					state[key] = op.Attrs
				case op.Kind == Modify:
					if state[key] == nil {
						t.Fatalf("%s: modify of %s, missing from the state", f.name, key)
					}
					merged := map[string][]string{}
					for k, v := range state[key] {
						merged[k] = v
					}
					for k, v := range op.Attrs {
						merged[k] = v
					}
					state[key] = merged
				case op.Kind == Delete:
					if state[key] == nil {
						t.Fatalf("%s: delete of %s, missing from the state", f.name, key)
					}
					delete(state, key)
				}
			}
		}
		if len(nextSet) == 0 {
			t.Fatalf("%+v: no next Complet dated %s", cfg, next.Format("20060102"))
		}
		if diff := cmp.Diff(state, nextSet); diff != "" {
			t.Errorf("%+v: Complet + Deltas (-) and the next Complet (+) differ:\n%s", cfg, diff)
		}
		if sum.NextStudents != nextStudents || sum.NextRelatives != nextRelatives ||
			nextStudents != sum.Students+sum.Arrivals-sum.Departures {
			t.Errorf("%+v: summary %+v; next Complet has %d students, %d relatives", cfg, sum, nextStudents, nextRelatives)
		}

		// The other files do not depend on NextComplet.
		cfg.NextComplet = false
		_, without := generateAndRead(t, cfg)
		for i, f := range without {
			if f.name != files[i].name || !bytes.Equal(f.raw, files[i].raw) {
				t.Errorf("%s differs with and without NextComplet", f.name)
			}
		}
	}
}
