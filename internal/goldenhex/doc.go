// Package goldenhex reads and writes the golden files that pin Atrium's
// storage encodings (central/testdata, record/testdata): bytes as hex, 16
// a line, behind "#" comment lines, so that a change reads as a diff. Only
// tests use it; it imports nothing of Atrium's.
package goldenhex
