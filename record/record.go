package record

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Region is the partition of region-wide content: the catalogue, region news,
// releases and the Région's own staff.
const Region = "region"

// AuditPartition is the partition of a lycée's audit trail: "audit:" and
// its UAI, or "audit:region" for Région staff and unknown logins at
// central. No edge receives it from central; an edge writes its own lycée's
// entries locally and sends them in its outbox.
func AuditPartition(uai string) string {
	if uai == "" {
		return "audit:" + Region
	}
	return "audit:" + uai
}

// UsagePartition is the partition of a lycée's usage statistics: "usage:"
// and its UAI. Like the audit trail, no edge receives it from central; an
// edge writes its own lycée's counts locally and sends them in its outbox.
func UsagePartition(uai string) string { return "usage:" + uai }

// Version orders the changes of one record. Central is one logical writer
// (raft serialises it), so two counters suffice: how many changes central
// has committed and how many the record's edge has made locally. HLC is a
// hybrid logical clock stamp for tie-breaks and display.
type Version struct {
	Central uint64 `json:"central"`
	Edge    uint64 `json:"edge"`
	HLC     uint64 `json:"hlc"`
}

// Record is one versioned document of a partition.
type Record struct {
	Partition string  `json:"partition"`
	ID        string  `json:"id"`
	Kind      string  `json:"kind"`
	Key       string  `json:"key,omitempty"` // unique within Kind across the stores that hold it; "" for none
	Version   Version `json:"version"`
	Seq       uint64  `json:"seq"` // position in the partition's changes feed at central; 0 until committed there
	Deleted   bool    `json:"deleted,omitempty"`
	Body      []byte  `json:"body"` // JSON document of the kind
}

// Origin of a command made at central rather than at an edge.
const OriginCentral = "central"

// Command is one change a user asked for, made at its origin and executed
// there and at central by the same rules.
type Command struct {
	Origin    string  `json:"origin"`          // OriginCentral or the UAI of the edge that made it
	Epoch     uint64  `json:"epoch,omitempty"` // the edge's epoch (a restored edge starts a new one)
	Seq       uint64  `json:"seq,omitempty"`   // position in the edge's outbox; 0 at central
	User      string  `json:"user,omitempty"`  // id of the acting user; "" for the system or an operator
	Op        string  `json:"op"`              // e.g. "news.publish"
	Partition string  `json:"partition"`       // the partition the command writes
	Args      []byte  `json:"args,omitempty"`  // JSON arguments of Op, ids already minted
	Base      Version `json:"base"`            // version of the record its author saw, for updates
	Time      int64   `json:"time"`            // unix milliseconds stamped at the origin
}

// NewID mints a time-ordered record id (UUIDv7). Ids sort by creation time.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// uuid.NewV7 fails only when the system's random source does.
		panic(fmt.Sprintf("record: mint id: %v", err))
	}
	return id.String()
}

// Stamp is the HLC stamp of a wall-clock time in unix milliseconds with a
// logical counter: (ms << 16) | logical.
func Stamp(ms int64, logical uint16) uint64 { return uint64(ms)<<16 | uint64(logical) }

// StampTime returns the wall-clock time of an HLC stamp.
func StampTime(hlc uint64) time.Time { return time.UnixMilli(int64(hlc >> 16)) }
