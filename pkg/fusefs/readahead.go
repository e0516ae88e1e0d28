package fusefs

import (
	"context"
	"sync"

	"github.com/cassfs/cassfs/pkg/store"
)

// reader serves one open file's reads. Sequential readers get read-ahead: the file is fetched in windows of
// size bytes, and while one window is being consumed the next is fetched in the background. Memory is at most
// two windows per open file, whatever the file size. A window is only used while the file's local data
// generation is unchanged (no write, truncate or fallocate on this mount since it was fetched). Random reads go
// straight to the store.
type reader struct {
	f    *fsys
	ino  store.Ino
	wb   *writeBuffer
	size uint64

	mu      sync.Mutex
	cur     *window
	next    *window
	lastEnd uint64
	fetched bool // a window was fetched while a read waited (a read-ahead miss)
}

// window is a fetched (or being fetched) range of the file; fewer than size bytes means end of file.
type window struct {
	off  uint64
	data []byte
	gen  uint64
	err  error
	done chan struct{}
}

func (w *window) contains(pos uint64) bool {
	return pos >= w.off && pos < w.off+uint64(len(w.data))
}

func newReader(f *fsys, ino store.Ino, wb *writeBuffer) *reader {
	return &reader{f: f, ino: ino, wb: wb, size: uint64(f.opts.ReadAheadBytes)}
}

// read returns the file's bytes from offset off, at most len(dest) of them, like store.Read: either dest[:n]
// or, when a read-ahead window holds the whole range, a slice of that window (windows are never written once
// fetched, so the caller may keep it), which spares a copy.
func (r *reader) read(ctx context.Context, dest []byte, off uint64) ([]byte, error) {
	if r.size == 0 || uint64(len(dest)) >= r.size {
		n, err := r.f.st.Read(ctx, r.ino, off, dest)
		return dest[:n], err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	gen := r.wb.gen.Load()
	if off != r.lastEnd && !(r.cur != nil && r.cur.gen == gen && r.cur.contains(off)) {
		// Not sequential: forget the windows and read directly.
		r.cur, r.next = nil, nil
		n, err := r.f.st.Read(ctx, r.ino, off, dest)
		r.lastEnd = off + uint64(n)
		return dest[:n], err
	}
	r.fetched = false
	defer func() { r.f.obs.ReadAhead(!r.fetched) }()
	out := dest[:0]
	for n := 0; n < len(dest); {
		pos := off + uint64(n)
		w, err := r.window(ctx, pos, gen)
		if err != nil {
			if n > 0 {
				break
			}
			return nil, err
		}
		if !w.contains(pos) {
			break // end of file
		}
		avail := w.data[pos-w.off:]
		if n == 0 && len(avail) >= len(dest) {
			out = avail[:len(dest)] // the whole range is in this window: no copy
			break
		}
		n += copy(dest[n:], avail)
		out = dest[:n]
	}
	r.lastEnd = off + uint64(len(out))
	if c := r.cur; c != nil && r.next == nil && uint64(len(c.data)) == r.size && r.lastEnd >= c.off+r.size/2 {
		r.next = r.fetchAsync(c.off+r.size, gen)
	}
	return out, nil
}

// window returns a window holding pos (or ending at end of file before pos), fetching it if need be.
func (r *reader) window(ctx context.Context, pos uint64, gen uint64) (*window, error) {
	if c := r.cur; c != nil && c.gen == gen && (c.contains(pos) || (pos == c.off+uint64(len(c.data)) && uint64(len(c.data)) < r.size)) {
		return c, nil
	}
	if nx := r.next; nx != nil {
		r.next = nil
		select {
		case <-nx.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if nx.err == nil && nx.gen == gen && (nx.contains(pos) || (pos == nx.off && len(nx.data) == 0)) {
			r.cur = nx
			return nx, nil
		}
	}
	w := &window{off: pos, gen: gen}
	r.fetched = true
	w.data, w.err = r.fetch(ctx, pos)
	if w.err != nil {
		return nil, w.err
	}
	r.cur = w
	return w, nil
}

func (r *reader) fetch(ctx context.Context, off uint64) ([]byte, error) {
	buf := make([]byte, r.size)
	n, err := r.f.st.Read(ctx, r.ino, off, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func (r *reader) fetchAsync(off uint64, gen uint64) *window {
	w := &window{off: off, gen: gen, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.data, w.err = r.fetch(r.f.bg, off)
	}()
	return w
}
