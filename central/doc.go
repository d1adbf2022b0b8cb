// Package central is Atrium's central cluster node: the source of truth for
// every partition. It owns the replicated state machine (a bbolt file
// driven by hashicorp/raft with a raft-boltdb log), leader forwarding
// between nodes, snapshots, the cluster secrets and enrolment tokens, and
// cluster membership (serf, in membership.go only).
//
// A Node serves the ENT's store (View, Submit), the replication source
// (Changes, Changed, ApplyOutbox, HighWater) and operator calls (Members,
// RemoveNode). Any node accepts writes; a follower forwards them to the
// leader and returns once it has applied them itself, so a caller reads
// its own writes on the node it asked.
//
// The state machine also keeps a term index of the records (Config.Indexer,
// record.Reader.ScanTerm), derived from them in the same write
// transaction; a state file or snapshot whose index was made by another
// layout or Indexer version has it rebuilt when opened (index.go).
// The chunks of files are stored once whatever the partitions that hold
// them (blobs.go); reads rebuild the records byte for byte.
//
// hashicorp/raft and raft-boltdb are imported here and nowhere else; this
// package must not import edge/ nor replication/ (the replication server
// consumes a Node through its own Source interface). A Node's methods are
// safe for concurrent use. See DESIGN.md.
package central
