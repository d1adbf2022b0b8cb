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
// with the partition's checkpoint, in one transaction; a stub (a chunk this
// edge uploaded, sent back without its bytes) gets its body from the
// store's own copy in that transaction, or the page is refused whole
// (ApplyStubbed).
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
// Data at rest is encrypted (seal.go): a stolen appliance, or its disk,
// must not give away the minors' messages, grades and absences. Every
// value that holds a record's body or a command's arguments (records,
// outbox, undo, staging) is sealed with AES-256-GCM under the store's
// 32-byte data key (Options.DataKey), a random nonce per value, the
// bucket and key as additional data; the unique keys' index holds an HMAC
// of each key (logins are unique keys). The keys of the other buckets
// stay in clear: partitions, kinds, ids, index terms (ids and class
// names), sequences; so do checkpoints and digests. Digests are computed
// on the clear encodings. LoadDataKey finds the key: the systemd
// credential DataKeyCredential (sealed with the machine's TPM on an
// appliance), else a key file created on first start (mode 0600). A
// sealed file opens with its key only (ErrWrongDataKey, ErrDataKeyRequired);
// a clear one (written before, or opened without a key: tests, tools) is
// sealed in place, resumably, when first opened with a key, then
// compacted so no clear page is left in it.
//
// An appliance whose certificate central revoked is retired (retire.go):
// Retire destroys the data key, then deletes everything in its data
// directory and leaves RetiredFile, which keeps it retired across
// restarts.
//
// Applying a page of central's changes (sink.go) uses a second goroutine
// (prepare.go): it encodes, seals, digests and indexes the page's records
// ahead of the transaction, which only reads the records they replace and
// writes; it is stopped before the transaction commits or fails.
//
// This package must never import central/ or hashicorp/raft: an appliance
// runs without them. Store and Node are safe for concurrent use.
package edge
