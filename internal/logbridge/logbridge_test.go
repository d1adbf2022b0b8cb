package logbridge

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestStdLogLevels(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	std := StdLog(l, slog.LevelInfo)
	std.Printf("[DEBUG] memberlist: dropped")
	std.Printf("[WARN] memberlist: peer slow")
	out := buf.String()
	if strings.Contains(out, "dropped") {
		t.Errorf("debug line logged below min: %q", out)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "memberlist: peer slow") {
		t.Errorf("warn line = %q, want level=WARN and its text", out)
	}
}

func TestHCLog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := HCLog(l, hclog.Info).Named("raft").With("id", "n1")
	h.Debug("hidden")
	h.Warn("heartbeat failed", "peer", "n2")
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Errorf("debug logged at info level: %q", out)
	}
	for _, want := range []string{"level=WARN", "component=raft", "id=n1", "peer=n2"} {
		if !strings.Contains(out, want) {
			t.Errorf("log = %q, want %q", out, want)
		}
	}
}
