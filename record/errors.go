package record

import "errors"

// ErrCorrupt is wrapped by every error of DecodeRecord, DecodeRecordHead
// and DecodeCommand: the bytes are not a value of a format this version
// knows.
var ErrCorrupt = errors.New("record: corrupt encoding")

// ErrUnavailable is wrapped by a store's Submit when it cannot take writes
// for a while (central has no leader): nothing was written, the same write
// may be sent again.
var ErrUnavailable = errors.New("record: store unavailable for a while, nothing written")

// ErrOutcomeUnknown is wrapped by a store's Submit when the write was sent
// but its fate could not be learnt (the leader was lost meanwhile): it may
// or may not have been applied, and its author should look before sending
// it again.
var ErrOutcomeUnknown = errors.New("record: write sent, outcome unknown")
