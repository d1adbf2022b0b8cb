package portal

import (
	"html/template"
	"strings"
	"testing"
)

// escapeSeeds are texts with every character html/template's escapers
// treat specially, in text and in a URL path.
var escapeSeeds = []string{
	"", "plain", `<script>alert("x")</script>`, `'quoted' & "double"`, "C++ a+b", "\x00nul", "é à ç \u2028 \u00a0",
	"bad \xff\xfe utf-8", "%41 %zz %4 %", "a/b?c=d#e", "!$&'()*+,;=:@[]", "space and\ttab\nline", "`back` {brace} |pipe| ^caret^",
	"<!-- comment -->", "javascript:alert(1)", "-._~", "\x7f\x01",
}

// TestTextEscapesAsTemplates: htmlBuf.text and htmlBuf.path write exactly
// what html/template writes for {{.}} in HTML text and after the fixed
// start of a quoted href, so the rows built in Go are the templates'.
func TestTextEscapesAsTemplates(t *testing.T) {
	for _, s := range escapeSeeds {
		checkEscapes(t, s)
	}
}

func FuzzTextEscapes(f *testing.F) {
	for _, s := range escapeSeeds {
		f.Add(s)
	}
	f.Fuzz(checkEscapes)
}

var (
	textTmpl = template.Must(template.New("t").Parse(`<p>{{.}}</p>`))
	pathTmpl = template.Must(template.New("p").Parse(`<a href="/x/{{.}}">`))
)

func checkEscapes(t *testing.T, s string) {
	var want strings.Builder
	if err := textTmpl.Execute(&want, s); err != nil {
		t.Fatal(err)
	}
	h := &htmlBuf{}
	h.raw("<p>")
	h.text(s)
	h.raw("</p>")
	if got := string(h.b); got != want.String() {
		t.Errorf("text(%q) = %q, want html/template's %q", s, got, want.String())
	}
	want.Reset()
	if err := pathTmpl.Execute(&want, s); err != nil {
		t.Fatal(err)
	}
	h = &htmlBuf{}
	h.raw(`<a href="/x/`)
	h.path(s)
	h.raw(`">`)
	if got := string(h.b); got != want.String() {
		t.Errorf("path(%q) = %q, want html/template's %q", s, got, want.String())
	}
}

// TestParagraphsHTML: paras writes what the templates' range of escaped
// paragraphs wrote.
func TestParagraphsHTML(t *testing.T) {
	tmpl := template.Must(template.New("r").Funcs(template.FuncMap{"paragraphs": paragraphs}).Parse("{{range paragraphs .}}<p>{{.}}</p>\n{{end}}"))
	for _, s := range append(escapeSeeds, "un\r\n\r\ndeux <b>\n  trois  \n") {
		var want strings.Builder
		if err := tmpl.Execute(&want, s); err != nil {
			t.Fatal(err)
		}
		if got := string(paragraphsHTML(s)); got != want.String() {
			t.Errorf("paragraphsHTML(%q) = %q, want %q", s, got, want.String())
		}
	}
}
