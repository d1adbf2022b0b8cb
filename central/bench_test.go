package central

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"atrium/record"
)

// BenchmarkOutboxDrain measures how fast a three-node cluster applies edge
// outbox batches (500 commands per raft entry, four edges pushing at once,
// as after a regional outage). It reports commands/s.
func BenchmarkOutboxDrain(b *testing.B) {
	c := newCluster(b)
	l := c.leader()
	ctx := ctxTimeout(b, 10*time.Minute)
	const edges, batch = 4, 500
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, edges)
	for e := range edges {
		uai := fmt.Sprintf("013004%dY", e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq := uint64(0)
			for i := e; i < b.N; i += edges {
				cmds := make([]record.Command, batch)
				for j := range cmds {
					seq++
					cmds[j] = putCmd(uai, uai, fmt.Sprintf("%d-%d", i, j), "", "v", time.Now().UnixMilli())
					cmds[j].Epoch, cmds[j].Seq = 1, seq
				}
				if _, err := l.ApplyOutbox(ctx, uai, 1, cmds); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "commands/s")
}
