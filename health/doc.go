// Package health serves what every Atrium node answers to operators and to
// their monitoring: liveness (/healthz), readiness (/readyz), Prometheus
// metrics (/metrics) and a JSON summary of the node (/api/v1/status), plus
// the HTTP request histogram shared by every node's handlers.
//
// The Status types are plain data, filled in by the node that serves them
// (central or edge): this package imports nothing of Atrium's, so central,
// edge and cmd/atrium can all depend on it without cycles. FetchStatus is
// the reading side, for operators' tools and central's list of edges. Its only heavy
// dependency is the Prometheus client.
//
// Handlers returned by Mount and Instrument are safe for concurrent use; the
// Config callbacks are called from request goroutines and must be too.
package health
