package edge

import "errors"

var (
	// ErrClosed is returned by a Store used after Close.
	ErrClosed = errors.New("edge: store closed")
	// ErrForeignPartition is returned when records or commands name a
	// partition this edge does not hold.
	ErrForeignPartition = errors.New("edge: partition not held by this edge")
	// ErrWrongEpoch is returned when an outbox acknowledgement names
	// another epoch than the store's.
	ErrWrongEpoch = errors.New("edge: acknowledgement for another epoch")
	// ErrCorrupt is returned when a stored value cannot be decoded.
	ErrCorrupt = errors.New("edge: corrupt stored value")
	// ErrWrongDataKey is returned when a store is opened with another
	// data key than the one that sealed it: nothing is read or changed.
	ErrWrongDataKey = errors.New("edge: the data key does not open this store (sealed with another key)")
	// ErrDataKeyRequired is returned when a sealed store is opened
	// without a data key.
	ErrDataKeyRequired = errors.New("edge: the store is sealed: its data key is required")
)
