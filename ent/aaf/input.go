package aaf

import (
	"bytes"
	"io"

	"golang.org/x/text/encoding"
)

// input is a Reader's buffer over its source. The bytes from start on are
// kept: the fast path parses a whole operation in place and, when it meets
// something it does not handle, gives the same bytes to the decoder. Once
// the file declares a single-byte encoding, the buffer holds the decoded
// UTF-8 stream and offsets count its bytes, as the decoder's do.
type input struct {
	src   io.Reader
	buf   []byte
	start int   // first byte kept
	pos   int   // next byte to read
	end   int   // end of the data read
	off   int64 // offset in the (decoded) stream of buf[0]
	err   error // the source's error once met, io.EOF at its end
}

const inputSize = 64 << 10

// more reads more data from the source, keeping buf[start:]. It returns
// false when the source has no more (in.err says why). Offsets relative to
// start stay valid; absolute indices into buf do not.
func (in *input) more() bool {
	if in.err != nil {
		return false
	}
	if in.end == len(in.buf) {
		if in.start > 0 {
			n := copy(in.buf, in.buf[in.start:in.end])
			in.off += int64(in.start)
			in.pos -= in.start
			in.end = n
			in.start = 0
		}
		if in.end == len(in.buf) {
			nb := make([]byte, max(2*len(in.buf), inputSize))
			copy(nb, in.buf[:in.end])
			in.buf = nb
		}
	}
	for range 100 {
		n, err := in.src.Read(in.buf[in.end:])
		in.end += n
		if err != nil {
			in.err = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	in.err = io.ErrNoProgress
	return false
}

// has reports whether the byte at offset i from start is available,
// reading more if needed.
func (in *input) has(i int) bool {
	for in.start+i >= in.end {
		if !in.more() {
			return false
		}
	}
	return true
}

// transcode makes the rest of the stream, from pos, the UTF-8 decoding of
// the source through dec, as the decoder does when the XML declaration
// names a single-byte encoding.
func (in *input) transcode(dec *encoding.Decoder) {
	rest := bytes.Clone(in.buf[in.pos:in.end])
	var src io.Reader = io.MultiReader(bytes.NewReader(rest), in.src)
	switch in.err {
	case nil:
	case io.EOF:
		src = bytes.NewReader(rest)
	default:
		src = io.MultiReader(bytes.NewReader(rest), failing{in.err})
	}
	in.src, in.err = dec.Reader(src), nil
	in.off += int64(in.pos)
	in.start, in.pos, in.end = 0, 0, 0
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// feed gives the input to an xml.Decoder one byte at a time, after a
// prefix (the root start tag, when the decoder takes over inside the root
// element). Being an io.ByteReader, it is read without read-ahead: when
// the decoder returns a token, pos is just past it.
type feed struct {
	in     *input
	prefix []byte
	keep   bool // keep what the decoder read (Reader.token moves start)
}

func (f *feed) ReadByte() (byte, error) {
	if len(f.prefix) > 0 {
		b := f.prefix[0]
		f.prefix = f.prefix[1:]
		return b, nil
	}
	in := f.in
	if in.pos == in.end {
		if !f.keep {
			in.start = in.pos
		}
		if !in.more() {
			return 0, in.err
		}
	}
	b := in.buf[in.pos]
	in.pos++
	return b, nil
}

func (f *feed) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		b, err := f.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		p[n] = b
		n++
		if f.in.pos == f.in.end {
			break
		}
	}
	return n, nil
}
