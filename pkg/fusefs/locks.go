package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/lock"
)

var (
	_ = (fs.NodeGetlker)((*node)(nil))
	_ = (fs.NodeSetlker)((*node)(nil))
	_ = (fs.NodeSetlkwer)((*node)(nil))
)

// fcntl(F_GETLK/F_SETLK/F_SETLKW) and flock(2) go to the mount's FileLocker, so mounts sharing one (every mount
// of a volume, through ZooKeeper) exclude each other. The owner is this mount's session plus the kernel's lock
// owner. Locks are released on close by rawFS (POSIX: at every FLUSH of the owner; flock: at RELEASE).
//
// Locks that can be lost (lock.FileLockLoss: ZooKeeper, with the mount's session) guard the file's writes: after
// every lock request and release the file's write buffer learns which owners hold locks on it, and while one of
// them is lost, writes, fsync and close of the file fail with EIO and data buffered under the lost lock is
// dropped instead of uploaded (writeback.go). The owner's next lock request on the file reports the loss (EIO)
// and ends it, as does releasing the lock (F_UNLCK, LOCK_UN, close).

func (n *node) owner(id uint64) lock.Owner { return lock.Owner{Session: n.fsys.opts.Session, ID: id} }

func (n *node) Getlk(ctx context.Context, f fs.FileHandle, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	l, e := toLock(lk)
	if e != 0 {
		return e
	}
	got, err := n.fsys.locks.GetLk(dctx(ctx), uint64(n.ino()), n.owner(owner), l)
	if err != nil {
		return errno(err)
	}
	out.Start, out.End, out.Pid = got.Start, got.End, got.Pid
	out.Typ = fromLockType(got.Type)
	return 0
}

func (n *node) Setlk(ctx context.Context, f fs.FileHandle, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return n.setlk(ctx, owner, lk, flags, false)
}

func (n *node) Setlkw(ctx context.Context, f fs.FileHandle, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return n.setlk(ctx, owner, lk, flags, true)
}

func (n *node) setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, wait bool) syscall.Errno {
	l, e := toLock(lk)
	if e != 0 {
		return e
	}
	if !wait {
		ctx = dctx(ctx) // only a blocking wait may be interrupted (EINTR)
	}
	var err error
	flock := flags&fuse.FUSE_LK_FLOCK != 0
	if flock {
		err = n.fsys.locks.Flock(ctx, uint64(n.ino()), n.owner(owner), l.Type, wait)
	} else {
		err = n.fsys.locks.SetLk(ctx, uint64(n.ino()), n.owner(owner), l, wait)
	}
	n.fsys.guardLocks(n.ino(), owner, flock)
	if err == context.Canceled {
		return syscall.EINTR
	}
	return errno(err)
}

func toLock(lk *fuse.FileLock) (lock.FileLock, syscall.Errno) {
	l := lock.FileLock{Start: lk.Start, End: lk.End, Pid: lk.Pid}
	switch lk.Typ {
	case syscall.F_RDLCK:
		l.Type = lock.ReadLock
	case syscall.F_WRLCK:
		l.Type = lock.WriteLock
	case syscall.F_UNLCK:
		l.Type = lock.Unlock
	default:
		return l, syscall.EINVAL
	}
	return l, 0
}

func fromLockType(t lock.FileLockType) uint32 {
	switch t {
	case lock.ReadLock:
		return syscall.F_RDLCK
	case lock.WriteLock:
		return syscall.F_WRLCK
	}
	return syscall.F_UNLCK
}
