package cassandra

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/cassfs/cassfs/pkg/store"
)

// MaxSymlinkLen is the longest symlink target.
const MaxSymlinkLen = 4095

// GetAttr implements store.Namespace.
func (v *Volume) GetAttr(ctx context.Context, ino store.Ino) (_ store.Attr, err error) {
	defer shape(&err)
	if err := v.checkOpen(); err != nil {
		return store.Attr{}, err
	}
	n, err := v.readInode(ctx, ino, false)
	return n.Attr, err
}

// dir reads directory ino: ENOENT if missing or removed, ENOTDIR if not a directory.
func (v *Volume) dir(ctx context.Context, ino store.Ino) (inode, error) {
	if err := v.checkOpen(); err != nil {
		return inode{}, err
	}
	d, err := v.readInode(ctx, ino, false)
	if err != nil {
		return inode{}, err
	}
	if d.Type != store.TypeDir {
		return inode{}, syscall.ENOTDIR
	}
	if d.Nlink == 0 {
		return inode{}, syscall.ENOENT
	}
	return d, nil
}

// Lookup implements store.Namespace. The entry is read first: only a miss needs the parent's inode (to tell
// ENOTDIR from ENOENT), since only live directories have entries.
func (v *Volume) Lookup(ctx context.Context, parent store.Ino, name string) (_ store.Attr, err error) {
	defer shape(&err)
	if err := store.CheckName(name); err != nil {
		return store.Attr{}, err
	}
	if err := v.checkOpen(); err != nil {
		return store.Attr{}, err
	}
	e, err := v.getEntry(ctx, parent, name, false)
	if errors.Is(err, syscall.ENOENT) {
		if _, derr := v.dir(ctx, parent); derr != nil {
			return store.Attr{}, derr
		}
	}
	if err != nil {
		return store.Attr{}, err
	}
	n, err := v.readInode(ctx, e.ino, false)
	if errors.Is(err, syscall.ENOENT) {
		// A dangling entry can only be seen half-way through another mount's unlink; re-read through Paxos.
		if e, err = v.getEntry(ctx, parent, name, true); err != nil {
			return store.Attr{}, err
		}
		n, err = v.readInode(ctx, e.ino, true)
	}
	return n.Attr, err
}

func checkNewNode(n store.NewNode) error {
	if n.Mode&^uint32(0o7777) != 0 {
		return syscall.EINVAL
	}
	switch n.Type {
	case store.TypeFile, store.TypeDir, store.TypeFIFO, store.TypeSocket, store.TypeCharDev, store.TypeBlockDev:
	case store.TypeSymlink:
		if n.Target == "" {
			return syscall.EINVAL
		}
		if len(n.Target) > MaxSymlinkLen {
			return syscall.ENAMETOOLONG
		}
	default:
		return syscall.EINVAL
	}
	return nil
}

// Mknod implements store.Namespace. Order: inode row, entry (the commit point), usage, parent. A crash before
// the entry leaves an unreachable inode (leaked space, reclaimed by Fsck); after it, at worst the parent's
// nlink and mtime are stale (Fsck corrects nlink).
func (v *Volume) Mknod(ctx context.Context, parent store.Ino, name string, nn store.NewNode) (_ store.Attr, err error) {
	defer shape(&err)
	if err := store.CheckName(name); err != nil {
		return store.Attr{}, err
	}
	if err := checkNewNode(nn); err != nil {
		return store.Attr{}, err
	}
	// The parent, the name and the inode quota are checked in parallel (one round trip).
	entryErr, quotaErr := make(chan error, 1), make(chan error, 1)
	go func() { _, err := v.getEntry(ctx, parent, name, false); entryErr <- err }()
	go func() { quotaErr <- v.checkInodeQuota(ctx) }()
	p, err := v.dir(ctx, parent)
	eerr, qerr := <-entryErr, <-quotaErr
	if err != nil {
		return store.Attr{}, err
	}
	if eerr == nil {
		return store.Attr{}, syscall.EEXIST
	} else if !errors.Is(eerr, syscall.ENOENT) {
		return store.Attr{}, eerr
	}
	if qerr != nil {
		return store.Attr{}, qerr
	}
	nn = store.ApplySetgid(nn, p.Attr)
	num, err := v.alloc.get(ctx)
	if err != nil {
		return store.Attr{}, err
	}
	t := now()
	n := inode{Attr: store.Attr{Ino: store.Ino(num), Type: nn.Type, Mode: nn.Mode, Uid: nn.Uid, Gid: nn.Gid,
		Nlink: 1, Atime: t, Mtime: t, Ctime: t, Generation: 1}}
	switch nn.Type {
	case store.TypeDir:
		n.Nlink, n.parent = 2, parent
	case store.TypeSymlink:
		n.target, n.Size = nn.Target, uint64(len(nn.Target))
	case store.TypeCharDev, store.TypeBlockDev:
		n.Rdev = nn.Rdev
	}
	if err := v.insertInode(ctx, &n); err != nil {
		return store.Attr{}, err
	}
	if err := fail("mknod.inode"); err != nil {
		return store.Attr{}, err
	}
	if err := v.createEntryWait(ctx, parent, name, entry{n.Ino, n.Type}); err != nil {
		_ = v.deleteInode(context.WithoutCancel(ctx), n.Ino)
		return store.Attr{}, err
	}
	// After the commit point, the usage counter (statistics) and the parent's update are independent: in
	// parallel.
	usageDone := make(chan struct{})
	go func() { v.addUsage(ctx, 0, 1); close(usageDone) }()
	defer func() { <-usageDone }()
	if err := fail("mknod.entry"); err != nil {
		return store.Attr{}, err
	}
	if err := v.touchDirFrom(ctx, &p, t, boolInt(nn.Type == store.TypeDir)); err != nil {
		return store.Attr{}, err
	}
	return n.Attr, nil
}

// createEntryWait is createEntry that, when the directory is sealed by an rmdir that may yet fail with
// ENOTEMPTY, waits a little for the outcome before reporting ENOENT.
func (v *Volume) createEntryWait(ctx context.Context, parent store.Ino, name string, e entry) error {
	for i := 0; ; i++ {
		err := v.createEntry(ctx, parent, name, e)
		if !errors.Is(err, syscall.ENOENT) || i == 20 {
			return err
		}
		if _, derr := v.dir(ctx, parent); derr != nil {
			return derr
		}
		select {
		case <-time.After(time.Duration(5*(i+1)) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// touchDir sets a directory's mtime and ctime to t (never backwards) and adds dlink to its nlink.
func (v *Volume) touchDir(ctx context.Context, dir store.Ino, t int64, dlink int) error {
	return v.touchDirFrom(ctx, &inode{Attr: store.Attr{Ino: dir}}, t, dlink)
}

// touchDirFrom is touchDir starting from d as read (d.ver 0: read it first).
func (v *Volume) touchDirFrom(ctx context.Context, d *inode, t int64, dlink int) error {
	first := d
	if d.ver == 0 {
		first = nil
	}
	_, err := v.updateInodeFrom(ctx, d.Ino, first, func(d *inode) error {
		if d.Nlink == 0 && dlink != 0 {
			return errNoChange
		}
		d.Nlink = uint32(int(d.Nlink) + dlink)
		d.Mtime, d.Ctime = max(d.Mtime, t), max(d.Ctime, t)
		return nil
	})
	if errors.Is(err, syscall.ENOENT) {
		return nil // removed meanwhile
	}
	return err
}

// Link implements store.Namespace. Order: nlink+1, then the entry; a crash in between leaves nlink one too high
// (Fsck corrects it), never an entry without its count.
func (v *Volume) Link(ctx context.Context, ino store.Ino, parent store.Ino, name string) (_ store.Attr, err error) {
	defer shape(&err)
	if err := store.CheckName(name); err != nil {
		return store.Attr{}, err
	}
	if err := v.checkOpen(); err != nil {
		return store.Attr{}, err
	}
	n, err := v.readInode(ctx, ino, false)
	if err != nil {
		return store.Attr{}, err
	}
	if n.Type == store.TypeDir {
		return store.Attr{}, syscall.EPERM
	}
	if _, err := v.dir(ctx, parent); err != nil {
		return store.Attr{}, err
	}
	if _, err := v.getEntry(ctx, parent, name, false); err == nil {
		return store.Attr{}, syscall.EEXIST
	}
	t := now()
	n, err = v.updateInode(ctx, ino, func(n *inode) error {
		if n.Nlink == 0 {
			return syscall.ENOENT
		}
		n.Nlink++
		n.Ctime = max(n.Ctime, t)
		return nil
	})
	if err != nil {
		return store.Attr{}, err
	}
	if err := fail("link.nlink"); err != nil {
		return store.Attr{}, err
	}
	if err := v.createEntryWait(ctx, parent, name, entry{ino, n.Type}); err != nil {
		_, _ = v.dropLink(context.WithoutCancel(ctx), ino, t)
		return store.Attr{}, err
	}
	if err := fail("link.entry"); err != nil {
		return store.Attr{}, err
	}
	if err := v.touchDir(ctx, parent, t, 0); err != nil {
		return store.Attr{}, err
	}
	return n.Attr, nil
}

// dropLink lowers ino's nlink (directories: to 0) and reclaims it if that was the last link and no session holds
// it open.
func (v *Volume) dropLink(ctx context.Context, ino store.Ino, t int64) (inode, error) {
	n, err := v.updateInode(ctx, ino, func(n *inode) error {
		if n.Nlink == 0 {
			return errNoChange
		}
		if n.Type == store.TypeDir {
			n.Nlink = 0
		} else {
			n.Nlink--
		}
		n.Ctime = max(n.Ctime, t)
		return nil
	})
	if err != nil {
		return inode{}, err
	}
	if n.Nlink == 0 {
		if err := v.maybeReclaim(ctx, n); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Unlink implements store.Namespace. Order: the entry (the commit point), then nlink-1 and reclaim; a crash in
// between leaves nlink one too high (leaked space until Fsck).
func (v *Volume) Unlink(ctx context.Context, parent store.Ino, name string) (_ store.Attr, err error) {
	defer shape(&err)
	if err := store.CheckName(name); err != nil {
		return store.Attr{}, err
	}
	// The parent and the entry are read in parallel (one round trip).
	type entryRead struct {
		e   entry
		err error
	}
	first := make(chan entryRead, 1)
	go func() { e, err := v.getEntry(ctx, parent, name, false); first <- entryRead{e, err} }()
	p, err := v.dir(ctx, parent)
	fe := <-first
	if err != nil {
		return store.Attr{}, err
	}
	for attempt := 0; ; attempt++ {
		e, err := fe.e, fe.err
		if attempt > 0 {
			e, err = v.getEntry(ctx, parent, name, false)
		}
		if err != nil {
			return store.Attr{}, err
		}
		if e.typ == store.TypeDir {
			return store.Attr{}, syscall.EISDIR
		}
		if err := v.removeEntry(ctx, parent, name, e.ino); errors.Is(err, syscall.ENOENT) {
			continue // replaced or removed meanwhile: look again
		} else if err != nil {
			return store.Attr{}, err
		}
		if err := fail("unlink.entry"); err != nil {
			return store.Attr{}, err
		}
		// After the commit point the inode's count and the parent's times are independent: in parallel, the
		// parent starting from the row read above.
		t := now()
		touched := make(chan error, 1)
		go func() { touched <- v.touchDirFrom(ctx, &p, t, 0) }()
		n, err := v.dropLink(ctx, e.ino, t)
		terr := <-touched
		if err != nil {
			return store.Attr{}, err
		}
		if terr != nil {
			return store.Attr{}, terr
		}
		return n.Attr, nil
	}
}

// Rmdir implements store.Namespace. Order: seal and check empty, remove the entry (the commit point), parent
// nlink-1, then the inode and its partition. A crash after the entry leaves an unreachable empty directory
// (Fsck reclaims it) and possibly the parent's nlink one too high (Fsck corrects it).
func (v *Volume) Rmdir(ctx context.Context, parent store.Ino, name string) (err error) {
	defer shape(&err)
	if err := store.CheckName(name); err != nil {
		return err
	}
	if _, err := v.dir(ctx, parent); err != nil {
		return err
	}
	ctx, unlock, err := v.lockRename(ctx) // a directory is never removed while a rename moves it
	if err != nil {
		return err
	}
	defer unlock()
	e, err := v.getEntry(ctx, parent, name, true)
	if err != nil {
		return err
	}
	if e.typ != store.TypeDir {
		return syscall.ENOTDIR
	}
	if err := v.seal(ctx, e.ino); err != nil {
		return err
	}
	if err := renameLockValid(ctx); err != nil {
		_ = v.unseal(context.WithoutCancel(ctx), e.ino)
		return err
	}
	if err := v.removeEntry(ctx, parent, name, e.ino); err != nil {
		_ = v.unseal(context.WithoutCancel(ctx), e.ino)
		return err
	}
	if err := fail("rmdir.entry"); err != nil {
		return err
	}
	t := now()
	if err := v.touchDir(ctx, parent, t, -1); err != nil {
		return err
	}
	if err := fail("rmdir.parent"); err != nil {
		return err
	}
	_, err = v.dropLink(ctx, e.ino, t)
	return err
}

// ReadDir implements store.Namespace. A limit of 0 or less means no limit. The directory's inode is read only
// when the page is empty (to report ENOTDIR or ENOENT).
func (v *Volume) ReadDir(ctx context.Context, dir store.Ino, after string, limit int) (_ []store.Dirent, err error) {
	defer shape(&err)
	if err := v.checkOpen(); err != nil {
		return nil, err
	}
	ents, err := v.listEntries(ctx, dir, after, limit)
	if err != nil {
		return nil, err
	}
	if len(ents) == 0 {
		if _, err := v.dir(ctx, dir); err != nil {
			return nil, err
		}
	}
	return ents, nil
}

// Readlink implements store.Namespace.
func (v *Volume) Readlink(ctx context.Context, ino store.Ino) (_ string, err error) {
	defer shape(&err)
	if err := v.checkOpen(); err != nil {
		return "", err
	}
	n, err := v.readInode(ctx, ino, false)
	if err != nil {
		return "", err
	}
	if n.Type != store.TypeSymlink {
		return "", syscall.EINVAL
	}
	return n.target, nil
}
