package central

import (
	osexec "os/exec"
	"strings"
	"testing"
)

// TestImports checks the package's boundaries: central never imports the
// edge runtime nor the replication protocol.
func TestImports(t *testing.T) {
	out, err := osexec.Command("go", "list", "-deps", "atrium/central").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "atrium/edge" || dep == "atrium/replication" || strings.HasPrefix(dep, "atrium/edge/") || strings.HasPrefix(dep, "atrium/replication/") {
			t.Errorf("central depends on %s", dep)
		}
	}
}
