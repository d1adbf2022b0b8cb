package aaf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

const csvSample = "ENT_AGRICULTURE_Complet_20250901_Agricole_0001.csv"

// readCSV reads every operation of a CSV file, returning those read
// before the first error and that error (io.EOF at a clean end).
func readCSV(name string, data []byte) ([]Op, error) {
	r := NewCSVReader(bytes.NewReader(data))
	r.SetFile(name)
	var ops []Op
	for {
		op, err := r.Next()
		if err != nil {
			return ops, err
		}
		ops = append(ops, op)
	}
}

func TestCSVReaderSample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", csvSample))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := readCSV(csvSample, data)
	if err != io.EOF {
		t.Fatalf("read %s: %v", csvSample, err)
	}
	type attrs = map[string][]string
	const alp, com = "0130583N", "0840110N"
	want := []Op{
		{Kind: Add, ID: alp, Category: EtabEducNat, Attrs: attrs{"ENTStructureUAI": {alp}, "ENTStructureNomCourant": {"LEGTA des Alpilles"}}},
		{Kind: Add, ID: com, Category: EtabEducNat, Attrs: attrs{"ENTStructureUAI": {com}, "ENTStructureNomCourant": {"LPA du Comtat; site de Carpentras"}}},
		{Kind: Add, ID: "E1001", Category: Eleve, Attrs: attrs{
			"sn": {"Arnaud"}, "givenName": {"Léa"}, "ENTPersonDateNaissance": {"14/03/2009"}, "ENTPersonStructRattach": {alp},
			"ENTEleveClasses":           {alp + "$2NDE-GT1"},
			"ENTElevePersRelEleve":      {"R2001$10$0$1$0$0", "R2002$20$0$1$0$0"},
			"ENTEleveAutoriteParentale": {"R2001", "R2002"},
		}},
		{Kind: Add, ID: "E1002", Category: Eleve, Attrs: attrs{
			"sn": {"Arnaud"}, "givenName": {"Hugo"}, "ENTPersonDateNaissance": {"02/11/2007"}, "ENTPersonStructRattach": {alp},
			"ENTEleveClasses":           {alp + "$TERM-STAV1"},
			"ENTElevePersRelEleve":      {"R2001$10$0$1$0$0", "R2002$20$0$1$0$0"},
			"ENTEleveAutoriteParentale": {"R2001", "R2002"},
		}},
		{Kind: Add, ID: "E1003", Category: Eleve, Attrs: attrs{
			"sn": {"Benali"}, "givenName": {"Inès"}, "ENTPersonDateNaissance": {"30/06/2008"}, "ENTPersonStructRattach": {alp},
			"ENTEleveClasses":           {alp + "$1ERE-STAV1"},
			"ENTElevePersRelEleve":      {"R2003$20$0$1$0$0", "R2004$39$0$0$0$0"},
			"ENTEleveAutoriteParentale": {"R2003"},
		}},
		{Kind: Add, ID: "E1004", Category: Eleve, Attrs: attrs{
			"sn": {"Castel"}, "givenName": {"Noé"}, "ENTPersonDateNaissance": {"21/01/2009"}, "ENTPersonStructRattach": {com},
			"ENTEleveClasses":           {com + "$2NDE-PRO-CGEA"},
			"ENTElevePersRelEleve":      {"R2005$$0$1$0$0"},
			"ENTEleveAutoriteParentale": {"R2005"},
		}},
		{Kind: Add, ID: "R2001", Category: PersRelEleve, Attrs: attrs{"sn": {"Arnaud"}, "givenName": {"Marie"}, "ENTAuxPersRelEleveEleve": {"E1001", "E1002"}}},
		{Kind: Add, ID: "R2002", Category: PersRelEleve, Attrs: attrs{"sn": {"Arnaud"}, "givenName": {"Pierre"}, "ENTAuxPersRelEleveEleve": {"E1001", "E1002"}}},
		{Kind: Add, ID: "R2003", Category: PersRelEleve, Attrs: attrs{"sn": {"Benali"}, "givenName": {"Karim"}, "ENTAuxPersRelEleveEleve": {"E1003"}}},
		{Kind: Add, ID: "R2004", Category: PersRelEleve, Attrs: attrs{"sn": {"Benali"}, "givenName": {"Samia"}, "ENTAuxPersRelEleveEleve": {"E1003"}}},
		{Kind: Add, ID: "R2005", Category: PersRelEleve, Attrs: attrs{"sn": {"Castel"}, "givenName": {"Anne"}, "ENTAuxPersRelEleveEleve": {"E1004"}}},
		{Kind: Add, ID: "P3001", Category: PersEducNat, Attrs: attrs{
			"sn": {"Fabre"}, "givenName": {"Claire"}, "ENTPersonStructRattach": {alp}, "title": {"ENS"},
			"ENTPersonFonctions":          {alp + "$ENS$ENSEIGNEMENT$-$-"},
			"ENTAuxEnsClasses":            {alp + "$2NDE-GT1", alp + "$1ERE-STAV1", alp + "$TERM-STAV1"},
			"ENTAuxEnsClassesMatieres":    {alp + "$2NDE-GT1$AGRONOMIE", alp + "$1ERE-STAV1$BIOLOGIE-ECOLOGIE"},
			"ENTAuxEnsMatiereEnseignEtab": {alp + "$AGRONOMIE", alp + "$BIOLOGIE-ECOLOGIE"},
		}},
		{Kind: Add, ID: "P3002", Category: PersEducNat, Attrs: attrs{
			"sn": {"Meunier"}, "givenName": {"Jean-Luc"}, "ENTPersonStructRattach": {com}, "title": {"ENS"},
			"ENTPersonFonctions":          {com + "$ENS$ENSEIGNEMENT$-$-"},
			"ENTAuxEnsClasses":            {com + "$2NDE-PRO-CGEA"},
			"ENTAuxEnsClassesMatieres":    {com + "$2NDE-PRO-CGEA$ZOOTECHNIE"},
			"ENTAuxEnsMatiereEnseignEtab": {com + "$ZOOTECHNIE"},
		}},
		{Kind: Add, ID: "P3003", Category: PersEducNat, Attrs: attrs{
			"sn": {"Rey"}, "givenName": {"Sophie"}, "ENTPersonStructRattach": {alp}, "title": {"DIR"},
			"ENTPersonFonctions": {alp + "$DIR$DIRECTION$-$-"},
		}},
		{Kind: Add, ID: "P3004", Category: PersEducNat, Attrs: attrs{
			"sn": {"Giraud"}, "givenName": {"Paul"}, "ENTPersonStructRattach": {com}, "title": {"CPE"},
			"ENTPersonFonctions": {com + "$CPE$EDUCATION$-$-", com + "$DOC$DOC$-$-"},
		}},
	}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("operations of %s (-want +got):\n%s", csvSample, diff)
	}
	fi, err := ParseFileName(csvSample)
	if err != nil || fi.Category != Agricole || !fi.Complet || fi.Prefix != "ENT_AGRICULTURE" {
		t.Errorf("ParseFileName(%s) = %+v, %v, want a Complet of category Agricole", csvSample, fi, err)
	}
}

// TestCSVDocExample keeps docs/csv-import.md's example the sample the
// tests read.
func TestCSVDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "csv-import.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```csv\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("docs/csv-import.md has no ```csv example")
	}
	data, err := os.ReadFile(filepath.Join("testdata", csvSample))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(string(data), "\uFEFF"); block != want {
		t.Errorf("docs/csv-import.md's example differs from testdata/%s:\n%s", csvSample, cmp.Diff(want, block))
	}
}

func TestCSVReaderLenient(t *testing.T) {
	// A BOM, CRLF, columns in another order with accents and capitals,
	// optional columns left out, blank lines and rows, padded values,
	// dates in ISO form, a legal flag and a link code written out.
	in := "\uFEFFIdentifiant;Profil;Nom;Prénom;UAI;Établissement;Responsables;Date_Naissance\r\n" +
		"\r\n" +
		"E1; Élève ; Roux ; Zoé ;0130583n; LEGTA  des Alpilles ; R1:Mère:oui | R2:autre:non |;2009-03-14\r\n" +
		";;;;\r\n" +
		"R1;responsable;Roux;Anne;;;;\r\n" +
		"R2;RESPONSABLE;Roux;Jean;;;;\r\n"
	ops, err := readCSV("f.csv", []byte(in))
	if err != io.EOF {
		t.Fatalf("read: %v", err)
	}
	got := map[string]map[string][]string{}
	for _, op := range ops {
		got[op.ID] = op.Attrs
	}
	want := map[string]map[string][]string{
		"0130583N": {"ENTStructureUAI": {"0130583N"}, "ENTStructureNomCourant": {"LEGTA des Alpilles"}},
		"E1": {"sn": {"Roux"}, "givenName": {"Zoé"}, "ENTPersonDateNaissance": {"14/03/2009"}, "ENTPersonStructRattach": {"0130583N"},
			"ENTElevePersRelEleve": {"R1$10$0$1$0$0", "R2$90$0$0$0$0"}, "ENTEleveAutoriteParentale": {"R1"}},
		"R1": {"sn": {"Roux"}, "givenName": {"Anne"}, "ENTAuxPersRelEleveEleve": {"E1"}},
		"R2": {"sn": {"Roux"}, "givenName": {"Jean"}, "ENTAuxPersRelEleveEleve": {"E1"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes by id (-want +got):\n%s", diff)
	}
	// A header alone is an empty set, not an error.
	if ops, err := readCSV("f.csv", []byte(columnNames()+"\n")); err != io.EOF || len(ops) != 0 {
		t.Errorf("header only: %d ops, %v, want none and io.EOF", len(ops), err)
	}
}

func TestCSVReaderErrors(t *testing.T) {
	const head = "profil;identifiant;nom;prenom;date_naissance;uai;etablissement;classes;responsables;fonctions;matieres\n"
	const ok = "eleve;E1;Roux;Zoé;;0130583N;LEGTA;2NDE;R1;;\n"
	tests := []struct {
		name, in string
		line     int
		column   string // Element is "column " + column; "" for none
		reason   string
	}{
		{"empty file", "", 1, "", "header row is required"},
		{"missing column", "profil;identifiant;nom;prenom;uai\n", 1, "", "missing column etablissement"},
		{"unknown column", "profil;identifiant;nom;prenom;uai;etablissement;classe\n", 1, "", `unknown column "classe"`},
		{"column twice", "profil;identifiant;nom;prenom;uai;etablissement;Nom\n", 1, "", "column nom twice"},
		{"too few fields", head + ok + "eleve;E2;Roux;Léo;;0130583N;LEGTA;2NDE\n", 3, "", "8 fields, want 11"},
		{"too many fields", head + ok + ok[:len(ok)-1] + ";x\n", 3, "", "12 fields, want 11"},
		{"comma separator", "profil,identifiant,nom,prenom,uai,etablissement\n", 1, "", "unknown column"},
		{"unknown profil", head + "parent;R1;Roux;Anne;;;;;;;\n", 2, "profil", `unknown profil "parent"`},
		{"bad UAI", head + "eleve;E1;Roux;Zoé;;0130583A;LEGTA;2NDE;;;\n", 2, "uai", `bad UAI "0130583A"`},
		{"empty UAI", head + "personnel;P1;Rey;Sophie;;;;;;DIR;\n", 2, "uai", "empty uai"},
		{"bad date", head + "eleve;E1;Roux;Zoé;31/02/2009;0130583N;LEGTA;;;;\n", 2, "date_naissance", `bad date "31/02/2009"`},
		{"empty nom", head + "eleve;E1; ;Zoé;;0130583N;LEGTA;;;;\n", 2, "nom", "empty nom"},
		{"empty identifiant", head + "eleve;;Roux;Zoé;;0130583N;LEGTA;;;;\n", 2, "identifiant", "empty identifiant"},
		{"bad identifiant", head + "eleve;E 1;Roux;Zoé;;0130583N;LEGTA;;;;\n", 2, "identifiant", `identifiant "E 1"`},
		{"identifiant twice", head + ok + "responsable;E1;Roux;Anne;;;;;;;\n", 3, "identifiant", "already on line 2"},
		{"classes of a relative", head + "responsable;R1;Roux;Anne;;;;2NDE;;;\n", 2, "classes", "a responsable has no classes"},
		{"fonctions of a student", head + "eleve;E1;Roux;Zoé;;0130583N;LEGTA;;;DIR;\n", 2, "fonctions", "a eleve has no fonctions"},
		{"class with $", head + "eleve;E1;Roux;Zoé;;0130583N;LEGTA;2NDE$1;;;\n", 2, "classes", "contains $"},
		{"subject of a student's class", head + "eleve;E1;Roux;Zoé;;0130583N;LEGTA;2NDE:MATHS;;;\n", 2, "classes", "only a teacher's class"},
		{"bad lien", head + "eleve;E1;Roux;Zoé;;0130583N;LEGTA;;R1:tante;;\n", 2, "responsables", `bad lien "tante"`},
		{"bad legal", head + "eleve;E1;Roux;Zoé;;0130583N;LEGTA;;R1:mere:peut-être;;\n", 2, "responsables", `bad legal "peut-être"`},
		{"responsable twice", head + "eleve;E1;Roux;Zoé;;0130583N;LEGTA;;R1|R1:mere;;\n", 2, "responsables", "responsable R1 twice"},
		{"staff with ENS", head + "personnel;P1;Rey;Sophie;;0130583N;LEGTA;;;ENS;\n", 2, "fonctions", "profil enseignant"},
		{"two names for a lycée", head + ok + "personnel;P1;Rey;Sophie;;0130583N;LPA;;;DIR;\n", 3, "etablissement", `"LPA" differs from "LEGTA" given for UAI 0130583N on line 2`},
		{"lycée without a name", head + "eleve;E1;Roux;Zoé;;0130583N;;;;;\n" + "eleve;E2;Roux;Léo;;0130583N;;;;;\n", 2, "etablissement", "no row names the lycée 0130583N"},
		{"bare quote", head + "eleve;E1;Roux;Zoé \"Zozo\";;0130583N;LEGTA;;;;\n", 2, "", "bad CSV"},
		{"unclosed quote", head + "eleve;E1;Roux;\"Zoé;;0130583N;LEGTA;;;;\n", 2, "", "bad CSV"},
		{"Latin-1", head + ok + "eleve;E2;Roux;L\xe9o;;0130583N;LEGTA;;;;\n", 3, "", "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const file = "ENT_AGRICULTURE_Complet_20250901_Agricole_0001.csv"
			r := NewCSVReader(strings.NewReader(tt.in))
			r.SetFile(file)
			op, err := r.Next()
			var pe *ParseError
			if !errors.Is(err, ErrMalformed) || !errors.As(err, &pe) {
				t.Fatalf("Next() = %+v, %v, want a *ParseError wrapping ErrMalformed", op, err)
			}
			wantElem := ""
			if tt.column != "" {
				wantElem = "column " + tt.column
			}
			if pe.File != file || pe.Line != tt.line || pe.Element != wantElem || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Next() = %q (line %d, element %q), want line %d, element %q, reason %q",
					err, pe.Line, pe.Element, tt.line, wantElem, tt.reason)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("second Next() = %v, want the same error %v", again, err)
			}
		})
	}
}

func TestCSVReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := NewCSVReader(iotest.ErrReader(boom))
	r.SetFile("x.csv")
	_, err := r.Next()
	if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "x.csv") {
		t.Errorf("Next() = %v, want the read error with the file name, not ErrMalformed", err)
	}
}

func TestCSVReaderTooLarge(t *testing.T) {
	// The reader holds up to MaxCSVBytes: give the memory back to the
	// tests that measure the heap (TestBoundedMemory).
	t.Cleanup(runtime.GC)
	big := io.MultiReader(strings.NewReader(columnNames()+"\n"), &repeatReader{b: []byte("eleve;E1;Roux;Zoé;;0130583N;LEGTA;;;;\n")})
	r := NewCSVReader(big)
	if _, err := r.Next(); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Next() on an endless file = %v, want ErrMalformed (larger than …)", err)
	}
}

// repeatReader repeats b forever.
type repeatReader struct {
	b []byte
	i int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.i:])
		n += c
		r.i = (r.i + c) % len(r.b)
	}
	return n, nil
}

func TestParseFileNameAgricole(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"ENT_AGRICULTURE_Complet_20250901_Agricole_0001.csv", true},
		{"/srv/ENT_AGRICULTURE_Complet_20250901_Agricole_0001.CSV", true},
		{"ENT_AGRICULTURE_Delta_20250902_Agricole_0001.csv", false}, // always a Complet
		{"ENT_AGRICULTURE_Complet_20250901_Agricole_0001.xml", false},
		{"ENT_AGRICULTURE_Complet_20250901_Eleve_0001.csv", false},
	} {
		fi, err := ParseFileName(c.name)
		if ok := err == nil; ok != c.ok || (ok && (fi.Category != Agricole || !fi.Complet || fi.Part != 1)) {
			t.Errorf("ParseFileName(%q) = %+v, %v; want ok %v", c.name, fi, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrFileName) {
			t.Errorf("ParseFileName(%q) = %v, want ErrFileName", c.name, err)
		}
	}
}

func FuzzCSVReader(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.csv"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("profil;identifiant;nom;prenom;uai;etablissement;classes\nenseignant;P1;Rey;Sophie;0130583N;LEGTA;2NDE:MATHS|1ERE\n"))
	f.Add([]byte("profil;identifiant;nom;prenom;uai;etablissement\n\"eleve\";\"E1\";\"Ro\"\"ux\";;0130583N;\"a\nb\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := readCSV("f.csv", data)
		if err != io.EOF && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Next() = %v, want io.EOF or ErrMalformed", err)
		}
		if err != io.EOF && len(ops) != 0 {
			t.Fatalf("%d operations before the error %v, want none", len(ops), err)
		}
		last := 0
		for _, op := range ops {
			i := slices.Index(CategoryOrder(), op.Category)
			if op.Kind != Add || op.ID == "" || op.Attrs == nil || i < last {
				t.Fatalf("op %+v: want an Add with an id and attributes, in CategoryOrder", op)
			}
			last = i
		}
	})
}
