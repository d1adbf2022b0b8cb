package record

import "errors"

// ErrCorrupt is wrapped by every error of DecodeRecord, DecodeRecordHead
// and DecodeCommand: the bytes are not a value of a format this version
// knows.
var ErrCorrupt = errors.New("record: corrupt encoding")
