package portal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the ENT independent of the nodes that run it.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbidden := []string{"atrium/central", "atrium/edge", "atrium/replication", "github.com/hashicorp/raft", "github.com/quic-go/quic-go", "go.etcd.io/bbolt"}
	for _, pkg := range []string{"atrium/ent", "atrium/ent/uai", "atrium/ent/synth", "atrium/portal"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
