// Package portal is the ENT's web face: the French, server-rendered HTML
// pages (login, home, news, messaging) and the JSON API under /api/v1/,
// served alike by central and by each lycée's edge so that users do not
// notice which one answered.
//
// Pages are light and work without JavaScript (html/template, one small
// stylesheet, both embedded). Sessions are signed tokens from ent.Service,
// carried in an HttpOnly, SameSite=Lax cookie or an Authorization: Bearer
// header; every form posted with a session carries an anti-forgery token
// derived from it. User content is escaped by html/template, or by rows.go
// for the lists' rows. At an edge cut
// off from the region, every page shows how many changes wait to be sent.
// Lycée administrators and Région staff search the audit trail of logins
// and CAS validations (audit.go: /audit, its CSV export, /api/v1/audit).
// Account pages (account.go): activation with a code (/activation, public,
// and /api/v1/activation), the user's password (/compte), and for a lycée's
// administrators its accounts, resets and activation letters
// (/gestion/comptes). The new-message form lists only the recipients the
// communication rules allow (recipients.go, ent.Service.Recipients; also
// /api/v1/recipients), with a search for lycées too large to list.
// Notices (notices.go: /avis, /api/v1/notices) tell a user what central
// refused of what they did at a cut edge; every page's navigation counts
// the unread ones and links to the user's services.
// Proposals of modification (drafts.go): a lycée's teachers and staff
// propose corrections of region resources and news (/ressources/{id}/proposer,
// /actualites/{id}/proposer, /propositions), which Région staff apply or
// discard at /region/propositions; the decision reaches the author at /avis.
// The same through the JSON API (drafts_api.go: /api/v1/proposals,
// /api/v1/region/proposals); Région staff's navigation shows
// "Propositions (n)" while proposals wait, a count kept 15 s (pages.go).
// The long lists (actualités, messagerie, cahier de textes, notes, absences)
// show ent.DefaultPageLimit items, newest first, with a "Plus anciens" link
// (?avant=<id>) in a <nav aria-label="Pagination">; the staff's absences
// open on the last 7 days with filters (class, dates, unjustified). The
// JSON lists take ?limit=&before= and answer a Link rel="next" header
// (paging.go). The lists' rows are written in Go (rows.go), each text
// escaped exactly as html/template escapes it there (rows_test.go holds
// them to it), and reach the templates as one template.HTML: an action of
// html/template costs a reflective call and an escaper, for every line.
// The layout's navigation is rendered once for each set of links a user
// may get (navParts) and kept.
//
// The portal imports ent and record, never the node packages (central/,
// edge/, replication/): cmd/atrium wires it to a node through
// ent.Service and Config.Offline. A Portal is safe for concurrent use.
package portal
