package directory

import "errors"

var (
	// ErrAcademie is returned by NewImport for an empty or unusable
	// académie name.
	ErrAcademie = errors.New("directory: bad académie")
	// ErrCategory is wrapped by Apply's errors for an operation whose
	// category is unknown or missing.
	ErrCategory = errors.New("directory: unknown category")
	// ErrOrder is wrapped by Apply's errors for an operation whose
	// category comes before one already applied in the same set.
	ErrOrder = errors.New("directory: category out of order")
)
