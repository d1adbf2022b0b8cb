package replication

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/record"
)

// Snapshots for an edge older than the tombstone horizon (DESIGN.md,
// "Tombstone horizon and snapshots").
//
// Central purges tombstones past its horizon; a Pull whose Since is above
// 0 and below the partition's floor is answered Error{CodeHorizon}. The
// client then takes a snapshot: the full feed from 0, in pages, staged in
// the sink (not visible to readers) with the sequence each page reached,
// both persisted, and swapped in, with the checkpoint of the page that
// reached the head, in one transaction. The feed holds only each record's
// latest change, so a record changed during the pull reappears at a higher
// sequence further on: what is staged when a page reaches the head is the
// partition at that sequence. Tombstones still in the feed are staged like
// any record; records the edge holds and central did not send (deleted
// and purged meanwhile) are dropped by the swap, so nothing deleted comes
// back.
//
// Every page's Pull says it is a snapshot's and the floor the snapshot
// began at (F, from central's CodeHorizon answer, "floor=N;"): central
// serves it while its floor is at most max(F, Since). A tombstone purged
// after the snapshot began was at or below the sequence staged, or the
// page is refused with the new floor and the snapshot begins again from 0
// with it. Pages below the floor the snapshot began at are complete: the
// records they miss were purged before the snapshot began.
//
// The staging area, the sequence staged and F survive a reconnection and
// a restart: the next session resumes from that sequence (the pull loop
// looks for a snapshot in progress before anything else), unless central
// refuses it (its floor moved past it): then from 0.

// SnapshotSink is implemented by a Sink that can take a snapshot of a
// partition (the edge's store). Its staging area is the DigestSink's: a
// repair and a snapshot of the same partition never run at once (both run
// in that partition's pull loop).
type SnapshotSink interface {
	// SnapshotState returns the snapshot of partition in progress, if
	// any, as persisted.
	SnapshotState(partition string) (p SnapshotProgress, inProgress bool, err error)
	// BeginSnapshot empties partition's staging area and starts a
	// snapshot from sequence 0 (replacing one in progress), begun at
	// central's floor.
	BeginSnapshot(partition string, floor uint64) error
	// StageSnapshot adds records of central's full feed to the staging
	// area and records staged as the sequence reached, in one
	// transaction, and returns the progress so far.
	StageSnapshot(partition string, recs []record.Record, staged uint64) (SnapshotProgress, error)
	// SwapSnapshot replaces partition's records by the staged ones, sets
	// its checkpoint and ends the snapshot, in one transaction, in which
	// it also applies again, over central's state, the local commands
	// central has not acknowledged yet (they are still in the outbox and
	// will be sent). It returns how many it applied again.
	SwapSnapshot(partition string, checkpoint uint64) (reapplied int, err error)
}

// SnapshotProgress is how far a snapshot in progress has staged central's
// feed.
type SnapshotProgress struct {
	Floor   uint64 // central's floor when the snapshot began
	Staged  uint64 // the feed's sequence reached
	Records uint64 // records staged (each once, however often it changed)
	Bytes   uint64 // their encoded size
}

// SnapshotStatus is the state of the snapshots of one partition, for the
// status API.
type SnapshotStatus struct {
	InProgress  bool      `json:"inProgress"`
	StagedSeq   uint64    `json:"stagedSeq"`            // sequence of central's feed staged so far
	Records     uint64    `json:"records"`              // records staged so far
	Bytes       uint64    `json:"bytes"`                // their size
	ResumedFrom uint64    `json:"resumedFrom"`          // sequence the current (or last) snapshot resumed from; 0: from the start
	StartedAt   time.Time `json:"startedAt,omitzero"`   // when the current (or last) one started or resumed
	Completed   uint64    `json:"completed"`            // snapshots swapped in since start
	LastSwap    time.Time `json:"lastSwap,omitzero"`    // when the last one was
	Checkpoint  uint64    `json:"checkpoint,omitempty"` // the checkpoint the last one set
	Reapplied   int       `json:"reapplied,omitempty"`  // local commands applied again over it
	Restarts    uint64    `json:"restarts,omitempty"`   // snapshots started again from 0 (central's floor passed the staged sequence)
	LastError   string    `json:"lastError,omitempty"`  // why the current one stopped, if it did
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

type snapshotMetrics struct {
	total   prometheus.Counter
	records *prometheus.GaugeVec
	bytes   *prometheus.GaugeVec
}

func newSnapshotMetrics() snapshotMetrics {
	return snapshotMetrics{
		total: prometheus.NewCounter(prometheus.CounterOpts{Name: "atrium_edge_snapshots_total",
			Help: "Snapshots of a partition (full pulls after a checkpoint older than central's tombstone horizon) swapped in."}),
		records: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "atrium_edge_snapshot_staged_records",
			Help: "Records staged by the snapshot in progress of a partition (0: none in progress)."}, []string{"partition"}),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "atrium_edge_snapshot_staged_bytes",
			Help: "Bytes staged by the snapshot in progress of a partition (0: none in progress)."}, []string{"partition"}),
	}
}

func (m snapshotMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.total, m.records, m.bytes}
}

// floorPrefix starts the message of a CodeHorizon answer: "floor=N;".
const floorPrefix = "floor="

// parseFloor reads the floor of a horizon answer's message; 0 when it
// carries none.
func parseFloor(msg string) uint64 {
	rest, ok := strings.CutPrefix(msg, floorPrefix)
	if !ok {
		return 0
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		rest = rest[:i]
	}
	f, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return 0
	}
	return f
}

// horizonFloor returns the floor a CodeHorizon answer named, 0 if err is
// not one.
func horizonFloor(err error) uint64 {
	var re *RemoteError
	if errors.As(err, &re) && re.Code == CodeHorizon {
		return re.Floor
	}
	return 0
}

// snapshotSink returns the sink as a SnapshotSink, if it is one.
func (c *Client) snapshotSink() (SnapshotSink, bool) {
	ss, ok := c.cfg.Sink.(SnapshotSink)
	return ss, ok
}

// pendingSnapshot reports whether a snapshot of partition is in progress
// (left by an earlier session or run of the edge).
func (c *Client) pendingSnapshot(partition string) (bool, error) {
	ss, ok := c.snapshotSink()
	if !ok {
		return false, nil
	}
	_, active, err := ss.SnapshotState(partition)
	if err != nil {
		return false, fmt.Errorf("snapshot state of %s: %w", partition, err)
	}
	return active, nil
}

// snapshot takes (or resumes) a snapshot of partition and returns the
// checkpoint it set. An error ends the session; what was staged stays for
// the next one.
func (c *Client) snapshot(ctx context.Context, cn *conn, partition string, cause error) (uint64, error) {
	ss, ok := c.snapshotSink()
	if !ok {
		return 0, fmt.Errorf("pull %s: %w (this sink cannot take a snapshot)", partition, cause)
	}
	prog, active, err := ss.SnapshotState(partition)
	if err != nil {
		return 0, fmt.Errorf("snapshot of %s: %w", partition, err)
	}
	since := uint64(0)
	if active {
		since = prog.Staged
		c.log.Warn("resuming snapshot of partition", "partition", partition, "from", since, "floor", prog.Floor, "records", prog.Records, "bytes", prog.Bytes)
	} else {
		floor := horizonFloor(cause)
		if err := ss.BeginSnapshot(partition, floor); err != nil {
			return 0, fmt.Errorf("snapshot of %s: %w", partition, err)
		}
		prog = SnapshotProgress{Floor: floor}
		c.log.Warn("starting snapshot of partition: checkpoint older than central's tombstone horizon", "partition", partition, "floor", floor, "cause", cause)
	}
	c.snapshotStarted(partition, since, prog)
	var last *Changes
	for {
		resp, err := call(ctx, cn, &Pull{Partition: partition, Since: since, Limit: uint64(c.pullLimit()), WantDigest: c.wantDigest(partition),
			Snapshot: true, SnapshotFloor: prog.Floor}, callTimeout)
		if errors.Is(err, ErrHorizon) {
			// Central purged past what was staged since the snapshot
			// began: the staged records may miss a deletion. Begin again
			// from 0, at the new floor.
			floor := horizonFloor(err)
			if floor <= prog.Floor {
				return 0, c.snapshotFailed(partition, fmt.Errorf("snapshot of %s: %w: floor %d refused, answer names %d", partition, ErrUnexpected, prog.Floor, floor))
			}
			c.log.Warn("restarting snapshot of partition: central's horizon passed the staged sequence", "partition", partition, "staged", since, "floor", floor)
			if err := ss.BeginSnapshot(partition, floor); err != nil {
				return 0, c.snapshotFailed(partition, fmt.Errorf("snapshot of %s: %w", partition, err))
			}
			since, prog = 0, SnapshotProgress{Floor: floor}
			c.snapshotRestarted(partition)
			continue
		}
		if err != nil {
			return 0, c.snapshotFailed(partition, fmt.Errorf("snapshot of %s: pull: %w", partition, err))
		}
		ch, ok := resp.(*Changes)
		if !ok {
			return 0, c.snapshotFailed(partition, fmt.Errorf("snapshot of %s: %w: %T", partition, ErrUnexpected, resp))
		}
		if err := checkChanges(ch, partition, since); err != nil {
			return 0, c.snapshotFailed(partition, err)
		}
		if prog, err = ss.StageSnapshot(partition, ch.Records, ch.Last); err != nil {
			return 0, c.snapshotFailed(partition, fmt.Errorf("snapshot of %s: %w", partition, err))
		}
		since, last = ch.Last, ch
		c.snapshotStaged(partition, prog)
		if !ch.More {
			break
		}
	}
	reapplied, err := ss.SwapSnapshot(partition, since)
	if err != nil {
		return 0, c.snapshotFailed(partition, fmt.Errorf("snapshot of %s: swap: %w", partition, err))
	}
	c.snapshotSwapped(partition, since, reapplied)
	c.log.Warn("snapshot of partition swapped in", "partition", partition, "checkpoint", since,
		"records", prog.Records, "bytes", prog.Bytes, "reapplied", reapplied)
	c.setCheckpoint(partition, since)
	if last.Digest != nil {
		return c.checkDigest(ctx, cn, partition, last)
	}
	return since, nil
}

func (c *Client) snapshotStarted(partition string, from uint64, p SnapshotProgress) {
	c.sm.records.WithLabelValues(partition).Set(float64(p.Records))
	c.sm.bytes.WithLabelValues(partition).Set(float64(p.Bytes))
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.snapshots[partition]
	st.InProgress, st.ResumedFrom, st.StartedAt = true, from, time.Now()
	st.StagedSeq, st.Records, st.Bytes = p.Staged, p.Records, p.Bytes
	st.LastError, st.LastErrorAt = "", time.Time{}
	c.snapshots[partition] = st
}

func (c *Client) snapshotStaged(partition string, p SnapshotProgress) {
	c.sm.records.WithLabelValues(partition).Set(float64(p.Records))
	c.sm.bytes.WithLabelValues(partition).Set(float64(p.Bytes))
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.snapshots[partition]
	st.StagedSeq, st.Records, st.Bytes = p.Staged, p.Records, p.Bytes
	c.snapshots[partition] = st
}

func (c *Client) snapshotRestarted(partition string) {
	c.snapshotStaged(partition, SnapshotProgress{})
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.snapshots[partition]
	st.Restarts++
	st.ResumedFrom = 0
	c.snapshots[partition] = st
}

func (c *Client) snapshotFailed(partition string, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.snapshots[partition]
	st.LastError, st.LastErrorAt = err.Error(), time.Now()
	c.snapshots[partition] = st
	return err
}

func (c *Client) snapshotSwapped(partition string, checkpoint uint64, reapplied int) {
	c.sm.total.Inc()
	c.sm.records.WithLabelValues(partition).Set(0)
	c.sm.bytes.WithLabelValues(partition).Set(0)
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.snapshots[partition]
	st.InProgress = false
	st.Completed++
	st.LastSwap, st.Checkpoint, st.Reapplied = time.Now(), checkpoint, reapplied
	c.snapshots[partition] = st
}
