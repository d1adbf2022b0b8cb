// Package ent is the ENT's domain: users and their profiles, lycées, the
// services (news, messaging, the cahier de textes in homework.go, grades in
// notes.go, absences in absences.go, room and equipment booking in
// reservation.go, the helpdesk in assistance.go, the forum in forum.go,
// the blog in blog.go, the asset inventory in parc.go, the espaces collaboratifs in espaces.go, the catalogues of resources in catalogue.go), the rules that decide who may do what,
// passwords and signed sessions, the audit trail, and the commands of the
// directory import (importops.go) and of the CAS registry
// (casregistry.go).
//
// The rules live in Exec, the record.Executor every node runs: an edge
// executes a user's command locally (online or not) and central executes it
// again inside its raft state machine, so Exec is deterministic (ids and
// times come in the command), checks everything before it writes and
// refuses with a *record.Rejection whose message, in French, reaches the
// author. Commands are idempotent: a retransmitted command never duplicates
// a news item or a message. The communication rules that protect minors
// (rules.go: CanReach, who may write to whom) are checked there too, so they
// hold at an edge cut off from the region as at central.
//
// Service is what the portal calls: it authenticates users, mints ids and
// times, submits commands to a Store (central.Node or edge.Store, which both
// satisfy it) and answers queries through Store.View. The same Service runs
// at central and at an edge, so users do not notice which one answered.
// Service.Login throttles (ratelimit.go): it runs at most one argon2id
// verification per core and refuses, for a growing wait, a login or a
// client address after repeated failures; this state is per node, in
// memory, and bounded. Every login outcome goes to the audit trail
// (audit.go: Service.Audit, SearchAudit), kept in central-only partitions
// record.AuditPartition that edges write for their own lycée. Accounts
// (account.go) are activated with a one-time code, change their password,
// and are reset by their lycée's administrators, at the edge as at central.
// The notices central leaves when it refuses a command made at an edge
// (record.Notice) are read by their authors (notices.go: Service.Notices,
// UnreadNotices by two reads by id, MarkNoticeRead) at either end.
// A lycée's teachers and staff propose corrections of the region's content
// (drafts.go: a KindRegionDraft in their lycée's partition, made offline
// too), which Région staff apply or discard at central; the decision
// reaches the author as a notice of the same kind.
//
// The lists a user reads (messages, grades, absences, cahier de textes,
// evaluations, a forum's topics and replies) find that user's records
// through the stores' term index (index.go: IndexTerms, the record.Indexer
// the nodes give their stores, and IndexVersion, to bump when it changes)
// rather than by reading the lycée's whole kind; they still check every
// record they read, so a store without an index gives the same lists.
// The long ones are also read a page at a time (paging.go: Page, a limit
// and a cursor, the id of a page's last item — ids are time-ordered
// UUIDv7; ListMessagesPage, ListNewsPage, ListHomeworkPage, ListNotesPage,
// ListAbsencesPage with its AbsenceFilter): they stop reading once the
// page is full, newest id first. The stored bodies they read are decoded
// without reflection (json.go: decodeFlatObject, exactly encoding/json's
// result, FuzzFlatObject), and PageInfo reads what every page shows (the
// lycée, the unread notices) in one transaction.
//
// This package must not import central/, edge/ or replication/: they import
// it. A Service is safe for concurrent use; Exec and PublishedToEdge are
// pure functions of their arguments.
package ent
