package aaf

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/text/encoding/charmap"
)

// genAttr is one attribute of a generated operation, values in order.
type genAttr struct {
	name   string
	values []string
}

func attr(name string, values ...string) genAttr { return genAttr{name, values} }

// genFile writes one ficAlimMENESR file. Write errors are sticky in the
// bufio.Writer and reported by close.
type genFile struct {
	path     string
	f        *os.File
	enc      io.WriteCloser // the ISO-8859-15 encoder, if any
	w        *bufio.Writer
	category string
}

// createGenFile creates path and writes the prolog, the header comments and
// the root's start tag. With latin9 the file is encoded in ISO-8859-15 and
// says so in its declaration.
func createGenFile(path, category, academie string, seed uint64, latin9 bool) (*genFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	g := &genFile{path: path, f: f, category: category}
	var dst io.Writer = f
	decl := "UTF-8"
	if latin9 {
		g.enc = charmap.ISO8859_15.NewEncoder().Writer(f).(io.WriteCloser)
		dst, decl = g.enc, "ISO-8859-15"
	}
	g.w = bufio.NewWriterSize(dst, 64<<10)
	fmt.Fprintf(g.w, "<?xml version=\"1.0\" encoding=\"%s\"?>\n", decl)
	g.w.WriteString("<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n")
	fmt.Fprintf(g.w, "<!-- versionAF=V4.0 ACADEMIE=%s -->\n", academie)
	fmt.Fprintf(g.w, "<!-- Synthetic export written by atrium ctl aaf generate, seed %d: fictitious people -->\n", seed)
	g.w.WriteString("<ficAlimMENESR>\n")
	return g, nil
}

func (g *genFile) text(s string) {
	// EscapeText's only error is the writer's, which bufio keeps.
	_ = xml.EscapeText(g.w, []byte(s))
}

func (g *genFile) start(elem, id string) {
	g.w.WriteString("<" + elem + ">\n<operationalAttributes><attr name=\"categoriePersonne\"><value>")
	g.text(g.category)
	g.w.WriteString("</value></attr></operationalAttributes>\n<identifier><id>")
	g.text(id)
	g.w.WriteString("</id></identifier>\n")
}

func (g *genFile) values(attrs []genAttr, elem, extra string) {
	for _, a := range attrs {
		g.w.WriteString("<" + elem + " name=\"")
		g.text(a.name)
		g.w.WriteString("\"" + extra + ">")
		for _, v := range a.values {
			if v == "" {
				g.w.WriteString("<value/>")
				continue
			}
			g.w.WriteString("<value>")
			g.text(v)
			g.w.WriteString("</value>")
		}
		g.w.WriteString("</" + elem + ">\n")
	}
}

func (g *genFile) add(id string, attrs []genAttr) {
	g.start("addRequest", id)
	g.w.WriteString("<attributes>\n")
	g.values(attrs, "attr", "")
	g.w.WriteString("</attributes>\n</addRequest>\n")
}

func (g *genFile) modify(id string, attrs []genAttr) {
	g.start("modifyRequest", id)
	g.w.WriteString("<modifications>\n")
	g.values(attrs, "modification", ` operation="replace"`)
	g.w.WriteString("</modifications>\n</modifyRequest>\n")
}

func (g *genFile) delete(id string) {
	g.start("deleteRequest", id)
	g.w.WriteString("</deleteRequest>\n")
}

// close ends the root element and closes the file, reporting the first
// error met while writing.
func (g *genFile) close() error {
	g.w.WriteString("</ficAlimMENESR>\n")
	err := g.w.Flush()
	if g.enc != nil {
		if cerr := g.enc.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("generate: write %s: %w", filepath.Base(g.path), err)
	}
	return nil
}
