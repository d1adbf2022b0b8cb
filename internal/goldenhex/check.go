package goldenhex

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Case is one encoding pinned by a golden file.
type Case struct {
	Path   string // the golden file
	About  string // what it pins, written in its first comment
	Stores string // who holds these bytes, written in its second comment
	Value  any    // the value the file decodes to
	// Enc is what the current encoder makes of Value; nil for a file
	// kept to prove an older format still decodes.
	Enc    []byte
	Decode func([]byte) (any, error)
	// Corrupt is the error every truncated prefix of the file must give:
	// a torn write must never read as a shorter value.
	Corrupt error
}

// Check writes c's file first when write is set (and c.Enc is not nil),
// then checks that the current encoding equals the file, that the file
// decodes to c.Value, and that no truncation of it decodes.
func Check(t *testing.T, c Case, write bool) {
	t.Helper()
	if write && c.Enc != nil {
		text := Format(c.Enc, fmt.Sprintf("%s: %d bytes, written by TestGolden -update.", c.About, len(c.Enc)),
			c.Stores+" hold these bytes: a new encoding gets a new file, this one stays.")
		if err := os.WriteFile(c.Path, text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(c.Path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	b, err := Parse(text)
	if err != nil {
		t.Fatalf("%s: %v", c.Path, err)
	}
	if c.Enc != nil && !bytes.Equal(c.Enc, b) {
		t.Errorf("encoding of %s =\n%swant (%s)\n%s%s already hold the old bytes: bump the format version and keep the old file.",
			c.About, Lines(c.Enc), c.Path, Lines(b), c.Stores)
	}
	got, err := c.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", c.Path, err)
	}
	if diff := cmp.Diff(c.Value, got); diff != "" {
		t.Errorf("decode %s (-want +got):\n%s", c.Path, diff)
	}
	for n := range len(b) {
		if v, err := c.Decode(b[:n]); !errors.Is(err, c.Corrupt) {
			t.Fatalf("decode of the first %d of %d bytes = %+v, %v; want %v", n, len(b), v, err, c.Corrupt)
		}
	}
}
