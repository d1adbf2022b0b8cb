package portal

import "errors"

// ErrNoService is returned by New when Config.Service is nil.
var ErrNoService = errors.New("portal: Config.Service is required")
