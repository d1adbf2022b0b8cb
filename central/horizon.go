package central

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"atrium/record"
)

// Tombstone horizon (DESIGN.md, "Tombstone horizon").
//
// A deleted record stays as a tombstone in its partition's r and s, so that
// an edge pulling the feed learns of the deletion. Tombstones are kept for
// a horizon (Config.TombstoneHorizon, 35 days by default: longer than any
// school holiday); the leader then proposes PurgeTombstones{cutoff, limit}
// entries, and every node removes, identically, the tombstones whose
// deletion was committed before the cutoff (the HLC stamp of their
// version, which Put assigns from the command's time), walking each
// partition's s in sequence order: sequence numbers and HLC stamps grow
// together inside a partition, so the walk stops at the first change at
// or after the cutoff. It examines at most limit feed entries per raft
// entry (the result says More and the leader proposes again). Each
// partition keeps:
//
//   - "purged": the sequence up to which the walk went (every tombstone at
//     or below it older than an earlier cutoff is gone), where the next
//     walk starts;
//   - "floor": the highest sequence of a tombstone removed. An edge whose
//     checkpoint c has 0 < c < floor may have missed a deletion: the feed
//     cannot bring it up to date, and the replication server answers it
//     CodeHorizon so that it takes a snapshot (a full pull from 0, staged
//     and swapped; replication's DESIGN.md).
//
// Purging changes no digest: a tombstone contributes nothing to one
// (record.Digest).

// Tombstone horizon defaults.
const (
	// DefaultTombstoneHorizon is how long tombstones are kept: five
	// weeks, longer than the longest school holiday but summer's, after
	// which an edge gets a snapshot rather than the feed.
	DefaultTombstoneHorizon = 35 * 24 * time.Hour
	// DefaultPurgeEvery is how often the leader purges.
	DefaultPurgeEvery = time.Hour
	// purgeLimit bounds the feed entries one PurgeTombstones entry walks.
	purgeLimit = 2000
)

var (
	keyFloor  = []byte("floor")
	keyPurged = []byte("purged")
)

// applyPurge applies a PurgeTombstones entry: the partitions in name order,
// each walked from its "purged" mark, until the cutoff or the limit.
func (f *fsm) applyPurge(st *txState, en entry) (*result, error) {
	limit := en.Limit
	if limit == 0 {
		limit = purgeLimit
	}
	names, err := partitionNames(st.parts)
	if err != nil {
		return nil, err
	}
	res := &result{}
	var examined uint64
	for _, name := range names {
		if examined >= limit {
			res.More = true
			break
		}
		n, purged, more, err := purgePartition(st, string(name), en.Time, limit-examined)
		if err != nil {
			return nil, fmt.Errorf("purge tombstones of %s: %w", name, err)
		}
		examined += n
		res.Purged += purged
		if more {
			res.More = true
			break
		}
	}
	f.purged.Add(res.Purged)
	return res, nil
}

// purgePartition walks partition's feed from its "purged" mark and removes
// the tombstones committed before cutoff (unix ms), examining at most
// budget entries. It returns the entries examined, the tombstones removed,
// and whether the budget stopped it before the cutoff.
func purgePartition(st *txState, partition string, cutoff int64, budget uint64) (examined, purged uint64, more bool, err error) {
	ps, err := st.part(partition, false)
	if ps == nil || err != nil {
		return 0, 0, false, err
	}
	mark := u64(ps.bucket.Get(keyPurged))
	floor := u64(ps.bucket.Get(keyFloor))
	type dead struct{ seq, id []byte }
	var gone []dead
	c := ps.seqs.Cursor()
	k, id := c.Seek(be(mark + 1))
	for ; k != nil; k, id = c.Next() {
		if examined == budget {
			more = true
			break
		}
		v := ps.recs.Get(id)
		if v == nil {
			return 0, 0, false, fmt.Errorf("seq %d names missing record %q: %w", u64(k), id, ErrCorrupt)
		}
		head, err := decodeStoredHead(v) // tombstones are stored whole; live chunks may be blob references
		if err != nil {
			return 0, 0, false, err
		}
		if record.StampTime(head.Version.HLC).UnixMilli() >= cutoff {
			break // this change and every later one are inside the horizon
		}
		examined++
		mark = u64(k)
		if head.Deleted {
			gone = append(gone, dead{bytes.Clone(k), bytes.Clone(id)})
			floor = mark
		}
	}
	if examined == 0 {
		return 0, 0, more, nil
	}
	for _, d := range gone {
		if err := ps.seqs.Delete(d.seq); err != nil {
			return 0, 0, false, err
		}
		if err := ps.recs.Delete(d.id); err != nil {
			return 0, 0, false, err
		}
		delete(st.got, recordKey{partition, string(d.id)})
	}
	if len(gone) > 0 {
		ps.recsCursor = ps.recs.Cursor() // bbolt cursors do not survive deletes
		if err := ps.bucket.Put(keyFloor, be(floor)); err != nil {
			return 0, 0, false, err
		}
	}
	if err := ps.bucket.Put(keyPurged, be(mark)); err != nil {
		return 0, 0, false, err
	}
	return examined, uint64(len(gone)), more, nil
}

// floor returns partition's floor (0 when nothing was ever purged).
func (r reader) floor(partition string) uint64 {
	p := r.part(partition)
	if p == nil {
		return 0
	}
	return u64(p.Get(keyFloor))
}

// Floor returns the highest sequence number of partition whose change may
// be missing from the feed (a tombstone purged past the horizon), as this
// node holds it: a reader whose checkpoint c has 0 < c < Floor cannot be
// brought up to date from the feed and needs the partition whole. It
// implements replication's Floorer.
func (n *Node) Floor(partition string) (uint64, error) {
	var floor uint64
	err := n.fsm.view(func(r reader) error { floor = r.floor(partition); return nil })
	return floor, err
}

// PurgeTombstones removes, through raft, the tombstones of every partition
// whose deletion was committed before cutoff, proposing entries until none
// is left, and returns how many went. The leader calls it every
// PurgeEvery with the cutoff now − TombstoneHorizon; operators and tests
// may call it on any node.
func (n *Node) PurgeTombstones(ctx context.Context, cutoff time.Time) (uint64, error) {
	var total uint64
	for {
		res, err := n.propose(ctx, entry{Type: entryPurgeTombstones, Time: cutoff.UnixMilli(), Limit: n.purgeLimit()}, true)
		if err != nil {
			return total, err
		}
		if err := res.Err.err(); err != nil {
			return total, err
		}
		total += res.Purged
		if !res.More {
			return total, nil
		}
	}
}

func (n *Node) purgeLimit() uint64 {
	if n.cfg.PurgeLimit > 0 {
		return uint64(n.cfg.PurgeLimit)
	}
	return purgeLimit
}

// purgeLoop has the leader purge tombstones past the horizon soon after it
// becomes leader, then every PurgeEvery.
func (n *Node) purgeLoop() {
	horizon, every := n.cfg.TombstoneHorizon, n.cfg.PurgeEvery
	if horizon < 0 {
		return
	}
	if horizon == 0 {
		horizon = DefaultTombstoneHorizon
	}
	if every <= 0 {
		every = DefaultPurgeEvery
	}
	tick := time.NewTicker(min(every, time.Second))
	defer tick.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var last time.Time // this node's last purge as leader; zero: none since it became leader
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if n.raft.State() != raft.Leader {
			last = time.Time{}
			continue
		}
		if !last.IsZero() && time.Since(last) < every {
			continue
		}
		last = time.Now()
		cutoff := last.Add(-horizon)
		pctx, pcancel := context.WithTimeout(ctx, time.Minute)
		purged, err := n.PurgeTombstones(pctx, cutoff)
		pcancel()
		switch {
		case err != nil:
			n.log.Warn("purge tombstones failed", "cutoff", cutoff, "err", err)
		case purged > 0:
			n.log.Info("tombstones purged past the horizon", "purged", purged, "cutoff", cutoff)
		}
	}
}
