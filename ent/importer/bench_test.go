package importer_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/ent/aaf"
	"atrium/ent/importer"
	"atrium/record"
)

// regionSet is a region-size AAF export (200 lycées, about 375k persons),
// generated once per test process, as internal/regiontest's benchmark
// uses.
var regionSet = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "atrium-aaf-region-")
	if err != nil {
		return "", err
	}
	_, err = aaf.Generate(dir, aaf.GenConfig{Lycees: 200, StudentsPerLycee: 700, Seed: 1})
	return dir, err
})

// discard is a target that holds nothing and accepts every command: what
// a run costs on its own, without a cluster.
type discard struct{}

func (discard) View(fn func(record.Reader) error) error { return nil }
func (discard) Partitions() ([]string, error)           { return nil, nil }
func (discard) SubmitBatch(ctx context.Context, cmds []record.Command) ([]error, error) {
	return make([]error, len(cmds)), ctx.Err()
}

// BenchmarkRunAlone measures the import's own side of a region-size
// Complet set — read, map, plan, encode the commands — against a target
// that discards them, and the heap it holds: peak-heap-MB is the peak of
// the Go heap in use (sampled every 10 ms), view-MB the live heap once the
// files are read (the académie's view), plan-MB once the users are planned
// and the first batch sent.
//
//	go test -run '^$' -bench BenchmarkRunAlone -benchtime 1x ./ent/importer/
func BenchmarkRunAlone(b *testing.B) {
	dir, err := regionSet()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var fs []importer.File
	for _, e := range ents {
		if strings.Contains(e.Name(), "_Complet_") {
			path := filepath.Join(dir, e.Name())
			fs = append(fs, importer.File{Name: e.Name(), Open: func() (io.ReadCloser, error) { return os.Open(path) }})
		}
	}
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		stop, peak := sampleHeap()
		var view, plan uint64
		var measuring time.Duration // in live, left out of the figures
		stage := ""
		live := func() uint64 {
			defer func(t time.Time) { measuring += time.Since(t) }(time.Now())
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		opt := importer.Options{Now: day0, Code: func(id string) string { return id[:8] }, Progress: func(p importer.Progress) {
			if p.Stage != stage {
				switch p.Stage {
				case "plan":
					view = max(view, live())
				case "write":
					plan = max(plan, live())
				}
				stage = p.Stage
			}
		}}
		b.StartTimer()
		start := time.Now()
		rep, err := importer.Run(b.Context(), discard{}, fs, opt)
		elapsed := time.Since(start) - measuring
		b.StopTimer()
		close(stop)
		p := <-peak
		if err != nil {
			b.Fatal(err)
		}
		if rep.Rejected != 0 || rep.Created < 300_000 {
			b.Fatalf("import: %s", rep)
		}
		b.ReportMetric(float64(rep.Persons)/elapsed.Seconds(), "persons/s")
		b.ReportMetric(float64(p)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(view)/(1<<20), "view-MB")
		b.ReportMetric(float64(plan)/(1<<20), "plan-MB")
		b.StartTimer()
	}
}

// sampleHeap samples the heap in use until stop is closed, then sends its
// peak.
func sampleHeap() (stop chan struct{}, peak chan uint64) {
	stop, peak = make(chan struct{}), make(chan uint64)
	go func() {
		var top uint64
		var ms runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			top = max(top, ms.HeapInuse)
			select {
			case <-stop:
				peak <- top
				return
			case <-t.C:
			}
		}
	}()
	return stop, peak
}
