// Package regiontest runs a whole region in one test process: three central
// nodes (real raft on loopback TCP, real serf, real bbolt files), the
// synthetic region loaded through the operator API, and one edge per lycée
// enrolled with a one-time token and syncing over real QUIC with mutual TLS
// through a WAN fault proxy. Tests kill and restart nodes, cut and restore
// an edge's link, and act as users through the JSON API.
//
// Every node and proxy it starts is stopped by t.Cleanup.
package regiontest
