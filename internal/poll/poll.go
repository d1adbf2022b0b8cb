package poll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Interval is the time between two calls of Until's condition.
const Interval = 200 * time.Millisecond

// stop is the error Stop wraps.
type stop struct{ error }

// Stop wraps err so that Until returns it at once instead of calling its
// condition again: the condition has learned it will never hold.
func Stop(err error) error { return stop{err} }

// Until calls f every Interval until it returns nil, returns an error of
// Stop, ctx ends or timeout passes. It returns nil, the error Stop wrapped,
// ctx's error, or f's last error after the timeout.
func Until(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if s, ok := errors.AsType[stop](err); ok {
			return s.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(Interval):
		}
	}
}
