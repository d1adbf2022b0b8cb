package edge

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"atrium/record"
)

// BenchmarkApplyChanges measures catch-up after an outage: 100k records of
// ~200-byte bodies applied in batches of 1000, one transaction each.
func BenchmarkApplyChanges(b *testing.B) {
	const total, batch = 100_000, 1000
	body := []byte(`{"title":"` + strings.Repeat("x", 180) + `"}`)
	recs := make([]record.Record, total)
	for i := range recs {
		recs[i] = record.Record{Partition: testUAI, ID: record.NewID(), Kind: "message", Version: record.Version{Central: uint64(i + 1)}, Seq: uint64(i + 1), Body: body}
		if i%10 == 0 {
			recs[i].Kind, recs[i].Key = "user", fmt.Sprintf("login%d", i)
		}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "edge.db"), testUAI, testExec)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < total; i += batch {
			if err := s.ApplyChanges(testUAI, recs[i:i+batch], uint64(i+batch)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkSubmitParallel measures local writes from many portal users at
// once: concurrent Submits share transactions and fsyncs.
func BenchmarkSubmitParallel(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "edge.db"), testUAI, testExec)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte(`{"title":"` + strings.Repeat("x", 180) + `"}`)
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := record.Record{Partition: testUAI, ID: record.NewID(), Kind: "message", Body: body}
			if err := s.Submit(b.Context(), putCmd(b, opPut, r)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}
