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
}

// SyncStatus is an edge's link with central.
type SyncStatus struct {
	Connected   bool              `json:"connected"`
	Outbox      int               `json:"outbox"`      // local commands not yet acknowledged by central
	Checkpoints map[string]uint64 `json:"checkpoints"` // partition -> last feed sequence applied
	LastSync    time.Time         `json:"last_sync,omitzero"`
	Digest      *DigestStatus     `json:"digest,omitempty"`
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
