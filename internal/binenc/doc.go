// Package binenc holds the primitives of Atrium's binary encodings: the
// record and command values of record/, central's raft entries and stored
// values, and the frames of the replication protocol. Each of those owns
// its layout and its versioning; this package only writes and reads the
// fields they are made of (uvarints, zig-zag varints, bytes, length-prefixed
// strings and byte slices, item counts), strictly: a Decoder accepts only
// minimal varints, refuses a length or a count that the remaining input
// cannot hold (so corrupt input cannot make it allocate without bound), and
// End refuses trailing bytes, so that every value has exactly one encoding.
//
// It imports nothing of Atrium's. A Decoder is not safe for concurrent use;
// the Append functions are.
package binenc
