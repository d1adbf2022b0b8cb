// Package appliance gives each lycée's edge appliance its identity: the
// region's internal certificate authority, the one-time enrolment tokens an
// operator hands to a technician, the enrolment exchange that turns a token
// into a certificate naming the lycée's UAI, and the TLS configurations
// both ends of the mutual-TLS QUIC link use.
//
// The edge's private key is generated on the appliance and never leaves
// it: the edge sends a certificate request, and central's CA decides the
// name (the UAI the token was issued for), whatever the request asks.
// Edge certificates outlive the longest plausible outage (400 days by
// default, and always longer than central's tombstone horizon:
// CheckEdgeTTL) so that a lycée cut off for weeks still syncs when it
// returns. The edge renews its own (Keeper) when a third of that life is
// left: a new key, a request signed with the current one, answered by
// RenewHandler at central; the new pair is saved so that a crash leaves a
// matching one, and serves the next TLS handshakes without a restart
// (docs/appliances.md).
//
// Enrolment currently travels over plain HTTP on the demo's loopback: the
// one-time token is the secret and the CA certificate is pinned only by
// trust in that first exchange. In production the enrolment endpoint sits
// behind TLS with a publicly trusted certificate (certmagic), so the edge
// authenticates central before sending its token.
//
// UAIs are checked for shape only (three digits or a Corsican 2A/2B
// department, four digits, a letter); the check letter is the ENT
// directory's business. This package imports nothing of Atrium's.
//
// A *CA and an *Identity are immutable once built and safe for concurrent
// use; the handlers from EnrolHandler and RenewHandler are too, and so is
// a *Keeper.
package appliance
