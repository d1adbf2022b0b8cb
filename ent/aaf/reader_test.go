package aaf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readAll reads every operation of r until the first error.
func readAll(r *Reader) ([]Op, error) {
	var ops []Op
	for {
		op, err := r.Next()
		if err != nil {
			return ops, err
		}
		ops = append(ops, op)
	}
}

func open(t *testing.T, name string) *Reader {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(b))
	r.SetFile(name)
	return r
}

func TestReader(t *testing.T) {
	tests := []struct {
		file   string
		header Header // Comments are not compared
		want   []Op
	}{
		{
			file:   "utf8_decl.xml",
			header: Header{VersionAF: "V4.0", Academie: "AIX-MARSEILLE"},
			want: []Op{
				{
					Kind: Add, ID: "1234567", Category: "Eleve",
					Operational: map[string][]string{"categoriePersonne": {"Eleve"}},
					Attrs: map[string][]string{
						"sn":                {"Müller"},
						"givenName":         {"Zoé"},
						"ENTEleveClasses":   {"0130040Y$2NDE1", "0130040Y$2NDE-LV2"},
						"ENTPersonJointure": {"AC-AIX-MARSEILLE$1234567"},
						"mail":              {""},
						"ENTEleveBoursier":  {""},
					},
				},
				{
					Kind: Modify, ID: "7654321", Category: "Eleve",
					Operational: map[string][]string{"categoriePersonne": {"Eleve"}},
					Attrs: map[string][]string{
						"ENTEleveClasses": {"0130040Y$1ERE3"},
						"mail":            {""},
					},
				},
				{
					Kind: Delete, ID: "1111111", Category: "Eleve",
					Operational: map[string][]string{"categoriePersonne": {"Eleve"}},
				},
			},
		},
		{
			file:   "iso8859_15.xml",
			header: Header{VersionAF: "V3.5", Academie: "23"},
			want: []Op{{
				Kind: Add, ID: "P0001", Category: "PersEducNat",
				Operational: map[string][]string{"categoriePersonne": {"PersEducNat"}},
				Attrs: map[string][]string{
					"sn":                 {"Lefèvre"},
					"givenName":          {"Hélène Œdipe"},
					"ENTPersonFonctions": {"0130040Y$ENS$ENSEIGNEMENT$L0201$LETTRES MODERNES"},
					"title":              {"Coût 5€"},
				},
			}},
		},
		{
			file: "no_decl.xml",
			want: []Op{{
				Kind: Add, ID: "0130040Y", Category: "EtabEducNat",
				Operational: map[string][]string{"categorieStructure": {"EtabEducNat"}},
				Attrs: map[string][]string{
					"ENTStructureNomCourant": {"LYCEE THIERS"},
					"ENTStructureUAI":        {"0130040Y"},
				},
			}},
		},
		{
			file: "entities.xml",
			want: []Op{{
				Kind: Add, ID: "R42", Category: "PersRelEleve",
				Operational: map[string][]string{"categoriePersonne": {"PersRelEleve"}},
				Attrs: map[string][]string{
					"sn":                   {"Béranger & Fils"},
					"givenName":            {"François\u00a0X"},
					"ENTElevePersRelEleve": {"1234567$10$1$1$0$1"},
				},
			}},
		},
		{
			file: "no_category.xml",
			want: []Op{{Kind: Delete, ID: "99"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := open(t, tt.file)
			h := r.Header()
			h.Comments = nil
			if diff := cmp.Diff(tt.header, h); diff != "" {
				t.Errorf("Header() mismatch (-want +got):\n%s", diff)
			}
			got, err := readAll(r)
			if err != io.EOF {
				t.Fatalf("Next() = %v, want io.EOF", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ops mismatch (-want +got):\n%s", diff)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next() after EOF = %v, want io.EOF", err)
			}
		})
	}
}

func TestCategoryFromFileName(t *testing.T) {
	r := open(t, "no_category.xml")
	r.SetFile("ENT_Complet_20260901_PersRelEleve_0000.xml")
	op, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if op.Category != PersRelEleve {
		t.Errorf("Category = %q, want %q (from the file name)", op.Category, PersRelEleve)
	}
}

func TestHeaderAfterNext(t *testing.T) {
	r := open(t, "utf8_decl.xml")
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); h.VersionAF != "V4.0" || len(h.Comments) != 1 {
		t.Errorf("Header() = %+v, want VersionAF V4.0 and one comment", h)
	}
}

func TestMalformed(t *testing.T) {
	const op1 = `<addRequest><identifier><id>1</id></identifier><attributes><attr name="sn"><value>A</value></attr></attributes></addRequest>`
	tests := []struct {
		name    string
		input   string // inline input, or "@file" for a fixture
		wantIDs []string
		elem    string // substring of ParseError.Element
		reason  string // substring of ParseError.Reason
	}{
		{"truncated", "@truncated.xml", []string{"1"}, "addRequest/attributes/attr[sn]/value", ""},
		{"unknown root", "@unknown_root.xml", nil, "ficAlimMEN", "unknown root"},
		{"missing id", "@missing_id.xml", []string{"1"}, "addRequest", "missing identifier"},
		{"empty input", "", nil, "", "no ficAlimMENESR root"},
		{"only declaration", `<?xml version="1.0"?>`, nil, "", "no ficAlimMENESR root"},
		{"root never closed", "<ficAlimMENESR>" + op1, []string{"1"}, "", ""},
		{"empty id", "<ficAlimMENESR><deleteRequest><identifier><id> </id></identifier></deleteRequest></ficAlimMENESR>", nil, "identifier", "empty id"},
		{"two ids", "<ficAlimMENESR><deleteRequest><identifier><id>1</id><id>2</id></identifier></deleteRequest></ficAlimMENESR>", nil, "identifier/id", "second id"},
		{"unknown operation element", "<ficAlimMENESR>" + op1 + "<renameRequest/></ficAlimMENESR>", []string{"1"}, "ficAlimMENESR/renameRequest", "unknown element"},
		{"modify with add", `<ficAlimMENESR><modifyRequest><identifier><id>1</id></identifier><modifications><modification name="sn" operation="add"><value>A</value></modification></modifications></modifyRequest></ficAlimMENESR>`, nil, "modification[sn]", "unsupported operation"},
		{"attributes in delete", `<ficAlimMENESR><deleteRequest><identifier><id>1</id></identifier><attributes/></deleteRequest></ficAlimMENESR>`, nil, "deleteRequest/attributes", "unexpected element"},
		{"attr without name", `<ficAlimMENESR><addRequest><identifier><id>1</id></identifier><attributes><attr><value>A</value></attr></attributes></addRequest></ficAlimMENESR>`, nil, "attributes/attr", "missing name"},
		{"element in value", `<ficAlimMENESR><addRequest><identifier><id>1</id></identifier><attributes><attr name="sn"><value>A<b/></value></attr></attributes></addRequest></ficAlimMENESR>`, nil, "value/b", "inside a text value"},
		{"second root", "<ficAlimMENESR>" + op1 + "</ficAlimMENESR><ficAlimMENESR/>", []string{"1"}, "ficAlimMENESR", "after the root"},
		{"text after root", "<ficAlimMENESR>" + op1 + "</ficAlimMENESR>junk", []string{"1"}, "", "text outside"},
		{"mismatched tags", "<ficAlimMENESR>" + op1 + "<deleteRequest></addRequest></ficAlimMENESR>", []string{"1"}, "deleteRequest", "bad XML"},
		{"unknown entity", `<ficAlimMENESR><addRequest><identifier><id>1</id></identifier><attributes><attr name="sn"><value>&bogus;</value></attr></attributes></addRequest></ficAlimMENESR>`, nil, "value", "bad XML"},
		{"unknown encoding", `<?xml version="1.0" encoding="EBCDIC"?><ficAlimMENESR/>`, nil, "", "bad XML"},
		{"invalid UTF-8", "<ficAlimMENESR>" + op1 + "<deleteRequest><identifier><id>\xe9</id></identifier></deleteRequest></ficAlimMENESR>", []string{"1"}, "identifier/id", "bad XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *Reader
			if file, ok := strings.CutPrefix(tt.input, "@"); ok {
				r = open(t, file)
			} else {
				r = NewReader(strings.NewReader(tt.input))
			}
			ops, err := readAll(r)
			var ids []string
			for _, op := range ops {
				ids = append(ids, op.ID)
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("ops before the error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Next() = %v, want ErrMalformed", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Next() = %T, want *ParseError", err)
			}
			if pe.Line < 1 || !strings.Contains(pe.Element, tt.elem) || !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("Next() = %+v, want line ≥ 1, element containing %q, reason containing %q", pe, tt.elem, tt.reason)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("Next() again = %v, want the same error %v", again, err)
			}
		})
	}
}

func TestMalformedErrorNamesFile(t *testing.T) {
	r := open(t, "truncated.xml")
	_, err := readAll(r)
	if msg := err.Error(); !strings.Contains(msg, "truncated.xml:") || !strings.Contains(msg, "(id 2)") {
		t.Errorf("error = %q, want it to name the file, line and id 2", msg)
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadErrorIsNotMalformed(t *testing.T) {
	boom := errors.New("disk on fire")
	r := NewReader(&failingReader{r: strings.NewReader("<ficAlimMENESR><deleteRequest>"), err: boom})
	_, err := r.Next()
	if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Errorf("Next() = %v, want the reader's error, not ErrMalformed", err)
	}
}

func TestOperationTooLarge(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprint(pw, `<ficAlimMENESR><addRequest><identifier><id>1</id></identifier><attributes>`)
		attr := []byte(`<attr name="x"><value>` + strings.Repeat("a", 1000) + `</value></attr>`)
		for i := 0; i < MaxOpBytes/len(attr)+10; i++ {
			if _, err := pw.Write(attr); err != nil {
				return
			}
		}
		pw.Close()
	}()
	defer pr.Close()
	_, err := NewReader(pr).Next()
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Next() = %v, want ErrMalformed for an operation too large", err)
	}
}

// TestBoundedMemory streams a generated file of 100k operations through a
// pipe and checks the heap never holds more than a few operations' worth.
func TestBoundedMemory(t *testing.T) {
	const ops = 100_000
	const limit = 64 << 20
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		fmt.Fprint(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ficAlimMENESR>\n")
		for i := range ops {
			fmt.Fprintf(w, `<addRequest><operationalAttributes><attr name="categoriePersonne"><value>Eleve</value></attr></operationalAttributes>`+
				`<identifier><id>%d</id></identifier><attributes>`+
				`<attr name="sn"><value>NOM%d</value></attr><attr name="givenName"><value>Pr&eacute;nom</value></attr>`+
				`<attr name="ENTEleveClasses"><value>0130040Y$2NDE%d</value></attr><attr name="mail"><value/></attr>`+
				"</attributes></addRequest>\n", i, i, i%12)
		}
		fmt.Fprint(w, "</ficAlimMENESR>\n")
		pw.CloseWithError(w.Flush())
	}()
	defer pr.Close()
	r := NewReader(pr)
	var ms runtime.MemStats
	var peak uint64
	n := 0
	for {
		op, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next() after %d ops = %v", n, err)
		}
		if op.ID != fmt.Sprint(n) || op.Attrs["givenName"][0] != "Prénom" {
			t.Fatalf("op %d = %+v", n, op)
		}
		n++
		if n%5000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if n != ops {
		t.Errorf("read %d ops, want %d", n, ops)
	}
	if peak > limit {
		t.Errorf("peak HeapInuse = %d MiB, want under %d MiB", peak>>20, limit>>20)
	}
	t.Logf("%d ops, peak HeapInuse %d MiB", n, peak>>20)
}

func FuzzReader(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
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
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		r.Header()
		for range 100_000 {
			op, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Next() = %v, want io.EOF or ErrMalformed", err)
				}
				return
			}
			if op.ID == "" || (op.Kind != Delete && op.Attrs == nil) {
				t.Fatalf("Next() = %+v: empty id or nil Attrs", op)
			}
		}
		t.Fatal("Next() never ended")
	})
}

func BenchmarkReader(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "utf8_decl.xml"))
	if err != nil {
		b.Fatal(err)
	}
	body := data[bytes.Index(data, []byte("<addRequest>")):bytes.Index(data, []byte("</ficAlimMENESR>"))]
	var buf bytes.Buffer
	buf.WriteString("<ficAlimMENESR>")
	for range 1000 {
		buf.Write(body)
	}
	buf.WriteString("</ficAlimMENESR>")
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readAll(NewReader(bytes.NewReader(buf.Bytes()))); err != io.EOF {
			b.Fatal(err)
		}
	}
}
