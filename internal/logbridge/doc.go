// Package logbridge routes the logs of Atrium's dependencies into the
// process's *slog.Logger: hashicorp/raft's hclog and serf/memberlist's
// standard *log.Logger. It imports hclog and nothing of Atrium's. Its
// loggers are safe for concurrent use.
package logbridge
