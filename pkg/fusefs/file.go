package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/store"
)

// handle is one open file description of a regular file. Data written through any handle of a file goes to
// the file's shared writeBuffer (one per file per mount), so every handle on this mount reads what any other
// wrote.
type handle struct {
	f      *fsys
	n      *node
	ino    store.Ino
	of     *openFile
	rd     *reader
	append bool // opened with O_APPEND
}

var (
	_ = (fs.FileReader)((*handle)(nil))
	_ = (fs.FileWriter)((*handle)(nil))
	_ = (fs.FileFlusher)((*handle)(nil))
	_ = (fs.FileFsyncer)((*handle)(nil))
	_ = (fs.FileReleaser)((*handle)(nil))
	_ = (fs.FileAllocater)((*handle)(nil))
)

// openHandle records the open in the store (close-to-open: this drops the store's cached view of the file) and
// returns a handle. Non-regular files (devices, FIFOs) get no handle: the kernel serves them itself.
func (n *node) openHandle(ctx context.Context, flags uint32) (*handle, store.Attr, syscall.Errno) {
	a, err := n.fsys.st.Open(ctx, n.ino())
	if err != nil {
		return nil, a, errno(err)
	}
	of := n.fsys.acquire(n.ino())
	h := &handle{f: n.fsys, n: n, ino: n.ino(), of: of, rd: newReader(n.fsys, n.ino(), of.wb),
		append: flags&syscall.O_APPEND != 0}
	if flags&syscall.O_TRUNC != 0 && a.Type == store.TypeFile && a.Size != 0 {
		if err := of.wb.flush(dctx(ctx)); err != nil {
			h.close(ctx)
			return nil, a, errno(err)
		}
		of.wb.gen.Add(1)
		if a, err = n.fsys.st.SetAttr(ctx, n.ino(), store.SetAttrIn{Valid: store.SetSize}); err != nil {
			h.close(ctx)
			return nil, a, errno(err)
		}
		n.fsys.publish(dataChanged(n.ino()))
	}
	return h, a, 0
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.of.wb.dirty() {
		if err := h.of.wb.flush(dctx(ctx)); err != nil {
			return nil, errno(err)
		}
	}
	data, err := h.rd.read(dctx(ctx), dest, uint64(off))
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(data), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if h.append {
		return h.appendWrite(ctx, data, off)
	}
	if err := h.of.wb.write(data, uint64(off)); err != nil {
		return 0, errno(err)
	}
	return uint32(len(data)), 0
}

// appendWrite serves a write on an O_APPEND descriptor. The kernel computes its offset from the file size it
// caches, which is stale once another mount has appended; the data goes to the end of the file as the store knows
// it instead, written through at once so that the next appender (on any mount, after an unlock) finds it. When
// the offsets differ, the kernel has copied the data into its page cache at the wrong place: the file's cached
// pages and attributes are dropped once this request is answered (the pages stay locked until then).
func (h *handle) appendWrite(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if err := h.of.wb.sync(dctx(ctx)); err != nil {
		return 0, errno(err)
	}
	a, err := h.f.st.GetAttr(ctx, h.ino)
	if err != nil {
		return 0, errno(err)
	}
	h.of.wb.gen.Add(1)
	if _, err := h.f.st.Write(ctx, h.ino, a.Size, data); err != nil {
		return 0, errno(err)
	}
	h.f.publish(dataChanged(h.ino))
	if a.Size != uint64(off) {
		go func() {
			if e := h.n.NotifyContent(0, 0); e != 0 && e != syscall.ENOENT {
				h.f.log.Debug("cache invalidation after a moved append failed", "ino", h.ino, "err", e)
			}
		}()
	}
	return uint32(len(data)), 0
}

// Flush runs on every close(2) of a descriptor: buffered data is uploaded and upload errors are reported to
// close. (POSIX locks of the closing owner are released by rawFS.Flush.)
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	return errno(h.of.wb.sync(dctx(ctx)))
}

// Fsync uploads buffered data; a Store.Write is durable when it returns, so nothing else is needed.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return errno(h.of.wb.sync(dctx(ctx)))
}

// Release runs when the last descriptor (and mapping) of the open file description is gone.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	// ctx is not cancelled for releases; a background context keeps the write-back going if the kernel
	// gives up on us.
	h.close(context.Background())
	return 0
}

func (h *handle) close(ctx context.Context) {
	if err := h.of.wb.flush(dctx(ctx)); err != nil {
		h.f.log.Warn("write-back at release failed; data lost", "ino", h.ino, "err", err)
	}
	if err := h.f.st.Release(ctx, h.ino); err != nil {
		h.f.log.Warn("store release failed", "ino", h.ino, "err", err)
	}
	h.f.release(h.of)
}

func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if mode&^store.FallocKeepSize != 0 {
		return syscall.EOPNOTSUPP
	}
	if err := h.of.wb.sync(dctx(ctx)); err != nil {
		return errno(err)
	}
	h.of.wb.gen.Add(1)
	_, err := h.f.st.Fallocate(ctx, h.ino, mode, off, size)
	if err == nil {
		h.f.publish(dataChanged(h.ino))
	}
	return errno(err)
}
