package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/record"
)

// Proof of convergence (DESIGN.md): central sends the digest of an edge's
// own partition with an answer that reaches the partition's head; the edge
// compares it with its own once nothing local awaits central's verdict,
// and repairs a mismatch from a full pull of the partition.

// Digester is implemented by a Source that keeps a convergence digest per
// partition (central does); the server then answers Pull.WantDigest.
type Digester interface {
	// Digest returns partition's digest and the last sequence number it
	// covers, read together.
	Digest(partition string) (record.Digest, uint64, error)
}

// DigestSink is implemented by a Sink that keeps the same digests (the
// edge's store); the client then asks for central's, compares and repairs.
type DigestSink interface {
	// Digest returns the digest of partition as the sink holds it, the
	// checkpoint it covers, and whether it may be compared with central's
	// now (false while a local write to the partition awaits central's
	// verdict), read together.
	Digest(partition string) (d record.Digest, checkpoint uint64, settled bool, err error)
	// BeginRepair empties partition's staging area.
	BeginRepair(partition string) error
	// StageChanges adds records of central's full feed to the staging area.
	StageChanges(partition string, recs []record.Record) error
	// SwapStaged replaces partition's records by the staged ones and sets
	// its checkpoint, in one transaction, and empties the staging area;
	// false when a local write became pending meanwhile (nothing swapped).
	SwapStaged(partition string, checkpoint uint64) (bool, error)
}

// repairEvery spaces the repairs of a partition whose digest still differs
// (a bug a repair cannot fix would otherwise pull it whole at every sync).
const repairEvery = 10 * time.Minute

// DigestStatus is the outcome of the digest comparisons of the edge's own
// partition, for the status API.
type DigestStatus struct {
	VerifiedSeq  uint64    `json:"verifiedSeq"`           // last sequence at which both digests were equal
	VerifiedAt   time.Time `json:"verifiedAt,omitzero"`   // when
	Mismatches   uint64    `json:"mismatches"`            // comparisons that differed since start
	LastMismatch time.Time `json:"lastMismatch,omitzero"` // when the last one did
	Repairs      uint64    `json:"repairs"`               // full re-pulls swapped in since start
	LastRepair   time.Time `json:"lastRepair,omitzero"`   // when the last one was
	Digest       string    `json:"digest,omitempty"`      // the edge's digest at the last comparison
}

type digestMetrics struct {
	verified prometheus.Gauge
	mismatch prometheus.Counter
	repairs  prometheus.Counter
}

func newDigestMetrics() digestMetrics {
	return digestMetrics{
		verified: prometheus.NewGauge(prometheus.GaugeOpts{Name: "atrium_edge_digest_verified_seq", Help: "Last sequence of the lycée's partition at which the edge's digest equalled central's."}),
		mismatch: prometheus.NewCounter(prometheus.CounterOpts{Name: "atrium_edge_digest_mismatch_total", Help: "Comparisons where the edge's digest of its lycée's partition differed from central's."}),
		repairs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "atrium_edge_digest_repairs_total", Help: "Full re-pulls of the lycée's partition swapped in after a digest mismatch."}),
	}
}

func (m digestMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.verified, m.mismatch, m.repairs}
}

// attachDigest adds central's digest to an answer that reaches the head of
// the edge's own partition, when the edge asked for it. The region
// partition is filtered by Visible, so its digest would not be the edge's:
// it is never sent.
func (s *Server) attachDigest(uai string, p *Pull, c *Changes) {
	dg, ok := s.cfg.Source.(Digester)
	if !ok || !p.WantDigest || p.Partition != uai || c.More {
		return
	}
	d, seq, err := dg.Digest(p.Partition)
	if err != nil {
		s.log.Error("read partition digest", "partition", p.Partition, "err", err)
		return
	}
	if seq != c.Last {
		return // a change committed meanwhile: the next answer carries it
	}
	c.Digest = d[:]
}

// wantDigest reports whether the client asks central for partition's digest.
func (c *Client) wantDigest(partition string) bool {
	_, ok := c.cfg.Sink.(DigestSink)
	return ok && partition == c.cfg.UAI
}

// checkDigest compares central's digest in ch, just applied, with the
// sink's, and repairs the partition when they differ. It returns the
// partition's checkpoint afterwards (a repair moves it to central's head).
func (c *Client) checkDigest(ctx context.Context, cn *conn, partition string, ch *Changes) (uint64, error) {
	ds, ok := c.cfg.Sink.(DigestSink)
	if !ok || ch.Digest == nil || ch.More {
		return ch.Last, nil
	}
	mine, cp, settled, err := ds.Digest(partition)
	if err != nil {
		return ch.Last, fmt.Errorf("digest of %s: %w", partition, err)
	}
	if !settled || cp != ch.Last {
		return ch.Last, nil // local writes in flight: compare another time
	}
	if bytes.Equal(mine[:], ch.Digest) {
		c.digestVerified(cp, mine)
		return cp, nil
	}
	c.digestMismatch(mine)
	c.log.Error("partition digest differs from central's: the edge does not hold central's records",
		"partition", partition, "seq", cp, "edge", mine.String(), "central", fmt.Sprintf("%x", ch.Digest))
	c.mu.Lock()
	last := c.digest.LastRepair
	c.mu.Unlock()
	if !last.IsZero() && time.Since(last) < repairEvery {
		c.log.Warn("partition repair postponed: the last one is recent", "partition", partition, "lastRepair", last)
		return cp, nil
	}
	return c.repair(ctx, cn, partition, cp)
}

// repair pulls partition whole from sequence 0 into the sink's staging
// area, swaps it in, and compares the digests again.
func (c *Client) repair(ctx context.Context, cn *conn, partition string, cp uint64) (uint64, error) {
	ds := c.cfg.Sink.(DigestSink)
	c.log.Warn("repairing partition from a full pull", "partition", partition)
	if err := ds.BeginRepair(partition); err != nil {
		return cp, err
	}
	var since uint64
	var central []byte
	for {
		resp, err := call(ctx, cn, &Pull{Partition: partition, Since: since, Limit: uint64(c.pullLimit()), WantDigest: true}, callTimeout)
		if errors.Is(err, ErrBusy) {
			c.log.Info("partition repair postponed: central busy", "partition", partition)
			return cp, nil
		}
		if err != nil {
			return cp, fmt.Errorf("repair %s: pull: %w", partition, err)
		}
		ch, ok := resp.(*Changes)
		if !ok {
			return cp, fmt.Errorf("repair %s: %w: %T", partition, ErrUnexpected, resp)
		}
		if err := checkChanges(ch, partition, since); err != nil {
			return cp, err
		}
		if err := ds.StageChanges(partition, ch.Records); err != nil {
			return cp, fmt.Errorf("repair %s: %w", partition, err)
		}
		since, central = ch.Last, ch.Digest
		if !ch.More {
			break
		}
	}
	if since < cp {
		// Central's head behind what the edge applied: not a state a
		// swap should go back to.
		_ = ds.BeginRepair(partition)
		return cp, fmt.Errorf("repair %s: %w: central's head %d below checkpoint %d", partition, ErrUnexpected, since, cp)
	}
	swapped, err := ds.SwapStaged(partition, since)
	if err != nil {
		return cp, fmt.Errorf("repair %s: %w", partition, err)
	}
	if !swapped {
		c.log.Info("partition repair postponed: a local change is in flight", "partition", partition)
		return cp, nil
	}
	c.digestRepaired()
	c.setCheckpoint(partition, since)
	mine, after, settled, err := ds.Digest(partition)
	switch {
	case err != nil:
		return since, fmt.Errorf("digest of %s: %w", partition, err)
	case central == nil || !settled || after != since:
		c.log.Warn("partition repaired, not compared again yet", "partition", partition, "seq", since)
	case bytes.Equal(mine[:], central):
		c.digestVerified(since, mine)
		c.log.Warn("partition repaired: digests equal", "partition", partition, "seq", since)
	default:
		c.digestMismatch(mine)
		c.log.Error("partition digest still differs after a repair", "partition", partition, "seq", since,
			"edge", mine.String(), "central", fmt.Sprintf("%x", central))
	}
	return since, nil
}

func (c *Client) digestVerified(seq uint64, d record.Digest) {
	c.dm.verified.Set(float64(seq))
	c.mu.Lock()
	c.digest.VerifiedSeq, c.digest.VerifiedAt, c.digest.Digest = seq, time.Now(), d.String()
	c.mu.Unlock()
}

func (c *Client) digestMismatch(d record.Digest) {
	c.dm.mismatch.Inc()
	c.mu.Lock()
	c.digest.Mismatches++
	c.digest.LastMismatch, c.digest.Digest = time.Now(), d.String()
	c.mu.Unlock()
}

func (c *Client) digestRepaired() {
	c.dm.repairs.Inc()
	c.mu.Lock()
	c.digest.Repairs++
	c.digest.LastRepair = time.Now()
	c.mu.Unlock()
}

// Digest returns the outcome of the digest comparisons so far.
func (c *Client) Digest() DigestStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.digest
}
