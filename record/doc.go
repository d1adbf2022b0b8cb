// Package record is Atrium's data model, shared by central, the edges and the
// replication protocol: partitions, records with their versions, the commands
// that change them, and the store interfaces through which the ENT's rules
// read and write them.
//
// Every record belongs to one partition: a lycée, named by its UAI, or
// Region. Records carry an id minted at their origin (UUIDv7), a kind, an
// optional unique key within their kind (a user's login), a version, a
// deleted flag (tombstone) and a JSON body. Central assigns each change a
// sequence number in its partition's changes feed.
//
// A Command is what a user asked for: it is executed by the same rules at
// the node where it was made (an edge, offline or not) and again at central,
// inside the raft state machine, so it must carry everything that execution
// needs (ids and times are minted before it is proposed).
//
// notice.go defines the notice central leaves in a partition when it
// refuses a command made at an edge (KindNotice, Notice) and the index of
// an author's notices (KindNoticeIndex, NoticeIndexID), which central
// writes and the ENT reads.
//
// index.go holds what the stores share of the term index (Indexer, Terms,
// TermChanges): the ENT names the terms of a record, the stores keep them.
//
// It also owns the binary encoding of records and commands (codec.go), which
// central's state and raft log and the edges' replica and outbox store.
//
// This package imports nothing of Atrium's but internal/binenc, and no heavy
// dependency. Its types are plain values, safe to copy; the encoders and
// decoders are safe for concurrent use.
package record
