// Package chaos is Atrium's chaos suite: a whole region run as real
// processes of the atrium binary (three central nodes, one edge per
// synthetic lycée, each edge's WAN link through a faultproxy.Proxy run in
// this process), clients writing through the JSON API at both ends all
// along, and random faults with a seed: kill -9 of a central node, of the
// raft leader, of an edge (each restarted after a random delay), WAN cuts,
// loss and delay on an edge's link. At the end it heals everything, waits
// for the region to converge and checks what users and operators would
// see: every acknowledged write present exactly once on every replica that
// should hold it, an ambiguous one ("maybe": the answer was lost) at most
// once, a refused one nowhere, no slot booked twice, and every partition's
// digest equal on every central node and at the edge. Run writes a short
// report (Report.Markdown).
//
// `make chaos` runs it for ten minutes; `go test ./internal/chaos/` (part
// of `make test`) for one. Flags: -chaos.duration, -chaos.seed,
// -chaos.report.
//
// The package drives the region from outside, as an operator and users
// would: it starts the binary, talks HTTP to the nodes (the portal's JSON
// API, /api/v1/status, the operator API and node.DigestsPath) and opens an
// edge's replica file (package edge) only once that edge has stopped. It
// imports demo (to seed the region as the demo does), internal/faultproxy,
// internal/ports, central/admin (the operator client), node (the digests'
// wire type), edge and ent; it must not import central or replication
// directly: what it checks is what the binary does, not their internals.
//
// A Run is not safe for concurrent use; its writers, fault injector and
// process watchers are goroutines it owns and stops before returning.
package chaos
