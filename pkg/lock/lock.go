package lock

import (
	"context"
	"errors"
	"fmt"
)

// Mode is the kind of a named lock.
type Mode int

const (
	Exclusive Mode = iota
	Shared
)

// ErrWouldBlock is returned by TryLock when the lock is held in a conflicting mode.
var ErrWouldBlock = errors.New("lock: held by another owner")

// ErrLost is returned by operations on a Lease whose lock was lost (for example on ZooKeeper session expiry).
var ErrLost = errors.New("lock: lost")

// Locker grants named locks. Names are slash-free strings of [A-Za-z0-9._-]; an implementation scopes them to
// one volume. Locks are not reentrant: a second Lock of a held name by the same Locker waits like any other.
type Locker interface {
	// Lock blocks until the lock is granted in mode, ctx ends (ctx.Err(), nothing left behind) or the Locker
	// fails. Shared holders coexist; an exclusive holder excludes all others. Waiters are granted in arrival order
	// (a shared waiter queued behind an exclusive waiter waits for it).
	Lock(ctx context.Context, name string, mode Mode) (Lease, error)
	// TryLock is Lock without waiting: ErrWouldBlock when the lock is not free for mode.
	TryLock(ctx context.Context, name string, mode Mode) (Lease, error)
	// Close releases every lease this Locker holds (they report lost) and frees its resources.
	Close() error
}

// Lease is a held lock.
type Lease interface {
	// Token is the fencing token: it grows strictly with every grant of the same name, so a stale holder
	// writing after a newer holder can be detected by comparing tokens.
	Token() uint64
	// Lost is closed when the lock can no longer be trusted (session expired, Locker closed). Work that depends
	// on the lock must stop and fail (EIO at the filesystem) rather than go on unprotected.
	Lost() <-chan struct{}
	// Unlock releases the lock. Unlocking twice, or after loss, returns nil.
	Unlock(ctx context.Context) error
}

// FileLockType is the type of a POSIX record lock or BSD flock.
type FileLockType uint32

const (
	ReadLock  FileLockType = 0 // F_RDLCK / LOCK_SH
	WriteLock FileLockType = 1 // F_WRLCK / LOCK_EX
	Unlock    FileLockType = 2 // F_UNLCK / LOCK_UN
)

// FileLock is a byte-range lock, [Start, End] inclusive as FUSE passes it (End = math.MaxUint64: to end of file).
type FileLock struct {
	Start, End uint64
	Type       FileLockType
	Pid        uint32 // process that holds it (reported by GetLk)
}

// Owner identifies the holder of file locks: the mount (session) and the kernel's lock owner within it.
type Owner struct {
	Session string // unique per mount
	ID      uint64 // the kernel's lock owner (FUSE lk_owner)
}

// FileLocker holds POSIX record locks (fcntl) and BSD locks (flock) on inodes, shared by every mount of a volume.
// Errors are syscall.Errno: EAGAIN when a non-blocking request conflicts, EINTR when ctx ends while waiting
// (nothing left behind), EIO when the locks could not be trusted (for example a lost ZooKeeper session).
// POSIX and BSD locks are separate namespaces, as on Linux.
type FileLocker interface {
	// GetLk returns the first lock that would conflict with lk (held by another owner), or a lock of Type Unlock.
	GetLk(ctx context.Context, ino uint64, owner Owner, lk FileLock) (FileLock, error)
	// SetLk sets, converts or releases (Type Unlock) owner's POSIX lock on [Start, End], splitting and merging
	// the owner's ranges as fcntl does. With wait it blocks until granted or ctx ends.
	SetLk(ctx context.Context, ino uint64, owner Owner, lk FileLock, wait bool) error
	// Flock sets (ReadLock/WriteLock) or releases (Unlock) owner's whole-file BSD lock; with wait it blocks.
	Flock(ctx context.Context, ino uint64, owner Owner, typ FileLockType, wait bool) error
	// ReleaseOwner drops every POSIX lock of owner on ino (close(2) of any descriptor of the file).
	ReleaseOwner(ctx context.Context, ino uint64, owner Owner) error
	// ReleaseFlock drops owner's BSD lock on ino (last close of the open file description).
	ReleaseFlock(ctx context.Context, ino uint64, owner Owner) error
}

// FileLockLoss is implemented by FileLockers whose locks can be lost without their owner releasing them: ZKFiles,
// whose locks live as long as the mount's ZooKeeper session. pkg/fusefs uses it to refuse writes that such a lock
// protected once it is gone.
type FileLockLoss interface {
	// LockLost returns a channel that is closed when owner's POSIX (flock false) or BSD (flock true) locks on ino
	// are lost with the session they live in (it may be closed already), or nil when owner holds no such locks:
	// it never locked, released them, or a lock request has since reported their loss (EIO).
	LockLost(ino uint64, owner Owner, flock bool) <-chan struct{}
}

// ErrClosed is returned by Lock and TryLock after the Locker was closed.
var ErrClosed = errors.New("lock: locker closed")

// Valid returns ErrLost if lease was lost (or its Locker closed), nil while it can still be trusted. Call it just
// before a write that the lease protects; pass Token along so the store can fence stale writers as well.
func Valid(lease Lease) error {
	select {
	case <-lease.Lost():
		return ErrLost
	default:
		return nil
	}
}

// CheckName returns an error unless name is a valid lock name: 1 to 200 characters of [A-Za-z0-9._-].
func CheckName(name string) error {
	if name == "" || len(name) > 200 || name == "." || name == ".." {
		return fmt.Errorf("%w %s", errInvalidName, quoteName(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %s", errInvalidName, quoteName(name))
		}
	}
	return nil
}

var errInvalidName = errors.New("lock: invalid lock name")

func quoteName(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + s + "\""
}
