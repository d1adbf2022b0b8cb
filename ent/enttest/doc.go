// Package enttest provides an in-memory ent.Store for the unit tests of the
// ENT and of the portal, in the spirit of net/http/httptest. It is not a
// product store: central and the edges have real ones (raft + bbolt).
//
// A Store is safe for concurrent use; each Submit runs in isolation and
// writes nothing when its executor fails.
package enttest
