package health

import "time"

// Status is the JSON body of GET /api/v1/status: who this node is and how
// far its view of the region is from the truth. Central fills in Leader,
// Raft, Members and Edges; an edge fills in UAI and Sync.
type Status struct {
	Node    string         `json:"node"`
	Role    string         `json:"role"` // "central" or "edge"
	UAI     string         `json:"uai,omitempty"`
	Leader  string         `json:"leader,omitempty"`
	Sync    *SyncStatus    `json:"sync,omitempty"`
	Raft    *RaftStatus    `json:"raft,omitempty"`
	Members []MemberStatus `json:"members,omitempty"`
	Edges   []EdgeStatus   `json:"edges,omitempty"`

	// CertNotAfter is when an edge's client certificate expires (it renews
	// it when a third of its life is left: docs/appliances.md).
	CertNotAfter time.Time `json:"cert_not_after,omitzero"`
}

// SyncStatus is an edge's link with central.
type SyncStatus struct {
	Connected   bool              `json:"connected"`
	Outbox      int               `json:"outbox"`      // local commands not yet acknowledged by central
	Checkpoints map[string]uint64 `json:"checkpoints"` // partition -> last feed sequence applied
	LastSync    time.Time         `json:"last_sync,omitzero"`
	Digest      *DigestStatus     `json:"digest,omitempty"`
	// Snapshots, by partition: the snapshots taken since the edge started
	// or in progress (an edge cut off longer than central's tombstone
	// horizon pulls its partition whole).
	Snapshots map[string]SnapshotStatus `json:"snapshots,omitempty"`
	// Pending is what waits in the outbox, files' chunks among it; Files
	// is the lycée's files whose chunks have not all reached the edge yet;
	// WAN is the link's cap and the bytes it carried (docs/files.md).
	Pending *PendingStatus `json:"pending,omitempty"`
	Files   *FilesStatus   `json:"files,omitempty"`
	WAN     *WANStatus     `json:"wan,omitempty"`
}

// PendingStatus is an edge's outbox: the commands central has not
// acknowledged yet and their size, and of them the chunks of files.
type PendingStatus struct {
	Commands   int   `json:"commands"`
	Bytes      int64 `json:"bytes"`
	Chunks     int   `json:"chunks"`
	ChunkBytes int64 `json:"chunk_bytes"`
}

// FilesStatus counts the files the edge's records name whose chunks have
// not all arrived, and the bytes they miss.
type FilesStatus struct {
	Incomplete   int   `json:"incomplete"`
	MissingBytes int64 `json:"missing_bytes"`
}

// WANStatus is an edge's WAN link as its sync uses it.
type WANStatus struct {
	Cap           int64  `json:"cap"` // bytes per second in each direction; 0: none
	SentBytes     uint64 `json:"sent_bytes"`
	ReceivedBytes uint64 `json:"received_bytes"`
}

// SnapshotStatus is an edge's snapshot of one partition
// (replication/DESIGN.md, "Tombstone horizon and snapshots").
type SnapshotStatus struct {
	InProgress  bool      `json:"in_progress"`
	StagedSeq   uint64    `json:"staged_seq"`   // sequence of central's feed staged so far
	Records     uint64    `json:"records"`      // records staged so far
	Bytes       uint64    `json:"bytes"`        // their size
	ResumedFrom uint64    `json:"resumed_from"` // sequence the current (or last) one resumed from; 0: from the start
	Completed   uint64    `json:"completed"`    // swapped in since the edge started
	LastSwap    time.Time `json:"last_swap,omitzero"`
}

// DigestStatus is how an edge's digest of its lycée's partition compares
// with central's (replication/DESIGN.md, "Proof of convergence").
type DigestStatus struct {
	VerifiedSeq uint64    `json:"verified_seq"` // last sequence at which they were equal (0: not yet)
	VerifiedAt  time.Time `json:"verified_at,omitzero"`
	Mismatches  uint64    `json:"mismatches"` // comparisons that differed since the edge started
	Repairs     uint64    `json:"repairs"`    // full re-pulls swapped in since the edge started
}

// RaftStatus is a central node's view of the raft log.
type RaftStatus struct {
	State        string `json:"state"` // "Leader", "Follower", "Candidate", "Shutdown"
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
}

// MemberStatus is one central node as the cluster membership sees it.
type MemberStatus struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "alive", "failed", "left"
	Leader bool   `json:"leader"`
}

// EdgeStatus is one lycée's appliance as central sees it.
type EdgeStatus struct {
	UAI       string    `json:"uai"`
	Connected bool      `json:"connected"`
	Epoch     uint64    `json:"epoch"`
	Outbox    int       `json:"outbox"` // as last reported by the edge
	Lag       uint64    `json:"lag"`    // feed records the edge has not pulled yet
	LastSeen  time.Time `json:"last_seen,omitzero"`
}
