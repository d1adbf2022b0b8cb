// Package cas is Atrium's CAS single sign-on server (CAS protocol 1, 2 and
// 3): the tools a lycée already uses (Pronote, Moodle, GRR, GLPI) send
// their users to /cas/login and validate the service tickets Atrium hands
// back. Every node runs one: central for users at home, each lycée's edge
// for the tools on its LAN, including while its internet link is down.
//
// A Server owns, in this node's memory only, the service and proxy tickets
// it issued (single use, short-lived, bound to the exact service URL), the
// proxy-granting tickets its proxy callbacks received (they live as long
// as the portal session that obtained them) and, per portal session, the
// tickets issued under it, so that logging out sends a back-channel single
// logout request to each of those services and drops the session's
// proxy-granting tickets. A ticket is therefore validated by the node that
// issued it: central nodes behind a load balancer route validations (and
// /cas/proxy) by the ticket's node suffix (see docs/cas.md). Users, their
// sessions (the portal's atrium_session cookie), the registry of allowed
// services and the audit trail belong to ent; this package reads them
// through *ent.Service and reports through Config.Audit.
//
// This package imports ent and record, never the node packages (central/,
// edge/, replication/, node/), nor portal/. A Server is safe for concurrent
// use. It owns a few goroutines that send single logout requests; Close
// stops them. Proxy callbacks are made on the validation request's path.
package cas
