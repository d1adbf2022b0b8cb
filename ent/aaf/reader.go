package aaf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
)

// Kind is an operation's kind. The numbers are written out and never
// reused.
type Kind int

const (
	Add    Kind = 1 // addRequest: a new entry with all its attributes
	Modify Kind = 2 // modifyRequest: attributes replaced on an entry
	Delete Kind = 3 // deleteRequest: an entry removed
)

func (k Kind) String() string {
	switch k {
	case Add:
		return "add"
	case Modify:
		return "modify"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Op is one operation of a ficAlimMENESR file.
type Op struct {
	Kind Kind
	// ID is the identifier's id, trimmed of surrounding white space; never
	// empty.
	ID string
	// Category is the operational attribute categoriePersonne (or
	// categorieStructure), else the category of the file name given to
	// SetFile, else empty.
	Category string
	// Attrs holds the attributes of an Add, or the replaced attributes of a
	// Modify, by name, with their values in file order; an empty <value/>
	// is "". Nil for a Delete.
	Attrs map[string][]string
	// Operational holds the operationalAttributes; nil if there were none.
	Operational map[string][]string
}

// Header is what the file's leading comments say, as far as they say it.
type Header struct {
	VersionAF string   // e.g. "V4.0"; empty if no comment gave it
	Academie  string   // académie code or name; empty if no comment gave it
	Comments  []string // the leading comments, trimmed (at most maxComments)
}

// MaxOpBytes bounds one operation's size in the decoded stream: a larger
// operation is malformed. It is what keeps memory bounded on hostile input.
const MaxOpBytes = 16 << 20

const (
	maxComments   = 32
	maxCommentLen = 4 << 10
)

type state int

const (
	prolog state = iota // before the root element
	inRoot              // inside <ficAlimMENESR>
	done                // after </ficAlimMENESR>
)

// A Reader reads operations from a ficAlimMENESR stream. It is not safe
// for concurrent use.
//
// Two paths read the same language. encoding/xml's Decoder reads the
// prolog (declaration, encoding, DOCTYPE, comments) and anything unusual;
// once inside the root element, a fast path (fast.go) parses the common
// shape of an operation in place, and hands the operation to a decoder
// whenever it meets anything else (comments, CDATA, unknown entities,
// attributes it does not expect, malformed input): what the decoder
// accepts, returns or rejects is what the Reader does.
type Reader struct {
	in       input
	src      *errReader
	d        *xml.Decoder // the decoder in use; nil on the fast path
	dFeed    *feed        // d's input
	dBase    int64        // stream offset of d's offset 0 (before its prefix)
	dLine    int          // stream line of d's line 1
	fast     bool         // on the fast path
	root     []byte       // the root start tag, newlines blanked: a fallback decoder's prefix
	line     int          // stream line at in.start, on the fast path
	file     string
	category string
	state    state
	header   Header
	sawOp    bool
	peeked   *Op   // the first operation, read ahead by Header
	opStart  int64 // d's offset of the current operation; -1 outside one
	err      error // sticky
	noFast   bool  // tests: the decoder reads everything

	names   map[string]string // interned attribute names
	scratch []byte            // the decoded values of the operation being read
	spans   []span
	groups  []group
}

// NewReader returns a Reader that reads from r. The Reader buffers its
// input; it reads no more than it needs for the next operation.
func NewReader(r io.Reader) *Reader {
	src := &errReader{r: r}
	rd := &Reader{src: src, opStart: -1, line: 1}
	rd.in.src = src
	rd.dFeed = &feed{in: &rd.in, keep: true}
	rd.d = rd.newDecoder(rd.dFeed)
	rd.dLine = 1
	return rd
}

func (r *Reader) newDecoder(f *feed) *xml.Decoder {
	d := xml.NewDecoder(f)
	d.Entity = xml.HTMLEntity
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		dec, err := charsetDecoder(label)
		if err != nil || dec == nil {
			return in, err
		}
		r.in.transcode(dec)
		return in, nil
	}
	return d
}

// SetFile names the file being read: errors carry the name, and if
// ParseFileName recognises it, its category is the default Category of
// operations that carry none. Call it before the first Next.
func (r *Reader) SetFile(name string) {
	r.file = name
	if fi, err := ParseFileName(name); err == nil {
		r.category = fi.Category
	}
}

// Header returns what the leading comments said about the file (before the
// first operation). It reads the first operation ahead if Next has not
// been called yet; a read error is left for Next to return.
func (r *Reader) Header() Header {
	if !r.sawOp && r.peeked == nil && r.err == nil {
		if op, err := r.next(); err == nil {
			r.peeked = &op
		}
	}
	h := r.header
	h.Comments = append([]string(nil), h.Comments...)
	return h
}

// Next returns the next operation, or io.EOF after the root element closed
// and the file ended. Any other error is final: Next returns it again on
// every later call. Errors for bad input wrap ErrMalformed (as a
// *ParseError); errors of the underlying reader are returned wrapped.
//
// Values of one operation may share memory: a caller that keeps a few of
// them for long may want to strings.Clone them.
func (r *Reader) Next() (Op, error) {
	if r.peeked != nil {
		op := *r.peeked
		r.peeked, r.sawOp = nil, true
		return op, nil
	}
	op, err := r.next()
	if err == nil {
		r.sawOp = true
	}
	return op, err
}

func (r *Reader) next() (Op, error) {
	for {
		if r.err != nil {
			return Op{}, r.err
		}
		if r.fast {
			if op, err, ok := r.fastOp(); ok {
				return op, err
			}
			r.fallback()
			continue
		}
		start, err := r.nextOpStart()
		if err == errFast {
			continue
		}
		if err != nil {
			return Op{}, err
		}
		op, err := r.readOp(start)
		if err == nil {
			r.resume()
		}
		return op, err
	}
}

// errFast tells next that nextOpStart switched to the fast path.
var errFast = errors.New("aaf: fast path")

// nextOpStart reads up to the start of the next operation.
func (r *Reader) nextOpStart() (xml.StartElement, error) {
	for {
		before := r.d.InputOffset()
		t, err := r.token("", "")
		if err == io.EOF {
			switch r.state {
			case prolog:
				return xml.StartElement{}, r.fail("", "", "no ficAlimMENESR root element", nil)
			case inRoot:
				return xml.StartElement{}, r.fail("ficAlimMENESR", "", "file ends inside the root element", nil)
			}
			r.err = io.EOF
			return xml.StartElement{}, io.EOF
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := t.(type) {
		case xml.Comment:
			if r.state != done && !r.sawOp && r.peeked == nil {
				r.addComment(string(t))
			}
		case xml.CharData:
			if r.state != inRoot && len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, r.fail("", "", "text outside the root element", nil)
			}
		case xml.StartElement:
			switch r.state {
			case prolog:
				if t.Name.Local != "ficAlimMENESR" {
					return xml.StartElement{}, r.fail(t.Name.Local, "", "unknown root element (want ficAlimMENESR)", nil)
				}
				r.state = inRoot
				if r.enterRoot(before) {
					return xml.StartElement{}, errFast
				}
			case inRoot:
				switch t.Name.Local {
				case "addRequest", "modifyRequest", "deleteRequest":
					return t, nil
				}
				return xml.StartElement{}, r.fail("ficAlimMENESR/"+t.Name.Local, "", "unknown element", nil)
			default:
				return xml.StartElement{}, r.fail(t.Name.Local, "", "element after the root element", nil)
			}
		case xml.EndElement:
			// The decoder checks nesting, so this closes the root.
			r.state = done
		}
	}
}

// readOp reads an operation whose start tag has just been read.
func (r *Reader) readOp(start xml.StartElement) (Op, error) {
	var op Op
	switch start.Name.Local {
	case "addRequest":
		op.Kind = Add
	case "modifyRequest":
		op.Kind = Modify
	default:
		op.Kind = Delete
	}
	path := start.Name.Local
	r.opStart = r.d.InputOffset()
	defer func() { r.opStart = -1 }()
	sawID := false
	for {
		t, err := r.token(path, op.ID)
		if err != nil {
			return Op{}, r.eof(err, path, op.ID)
		}
		switch t := t.(type) {
		case xml.StartElement:
			child := path + "/" + t.Name.Local
			switch {
			case t.Name.Local == "operationalAttributes":
				if op.Operational, err = r.readAttrs(child, "attr", false, op.ID, op.Operational); err != nil {
					return Op{}, err
				}
			case t.Name.Local == "identifier":
				if sawID {
					return Op{}, r.fail(child, op.ID, "second identifier", nil)
				}
				sawID = true
				if op.ID, err = r.readIdentifier(child); err != nil {
					return Op{}, err
				}
			case t.Name.Local == "attributes" && op.Kind == Add:
				if op.Attrs, err = r.readAttrs(child, "attr", false, op.ID, op.Attrs); err != nil {
					return Op{}, err
				}
			case t.Name.Local == "modifications" && op.Kind == Modify:
				if op.Attrs, err = r.readAttrs(child, "modification", true, op.ID, op.Attrs); err != nil {
					return Op{}, err
				}
			default:
				return Op{}, r.fail(child, op.ID, "unexpected element", nil)
			}
		case xml.EndElement:
			if !sawID {
				return Op{}, r.fail(path, "", "missing identifier", nil)
			}
			if op.Kind != Delete && op.Attrs == nil {
				op.Attrs = map[string][]string{}
			}
			op.Category = r.category
			for _, name := range []string{"categoriePersonne", "categorieStructure"} {
				if v := op.Operational[name]; len(v) > 0 && v[0] != "" {
					op.Category = v[0]
					break
				}
			}
			return op, nil
		}
	}
}

// readIdentifier reads <identifier><id>…</id></identifier> after its start
// tag.
func (r *Reader) readIdentifier(path string) (string, error) {
	id, sawID := "", false
	for {
		t, err := r.token(path, "")
		if err != nil {
			return "", r.eof(err, path, "")
		}
		switch t := t.(type) {
		case xml.StartElement:
			if t.Name.Local != "id" {
				return "", r.fail(path+"/"+t.Name.Local, "", "unexpected element", nil)
			}
			if sawID {
				return "", r.fail(path+"/id", id, "second id", nil)
			}
			sawID = true
			v, err := r.readText(path+"/id", "")
			if err != nil {
				return "", err
			}
			id = strings.TrimSpace(v)
		case xml.EndElement:
			if id == "" {
				return "", r.fail(path, "", "missing or empty id", nil)
			}
			return id, nil
		}
	}
}

// readAttrs reads the <attr> (or <modification>) children of a container
// whose start tag has just been read, adding their values to m.
func (r *Reader) readAttrs(path, child string, modify bool, id string, m map[string][]string) (map[string][]string, error) {
	if m == nil {
		m = map[string][]string{}
	}
	for {
		t, err := r.token(path, id)
		if err != nil {
			return nil, r.eof(err, path, id)
		}
		switch t := t.(type) {
		case xml.StartElement:
			elem := path + "/" + t.Name.Local
			if t.Name.Local != child {
				return nil, r.fail(elem, id, "unexpected element", nil)
			}
			name, op := "", ""
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "name":
					name = a.Value
				case "operation":
					op = a.Value
				}
			}
			if name == "" {
				return nil, r.fail(elem, id, "missing name attribute", nil)
			}
			elem += "[" + name + "]"
			if modify && op != "replace" {
				return nil, r.fail(elem, id, fmt.Sprintf("unsupported operation %q (want replace)", op), nil)
			}
			vs, err := r.readValues(elem, id)
			if err != nil {
				return nil, err
			}
			if vs == nil {
				vs = []string{}
			}
			m[name] = append(m[name], vs...)
		case xml.EndElement:
			return m, nil
		}
	}
}

// readValues reads the <value> children of an attr or modification.
func (r *Reader) readValues(path, id string) ([]string, error) {
	var vs []string
	for {
		t, err := r.token(path, id)
		if err != nil {
			return nil, r.eof(err, path, id)
		}
		switch t := t.(type) {
		case xml.StartElement:
			if t.Name.Local != "value" {
				return nil, r.fail(path+"/"+t.Name.Local, id, "unexpected element", nil)
			}
			v, err := r.readText(path+"/value", id)
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
		case xml.EndElement:
			return vs, nil
		}
	}
}

// readText reads the text of an element whose start tag has just been
// read, up to its end tag.
func (r *Reader) readText(path, id string) (string, error) {
	var b strings.Builder
	for {
		t, err := r.token(path, id)
		if err != nil {
			return "", r.eof(err, path, id)
		}
		switch t := t.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			return "", r.fail(path+"/"+t.Name.Local, id, "element inside a text value", nil)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// token returns the next token, turning the decoder's errors into the
// package's. It returns io.EOF only at a clean end of input.
func (r *Reader) token(path, id string) (xml.Token, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.dFeed.keep {
		// Keep the bytes of the token to come: enterRoot wants the root's.
		if i := r.dBase + r.d.InputOffset() - r.in.off; i > int64(r.in.start) && i <= int64(r.in.pos) {
			r.in.start = int(i)
		}
	}
	t, err := r.d.Token()
	if err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if r.src.err != nil && errors.Is(err, r.src.err) {
			line, _ := r.where()
			r.err = fmt.Errorf("aaf: %sline %d: read: %w", r.prefix(), line, err)
			return nil, r.err
		}
		return nil, r.fail(path, id, "bad XML", err)
	}
	if r.opStart >= 0 && r.d.InputOffset()-r.opStart > MaxOpBytes {
		return nil, r.fail(path, id, fmt.Sprintf("operation larger than %d bytes", MaxOpBytes), nil)
	}
	return t, nil
}

// eof turns an io.EOF met inside an element into a malformed-file error.
func (r *Reader) eof(err error, path, id string) error {
	if err == io.EOF {
		return r.fail(path, id, "file ends inside the element", nil)
	}
	return err
}

func (r *Reader) prefix() string {
	if r.file == "" {
		return ""
	}
	return r.file + ": "
}

// fail records and returns a *ParseError at the current position.
func (r *Reader) fail(elem, id, reason string, cause error) error {
	line, off := r.where()
	if se, ok := cause.(*xml.SyntaxError); ok {
		line = r.dLine + se.Line - 1
		if line != se.Line {
			cause = &xml.SyntaxError{Msg: se.Msg, Line: line}
		}
	}
	r.err = &ParseError{
		File:    r.file,
		Line:    line,
		Offset:  off,
		Element: elem,
		ID:      id,
		Reason:  reason,
		Err:     cause,
	}
	return r.err
}

// headerField matches "key = value", "key: value" or "key value" pairs in
// header comments. The keys seen in exports vary; this is deliberately
// lenient.
var headerField = regexp.MustCompile(`(?i)\b(versionAF|version_af|version|code_?acad[eé]mie|acad[eé]mie|acad)\b\s*[:=]?\s*["']?([^\s"',;<>]+)`)

func (r *Reader) addComment(c string) {
	c = strings.TrimSpace(c)
	if len(r.header.Comments) >= maxComments {
		return
	}
	if len(c) > maxCommentLen {
		c = c[:maxCommentLen]
	}
	r.header.Comments = append(r.header.Comments, c)
	for _, m := range headerField.FindAllStringSubmatch(c, -1) {
		key := strings.ToLower(m[1])
		switch {
		case strings.HasPrefix(key, "version"):
			if r.header.VersionAF == "" {
				r.header.VersionAF = m[2]
			}
		default:
			if r.header.Academie == "" {
				r.header.Academie = m[2]
			}
		}
	}
}

// charsetDecoder returns the decoder of a single-byte encoding an export
// may declare; nil for ASCII, read as is. UTF-8 never reaches it: the
// xml.Decoder handles it itself.
func charsetDecoder(label string) (*encoding.Decoder, error) {
	norm := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(label))
	switch norm {
	case "iso885915", "latin9", "l9":
		return charmap.ISO8859_15.NewDecoder(), nil
	case "iso88591", "latin1", "l1":
		return charmap.ISO8859_1.NewDecoder(), nil
	case "windows1252", "cp1252":
		return charmap.Windows1252.NewDecoder(), nil
	case "usascii", "ascii":
		return nil, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// errReader remembers its source's last error other than io.EOF, so that
// I/O errors are not mistaken for malformed input.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
