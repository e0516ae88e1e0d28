package lock

import (
	"context"
	"math"
	"sync"
	"syscall"
)

// LocalFiles is the in-process FileLocker for volumes mounted on one node. Every mount of the volume in this
// process shares one LocalFiles; owners of different mounts differ by Owner.Session.
type LocalFiles struct {
	mu    sync.Mutex
	files map[uint64]*localFile
}

var _ FileLocker = (*LocalFiles)(nil)

type localFile struct {
	posix, flock RangeTable
	changed      chan struct{} // closed and replaced on every release or conversion: waiters recheck
}

// NewLocalFiles returns an empty in-process FileLocker.
func NewLocalFiles() *LocalFiles { return &LocalFiles{files: make(map[uint64]*localFile)} }

func (f *LocalFiles) file(ino uint64) *localFile {
	lf := f.files[ino]
	if lf == nil {
		lf = &localFile{changed: make(chan struct{})}
		f.files[ino] = lf
	}
	return lf
}

// changedLocked wakes waiters on ino and drops its state when no lock is left. Caller holds f.mu.
func (f *LocalFiles) changedLocked(ino uint64, lf *localFile) {
	close(lf.changed)
	lf.changed = make(chan struct{})
	if lf.posix.Empty() && lf.flock.Empty() {
		delete(f.files, ino)
	}
}

// GetLk implements FileLocker.
func (f *LocalFiles) GetLk(_ context.Context, ino uint64, owner Owner, lk FileLock) (FileLock, error) {
	if err := checkFileLock(lk); err != nil {
		return FileLock{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if lf := f.files[ino]; lf != nil {
		if c, ok := lf.posix.Conflict(owner, lk); ok {
			return c, nil
		}
	}
	return FileLock{Start: lk.Start, End: lk.End, Type: Unlock}, nil
}

// SetLk implements FileLocker.
func (f *LocalFiles) SetLk(ctx context.Context, ino uint64, owner Owner, lk FileLock, wait bool) error {
	if err := checkFileLock(lk); err != nil {
		return err
	}
	return f.set(ctx, ino, owner, lk, wait, func(lf *localFile) *RangeTable { return &lf.posix })
}

// Flock implements FileLocker.
func (f *LocalFiles) Flock(ctx context.Context, ino uint64, owner Owner, typ FileLockType, wait bool) error {
	lk := FileLock{Start: 0, End: math.MaxUint64, Type: typ}
	if err := checkFileLock(lk); err != nil {
		return err
	}
	return f.set(ctx, ino, owner, lk, wait, func(lf *localFile) *RangeTable { return &lf.flock })
}

// ReleaseOwner implements FileLocker.
func (f *LocalFiles) ReleaseOwner(ctx context.Context, ino uint64, owner Owner) error {
	return f.SetLk(ctx, ino, owner, FileLock{Start: 0, End: math.MaxUint64, Type: Unlock}, false)
}

// ReleaseFlock implements FileLocker.
func (f *LocalFiles) ReleaseFlock(ctx context.Context, ino uint64, owner Owner) error {
	return f.Flock(ctx, ino, owner, Unlock, false)
}

// ReleaseSession drops every lock of every owner of session, on every inode (the mount went away).
func (f *LocalFiles) ReleaseSession(session string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ino, lf := range f.files {
		lf.posix.ReleaseSession(session)
		lf.flock.ReleaseSession(session)
		f.changedLocked(ino, lf)
	}
}

func (f *LocalFiles) set(ctx context.Context, ino uint64, owner Owner, lk FileLock, wait bool, table func(*localFile) *RangeTable) error {
	for {
		f.mu.Lock()
		lf := f.file(ino)
		t := table(lf)
		if _, busy := t.Conflict(owner, lk); !busy {
			t.Set(owner, lk)
			f.changedLocked(ino, lf)
			f.mu.Unlock()
			return nil
		}
		ch := lf.changed
		f.mu.Unlock()
		if !wait {
			return syscall.EAGAIN
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return syscall.EINTR
		}
	}
}
