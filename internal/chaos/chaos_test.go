package chaos

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	duration   = flag.Duration("chaos.duration", time.Minute, "how long faults and writers run")
	seed       = flag.Int64("chaos.seed", 0, "seed of the faults, writers and data; 0 picks one (printed)")
	keep       = flag.Bool("chaos.keep", false, "keep the region's data and logs even when the run passes")
	reportPath = flag.String("chaos.report", "", "where to write the report (chaos-report.md); empty: the test's temporary directory")
)

// binary is the atrium executable TestMain builds.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "atrium-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "atrium")
	cmd := exec.Command("go", "build", "-o", binary, "atrium/cmd/atrium")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build atrium:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestChaos runs a region of real processes under random faults while
// clients write at both ends, then checks that nothing acknowledged was
// lost, nothing applied twice, no slot booked twice, and every digest
// equal (package doc). `make chaos` runs it for ten minutes.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos suite: real processes for a minute or more")
	}
	s := *seed
	if s == 0 {
		s = time.Now().UnixNano() % 1_000_000
	}
	t.Logf("chaos seed %d (again: -args -chaos.seed %d), duration %s", s, s, *duration)
	// The region's data and logs stay when the test fails, to be read.
	dir, err := os.MkdirTemp("", "atrium-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || *keep {
			t.Logf("region data and logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	rep, err := Run(t.Context(), Config{Binary: binary, Dir: dir, Seed: s, Duration: *duration, Out: testOut{t}})
	if rep != nil {
		md := rep.Markdown()
		path := *reportPath
		if path == "" {
			path = filepath.Join(t.TempDir(), "chaos-report.md")
		}
		if werr := os.WriteFile(path, []byte(md), 0o644); werr != nil {
			t.Errorf("write the report: %v", werr)
		}
		fmt.Println(md)
		t.Logf("report written to %s", path)
		if !rep.OK() {
			t.Errorf("chaos run with seed %d found %d failures (report above)", s, len(rep.Failures))
		}
	}
	if err != nil {
		t.Fatalf("Run(seed %d) = %v", s, err)
	}
}

type testOut struct{ t *testing.T }

func (o testOut) Write(b []byte) (int, error) {
	if line := strings.TrimRight(string(b), "\n"); strings.TrimSpace(line) != "" {
		o.t.Log(line)
	}
	return len(b), nil
}
