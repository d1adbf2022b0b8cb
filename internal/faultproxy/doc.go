// Package faultproxy is a UDP proxy that stands for the WAN link between an
// edge and central's QUIC listeners in tests and in the demo: it can cut the
// link, drop a share of the datagrams and delay them.
//
// Each client address gets its own upstream socket, so several edges can
// share one proxy. A Proxy is safe for concurrent use; Serve owns every
// goroutine and socket and releases them when its context is cancelled.
package faultproxy
