package metrictest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Values returns every series of g, counters, gauges and untyped alike,
// keyed "name" or "name{label=value,…}" (labels sorted by name).
func Values(t testing.TB, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, mf := range gather(t, g) {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			if len(m.GetLabel()) > 0 {
				pairs := make([]string, len(m.GetLabel()))
				for i, l := range m.GetLabel() {
					pairs[i] = l.GetName() + "=" + l.GetValue()
				}
				key += "{" + strings.Join(pairs, ",") + "}"
			}
			out[key] = value(m)
		}
	}
	return out
}

// Sum returns the sum of the series of the metric name in g: its value
// when it has one series, 0 when it has none.
func Sum(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	var sum float64
	for _, mf := range gather(t, g) {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += value(m)
		}
	}
	return sum
}

// Value returns the value of the one series of the metric name in g whose
// labels include labels, given as name, value pairs (none: the metric's
// only series). No such series, or several, fails the test.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	if len(labels)%2 != 0 {
		t.Fatalf("metrictest.Value(%s, %q): labels come in name, value pairs", name, labels)
	}
	var found []float64
	for _, mf := range gather(t, g) {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				found = append(found, value(m))
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("metric %s%s: %d series, want one", name, fmt.Sprint(labels), len(found))
	}
	return found[0]
}

func gather(t testing.TB, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	return mfs
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		ok := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}
