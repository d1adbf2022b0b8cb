package deptest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// root is the module's root directory.
func root(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// imports maps each non-test Go file of the module (path relative to the
// root) to its import paths.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	base := root(t)
	err := filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") && path != base {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, path)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDependencies(t *testing.T) {
	files := imports(t)
	if len(files) < 20 {
		t.Fatalf("found only %d Go files: is the test looking at the module?", len(files))
	}
	// Heavy dependencies and the only files (or directories) that may import them.
	heavy := []struct {
		prefix  string
		allowed func(file string) bool
	}{
		{"github.com/hashicorp/raft", func(f string) bool {
			return strings.HasPrefix(f, "central/") && !strings.HasPrefix(f, "central/admin/")
		}},
		{"github.com/hashicorp/serf", func(f string) bool {
			return f == "central/membership.go" || strings.HasPrefix(f, "internal/logbridge/")
		}},
		{"github.com/quic-go/quic-go", func(f string) bool { return f == "replication/transport.go" }},
	}
	// Atrium packages that a package must never import.
	forbidden := map[string][]string{
		"record/":      {"atrium/"},
		"ent/":         {"atrium/central", "atrium/edge", "atrium/replication", "atrium/node", "atrium/portal"},
		"portal/":      {"atrium/central", "atrium/edge", "atrium/replication", "atrium/node"},
		"edge/":        {"atrium/central", "github.com/hashicorp/raft"},
		"replication/": {"atrium/central", "atrium/edge", "atrium/ent", "atrium/node"},
		"central/":     {"atrium/edge", "atrium/node", "atrium/portal"},
		"health/":      {"atrium/"},
		"appliance/":   {"atrium/central", "atrium/edge", "atrium/node"},
	}
	for file, imps := range files {
		for _, imp := range imps {
			for _, h := range heavy {
				if strings.HasPrefix(imp, h.prefix) && !h.allowed(file) {
					t.Errorf("%s imports %s, which only its designated place may import", file, imp)
				}
			}
			for dir, bad := range forbidden {
				if !strings.HasPrefix(file, dir) {
					continue
				}
				for _, b := range bad {
					if strings.HasPrefix(imp, b) && !(dir == "record/" && imp == "atrium/record") {
						t.Errorf("%s imports %s: %s must not depend on it", file, imp, strings.TrimSuffix(dir, "/"))
					}
				}
			}
		}
	}
}
