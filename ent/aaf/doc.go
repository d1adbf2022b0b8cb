// Package aaf reads the académies' AAF directory exports: the
// ficAlimMENESR XML files of addRequest, modifyRequest (replace) and
// deleteRequest operations, and the names of the files that carry them
// (…_Complet_AAAAMMJJ_<Category>_NNNN.xml and the daily Delta sets).
//
// A Reader streams one operation at a time: memory is bounded by the
// largest operation, never by the file. It accepts files with or without an
// XML declaration, in UTF-8 or ISO-8859-15 (also ISO-8859-1 and
// windows-1252 when declared), with or without a DOCTYPE, and resolves HTML
// entities such as &eacute;. Values are returned as the file spells them:
// composite values ("0130040Y$2NDE1") stay raw strings, and Split cuts
// them. Turning operations into Atrium users is the importer's job, not
// this package's.
//
// Malformed input gives an error that wraps ErrMalformed and names the file
// position and the element; the operations read before it have already
// been returned. The Reader never panics on any input (FuzzReader).
//
// A CSVReader reads the CSV files of the region's agricultural lycées
// (…_Complet_AAAAMMJJ_Agricole_NNNN.csv, docs/csv-import.md), whose
// directory is not an académie's, and returns the operations an AAF
// Complet set would carry, so that importers apply both alike. It holds the
// whole file (at most MaxCSVBytes) and checks it before returning the first
// operation; its errors wrap ErrMalformed too (FuzzCSVReader).
//
// Generate writes a synthetic region's exports (generate.go) for tests,
// benchmarks and the demo; with GenConfig.NextComplet, also the Complet
// set the Delta sets lead to, for the importers' property tests.
//
// This package imports only the standard library,
// golang.org/x/text/encoding/charmap and atrium/ent/uai; it must not import
// central/, edge/, replication/, node/ or portal/. A Reader or CSVReader
// is not safe for concurrent use; Split, ParseFileName and CategoryOrder are pure
// functions, and concurrent Generate calls are safe with distinct
// directories.
package aaf
