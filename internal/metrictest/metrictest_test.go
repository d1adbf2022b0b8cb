package metrictest

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestReadsWhatIsRegistered: each reader gives the values set, by name
// and labels.
func TestReadsWhatIsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sent_total", Help: "h"}, []string{"uai", "kind"})
	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "depth", Help: "h"})
	reg.MustRegister(sent, depth)
	sent.WithLabelValues("0130040Y", "news").Add(3)
	sent.WithLabelValues("0130040Y", "user").Add(4)
	sent.WithLabelValues("0060001A", "news").Add(5)
	depth.Set(7)

	if got := Sum(t, reg, "sent_total"); got != 12 {
		t.Errorf("Sum(sent_total) = %v, want 12", got)
	}
	if got := Sum(t, reg, "absent_total"); got != 0 {
		t.Errorf("Sum(absent_total) = %v, want 0", got)
	}
	if got := Value(t, reg, "sent_total", "uai", "0130040Y", "kind", "user"); got != 4 {
		t.Errorf("Value(sent_total{uai=0130040Y,kind=user}) = %v, want 4", got)
	}
	if got := Value(t, reg, "sent_total", "uai", "0060001A"); got != 5 {
		t.Errorf("Value(sent_total{uai=0060001A}) = %v, want 5", got)
	}
	if got := Value(t, reg, "depth"); got != 7 {
		t.Errorf("Value(depth) = %v, want 7", got)
	}
	all := Values(t, reg)
	if all["depth"] != 7 || all["sent_total{kind=news,uai=0130040Y}"] != 3 || len(all) != 4 {
		t.Errorf("Values = %v, want depth 7, sent_total{kind=news,uai=0130040Y} 3 and 4 series", all)
	}
}

// fatalRecorder is a testing.TB whose Fatalf is recorded and stops the
// goroutine that called it.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestValueWantsOneSeries: a series not found, or a choice left among
// several, fails the test rather than reading 0 or one of them.
func TestValueWantsOneSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sent_total", Help: "h"}, []string{"uai"})
	reg.MustRegister(sent)
	sent.WithLabelValues("0130040Y").Inc()
	sent.WithLabelValues("0060001A").Inc()
	for name, labels := range map[string][]string{
		"several":   nil,
		"none":      {"uai", "0830001X"},
		"odd label": {"uai"},
	} {
		rec := &fatalRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Value(rec, reg, "sent_total", labels...)
		}()
		<-done
		if rec.msg == "" {
			t.Errorf("%s: Value(sent_total, %q) did not fail the test", name, labels)
		}
	}
}
