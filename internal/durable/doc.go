// Package durable holds the few file-system steps that make a write
// survive a machine crash, shared by the packages that keep small files
// beside their databases (central's state.boot, the edge's data key, an
// edge's identity): syncing a directory after a rename or a create.
//
// It imports only the standard library.
package durable
