package demo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes the demo directory's lock, so that a second demo started
// on the same directory stops at once instead of reusing the running
// one's addresses and overwriting its demo.json. The lock goes with the
// process: closing the file (or the demo dying) releases it.
func lockDir(dir string) (release func(), err error) {
	name := filepath.Join(dir, "demo.lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the demo directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("a demo is already running in %s: stop it (Ctrl-C) or choose another --dir", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() { f.Close() }, nil
}
