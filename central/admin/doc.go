// Package admin is the operator API of a central node, under
// /api/v1/admin/, used by `atrium ctl`: enrolment tokens for new edges,
// the cluster's members and their explicit removal, the edges' sync state,
// and system commands (loading a directory, seeding the demo region).
//
// Every request carries the operator token as a bearer token. The package
// talks to the cluster through *central.Node only; it never touches raft.
package admin
