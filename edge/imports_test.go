package edge

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDependencies keeps the appliance free of central: neither the edge
// nor anything it imports, directly or not, may pull in central or raft.
func TestDependencies(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"atrium/central", "github.com/hashicorp/raft", "github.com/hashicorp/serf"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("edge depends on %s; an appliance must run without it", dep)
			}
		}
	}
}
