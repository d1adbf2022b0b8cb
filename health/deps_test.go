package health

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNothingOfAtrium keeps this package a leaf that central, edge
// and cmd can all import.
func TestImportsNothingOfAtrium(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "atrium" || strings.HasPrefix(path, "atrium/") {
				t.Errorf("%s imports %s; health must import nothing of Atrium's", name, path)
			}
		}
	}
}
