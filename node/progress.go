package node

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/edge"
	"atrium/ent"
	"atrium/health"
	"atrium/record"
)

// progressEvery is how long the sizes of the edge's transfers are kept
// before they are read again: reading them goes through the whole outbox (a
// 200 MB upload is 800 chunks, 267 MB of commands) and the lycée's files.
// The outbox's counts of commands and chunks are the store's, kept in
// memory: always current.
const progressEvery = 10 * time.Second

// progress is an edge's transfers as the status API and the metrics show
// them: the outbox's commands and bytes, files' chunks among them, and the
// files whose chunks have not all arrived. It is safe for concurrent use.
type progress struct {
	store      *edge.Store
	partitions []string

	mu      sync.Mutex
	at      time.Time
	pending health.PendingStatus
	files   health.FilesStatus
}

func newProgress(st *edge.Store) *progress {
	return &progress{store: st, partitions: []string{st.UAI(), record.Region}}
}

// get returns the progress: the counts as they are, the sizes as last read
// (at most progressEvery ago; a reading that fails keeps the previous one).
func (p *progress) get() (health.PendingStatus, health.FilesStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pending, files := p.read()
	pending.Commands = p.store.OutboxLen()
	pending.Chunks = pending.Commands - p.store.OutboxLenExcept(ent.OpFileChunk)
	if pending.Commands == 0 {
		pending.Bytes = 0
	}
	if pending.Chunks == 0 {
		pending.ChunkBytes = 0
	}
	return pending, files
}

// read returns the sizes, read again when older than progressEvery. The
// caller holds mu.
func (p *progress) read() (health.PendingStatus, health.FilesStatus) {
	if time.Since(p.at) < progressEvery {
		return p.pending, p.files
	}
	if pending, err := outboxProgress(p.store); err == nil {
		p.pending = pending
	}
	var files health.FilesStatus
	err := p.store.View(func(r record.Reader) error {
		for _, part := range p.partitions {
			fp, err := ent.FilesIncomplete(r, part)
			if err != nil {
				return err
			}
			files.Incomplete += fp.Incomplete
			files.MissingBytes += fp.MissingBytes
		}
		return nil
	})
	if err == nil {
		p.files = files
	}
	p.at = time.Now()
	return p.pending, p.files
}

// outboxProgress reads the outbox a batch at a time.
func outboxProgress(st *edge.Store) (health.PendingStatus, error) {
	var ps health.PendingStatus
	after := uint64(0)
	for {
		cmds, err := st.Outbox(after, 0)
		if err != nil {
			return ps, err
		}
		if len(cmds) == 0 {
			return ps, nil
		}
		for _, c := range cmds {
			ps.Commands++
			ps.Bytes += int64(len(c.Args))
			if c.Op == ent.OpFileChunk {
				ps.Chunks++
				ps.ChunkBytes += int64(len(c.Args))
			}
			after = c.Seq
		}
	}
}

// collectors are the progress's gauges.
func (p *progress) collectors() []prometheus.Collector {
	gauge := func(name, help string, f func(health.PendingStatus, health.FilesStatus) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(p.get()) })
	}
	return []prometheus.Collector{
		gauge("atrium_edge_outbox_bytes", "Size of the arguments of the commands waiting in the outbox.",
			func(ps health.PendingStatus, _ health.FilesStatus) float64 { return float64(ps.Bytes) }),
		gauge("atrium_edge_outbox_chunks", "Files' chunks waiting in the outbox.",
			func(ps health.PendingStatus, _ health.FilesStatus) float64 { return float64(ps.Chunks) }),
		gauge("atrium_edge_outbox_chunk_bytes", "Size of the files' chunks waiting in the outbox.",
			func(ps health.PendingStatus, _ health.FilesStatus) float64 { return float64(ps.ChunkBytes) }),
		gauge("atrium_edge_files_incomplete", "Files named at this edge whose chunks have not all arrived.",
			func(_ health.PendingStatus, fs health.FilesStatus) float64 { return float64(fs.Incomplete) }),
		gauge("atrium_edge_files_missing_bytes", "Bytes of the chunks those files still miss.",
			func(_ health.PendingStatus, fs health.FilesStatus) float64 { return float64(fs.MissingBytes) }),
	}
}
