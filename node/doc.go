// Package node assembles a whole Atrium node from its components, for the
// atrium binary and for the in-process region used by the end-to-end tests:
//
//   - a central node: the raft cluster member (central), the replication
//     server that edges reach over QUIC (replication), the enrolment, renewal and
//     operator APIs (appliance, central/admin), the portal (portal, ent) and
//     the health endpoints (health), all on one HTTP listener and one QUIC
//     listener;
//   - an edge: the lycée's replica and outbox (edge), its replication client,
//     the keeper that renews its certificate (appliance), the same portal
//     and health endpoints on the LAN.
//
// Each node is started by StartCentral or StartEdge and stopped by Close.
// The HTTP routes are the same on every node: the portal at /, the JSON API
// under /api/v1/, /healthz, /readyz, /metrics, /api/v1/status.
package node
