package directory_test

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/directory"
)

// regions caches the generated sets by configuration: a region-size set
// takes seconds to write and is generated once per test process.
var regions = struct {
	sync.Mutex
	dirs map[aaf.GenConfig]string
	sums map[aaf.GenConfig]aaf.GenSummary
}{dirs: map[aaf.GenConfig]string{}, sums: map[aaf.GenConfig]aaf.GenSummary{}}

func TestMain(m *testing.M) {
	code := m.Run()
	regions.Lock()
	for _, d := range regions.dirs {
		os.RemoveAll(d)
	}
	regions.Unlock()
	os.Exit(code)
}

// region returns a directory holding the set cfg generates, writing it on
// first use in this process.
func region(tb testing.TB, cfg aaf.GenConfig) (string, aaf.GenSummary) {
	tb.Helper()
	regions.Lock()
	defer regions.Unlock()
	if d, ok := regions.dirs[cfg]; ok {
		return d, regions.sums[cfg]
	}
	d, err := os.MkdirTemp("", "atrium-aaf-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	sum, err := aaf.Generate(d, cfg)
	if err != nil {
		os.RemoveAll(d)
		tb.Fatalf("Generate: %v", err)
	}
	regions.dirs[cfg], regions.sums[cfg] = d, sum
	return d, sum
}

// importComplet parses and applies every Complet file of the académie and
// returns the view.
func importComplet(tb testing.TB, dir, acad string) *directory.Import {
	tb.Helper()
	im, err := directory.NewImport(acad)
	if err != nil {
		tb.Fatal(err)
	}
	for _, cat := range aaf.CategoryOrder() {
		name := "ENT_" + acad + "_Complet_20250901_" + cat + "_0000.xml"
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		r := aaf.NewReader(f)
		r.SetFile(name)
		im.SetFile(name)
		for {
			op, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			if err := im.Apply(op); err != nil {
				tb.Fatal(err)
			}
		}
		f.Close()
	}
	return im
}

// benchImport measures the import core on a generated region: parse and
// apply every Complet file of both académies, then Users. It reports
// persons/s (persons in the views over the wall time of one iteration) and
// the live heap after a GC with the views and users still held.
func benchImport(b *testing.B, cfg aaf.GenConfig) {
	dir, _ := region(b, cfg)
	b.ResetTimer()
	var persons, users int
	var heap uint64
	for b.Loop() {
		persons, users = 0, 0
		var ims []*directory.Import
		var all [][]ent.User
		for _, a := range academies {
			im := importComplet(b, dir, a)
			us := im.Users()
			persons += im.Len()
			users += len(us)
			ims = append(ims, im)
			all = append(all, us)
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = ms.HeapAlloc
		runtime.KeepAlive(ims)
		runtime.KeepAlive(all)
		b.StartTimer()
	}
	b.ReportMetric(float64(persons)*float64(b.N)/b.Elapsed().Seconds(), "persons/s")
	b.ReportMetric(float64(heap)/(1<<20), "live-MB")
	b.ReportMetric(float64(users), "users")
}

// BenchmarkImportRegion is the region-size measurement of issue 3: 200
// lycées of 700 students (about 375k persons with relatives and staff).
// The set (about 400 MB of XML) is generated once per process.
func BenchmarkImportRegion(b *testing.B) {
	benchImport(b, aaf.GenConfig{Lycees: 200, StudentsPerLycee: 700, Seed: 1})
}

// BenchmarkImportSmall is the same on 10 lycées of 300 students: seconds.
func BenchmarkImportSmall(b *testing.B) {
	benchImport(b, aaf.GenConfig{Lycees: 10, StudentsPerLycee: 300, Seed: 1})
}
