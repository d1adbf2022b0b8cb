// Package deptest holds the test that keeps Atrium's package boundaries:
// which packages may import which, and where each heavy dependency lives
// (raft only in central/, quic-go only in replication/transport.go, serf only
// in central/membership.go). It has no code of its own.
package deptest
