package node

import (
	"context"
	"sort"
	"sync"
	"time"

	"atrium/health"
	"atrium/replication"
)

// clusterEdges merges the sync state of the edges as every alive central
// node sees it: an edge holds its session with one node at a time (and
// moves after a cut), so no single node knows them all.
func (c *Central) clusterEdges(ctx context.Context) []replication.EdgeStatus {
	byUAI := map[string]replication.EdgeStatus{}
	merge := func(e replication.EdgeStatus) {
		old, ok := byUAI[e.UAI]
		switch {
		case !ok, e.Connected && !old.Connected, e.Connected == old.Connected && e.LastSeen.After(old.LastSeen):
			byUAI[e.UAI] = e
		}
	}
	if r := c.repl(); r != nil {
		for _, e := range r.Edges() {
			merge(e)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, m := range c.Node.Members() {
		if m.Name == c.cfg.Name || m.Status != "alive" || m.HTTPURL == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, err := health.FetchStatus(ctx, m.HTTPURL)
			if err != nil {
				c.log.Warn("read a central node's edges", "peer", m.Name, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, e := range st.Edges {
				merge(replication.EdgeStatus{UAI: e.UAI, Connected: e.Connected, Epoch: e.Epoch, Outbox: e.Outbox, Lag: e.Lag, LastSeen: e.LastSeen})
			}
		}()
	}
	wg.Wait()
	out := make([]replication.EdgeStatus, 0, len(byUAI))
	for _, e := range byUAI {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UAI < out[j].UAI })
	return out
}
