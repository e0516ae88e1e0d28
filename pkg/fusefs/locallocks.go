package fusefs

import (
	"context"
	"syscall"

	"github.com/cassfs/cassfs/pkg/lock"
)

// newLocalFileLocker returns the FileLocker of a mount without Options.Locks.
// TODO: use pkg/lock's in-process FileLocker once it exists; until then such mounts refuse file locks.
func newLocalFileLocker() lock.FileLocker { return noLocks{} }

type noLocks struct{}

func (noLocks) GetLk(context.Context, uint64, lock.Owner, lock.FileLock) (lock.FileLock, error) {
	return lock.FileLock{}, syscall.ENOLCK
}
func (noLocks) SetLk(context.Context, uint64, lock.Owner, lock.FileLock, bool) error {
	return syscall.ENOLCK
}
func (noLocks) Flock(context.Context, uint64, lock.Owner, lock.FileLockType, bool) error {
	return syscall.ENOLCK
}
func (noLocks) ReleaseOwner(context.Context, uint64, lock.Owner) error { return nil }
func (noLocks) ReleaseFlock(context.Context, uint64, lock.Owner) error { return nil }
