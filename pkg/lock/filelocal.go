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
	waits map[Owner][]*posixWait // blocked POSIX requests by owner: the wait-for graph for EDEADLK
}

// posixWait is one blocked F_SETLKW: what its owner waits for.
type posixWait struct {
	ino uint64
	lk  FileLock
}

var _ FileLocker = (*LocalFiles)(nil)

type localFile struct {
	posix, flock RangeTable
	changed      chan struct{} // closed and replaced on every release or conversion: waiters recheck
}

// NewLocalFiles returns an empty in-process FileLocker.
func NewLocalFiles() *LocalFiles {
	return &LocalFiles{files: make(map[uint64]*localFile), waits: make(map[Owner][]*posixWait)}
}

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
	return f.set(ctx, ino, owner, lk, wait, true)
}

// Flock implements FileLocker.
func (f *LocalFiles) Flock(ctx context.Context, ino uint64, owner Owner, typ FileLockType, wait bool) error {
	lk := FileLock{Start: 0, End: math.MaxUint64, Type: typ}
	if err := checkFileLock(lk); err != nil {
		return err
	}
	return f.set(ctx, ino, owner, lk, wait, false)
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

// set applies lk to the POSIX table (posix) or the flock table of ino. A blocking POSIX request that would
// close a cycle of owners waiting for each other fails with EDEADLK; while it waits it is part of the graph.
func (f *LocalFiles) set(ctx context.Context, ino uint64, owner Owner, lk FileLock, wait, posix bool) error {
	var me *posixWait
	defer func() {
		if me != nil {
			f.mu.Lock()
			f.dropWaitLocked(owner, me)
			f.mu.Unlock()
		}
	}()
	for {
		f.mu.Lock()
		lf := f.file(ino)
		t := &lf.flock
		if posix {
			t = &lf.posix
		}
		if _, busy := t.Conflict(owner, lk); !busy {
			t.Set(owner, lk)
			f.changedLocked(ino, lf)
			f.mu.Unlock()
			return nil
		}
		if posix && wait {
			// Checked under f.mu, atomically with every other wait and grant: the request that closes a cycle
			// is the one that sees it, and it is checked again after every wake-up (its blockers may change).
			if me == nil {
				me = &posixWait{ino: ino, lk: lk}
				f.waits[owner] = append(f.waits[owner], me)
			}
			if f.closesCycleLocked(owner, t.Blockers(owner, lk)) {
				f.mu.Unlock()
				return syscall.EDEADLK
			}
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

// closesCycleLocked reports whether me, blocked by blockers, would wait for itself: whether a chain of blocked
// POSIX requests leads from one of the blockers back to me. Caller holds f.mu.
func (f *LocalFiles) closesCycleLocked(me Owner, blockers []Owner) bool {
	seen := make(map[Owner]bool)
	for len(blockers) > 0 {
		o := blockers[len(blockers)-1]
		blockers = blockers[:len(blockers)-1]
		if o == me {
			return true
		}
		if seen[o] {
			continue
		}
		seen[o] = true
		for _, w := range f.waits[o] {
			if lf := f.files[w.ino]; lf != nil {
				blockers = append(blockers, lf.posix.Blockers(o, w.lk)...)
			}
		}
	}
	return false
}

func (f *LocalFiles) dropWaitLocked(owner Owner, w *posixWait) {
	ws := f.waits[owner]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(f.waits, owner)
	} else {
		f.waits[owner] = ws
	}
}
