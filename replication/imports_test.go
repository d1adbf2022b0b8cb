package replication

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package's boundaries: quic-go only in
// transport.go, and nothing of central, the edge or the ENT anywhere.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/quic-go/") && f != "transport.go" {
				t.Errorf("%s imports %s; quic-go belongs in transport.go only", f, path)
			}
			for _, banned := range []string{"atrium/central", "atrium/edge", "atrium/ent", "atrium/portal"} {
				if path == banned || strings.HasPrefix(path, banned+"/") {
					t.Errorf("%s imports %s, which replication must not depend on", f, path)
				}
			}
		}
	}
}
