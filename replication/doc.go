// Package replication is Atrium's sync protocol between central and the
// edges, and its QUIC transport with mutual TLS.
//
// Central runs a Server over its replicated state (a Source): each edge
// pulls the changes feed of its lycée's partition and of the region
// partition by long-poll, and pushes the commands of its outbox in batches.
// An edge runs a Client over its local store (a Sink), which reconnects by
// itself, with jittered exponential backoff, whenever the WAN link fails.
//
// The Server confines every edge to the UAI its certificate names: it pulls
// only its own partition and what the region publishes to it, and pushes
// only commands made at that edge for that partition. It admits edges
// catching up a backlog in a bounded number of slots and tells the others
// when to come back (admission.go, the Admission section of DESIGN.md).
//
// Central sends the digest of an edge's own partition with a caught-up
// answer; the client compares it and repairs a mismatch (digest.go, the
// "Proof of convergence" section of DESIGN.md). It sends the records an
// edge wrote itself and holds (ServerConfig.Stub: the chunks of its
// uploads) as stubs without their body, which the client's StubSink
// completes from its own copies; an edge lacking one pulls the page again
// whole (the "Stubs" section of DESIGN.md).
//
// The wire format (wire.go) is versioned and framed; its encoding is pinned
// by golden files in testdata/. quic-go is imported by transport.go only;
// its types and errors do not leave that file. This package must not import
// central, edge or the ENT packages: it knows records and commands, not what
// they mean.
//
// Server and Client are safe for concurrent use; each is run by Serve(ctx)
// and stops, with every goroutine it started, when ctx is cancelled.
package replication
