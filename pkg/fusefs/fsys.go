package fusefs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// fsys is the state one mount shares among its nodes and handles.
type fsys struct {
	st      store.Store
	opts    Options
	log     *slog.Logger
	locks   lock.FileLocker
	uploads *uploader
	obs     Observer // never nil

	// bg is the context of background work (uploads, read-ahead); cancelled when the mount ends.
	bg     context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	files map[store.Ino]*openFile // files this mount holds open

	// For change notices from other mounts (notify.go).
	root             *node
	server           atomic.Pointer[fuse.Server] // set once mounted
	unmounted        atomic.Bool
	allInvalidations atomic.Uint64
}

func newFsys(st store.Store, opts Options) *fsys {
	bg, cancel := context.WithCancel(context.Background())
	locks := opts.Locks
	if locks == nil {
		locks = newLocalFileLocker()
	}
	obs := opts.Observer
	if obs == nil {
		obs = noObserver{}
	}
	return &fsys{
		obs:     obs,
		st:      detached{st},
		opts:    opts,
		log:     opts.Logger,
		locks:   locks,
		uploads: newUploader(opts.MaxBackgroundUploads, opts.WriteBufferBytes),
		bg:      bg,
		cancel:  cancel,
		files:   map[store.Ino]*openFile{},
	}
}

// openFile is the per-mount state of a file that has at least one open handle: its write-back buffer and the
// generation that read-ahead windows are checked against.
type openFile struct {
	ino  store.Ino
	refs int // guarded by fsys.mu
	wb   *writeBuffer
}

// acquire returns ino's openFile, creating it, and counts one more handle.
func (f *fsys) acquire(ino store.Ino) *openFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	of := f.files[ino]
	if of == nil {
		of = &openFile{ino: ino, wb: newWriteBuffer(f, ino)}
		f.files[ino] = of
	}
	of.refs++
	return of
}

// release drops one handle of of; the state goes away with the last one (its buffer was flushed by then).
func (f *fsys) release(of *openFile) {
	f.mu.Lock()
	defer f.mu.Unlock()
	of.refs--
	if of.refs == 0 && f.files[of.ino] == of {
		delete(f.files, of.ino)
	}
}

// lookupOpen returns ino's openFile if this mount holds the file open, else nil.
func (f *fsys) lookupOpen(ino store.Ino) *openFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.files[ino]
}

// flushIno writes back ino's buffered data if it is open here (writeBuffer.sync: EIO while a lock on it is lost).
func (f *fsys) flushIno(ctx context.Context, ino store.Ino) error {
	if of := f.lookupOpen(ino); of != nil {
		return of.wb.sync(ctx)
	}
	return nil
}

// flushAll writes back every open file's buffered data.
func (f *fsys) flushAll(ctx context.Context) error {
	f.mu.Lock()
	files := make([]*openFile, 0, len(f.files))
	for _, of := range f.files {
		files = append(files, of)
	}
	f.mu.Unlock()
	var errs []error
	for _, of := range files {
		if err := of.wb.flush(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (f *fsys) close() {
	f.cancel()
	if c, ok := f.locks.(interface{ Close() error }); ok && f.opts.Locks == nil {
		_ = c.Close()
	}
}

// lockCtx is the context of lock releases, which have no request to belong to.
func lockCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func (f *fsys) releasePosixLocks(ino, owner uint64) {
	ctx, cancel := lockCtx()
	defer cancel()
	if err := f.locks.ReleaseOwner(ctx, ino, lock.Owner{Session: f.opts.Session, ID: owner}); err != nil {
		f.log.Warn("release POSIX locks", "ino", ino, "err", err)
	}
	f.guardLocks(store.Ino(ino), owner, false)
}

func (f *fsys) releaseFlock(ino, owner uint64) {
	ctx, cancel := lockCtx()
	defer cancel()
	if err := f.locks.ReleaseFlock(ctx, ino, lock.Owner{Session: f.opts.Session, ID: owner}); err != nil {
		f.log.Warn("release flock", "ino", ino, "err", err)
	}
	f.guardLocks(store.Ino(ino), owner, true)
}

// guardLocks tells ino's write buffer (if the file is open here) whether owner holds POSIX (flock false) or BSD
// locks on it that can be lost, and how it learns of the loss (see locks.go).
func (f *fsys) guardLocks(ino store.Ino, owner uint64, flock bool) {
	loss, ok := f.locks.(lock.FileLockLoss)
	if !ok {
		return
	}
	if of := f.lookupOpen(ino); of != nil {
		of.wb.setGuard(guardKey{owner, flock}, loss.LockLost(uint64(ino), lock.Owner{Session: f.opts.Session, ID: owner}, flock))
	}
}

func randomSession() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
