package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testVersion is stamped into the binary under test, as `make build` does.
const testVersion = "v0.0.0-e2e"

// TestAtrium builds the atrium binary once and runs it as a person would:
// each command's help and errors, then a whole demo region driven through
// HTTP, `atrium ctl` and `atrium demo wan` (see demo_test.go).
func TestAtrium(t *testing.T) {
	bin := buildAtrium(t)
	t.Run("help", func(t *testing.T) { testHelp(t, bin) })
	t.Run("demo", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a whole region as processes; skipped with -short")
		}
		testDemo(t, bin)
	})
}

// buildAtrium builds this package with the go tool into a temporary
// directory and returns the binary's path.
func buildAtrium(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not in PATH: cannot build the atrium binary")
	}
	bin := filepath.Join(t.TempDir(), "atrium")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "-ldflags", "-X main.version="+testVersion, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// result is what a run of the binary showed.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runAtrium runs the binary to completion with args, in an environment
// without the caller's ATRIUM_ variables plus env.
func runAtrium(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("atrium %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// cleanEnv is this process's environment without ATRIUM_ variables, so that
// an operator's own settings cannot change what the tests see.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATRIUM_") {
			env = append(env, kv)
		}
	}
	return env
}

func testHelp(t *testing.T, bin string) {
	ok, fail := true, false
	tests := []struct {
		args   []string
		ok     bool   // exit status 0
		stdout string // wanted in stdout
		stderr string // wanted in stderr
	}{
		{[]string{"--help"}, ok, "Usage: atrium COMMAND", ""},
		{[]string{"-h"}, ok, "Usage: atrium COMMAND", ""},
		{[]string{"help"}, ok, "Usage: atrium COMMAND", ""},
		{[]string{"help", "edge"}, ok, "Usage: atrium edge", ""},
		{[]string{"central", "--help"}, ok, "Usage: atrium central [flags]", ""},
		{[]string{"edge", "--help"}, ok, "Usage: atrium edge [flags]", ""},
		{[]string{"demo", "--help"}, ok, "Usage: atrium demo [flags]", ""},
		{[]string{"demo", "wan", "--help"}, ok, "Usage: atrium demo wan cut|restore UAI --dir DIR", ""},
		{[]string{"ctl", "--help"}, ok, "Usage: atrium ctl", ""},
		{[]string{"ctl", "edge", "add", "--help"}, ok, "Usage: atrium ctl edge add [flags]", ""},
		{[]string{"ctl", "aaf", "generate", "--help"}, ok, "Usage: atrium ctl aaf generate [flags]", ""},
		{[]string{"version", "--help"}, ok, "Usage: atrium version", ""},
		{[]string{"version"}, ok, "atrium " + testVersion + "\n", ""},

		{nil, fail, "", "atrium: missing command"},
		{[]string{"bogus"}, fail, "", `atrium: unknown command "bogus"`},
		{[]string{"central", "--bogus"}, fail, "", "flag provided but not defined: -bogus"},
		{[]string{"central"}, fail, "", "--name and --data are required"},
		{[]string{"edge"}, fail, "", "--data is required"},
		{[]string{"demo", "wan"}, fail, "", "missing cut or restore"},
		{[]string{"demo", "wan", "cut", "0130040Y"}, fail, "", "a UAI and --dir are required"},
		{[]string{"demo", "wan", "cut", "0130040Y", "--dir", "/nonexistent"}, fail, "", "no running demo in /nonexistent"},
		{[]string{"ctl"}, fail, "", "missing ctl command"},
		{[]string{"ctl", "bogus"}, fail, "", `unknown ctl command "bogus"`},
		{[]string{"ctl", "node", "list"}, fail, "", "no operator token: pass --token or set ATRIUM_TOKEN"},
		// Checked before central is asked: no server listens at port 1.
		{[]string{"ctl", "--server", "http://127.0.0.1:1", "--token", "x", "edge", "add", "--uai", "0130040Z"}, fail, "",
			`"0130040Z" is not a valid UAI: the check letter of 0130040 is Y`},
		{[]string{"ctl", "--server", "http://127.0.0.1:1", "--token", "x", "edge", "add", "--uai", "2A30040Y"}, fail, "",
			`"2A30040Y" is not a valid UAI: seven digits then a check letter`},
	}
	for _, tt := range tests {
		r := runAtrium(t, bin, nil, tt.args...)
		name := "atrium " + strings.Join(tt.args, " ")
		if (r.code == 0) != tt.ok {
			t.Errorf("%s: exit %d, want success=%v\n%s", name, r.code, tt.ok, r)
			continue
		}
		if !strings.Contains(r.stdout, tt.stdout) {
			t.Errorf("%s: stdout lacks %q\n%s", name, tt.stdout, r)
		}
		if !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("%s: stderr lacks %q\n%s", name, tt.stderr, r)
		}
		if tt.ok && r.stderr != "" {
			t.Errorf("%s: succeeded but wrote to stderr:\n%s", name, r)
		}
	}
	// The top-level usage lists every command.
	r := runAtrium(t, bin, nil, "--help")
	for _, c := range []string{"central", "edge", "demo", "ctl", "version"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("atrium --help does not list %q:\n%s", c, r.stdout)
		}
	}
}
