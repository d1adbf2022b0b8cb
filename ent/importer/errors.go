package importer

import "errors"

var (
	// ErrNoFiles: a run was given no file.
	ErrNoFiles = errors.New("importer: no AAF file in the set")
	// ErrFileName: a file's name is not that of an AAF export (or of the
	// agricultural lycées' CSV), or names no académie.
	ErrFileName = errors.New("importer: not an AAF export file")
	// ErrMalformed: a file of the set cannot be read; nothing of its
	// académie's set was applied.
	ErrMalformed = errors.New("importer: malformed set")
)
