package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

var (
	_ = (fs.NodeMkdirer)((*node)(nil))
	_ = (fs.NodeMknoder)((*node)(nil))
	_ = (fs.NodeCreater)((*node)(nil))
	_ = (fs.NodeSymlinker)((*node)(nil))
	_ = (fs.NodeLinker)((*node)(nil))
	_ = (fs.NodeUnlinker)((*node)(nil))
	_ = (fs.NodeRmdirer)((*node)(nil))
	_ = (fs.NodeRenamer)((*node)(nil))
	_ = (fs.NodeTmpfiler)((*node)(nil))
)

// mknod creates name in n with the caller as owner. The mode is stored as the kernel sends it (the kernel has
// applied the umask). In a setgid directory the new inode takes the directory's group, and new directories
// inherit the setgid bit, as on local filesystems.
func (n *node) mknod(ctx context.Context, name string, nn store.NewNode) (store.Attr, error) {
	nn.Uid, nn.Gid = caller(ctx)
	nn.Mode &= 07777
	nn.InheritSetgid = true // the store applies the parent's set-group-ID bit (it reads the parent anyway)
	a, err := n.fsys.st.Mknod(ctx, n.ino(), name, nn)
	if err == nil {
		n.fsys.publish(entryChanged(n.ino(), name), attrChanged(n.ino()))
	}
	return a, err
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.mknod(ctx, name, store.NewNode{Type: store.TypeDir, Mode: mode})
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t := fileType(mode)
	if t == 0 || t == store.TypeSymlink {
		return nil, syscall.EINVAL
	}
	a, err := n.mknod(ctx, name, store.NewNode{Type: t, Mode: mode, Rdev: dev})
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.mknod(ctx, name, store.NewNode{Type: store.TypeSymlink, Mode: 0777, Target: target})
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

// Create makes and opens a regular file. The kernel sends it when its cache says name does not exist; if another
// mount created it meanwhile, the existing file is opened unless O_EXCL was given.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	a, err := n.mknod(ctx, name, store.NewNode{Type: store.TypeFile, Mode: mode})
	if err == syscall.EEXIST && flags&syscall.O_EXCL == 0 {
		a, err = n.fsys.st.Lookup(ctx, n.ino(), name)
		if err == nil && a.Type == store.TypeDir {
			err = syscall.EISDIR
		}
	} else {
		flags &^= syscall.O_TRUNC
	}
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	child := n.child(ctx, a, out)
	h, a, e := child.Operations().(*node).openHandle(ctx, flags)
	if e != 0 {
		return nil, nil, 0, e
	}
	fillAttr(a, &out.Attr)
	return child, h, 0, 0
}

// Tmpfile serves O_TMPFILE: the store has no nameless create, so the file is made under a unique hidden name,
// opened (which keeps it alive) and unlinked at once. It can be given a name later with linkat(2).
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	name := ".cassfs-tmpfile-" + randomSession()
	a, err := n.mknod(ctx, name, store.NewNode{Type: store.TypeFile, Mode: mode})
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	child := n.NewInode(ctx, &node{fsys: n.fsys}, stableAttr(a))
	h, _, e := child.Operations().(*node).openHandle(ctx, 0)
	if e == 0 {
		a, err = n.fsys.st.Unlink(ctx, n.ino(), name)
		if err != nil {
			h.close(ctx)
			e = errno(err)
		} else {
			n.fsys.publish(entryChanged(n.ino(), name), attrChanged(n.ino()))
		}
	} else {
		_, _ = n.fsys.st.Unlink(ctx, n.ino(), name)
	}
	if e != 0 {
		return nil, nil, 0, e
	}
	fillAttr(a, &out.Attr)
	return child, h, 0, 0
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ino := store.Ino(target.EmbeddedInode().StableAttr().Ino)
	a, err := n.fsys.st.Link(ctx, ino, n.ino(), name)
	if err != nil {
		return nil, errno(err)
	}
	n.fsys.publish(entryChanged(n.ino(), name), attrChanged(n.ino()), attrChanged(ino))
	return n.child(ctx, a, out), 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	a, err := n.fsys.st.Unlink(ctx, n.ino(), name)
	if err != nil {
		return errno(err)
	}
	n.publishRemoval(name, a.Ino, a.Nlink == 0)
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	child := n.childIno(name)
	if err := n.fsys.st.Rmdir(ctx, n.ino(), name); err != nil {
		return errno(err)
	}
	n.publishRemoval(name, child, true)
	return 0
}

// publishRemoval announces that name left n; child (0 if unknown) is the inode it named, gone for good if last.
func (n *node) publishRemoval(name string, child store.Ino, last bool) {
	if child != 0 && last {
		n.fsys.publish(lock.Change{Kind: lock.ChangeDelete, Ino: uint64(n.ino()), Name: name, Child: uint64(child)},
			attrChanged(n.ino()))
		return
	}
	n.fsys.publish(entryChanged(n.ino(), name), attrChanged(n.ino()))
	if child != 0 {
		n.fsys.publish(attrChanged(child))
	}
}

// Rename serves rename(2) and renameat2(2) with RENAME_NOREPLACE and RENAME_EXCHANGE (RENAME_WHITEOUT is not
// supported: EINVAL).
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^(store.RenameNoReplace|store.RenameExchange) != 0 {
		return syscall.EINVAL
	}
	np := store.Ino(newParent.EmbeddedInode().StableAttr().Ino)
	moved, replaced := n.childIno(name), newParent.EmbeddedInode().Operations().(*node).childIno(newName)
	if err := n.fsys.st.Rename(ctx, n.ino(), name, np, newName, flags); err != nil {
		return errno(err)
	}
	changes := []lock.Change{entryChanged(n.ino(), name), entryChanged(np, newName), attrChanged(n.ino()), attrChanged(np)}
	for _, ino := range []store.Ino{moved, replaced} {
		if ino != 0 {
			changes = append(changes, attrChanged(ino)) // ctime; nlink of a replaced inode; a directory's ".."
		}
	}
	n.fsys.publish(changes...)
	return 0
}
