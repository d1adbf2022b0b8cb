package durable

import "os"

// SyncDir makes the creations, renames and removals in dir durable: after
// a rename, the new name survives a power cut only once its directory is
// synced.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
