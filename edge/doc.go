// Package edge is the runtime of a lycée's appliance: the durable local copy
// of its lycée's partition and of what the region publishes to it (a bbolt
// file, fsync on), the outbox of the commands made locally, and the Node that
// keeps both in step with central through a replication client.
//
// The Store executes local commands with the same rules as central
// (record.Executor) and appends each to the outbox in the same bbolt
// transaction, so a write the portal acknowledged is never lost nor sent
// twice. Concurrent Submits share transactions and fsyncs (group commit).
// Records arriving from central are stored exactly as received, together
// with the partition's checkpoint, in one transaction.
//
// A local command also leaves an undo entry in its transaction (undo.go):
// what each record of the lycée's partition held before it. Central's
// version of a record settles its entries; central's refusal notice for the
// command takes back what is left of its writes, in the transaction that
// applies the notice, so that the edge converges on central's state;
// acknowledged entries nothing settles are dropped a day later.
//
// An edge holds only its own lycée (its UAI) and record.Region: it never
// writes the region partition or another lycée's, and refuses records of any
// other partition from the feed. The one exception is local: the lycée's
// audit trail (record.AuditPartition of its UAI), which its commands write
// and which central never sends back; PurgeLocal deletes its entries once
// the retention has passed.
//
// Besides the records, the Store keeps their indexes: by kind (Scan), by
// unique key (ByKey) and, when opened with an Indexer (OpenWith), by index
// term (ScanTerm), each updated in the transaction that writes the record.
// The term index is derived: a file whose index another Indexer version
// made, or none, has it rebuilt from the records at open.
//
// Every write of a record also folds it into its partition's convergence
// digest (digest.go), in the same transaction; the replication client
// compares the lycée's with central's once no local write is unsettled,
// and repairs a mismatch by swapping in a full pull (SwapStaged).
//
// An appliance whose certificate central revoked is retired (retire.go):
// Retire deletes everything in its data directory and leaves RetiredFile,
// which keeps it retired across restarts.
//
// This package must never import central/ or hashicorp/raft: an appliance
// runs without them. Store and Node are safe for concurrent use.
package edge
