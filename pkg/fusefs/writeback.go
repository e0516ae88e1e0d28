package fusefs

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cassfs/cassfs/pkg/store"
)

// uploader bounds the write-back work of one mount: at most len(slots) pieces upload at once, and the bytes held
// in pieces still being filled stay near budget (a writer that pushes the total past it submits its piece early).
type uploader struct {
	slots     chan struct{}
	piece     uint64
	budget    int64
	openBytes atomic.Int64
}

func newUploader(parallel int, piece int64) *uploader {
	return &uploader{slots: make(chan struct{}, parallel), piece: uint64(piece), budget: int64(parallel) * piece}
}

// writeBuffer gathers one file's writes on this mount into pieces and uploads them in the background.
//
// A piece is a contiguous run of bytes inside one aligned block of uploader.piece bytes. Writes extend or
// overwrite the open piece; any other write submits it and starts a new one. A submitted piece waits for the
// earlier pieces it overlaps, so overlapping writes reach the store in the order they were made. The first upload
// error is kept and reported by the next write, flush or fsync.
type writeBuffer struct {
	f   *fsys
	ino store.Ino

	// gen changes with every local change of the file's data; read-ahead windows from another generation are
	// stale.
	gen atomic.Uint64

	mu        sync.Mutex
	cur       *piece
	inflight  []*piece
	lastWrite int64 // ns; mtime reported while data is buffered
	// streamEnd is where the last piece submitted full ended (0: it was not full). A write starting a new piece
	// there comes from a sequential writer, whose piece gets its whole block at once instead of growing.
	streamEnd uint64

	errMu sync.Mutex
	err   error // the first upload error not yet reported

	// guards are the lost-lock channels (lock.FileLockLoss) of the file locks this mount holds on the file, by
	// owner. Every piece records the guards in force when data went into it and is dropped, not uploaded, if one
	// of them is closed by then: the data was written under a lock that someone else may hold now.
	guardMu sync.Mutex
	guards  map[guardKey]<-chan struct{}
}

// guardKey is a lock owner of this mount and the kind of its locks (POSIX or flock).
type guardKey struct {
	owner uint64
	flock bool
}

type piece struct {
	off    uint64
	buf    []byte
	limit  uint64 // the end of the aligned block this piece lies in
	done   chan struct{}
	guards []<-chan struct{} // see writeBuffer.guards
}

// setGuard records the lost-lock channel of key's locks on the file; nil forgets it (no locks held).
func (w *writeBuffer) setGuard(key guardKey, lost <-chan struct{}) {
	w.guardMu.Lock()
	defer w.guardMu.Unlock()
	if lost == nil {
		delete(w.guards, key)
		return
	}
	if w.guards == nil {
		w.guards = map[guardKey]<-chan struct{}{}
	}
	w.guards[key] = lost
}

// lockLost reports whether a file lock this mount holds on the file has been lost: writes, fsync and flushes
// then fail with EIO until the lost locks are released or reported.
func (w *writeBuffer) lockLost() bool {
	w.guardMu.Lock()
	defer w.guardMu.Unlock()
	for _, ch := range w.guards {
		if closed(ch) {
			return true
		}
	}
	return false
}

// guard adds the guards in force to p.
func (w *writeBuffer) guard(p *piece) {
	w.guardMu.Lock()
	defer w.guardMu.Unlock()
	for _, ch := range w.guards {
		if !slices.Contains(p.guards, ch) {
			p.guards = append(p.guards, ch)
		}
	}
}

// guardLost reports whether a lock that p's data was written under has been lost.
func (p *piece) guardLost() bool {
	for _, ch := range p.guards {
		if closed(ch) {
			return true
		}
	}
	return false
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (p *piece) end() uint64 { return p.off + uint64(len(p.buf)) }

func newWriteBuffer(f *fsys, ino store.Ino) *writeBuffer { return &writeBuffer{f: f, ino: ino} }

// write buffers data at off. It blocks while the mount's uploads are all busy. It fails with EIO while a file
// lock this mount holds on the file is lost.
func (w *writeBuffer) write(data []byte, off uint64) error {
	up := w.f.uploads
	if err := w.peekErr(); err != nil {
		return err
	}
	if w.lockLost() {
		// This EIO reports the loss, and with it the data buffered under the lost lock, dropped now.
		_ = w.flush(context.Background())
		return syscall.EIO
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen.Add(1)
	w.lastWrite = time.Now().UnixNano()
	for len(data) > 0 {
		c := w.cur
		if c == nil || off < c.off || off > c.end() || off >= c.limit || c.guardLost() {
			if c != nil {
				w.submitLocked() // a piece written under a lost lock is dropped by upload, not mixed with this
			}
			c = &piece{off: off, limit: off - off%up.piece + up.piece}
			if off > 0 && off == w.streamEnd && off%up.piece == 0 {
				// Growing by doubling would copy the piece about once more and clear twice its size.
				c.buf = make([]byte, 0, up.piece)
				up.openBytes.Add(int64(up.piece))
			}
			w.cur = c
		}
		w.guard(c)
		n := uint64(len(data))
		if off+n > c.limit {
			n = c.limit - off
		}
		pos := off - c.off
		if need := pos + n; need > uint64(len(c.buf)) {
			c.buf = w.grow(c, need)
		}
		copy(c.buf[pos:], data[:n])
		data, off = data[n:], off+n
		if c.end() == c.limit {
			w.submitLocked()
		}
	}
	if w.cur != nil && up.openBytes.Load() > up.budget {
		w.submitLocked()
	}
	return nil
}

// grow extends c.buf to length need, doubling its capacity up to the piece's block.
func (w *writeBuffer) grow(c *piece, need uint64) []byte {
	if need <= uint64(cap(c.buf)) {
		return c.buf[:need]
	}
	newCap := uint64(2 * cap(c.buf))
	if newCap < need {
		newCap = need
	}
	if newCap < 64<<10 {
		newCap = 64 << 10
	}
	if max := c.limit - c.off; newCap > max {
		newCap = max
	}
	buf := make([]byte, need, newCap)
	copy(buf, c.buf)
	w.f.uploads.openBytes.Add(int64(newCap) - int64(cap(c.buf)))
	return buf
}

// submitLocked starts the upload of the open piece, waiting for a free upload slot.
func (w *writeBuffer) submitLocked() {
	p := w.cur
	w.cur = nil
	up := w.f.uploads
	w.streamEnd = 0
	if p.end() == p.limit && p.off == p.limit-up.piece {
		w.streamEnd = p.limit
	}
	up.openBytes.Add(-int64(cap(p.buf)))
	up.slots <- struct{}{}
	var deps []*piece
	for _, q := range w.inflight {
		if q.off < p.end() && p.off < q.end() {
			deps = append(deps, q)
		}
	}
	p.done = make(chan struct{})
	w.inflight = append(w.inflight, p)
	go w.upload(p, deps)
}

func (w *writeBuffer) upload(p *piece, deps []*piece) {
	for _, d := range deps {
		<-d.done
	}
	var err error
	if p.guardLost() {
		err = syscall.EIO
		w.f.log.Warn("write-back dropped: the data was written under a file lock that has been lost",
			"ino", w.ino, "off", p.off, "len", len(p.buf))
		w.setErr(err)
	} else if _, err = w.f.st.Write(w.f.bg, w.ino, p.off, p.buf); err != nil {
		w.f.log.Warn("write-back failed", "ino", w.ino, "off", p.off, "len", len(p.buf), "err", err)
		w.setErr(err)
	} else {
		w.f.publish(dataChanged(w.ino))
	}
	// Free the slot and wake dependent pieces before taking w.mu: a writer may hold w.mu while it waits for a
	// slot, and the slots may be held by pieces waiting for this one.
	<-w.f.uploads.slots
	close(p.done)
	w.mu.Lock()
	for i, q := range w.inflight {
		if q == p {
			w.inflight = append(w.inflight[:i], w.inflight[i+1:]...)
			break
		}
	}
	w.mu.Unlock()
}

func (w *writeBuffer) setErr(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
}

// takeErr returns and clears the first upload error.
func (w *writeBuffer) takeErr() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	err := w.err
	w.err = nil
	return err
}

func (w *writeBuffer) peekErr() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// flush uploads everything buffered so far and waits for it; it returns (and clears) the first upload error.
func (w *writeBuffer) flush(ctx context.Context) error {
	w.mu.Lock()
	if w.cur != nil {
		w.submitLocked()
	}
	pending := append([]*piece(nil), w.inflight...)
	w.mu.Unlock()
	for _, p := range pending {
		select {
		case <-p.done:
		case <-ctx.Done():
			return syscall.EINTR
		}
	}
	return w.takeErr()
}

// sync is flush for requests that change the file or ask whether its data is safe (fsync, close, setattr,
// fallocate, appends): it also fails with EIO while a file lock this mount holds on the file is lost.
func (w *writeBuffer) sync(ctx context.Context) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	if w.lockLost() {
		return syscall.EIO
	}
	return nil
}

// dirty reports whether data is buffered or uploading.
func (w *writeBuffer) dirty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur != nil || w.uploadingLocked()
}

// uploadingLocked reports whether a piece is still being uploaded. A piece stays in inflight for a moment after
// its upload finished (upload closes done before it takes w.mu to remove it), and such a piece must not count:
// flush has returned by then, and a truncation that followed it must not see its old end as the size.
func (w *writeBuffer) uploadingLocked() bool {
	for _, p := range w.inflight {
		if !p.uploaded() {
			return true
		}
	}
	return false
}

// uploaded reports whether p's upload has finished (successfully or not).
func (p *piece) uploaded() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// overlay corrects stored attributes for data not yet uploaded: the size covers buffered bytes and mtime/ctime
// are those of the last buffered write.
func (w *writeBuffer) overlay(a *store.Attr) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur == nil && !w.uploadingLocked() {
		return
	}
	end := uint64(0)
	if w.cur != nil {
		end = w.cur.end()
	}
	for _, p := range w.inflight {
		if !p.uploaded() && p.end() > end {
			end = p.end()
		}
	}
	if end > a.Size {
		a.Size = end
	}
	if w.lastWrite > a.Mtime {
		a.Mtime = w.lastWrite
	}
	if w.lastWrite > a.Ctime {
		a.Ctime = w.lastWrite
	}
}
