package aaf

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed is wrapped by every error a Reader returns for input
	// that is not a well-formed ficAlimMENESR file: bad XML, a truncated
	// file, an unknown root or element, an operation without an id.
	ErrMalformed = errors.New("aaf: malformed file")
	// ErrFileName is wrapped by ParseFileName's errors.
	ErrFileName = errors.New("aaf: not an AAF file name")
)

// ParseError is a malformed-input error with its position. It wraps
// ErrMalformed and, when there is one, the underlying error (an
// *xml.SyntaxError, an I/O error from the source).
type ParseError struct {
	File    string // as given to SetFile; empty if unknown
	Line    int    // 1-based line where the problem was detected
	Offset  int64  // offset in the UTF-8 decoded stream
	Element string // the element being read, e.g. "addRequest/attributes/attr"
	ID      string // the operation's id, if it was read before the error
	Reason  string
	Err     error // underlying cause; may be nil
}

func (e *ParseError) Error() string {
	s := "aaf: "
	if e.File != "" {
		s += e.File + ":"
	}
	s += fmt.Sprintf("%d (offset %d)", e.Line, e.Offset)
	if e.Element != "" {
		s += " in " + e.Element
	}
	if e.ID != "" {
		s += " (id " + e.ID + ")"
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrMalformed and the underlying cause.
func (e *ParseError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrMalformed}
	}
	return []error{ErrMalformed, e.Err}
}
