// Package importer runs a directory import at central: it reads an
// académie's AAF export set (package aaf, and the CSV files of the
// agricultural lycées), builds the académie's view with package directory,
// compares it with what central holds, and writes the differences in
// batches of commands through raft. Every run returns — and, unless it is
// a dry run, stores — a report: created, updated, unchanged, disappeared,
// deactivated, rejected.
//
// A run, académie by académie:
//  1. Files are grouped by académie (the ACADEMIE= header comment, else the
//     file name's prefix) and by set (prefix, Complet or Delta, date), sets
//     in date order, files in aaf.CategoryOrder.
//  2. When the first set is a Delta, the view is seeded with the entries
//     central kept from earlier imports (ent.DirectoryPartition).
//  3. Every file of the académie is read before anything is written: a
//     malformed or truncated file fails the run with an error naming the
//     file, the record and the reason, and nothing of that académie's set
//     is applied (an académie already written earlier in the same run
//     stays written: each académie's set stands alone).
//  4. Users are planned against the stored accounts: new ones get an
//     activation code (Options.Code), people moving between lycées carry
//     their previous partition, people missing from the view are marked
//     (User.MissingSince) and deactivated (User.Departed) only once the
//     grace period has passed; unchanged users cost nothing, so the same
//     set twice changes nothing.
//  5. Lycées (lycee.put), users (user.import) and the view's entries
//     (directory.entries) are written in batches, one raft entry each,
//     several in flight at once, with progress reported as batches are
//     answered; then the report (import.report). Batches in flight belong
//     to one phase: lycées, then students, teachers and staff, then
//     relatives (who name students), then the missing, then the view.
//
// Memory: one académie's view at a time, its users while they are planned,
// and the logins of the region (in the directory.Import).
//
// This package imports ent, ent/aaf, ent/directory and record; it must not
// import central/, edge/, replication/, node/ or portal/: the node hands it
// a Target. A run is not safe to run concurrently with another run on the
// same cluster (the central admin API serialises them). A run calls
// Target.SubmitBatch from several goroutines at once; it calls
// Options.Progress from the goroutine that called Run.
package importer
