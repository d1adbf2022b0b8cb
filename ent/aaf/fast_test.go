package aaf

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// both reads data with the fast path and with the decoder alone, and
// reports any difference in the operations, the header or the final error.
func both(t *testing.T, data []byte) {
	t.Helper()
	read := func(noFast bool) ([]Op, Header, string) {
		r := NewReader(bytes.NewReader(data))
		r.noFast = noFast
		r.SetFile("ENT_X_Complet_20250901_Eleve_0000.xml")
		h := r.Header()
		var ops []Op
		for range 100_000 {
			op, err := r.Next()
			if err != nil {
				return ops, h, err.Error()
			}
			ops = append(ops, op)
		}
		return ops, h, "never ended"
	}
	fops, fh, ferr := read(false)
	sops, sh, serr := read(true)
	if diff := cmp.Diff(sops, fops); diff != "" {
		t.Fatalf("fast path ops differ from the decoder's (-decoder +fast):\n%s\ninput %q", diff, data)
	}
	if diff := cmp.Diff(sh, fh); diff != "" {
		t.Fatalf("fast path header differs (-decoder +fast):\n%s\ninput %q", diff, data)
	}
	if ferr != serr {
		t.Fatalf("fast path error = %s, want the decoder's %s\ninput %q", ferr, serr, data)
	}
}

const fastOp1 = `<addRequest>
<operationalAttributes><attr name="categoriePersonne"><value>Eleve</value></attr></operationalAttributes>
<identifier><id>1000001</id></identifier>
<attributes>
<attr name="sn"><value>Leroy</value></attr>
<attr name="givenName"><value>Océane</value></attr>
<attr name="ENTEleveClasses"><value>0046397G$2NDE1</value><value>0046397G$G1</value></attr>
<attr name="mail"><value/></attr>
<attr name="empty"/>
</attributes>
</addRequest>
`

const fastOp2 = `<modifyRequest>
<operationalAttributes><attr name="categoriePersonne"><value>Eleve</value></attr></operationalAttributes>
<identifier><id>1000002</id></identifier>
<modifications>
<modification name="ENTEleveClasses" operation="replace"><value>0046397G$TLE3</value></modification>
</modifications>
</modifyRequest>
<deleteRequest><identifier><id> 1000003 </id></identifier></deleteRequest>
`

func fastFile(ops ...string) string {
	return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n<!-- versionAF=V4.0 ACADEMIE=NICE -->\n<ficAlimMENESR>\n" +
		strings.Join(ops, "") + "</ficAlimMENESR>\n"
}

// fastCases are inputs on and around the fast path's edges.
var fastCases = []string{
	fastFile(fastOp1, fastOp2),
	fastFile(),
	strings.ReplaceAll(fastFile(fastOp1, fastOp2), "\n", "\r\n"),
	fastFile(strings.Replace(fastOp1, "Leroy", "Le\rroy &amp; &eacute;&#233;&#xE9; &lt;&gt;&quot;&apos; a]b ]] >", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "]]>", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "&bogus;", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "&#0;", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "&#xD800;&#1114111;&#1114112;", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "&amp", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "\x01", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "\xe9", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "\uFFFE", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "<![CDATA[a<b]]>", 1)),
	fastFile(strings.Replace(fastOp1, "Leroy", "a<!-- c -->b", 1)),
	fastFile(strings.Replace(fastOp1, "<attributes>", "<attributes>text", 1)),
	fastFile(strings.Replace(fastOp1, `name="sn"`, `name='sn'`, 1)),
	fastFile(strings.Replace(fastOp1, `name="sn"`, `name="sn" other="x"`, 1)),
	fastFile(strings.Replace(fastOp1, `name="sn"`, `name="sn" name="x"`, 1)),
	fastFile(strings.Replace(fastOp1, `name="sn"`, `name=""`, 1)),
	fastFile(strings.Replace(fastOp1, `name="sn"`, `name="s&amp;n"`, 1)),
	fastFile(strings.Replace(fastOp1, `name="sn"`, `x:name="sn"`, 1)),
	fastFile(strings.Replace(fastOp1, `<attr name="sn">`, `<x:attr name="sn">`, 1)),
	fastFile(strings.Replace(fastOp1, `</addRequest>`, `</addRequest >`, 1)),
	fastFile(strings.Replace(fastOp1, `</addRequest>`, `</addRequestX>`, 1)),
	fastFile(strings.Replace(fastOp1, `</addRequest>`, `</modifyRequest>`, 1)),
	fastFile(strings.Replace(fastOp1, `<addRequest>`, `<addRequest a="1">`, 1)),
	fastFile(strings.Replace(fastOp1, `<id>1000001</id>`, `<id>1</id><id>2</id>`, 1)),
	fastFile(strings.Replace(fastOp1, `<id>1000001</id>`, `<id> </id>`, 1)),
	fastFile(strings.Replace(fastOp1, `<id>1000001</id>`, `<id/>`, 1)),
	fastFile(strings.Replace(fastOp1, `<identifier><id>1000001</id></identifier>`, ``, 1)),
	fastFile(fastOp1 + "<!-- between -->" + fastOp2),
	fastFile("<!-- first -->" + fastOp1),
	fastFile(fastOp1 + "junk" + fastOp2),
	fastFile(fastOp1 + "<renameRequest/>"),
	fastFile(strings.Replace(fastOp2, `operation="replace"`, `operation="add"`, 1)),
	fastFile(strings.Replace(fastOp2, `<modifications>`, `<attributes>`, 1)),
	fastFile(strings.Replace(fastOp1, `<attributes>`, `<attributes/><attributes>`, 1)),
	fastFile(strings.Replace(fastOp1, `<attr name="mail">`, `<attr name="sn"><value>again</value></attr><attr name="mail">`, 1)),
	fastFile(fastOp1) + "<!-- after -->\n",
	fastFile(fastOp1) + "junk",
	fastFile(fastOp1) + "<ficAlimMENESR/>",
	strings.TrimSuffix(fastFile(fastOp1), "</ficAlimMENESR>\n"),
	fastFile(fastOp1)[:200],
	"<ficAlimMENESR/>",
	`<ficAlimMENESR xmlns="urn:x" xmlns:a="urn:a"` + "\n" + `a:b="c">` + strings.ReplaceAll(fastOp1, "attr ", "a:attr ") + fastOp2 + "</ficAlimMENESR>",
	"<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?>\n<ficAlimMENESR>" + strings.ReplaceAll(fastOp1, "é", "\xe9") + "</ficAlimMENESR>",
	fastFile(fastOp1 + `<?xml version="1.0" encoding="ISO-8859-1"?>` + strings.ReplaceAll(fastOp2, "1000002", "\xe9")),
}

func TestFastPathMatchesDecoder(t *testing.T) {
	for i, c := range fastCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { both(t, []byte(c)) })
	}
}

// TestFastPathOnGenerated compares the two paths on every generated file.
func TestFastPathOnGenerated(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir, GenConfig{Lycees: 3, StudentsPerLycee: 20, DeltaDays: 1, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		both(t, b)
	}
}

// TestFastPathIsTaken checks the generated files do not fall back.
func TestFastPathIsTaken(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir, GenConfig{Lycees: 3, StudentsPerLycee: 20, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*_Complet_*.xml"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		r := NewReader(bytes.NewReader(b))
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.fast {
				t.Errorf("%s: the decoder read an operation, want the fast path", filepath.Base(f))
				break
			}
		}
	}
}

func FuzzFastPath(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { both(t, data) })
}
