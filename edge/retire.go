package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// RetiredFile marks an appliance retired from service: central revoked
// its certificate and it purged its data. It is the only file Retire
// leaves in the data directory, so the appliance stays retired across
// restarts.
const RetiredFile = "retired.json"

// Retirement is what RetiredFile records.
type Retirement struct {
	UAI    string    `json:"uai"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"` // central's answer, for the logs
}

// Retire purges a revoked appliance: it first destroys the data key in
// its default place (DefaultDataKeyPath; ShredDataKey), then deletes
// everything in dataDir — the replica of its lycée and of the region, the
// outbox, the identity (its private key included) and any other file —
// and writes RetiredFile. The store must be closed (Node.Serve closes it
// when it returns). Deleting files does not overwrite their blocks; the
// replica's values are sealed under the data key (seal.go), so once the
// key is gone what is left of them on the disk cannot be read
// (crypto-shredding). A key kept elsewhere (--data-key-file) is the
// caller's to shred first; a systemd credential is the operator's to
// remove (docs/appliances.md).
func Retire(dataDir string, r Retirement) error {
	var errs []error
	if err := ShredDataKey(DefaultDataKeyPath(dataDir)); err != nil {
		errs = append(errs, err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("edge: retire: %w", errors.Join(append(errs, err)...))
	}
	for _, e := range entries {
		if e.Name() == RetiredFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		errs = append(errs, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dataDir, RetiredFile), append(b, '\n'), 0o600)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("edge: retire: %w", err)
	}
	return nil
}

// Retired reads the RetiredFile of dataDir: ok is false for an appliance
// in service.
func Retired(dataDir string) (r Retirement, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dataDir, RetiredFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Retirement{}, false, nil
	}
	if err != nil {
		return Retirement{}, false, fmt.Errorf("edge: read retirement: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		// Unreadable, yet present: the appliance stays retired.
		return Retirement{Reason: "retirement record unreadable"}, true, nil
	}
	return r, true, nil
}

// Unretire removes the RetiredFile of dataDir, before the appliance is
// enrolled again with a new token.
func Unretire(dataDir string) error {
	if err := os.Remove(filepath.Join(dataDir, RetiredFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("edge: unretire: %w", err)
	}
	return nil
}
