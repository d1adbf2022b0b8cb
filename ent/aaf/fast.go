package aaf

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The fast path. Inside the root element, an operation of the usual shape
//
//	<addRequest>
//	<operationalAttributes><attr name="categoriePersonne"><value>Eleve</value></attr></operationalAttributes>
//	<identifier><id>1000001</id></identifier>
//	<attributes><attr name="sn"><value>Leroy</value></attr>…<attr name="mail"><value/></attr></attributes>
//	</addRequest>
//
// is parsed in place, from the buffer, into one string per operation. The
// fast path handles: white space between elements; the operation,
// container, attr, modification, identifier, id and value elements, with
// no attribute but name and operation (double- or single-quoted printable
// ASCII); text with the five XML entities, HTML entities and character
// references; \r and \r\n read as \n. Anything else — a comment, CDATA, a
// processing instruction, a namespace prefix, text between elements, an
// error of any kind, an operation larger than MaxOpBytes — sends the whole
// unit (the white space before the operation and the operation) to an
// xml.Decoder, which reads it as it reads any file: the decoder decides
// what is accepted. FuzzFastPath compares the two paths.

// span is a value's position in Reader.scratch.
type span struct{ start, end int32 }

// group is one attr or modification element: values spans[first:first+n].
type group struct {
	name        string
	operational bool
	first, n    int32
}

// enterRoot is called after the decoder read the root start tag from
// offset before: the fast path takes over if the decoder stopped right
// after the tag.
func (r *Reader) enterRoot(before int64) bool {
	r.dFeed.keep = false
	if r.noFast {
		return false
	}
	in := &r.in
	i, j := r.dBase+before-in.off, r.dBase+r.d.InputOffset()-in.off
	if i < int64(in.start) || j != int64(in.pos) || i >= j {
		return false
	}
	tag := in.buf[i:j]
	if bytes.HasSuffix(tag, []byte("/>")) {
		return false // the decoder owes an end element
	}
	r.root = bytes.Map(func(c rune) rune {
		if c == '\n' || c == '\r' {
			return ' '
		}
		return c
	}, tag)
	r.toFast()
	return true
}

// resume is called after the decoder read an operation: the fast path
// takes over again if the decoder stopped right after it.
func (r *Reader) resume() {
	if r.root == nil || r.state != inRoot || r.dBase+r.d.InputOffset() != r.in.off+int64(r.in.pos) {
		return
	}
	r.toFast()
}

func (r *Reader) toFast() {
	r.line, _ = r.where()
	r.in.start = r.in.pos
	r.d, r.fast = nil, true
}

// fallback gives the current unit, from in.start, to a new decoder. Inside
// the root element, the decoder first reads the root start tag again, so
// that it is in the state the file's own decoder would be.
func (r *Reader) fallback() {
	in := &r.in
	in.pos = in.start
	var prefix []byte
	if r.state == inRoot {
		prefix = r.root
	}
	r.fast = false
	r.dFeed = &feed{in: in, prefix: prefix}
	r.d = r.newDecoder(r.dFeed)
	r.dBase = in.off + int64(in.start) - int64(len(prefix))
	r.dLine = r.line
	if prefix != nil {
		if _, err := r.d.Token(); err != nil {
			r.fail("ficAlimMENESR", "", "bad XML", err)
		}
	}
}

// where returns the stream line and offset the reader is at.
func (r *Reader) where() (int, int64) {
	if r.d == nil {
		return r.line, r.in.off + int64(r.in.start)
	}
	line, _ := r.d.InputPos()
	return r.dLine + line - 1, r.dBase + r.d.InputOffset()
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// commit consumes the n bytes after in.start.
func (r *Reader) commit(n int) {
	in := &r.in
	r.line += bytes.Count(in.buf[in.start:in.start+n], []byte{'\n'})
	in.start += n
	in.pos = in.start
}

// fastMaxOp bounds the operations the fast path reads (real ones are a
// few kilobytes): it keeps a larger one's bytes out of the buffer, and the
// decoder streams it.
const fastMaxOp = 1 << 20

var (
	categoryAttrs = [...]string{"categoriePersonne", "categorieStructure"}
	categories    = CategoryOrder()
	opNames       = [...]string{Add: "addRequest", Modify: "modifyRequest", Delete: "deleteRequest"}
	rootEnd       = "/ficAlimMENESR"
)

// fastOp reads the next unit on the fast path: white space, then an
// operation or the root's end tag. ok is false, with nothing consumed,
// when the unit is for the decoder.
func (r *Reader) fastOp() (op Op, err error, ok bool) {
	in := &r.in
	for {
		j := 0
		for in.has(j) && isSpace(in.buf[in.start+j]) {
			j++
		}
		if !in.has(j) {
			if in.err == io.EOF && r.state == done {
				r.commit(j)
				r.err = io.EOF
				return Op{}, io.EOF, true
			}
			return Op{}, nil, false
		}
		if r.state == done || in.buf[in.start+j] != '<' {
			return Op{}, nil, false
		}
		name, k := r.tagName(j + 1)
		if name == rootEnd {
			if k, ok = r.closeTag(k); !ok {
				return Op{}, nil, false
			}
			r.commit(k)
			r.state = done
			continue
		}
		kind := Kind(0)
		for kk, n := range opNames {
			if n != "" && n == name {
				kind = Kind(kk)
			}
		}
		if kind == 0 {
			return Op{}, nil, false
		}
		for in.has(k) && isSpace(in.buf[in.start+k]) {
			k++
		}
		if !in.has(k) || in.buf[in.start+k] != '>' {
			return Op{}, nil, false
		}
		k++
		// The operation ends at the first </name: an earlier one inside a
		// comment or CDATA makes the content below fail to parse.
		end := "</" + name
		from := k
		at := -1
		for {
			if i := bytes.Index(in.buf[in.start+from:in.end], []byte(end)); i >= 0 {
				at = from + i
				break
			}
			from = max(k, in.end-in.start-len(end)+1)
			if in.end-in.start-k > fastMaxOp || !in.more() {
				return Op{}, nil, false
			}
		}
		stop, ok := r.closeTag(at + len(end))
		if !ok || stop-k > min(MaxOpBytes, fastMaxOp) {
			return Op{}, nil, false
		}
		op, ok = r.parseOp(kind, in.buf[in.start+k:in.start+at])
		if !ok {
			return Op{}, nil, false
		}
		r.commit(stop)
		return op, nil, true
	}
}

// tagName reads the element name at offset j from in.start (after '<', or
// "/name" for an end tag); "" if there is none or it is too long to be one
// the fast path knows.
func (r *Reader) tagName(j int) (string, int) {
	in := &r.in
	k := j
	for in.has(k) && k-j < 32 {
		c := in.buf[in.start+k]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/' && k == j) {
			break
		}
		k++
	}
	switch s := in.buf[in.start+j : in.start+k]; string(s) {
	case "addRequest", "modifyRequest", "deleteRequest", rootEnd:
		return string(s), k
	}
	return "", k
}

// closeTag reads white space and '>' at offset k; it returns the offset
// after '>'.
func (r *Reader) closeTag(k int) (int, bool) {
	in := &r.in
	for in.has(k) && isSpace(in.buf[in.start+k]) {
		k++
	}
	if !in.has(k) || in.buf[in.start+k] != '>' {
		return 0, false
	}
	return k + 1, true
}

// parser reads an operation's content, all in memory.
type parser struct {
	r *Reader
	b []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
		p.i++
	}
}

// lit consumes s if it comes next.
func (p *parser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// name reads an element or attribute name: ASCII letters only.
func (p *parser) name() []byte {
	j := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			break
		}
		p.i++
	}
	return p.b[j:p.i]
}

// nameEnd checks the name just read is not followed by other name
// characters (a ':' for a prefix, digits, …).
func (p *parser) nameEnd() bool {
	return p.i < len(p.b) && (isSpace(p.b[p.i]) || p.b[p.i] == '>' || p.b[p.i] == '/')
}

// startEnd reads the end of a start tag without attributes: it reports
// whether the tag was empty (<x/>).
func (p *parser) startEnd() (empty, ok bool) {
	p.space()
	if p.lit(">") {
		return false, true
	}
	if p.lit("/>") {
		return true, true
	}
	return false, false
}

// endTag reads </name>; it consumes nothing if that is not what comes.
func (p *parser) endTag(name string) bool {
	j := p.i
	if p.lit("</") && p.lit(name) && p.nameEnd() {
		p.space()
		if p.lit(">") {
			return true
		}
	}
	p.i = j
	return false
}

// parseOp parses the content of an operation (between its start and end
// tags), as Reader.readOp does.
func (r *Reader) parseOp(kind Kind, b []byte) (Op, bool) {
	p := parser{r: r, b: b}
	r.scratch, r.spans, r.groups = r.scratch[:0], r.spans[:0], r.groups[:0]
	sawID, idSpan := false, -1
	sawOper := false
	for {
		p.space()
		if p.i == len(b) {
			break
		}
		if !p.lit("<") {
			return Op{}, false
		}
		name := p.name()
		if !p.nameEnd() {
			return Op{}, false
		}
		var ok bool
		switch string(name) {
		case "operationalAttributes":
			sawOper, ok = true, p.attrs("operationalAttributes", "attr", false, true)
		case "identifier":
			if sawID {
				return Op{}, false
			}
			sawID = true
			idSpan, ok = p.identifier()
		case "attributes":
			ok = kind == Add && p.attrs("attributes", "attr", false, false)
		case "modifications":
			ok = kind == Modify && p.attrs("modifications", "modification", true, false)
		}
		if !ok {
			return Op{}, false
		}
	}
	if !sawID {
		return Op{}, false
	}
	all := string(r.scratch)
	vals := make([]string, len(r.spans))
	for i, s := range r.spans {
		vals[i] = all[s.start:s.end]
	}
	id := strings.TrimSpace(vals[idSpan])
	if id == "" {
		return Op{}, false
	}
	op := Op{Kind: kind, ID: id}
	var nOper, nAttrs int
	for _, g := range r.groups {
		if g.operational {
			nOper++
		} else {
			nAttrs++
		}
	}
	if sawOper {
		op.Operational = make(map[string][]string, nOper)
	}
	if kind != Delete {
		op.Attrs = make(map[string][]string, nAttrs)
	}
	for _, g := range r.groups {
		m := op.Attrs
		if g.operational {
			m = op.Operational
		}
		vs := vals[g.first : g.first+g.n : g.first+g.n]
		if old, had := m[g.name]; had {
			m[g.name] = append(old, vs...)
		} else if g.n == 0 {
			m[g.name] = nil // as append(nil, []string{}...)
		} else {
			m[g.name] = vs
		}
	}
	op.Category = r.category
	for _, name := range categoryAttrs {
		if v := op.Operational[name]; len(v) > 0 && v[0] != "" {
			op.Category = v[0]
			for _, c := range categories {
				if c == v[0] {
					op.Category = c // not a substring of the operation's values
				}
			}
			break
		}
	}
	return op, true
}

// identifier reads <identifier><id>…</id></identifier> after "<identifier".
func (p *parser) identifier() (int, bool) {
	if empty, ok := p.startEnd(); !ok || empty {
		return 0, false
	}
	p.space()
	if !p.lit("<id") || !p.nameEnd() {
		return 0, false
	}
	empty, ok := p.startEnd()
	if !ok || empty || !p.text() || !p.endTag("id") {
		return 0, false
	}
	p.space()
	return len(p.r.spans) - 1, p.endTag("identifier")
}

// attrs reads a container of attr (or modification) elements after
// "<container", adding groups.
func (p *parser) attrs(container, child string, modify, operational bool) bool {
	empty, ok := p.startEnd()
	if !ok {
		return false
	}
	if empty {
		return true
	}
	for {
		p.space()
		if p.endTag(container) {
			return true
		}
		if !p.lit("<") || !p.lit(child) || !p.nameEnd() {
			return false
		}
		name, op, empty, ok := p.attrTag()
		if !ok || len(name) == 0 || modify && string(op) != "replace" {
			return false
		}
		g := group{name: p.r.intern(name), operational: operational, first: int32(len(p.r.spans))}
		if !empty {
			for {
				p.space()
				if p.endTag(child) {
					break
				}
				if !p.lit("<value") || !p.nameEnd() {
					return false
				}
				empty, ok := p.startEnd()
				if !ok {
					return false
				}
				if empty {
					n := int32(len(p.r.scratch))
					p.r.spans = append(p.r.spans, span{n, n})
				} else if !p.text() || !p.endTag("value") {
					return false
				}
			}
		}
		g.n = int32(len(p.r.spans)) - g.first
		p.r.groups = append(p.r.groups, g)
	}
}

// attrTag reads the attributes and end of an attr or modification start
// tag: name and operation, each at most once.
func (p *parser) attrTag() (name, op []byte, empty, ok bool) {
	var sawName, sawOp bool
	for {
		j := p.i
		p.space()
		if p.lit(">") {
			return name, op, false, true
		}
		if p.lit("/>") {
			return name, op, true, true
		}
		if p.i == j { // attributes are separated by white space
			return nil, nil, false, false
		}
		a := p.name()
		p.space()
		if !p.lit("=") {
			return nil, nil, false, false
		}
		p.space()
		if p.i == len(p.b) || p.b[p.i] != '"' && p.b[p.i] != '\'' {
			return nil, nil, false, false
		}
		q := p.b[p.i]
		p.i++
		k := p.i
		for p.i < len(p.b) && p.b[p.i] != q {
			if c := p.b[p.i]; c < 0x20 || c > 0x7e || c == '&' || c == '<' {
				return nil, nil, false, false
			}
			p.i++
		}
		if p.i == len(p.b) {
			return nil, nil, false, false
		}
		v := p.b[k:p.i]
		p.i++
		switch {
		case string(a) == "name" && !sawName:
			name, sawName = v, true
		case string(a) == "operation" && !sawOp:
			op, sawOp = v, true
		default:
			return nil, nil, false, false
		}
	}
}

// intern returns the attribute name as a string shared by all operations.
func (r *Reader) intern(b []byte) string {
	if s, ok := r.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if r.names == nil {
		r.names = map[string]string{}
	}
	if len(r.names) < 1024 {
		r.names[s] = s
	}
	return s
}

// plain marks the bytes text copies as they are.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	t['\n'], t['\t'] = true, true
	t['&'], t[']'] = false, false
	return t
}()

var xmlEntities = map[string]string{"lt": "<", "gt": ">", "amp": "&", "apos": "'", "quot": "\""}

// text decodes the text up to the next '<' into scratch and adds its span.
func (p *parser) text() bool {
	r := p.r
	j := bytes.IndexByte(p.b[p.i:], '<')
	if j < 0 {
		return false
	}
	seg := p.b[p.i : p.i+j]
	p.i += j
	start := len(r.scratch)
	simple := true
	for _, c := range seg {
		if !plain[c] {
			simple = false
			break
		}
	}
	if simple {
		r.scratch = append(r.scratch, seg...)
		r.spans = append(r.spans, span{int32(start), int32(len(r.scratch))})
		return true
	}
	out := r.scratch
	for k := 0; k < len(seg); {
		switch c := seg[k]; c {
		case '&':
			n, ok := 0, false
			if out, n, ok = appendEntity(out, seg[k:]); !ok {
				return false
			}
			k += n
		case '\r':
			out = append(out, '\n')
			k++
			if k < len(seg) && seg[k] == '\n' {
				k++
			}
		case ']':
			if k+2 < len(seg) && seg[k+1] == ']' && seg[k+2] == '>' {
				return false
			}
			out = append(out, c)
			k++
		default:
			out = append(out, c)
			k++
		}
	}
	r.scratch = out
	for b := out[start:]; len(b) > 0; {
		c, size := utf8.DecodeRune(b)
		if c == utf8.RuneError && size == 1 || !inCharRange(c) {
			return false
		}
		b = b[size:]
	}
	r.spans = append(r.spans, span{int32(start), int32(len(out))})
	return true
}

// appendEntity decodes the entity or character reference at the start of
// b (b[0] is '&'), as the decoder does with xml.HTMLEntity. ok is false
// for any form the fast path leaves to the decoder.
func appendEntity(out, b []byte) ([]byte, int, bool) {
	semi := bytes.IndexByte(b[:min(len(b), 16)], ';')
	if semi < 2 {
		return out, 0, false
	}
	name := b[1:semi]
	if name[0] == '#' {
		digits, base := name[1:], 10
		if len(digits) > 0 && digits[0] == 'x' {
			digits, base = digits[1:], 16
		}
		if len(digits) == 0 || len(digits) > 8 {
			return out, 0, false
		}
		for _, c := range digits {
			if !(c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
				return out, 0, false
			}
		}
		n, err := strconv.ParseUint(string(digits), base, 64)
		if err != nil || n > unicode.MaxRune {
			return out, 0, false
		}
		return utf8.AppendRune(out, rune(n)), semi + 1, true
	}
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return out, 0, false
		}
	}
	s, ok := xmlEntities[string(name)]
	if !ok {
		s, ok = xml.HTMLEntity[string(name)]
	}
	if !ok {
		return out, 0, false
	}
	return append(out, s...), semi + 1, true
}

// inCharRange is the decoder's test of the characters XML allows.
func inCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
