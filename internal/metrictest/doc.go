// Package metrictest reads, in tests, the Prometheus metrics a node
// registers (what it serves at /metrics): a series by name and labels,
// the sum of a metric's series, or every series at once.
//
// It is imported by tests only, and imports the Prometheus client alone.
package metrictest
