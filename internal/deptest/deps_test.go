package deptest

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
		{"github.com/chromedp/", func(f string) bool { return strings.HasPrefix(f, "internal/browsertest/") }},
	}
	// Atrium packages that a package must never import.
	forbidden := map[string][]string{
		"record/":             {"atrium/"}, // but internal/binenc (allowed below)
		"internal/binenc/":    {"atrium/"},
		"internal/goldenhex/": {"atrium/"},
		"internal/durable/":   {"atrium/"},
		"ent/":                {"atrium/central", "atrium/edge", "atrium/replication", "atrium/node", "atrium/portal"},
		"portal/":             {"atrium/central", "atrium/edge", "atrium/replication", "atrium/node"},
		"edge/":               {"atrium/central", "github.com/hashicorp/raft"},
		"replication/":        {"atrium/central", "atrium/edge", "atrium/ent", "atrium/node"},
		"central/":            {"atrium/edge", "atrium/node", "atrium/portal"},
		"health/":             {"atrium/"},
		"appliance/":          {"atrium/"},
	}
	// Exceptions to forbidden, as "dir import". A package may always import
	// its own tree (appliance/appliancetest imports appliance).
	allowed := map[string]bool{
		"record/ atrium/internal/binenc":     true,
		"appliance/ atrium/internal/durable": true,
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
					own := "atrium/" + strings.TrimSuffix(dir, "/")
					if strings.HasPrefix(imp, b) && !allowed[dir+" "+imp] && imp != own && !strings.HasPrefix(imp, own+"/") {
						t.Errorf("%s imports %s: %s must not depend on it", file, imp, strings.TrimSuffix(dir, "/"))
					}
				}
			}
		}
	}
}

// TestTransitiveDependencies checks what each package pulls in, directly or
// not: an edge appliance must run without central's raft, the ENT and its
// portal without any node's machinery.
func TestTransitiveDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not in PATH")
	}
	node := []string{"atrium/central", "atrium/edge", "atrium/replication", "atrium/node",
		"github.com/hashicorp/raft", "github.com/hashicorp/serf", "github.com/quic-go/quic-go", "go.etcd.io/bbolt"}
	rules := map[string][]string{
		"atrium/edge":          {"atrium/central", "github.com/hashicorp/raft", "github.com/hashicorp/serf"},
		"atrium/central":       {"atrium/edge", "atrium/replication", "atrium/node", "atrium/portal"},
		"atrium/replication":   {"atrium/central", "atrium/edge", "atrium/ent", "atrium/portal", "atrium/node"},
		"atrium/ent":           node,
		"atrium/ent/uai":       node,
		"atrium/ent/synth":     node,
		"atrium/ent/aaf":       node,
		"atrium/ent/directory": node,
		"atrium/portal":        node,
		"atrium/cas":           node,
		"atrium/appliance":     {"atrium/central", "atrium/edge", "atrium/replication", "atrium/ent", "atrium/node"},
		"atrium/health":        {"atrium/central", "atrium/edge", "atrium/replication", "atrium/ent", "atrium/node"},
	}
	for pkg, banned := range rules {
		cmd := exec.Command(goTool, "list", "-deps", pkg)
		cmd.Dir = root(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, pkg) {
			t.Fatalf("go list -deps %s does not list the package itself: is the test looking at the module?", pkg)
		}
		for _, dep := range deps {
			for _, b := range banned {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
