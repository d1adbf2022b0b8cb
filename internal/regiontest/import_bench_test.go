package regiontest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"atrium/ent/aaf"
	"atrium/internal/regiontest"
)

// regionSet is a region-size AAF export (200 lycées, about 375k persons,
// ~400 MB of XML), generated once per test process.
var regionSet = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "atrium-aaf-region-")
	if err != nil {
		return "", err
	}
	_, err = aaf.Generate(dir, aaf.GenConfig{Lycees: 200, StudentsPerLycee: 700, Seed: 1})
	return dir, err
})

// BenchmarkDirectoryImport measures a region-size Complet import as an
// operator runs it: `atrium ctl aaf import` uploads the set to a node of a
// central cluster, which reads and maps it, plans against what it holds,
// and writes accounts, lycées and the directory view through raft. It
// reports persons/s, the peak Go heap of the whole process (every central
// node of the cluster included), sampled every 20 ms, and cpu-s, the CPU
// time the process spent (user and system): on a shared machine, the
// steadier figure. centrals=3 is the region's cluster, its three nodes
// sharing this machine's cores; centrals=1 is what the importing node
// costs on its own (its state machine, raft log and the import).
//
//	go test -run '^$' -bench BenchmarkDirectoryImport -benchtime 1x -timeout 30m ./internal/regiontest/
func BenchmarkDirectoryImport(b *testing.B) {
	dir, err := regionSet()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	var paths []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), "_Complet_") {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	for _, n := range []int{3, 1} {
		b.Run(fmt.Sprintf("centrals=%d", n), func(b *testing.B) { benchImport(b, n, paths) })
	}
}

func benchImport(b *testing.B, centrals int, paths []string) {
	for b.Loop() {
		b.StopTimer()
		r := regiontest.Start(b, regiontest.Options{Centrals: centrals, NoEdges: true, DirectWAN: true})
		runtime.GC()
		stop := make(chan struct{})
		peak := make(chan uint64)
		go func() {
			var max uint64
			var ms runtime.MemStats
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&ms)
				max = maxU(max, ms.HeapInuse)
				select {
				case <-stop:
					peak <- max
					return
				case <-t.C:
				}
			}
		}()
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		rep, err := r.Admin().ImportFiles(b.Context(), paths, false, nil)
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
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
		b.ReportMetric(float64(rep.Persons), "persons")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.StartTimer()
	}
}

// startCPUProfile starts a CPU profile into path, when not empty, and
// returns what stops it (a measured window's profile, without the setup).
// It also writes the allocations made so far to path.allocs-before, and
// when it stops to path.allocs-after: the window's allocations are
// `go tool pprof -sample_index=alloc_space -diff_base path.allocs-before
// path.allocs-after`.
func startCPUProfile(b *testing.B, path string) (stop func()) {
	b.Helper()
	if path == "" {
		return func() {}
	}
	writeAllocs(b, path+".allocs-before")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		writeAllocs(b, path+".allocs-after")
	}
}

// writeAllocs writes the allocations profile, as of a collection run now,
// to path.
func writeAllocs(b *testing.B, path string) {
	b.Helper()
	runtime.GC() // the profile counts what was allocated up to the last collection
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the CPU time the process has spent so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
