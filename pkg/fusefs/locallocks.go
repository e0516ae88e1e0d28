package fusefs

import "github.com/cassfs/cassfs/pkg/lock"

// newLocalFileLocker returns the FileLocker of a mount without Options.Locks: locks private to this mount.
func newLocalFileLocker() lock.FileLocker { return lock.NewLocalFiles() }
