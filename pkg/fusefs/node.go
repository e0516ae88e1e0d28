package fusefs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/store"
)

// node is one inode as go-fuse knows it. It holds no attributes of its own: every answer comes from the store
// (the kernel caches them for AttrTimeout/EntryTimeout), corrected by data still buffered on this mount.
type node struct {
	fs.Inode
	fsys *fsys

	mu          sync.Mutex
	seen        attrStamp // the size and times the kernel was last told
	openVersion uint64    // the store's Attr.Version at the last open (0: none)
}

// attrStamp is what the kernel's page cache and file size depend on.
type attrStamp struct {
	size         uint64
	mtime, ctime int64
}

func stampOf(a store.Attr) attrStamp { return attrStamp{a.Size, a.Mtime, a.Ctime} }

// report records that the kernel was given a (after the write-back overlay).
func (n *node) report(a store.Attr) {
	n.mu.Lock()
	n.seen = stampOf(a)
	n.mu.Unlock()
}

// refreshKernel makes the kernel drop its cached attributes of n if the store's a differs from what it was told:
// close-to-open needs the size another mount gave the file, not the one cached for AttrTimeout.
func (n *node) refreshKernel(a store.Attr) {
	n.overlay(&a)
	n.mu.Lock()
	stale := n.seen != stampOf(a)
	n.seen = stampOf(a)
	n.mu.Unlock()
	if stale {
		if e := n.NotifyContent(-1, 0); e != 0 && e != syscall.ENOENT {
			n.fsys.log.Debug("attribute invalidation failed", "ino", n.ino(), "err", e)
		}
	}
}

var (
	_ = (fs.NodeLookuper)((*node)(nil))
	_ = (fs.NodeGetattrer)((*node)(nil))
	_ = (fs.NodeSetattrer)((*node)(nil))
	_ = (fs.NodeOpener)((*node)(nil))
	_ = (fs.NodeOpendirHandler)((*node)(nil))
	_ = (fs.NodeStatfser)((*node)(nil))
	_ = (fs.NodeReadlinker)((*node)(nil))
)

func (n *node) ino() store.Ino { return store.Ino(n.StableAttr().Ino) }

// overlay applies this mount's buffered writes to a.
func (n *node) overlay(a *store.Attr) {
	if a.Type != store.TypeFile {
		return
	}
	if of := n.fsys.lookupOpen(a.Ino); of != nil {
		of.wb.overlay(a)
	}
}

// child returns the go-fuse inode for a (the existing one if the kernel knows it already) and fills out.
func (n *node) child(ctx context.Context, a store.Attr, out *fuse.EntryOut) *fs.Inode {
	n.overlay(&a)
	fillAttr(a, &out.Attr)
	out.Generation = a.Generation
	child := n.NewInode(ctx, &node{fsys: n.fsys}, stableAttr(a))
	child.Operations().(*node).report(a)
	return child
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.fsys.st.Lookup(ctx, n.ino(), name)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a, err := n.fsys.st.GetAttr(ctx, n.ino())
	if err != nil {
		return errno(err)
	}
	n.overlay(&a)
	n.report(a)
	fillAttr(a, &out.Attr)
	return 0
}

// Setattr serves chmod, chown, truncate/ftruncate and utimensat. Buffered data is uploaded first so that it
// cannot land after (and undo) the change.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	s := setAttrIn(in)
	if err := n.fsys.flushIno(dctx(ctx), n.ino()); err != nil {
		return errno(err)
	}
	var a store.Attr
	var err error
	if s.Valid == 0 {
		a, err = n.fsys.st.GetAttr(ctx, n.ino())
	} else {
		if s.Valid&store.SetSize != 0 {
			if of := n.fsys.lookupOpen(n.ino()); of != nil {
				of.wb.gen.Add(1)
			}
		}
		a, err = n.fsys.st.SetAttr(ctx, n.ino(), s)
		if err == nil && s.Valid&store.SetSize != 0 {
			n.fsys.publish(dataChanged(n.ino()))
		} else if err == nil {
			n.fsys.publish(attrChanged(n.ino()))
		}
	}
	if err != nil {
		return errno(err)
	}
	n.overlay(&a)
	n.report(a)
	fillAttr(a, &out.Attr)
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if n.fsys.opts.ReadOnly && flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0 {
		return nil, 0, syscall.EROFS
	}
	h, a, e := n.openHandle(ctx, flags)
	if e != 0 {
		return nil, 0, e
	}
	n.refreshKernel(a)
	if n.keepCache(a) {
		return h, fuse.FOPEN_KEEP_CACHE, 0
	}
	return h, 0, 0
}

// keepCache tells whether the kernel may keep the file's cached pages at this open: the store's version is the
// one seen at the previous open on this mount, so no mount has changed the file since. (Changes made while
// the file is open reach the page cache through change notices, when a Notifier is set, or are seen at the
// next open.) Every open records the version it saw.
func (n *node) keepCache(a store.Attr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := a.Version != 0 && a.Version == n.openVersion
	n.openVersion = a.Version
	return keep
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := n.fsys.st.Readlink(ctx, n.ino())
	if err != nil {
		return nil, errno(err)
	}
	return []byte(t), 0
}

// Statfs reports the volume's quota (or a very large size when unlimited) in 4 KiB blocks.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	u, err := n.fsys.st.StatFS(ctx)
	if err != nil {
		return errno(err)
	}
	const unlimited = 1 << 50 // 1 PiB, or 2^50 inodes
	capacity := u.CapacityBytes
	if capacity == 0 {
		capacity = unlimited
	}
	inodes := u.MaxInodes
	if inodes == 0 {
		inodes = unlimited
	}
	out.Bsize = blockSize
	out.Frsize = blockSize
	out.NameLen = store.MaxNameLen
	out.Blocks = capacity / blockSize
	out.Bfree = sub(capacity, u.Bytes) / blockSize
	out.Bavail = out.Bfree
	out.Files = inodes
	out.Ffree = sub(inodes, u.Inodes)
	return 0
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
