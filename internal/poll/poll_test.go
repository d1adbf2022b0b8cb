package poll

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	calls := 0
	if err := Until(t.Context(), time.Minute, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || calls != 3 {
		t.Errorf("Until(true at the 3rd call) = %v after %d calls, want nil after 3", err, calls)
	}

	calls = 0
	gone := errors.New("the node is gone")
	if err := Until(t.Context(), time.Minute, func() error { calls++; return Stop(gone) }); err != gone || calls != 1 {
		t.Errorf("Until(Stop) = %v after %d calls, want %v after 1", err, calls, gone)
	}

	err := Until(t.Context(), 0, func() error { return errors.New("no leader") })
	if err == nil || !strings.Contains(err.Error(), "no leader") {
		t.Errorf("Until(never, timeout 0) = %v, want the condition's last error", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Until(ctx, time.Minute, func() error { return errors.New("no leader") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Until(cancelled context) = %v, want %v", err, context.Canceled)
	}
}
