// Package poll waits for a condition that other processes make true: a
// cluster electing its leader, an edge syncing, a killed node serving
// again. The demo and the chaos suite, which drive real processes, use
// it; tests inside one process poll the same way with their own helpers.
//
// It imports only the standard library.
package poll
