package logbridge

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// HCLog returns an hclog.Logger that writes to l. Records below level are
// dropped (hclog's own level), so raft's debug chatter stays out of the logs
// unless asked for.
func HCLog(l *slog.Logger, level hclog.Level) hclog.Logger {
	if l == nil {
		l = slog.Default()
	}
	h := &hcLogger{l: l, level: new(atomic.Int32)}
	h.level.Store(int32(level))
	return h
}

type hcLogger struct {
	l     *slog.Logger
	name  string
	args  []any
	level *atomic.Int32
}

var _ hclog.Logger = (*hcLogger)(nil)

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level < hclog.Level(h.level.Load()) {
		return
	}
	all := make([]any, 0, len(h.args)+len(args)+2)
	if h.name != "" {
		all = append(all, "component", h.name)
	}
	all = append(all, h.args...)
	all = append(all, args...)
	h.l.Log(context.Background(), slogLevel(level), msg, all...)
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(level hclog.Level) bool { return level >= hclog.Level(h.level.Load()) }
func (h *hcLogger) IsTrace() bool                  { return h.enabled(hclog.Trace) }
func (h *hcLogger) IsDebug() bool                  { return h.enabled(hclog.Debug) }
func (h *hcLogger) IsInfo() bool                   { return h.enabled(hclog.Info) }
func (h *hcLogger) IsWarn() bool                   { return h.enabled(hclog.Warn) }
func (h *hcLogger) IsError() bool                  { return h.enabled(hclog.Error) }
func (h *hcLogger) ImpliedArgs() []any             { return h.args }
func (h *hcLogger) Name() string                   { return h.name }
func (h *hcLogger) SetLevel(level hclog.Level)     { h.level.Store(int32(level)) }
func (h *hcLogger) GetLevel() hclog.Level          { return hclog.Level(h.level.Load()) }

func (h *hcLogger) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), args...)
	return &c
}

func (h *hcLogger) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *hcLogger) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

func (h *hcLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &stdWriter{l: h.l.With("component", h.name), min: slogLevel(hclog.Level(h.level.Load()))}
}

// StdLog returns a *log.Logger for libraries that log "[LEVEL] text" lines
// (serf, memberlist); each line becomes one slog record at that level.
// Lines below min are dropped.
func StdLog(l *slog.Logger, min slog.Level) *log.Logger {
	if l == nil {
		l = slog.Default()
	}
	return log.New(&stdWriter{l: l, min: min}, "", 0)
}

type stdWriter struct {
	l   *slog.Logger
	min slog.Level
}

func (w *stdWriter) Write(p []byte) (int, error) {
	n := len(p)
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		level, msg := parseLine(string(line))
		if level < w.min {
			continue
		}
		w.l.Log(context.Background(), level, msg)
	}
	return n, nil
}

// parseLine splits "[WARN] memberlist: text" into its level and text.
func parseLine(s string) (slog.Level, string) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") {
		return slog.LevelInfo, s
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return slog.LevelInfo, s
	}
	tag, rest := s[1:end], strings.TrimSpace(s[end+1:])
	switch strings.ToUpper(tag) {
	case "TRACE":
		return slog.LevelDebug - 4, rest
	case "DEBUG":
		return slog.LevelDebug, rest
	case "WARN", "WARNING":
		return slog.LevelWarn, rest
	case "ERR", "ERROR":
		return slog.LevelError, rest
	default:
		return slog.LevelInfo, rest
	}
}
