package fusefs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirPage is how many entries one store.ReadDir call fetches.
const dirPage = 512

// dirHandle is one open directory. The store lists a directory by name, resuming after the last name returned,
// which stays correct while other clients add and remove entries. The handle remembers the entries it has
// produced so far (offset i+1 is entries[i]), so the kernel can seek back to any offset it was given
// (telldir/seekdir, interrupted getdents) and see the same entries again. Seeking to 0 (rewinddir) starts a
// fresh listing.
type dirHandle struct {
	n *node

	mu      sync.Mutex
	entries []fuse.DirEntry
	pos     int    // index of the next entry to return
	after   string // store cursor: the last name fetched
	done    bool   // the store has no more entries
}

var (
	_ = (fs.FileReaddirenter)((*dirHandle)(nil))
	_ = (fs.FileSeekdirer)((*dirHandle)(nil))
	_ = (fs.FileFsyncdirer)((*dirHandle)(nil))
	_ = (fs.FileReleasedirer)((*dirHandle)(nil))
)

// OpendirHandle records the open in the store like a file open, so that a directory removed (or renamed over)
// while open can still be fstat'ed until it is closed.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if _, err := n.fsys.st.Open(ctx, n.ino()); err != nil {
		return nil, 0, errno(err)
	}
	d := &dirHandle{n: n}
	d.reset()
	return d, 0, 0
}

// reset starts a fresh listing with "." and "..".
func (d *dirHandle) reset() {
	self := uint64(d.n.ino())
	parent := self
	if _, p := d.n.Parent(); p != nil {
		parent = p.StableAttr().Ino
	}
	d.entries = append(d.entries[:0],
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: self, Off: 1},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parent, Off: 2})
	d.pos, d.after, d.done = 0, "", false
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pos == len(d.entries) && !d.done {
		if err := d.fetch(ctx); err != nil {
			return nil, errno(err)
		}
	}
	if d.pos == len(d.entries) {
		return nil, 0
	}
	e := d.entries[d.pos]
	d.pos++
	return &e, 0
}

// fetch appends the next page of the store's listing.
func (d *dirHandle) fetch(ctx context.Context) error {
	page, err := d.n.fsys.st.ReadDir(ctx, d.n.ino(), d.after, dirPage)
	if err != nil {
		return err
	}
	for _, e := range page {
		if d.after != "" && e.Name <= d.after {
			continue // a store that resumes inclusively must not make us list a name twice
		}
		d.entries = append(d.entries, fuse.DirEntry{
			Name: e.Name,
			Ino:  uint64(e.Ino),
			Mode: typeBits(e.Type),
			Off:  uint64(len(d.entries) + 1),
		})
	}
	if len(page) > 0 {
		d.after = page[len(page)-1].Name
	}
	d.done = len(page) < dirPage
	return nil
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 {
		d.reset()
		return 0
	}
	if off > uint64(len(d.entries)) {
		return syscall.EINVAL
	}
	d.pos = int(off)
	return 0
}

func (d *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	if err := d.n.fsys.st.Release(ctx, d.n.ino()); err != nil {
		d.n.fsys.log.Warn("store release failed", "ino", d.n.ino(), "err", err)
	}
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno { return 0 }
