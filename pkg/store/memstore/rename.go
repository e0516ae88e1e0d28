package memstore

import (
	"context"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

// Rename implements store.Namespace.
func (s *Store) Rename(ctx context.Context, oldParent store.Ino, oldName string, newParent store.Ino, newName string, flags uint32) error {
	if err := store.CheckName(oldName); err != nil {
		return err
	}
	if err := store.CheckName(newName); err != nil {
		return err
	}
	if flags&^(store.RenameNoReplace|store.RenameExchange) != 0 ||
		flags == store.RenameNoReplace|store.RenameExchange {
		return syscall.EINVAL
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.v.mu.Unlock()
	v := s.v
	od, err := v.dir(oldParent)
	if err != nil {
		return err
	}
	nd, err := v.dir(newParent)
	if err != nil {
		return err
	}
	srcIno, ok := od.entries[oldName]
	if !ok {
		return syscall.ENOENT
	}
	src := v.inodes[srcIno]
	dstIno, dstExists := nd.entries[newName]
	if flags&store.RenameNoReplace != 0 && dstExists {
		return syscall.EEXIST
	}
	if flags&store.RenameExchange != 0 {
		if !dstExists {
			return syscall.ENOENT
		}
		return v.exchange(od, oldName, src, nd, newName, v.inodes[dstIno])
	}
	if dstExists && dstIno == srcIno {
		return nil // the same inode (or the same entry): nothing to do
	}
	if src.attr.Type == store.TypeDir && v.isUnder(newParent, srcIno) {
		return syscall.EINVAL
	}
	var dst *inode
	if dstExists {
		dst = v.inodes[dstIno]
		switch {
		case src.attr.Type == store.TypeDir && dst.attr.Type != store.TypeDir:
			return syscall.ENOTDIR
		case src.attr.Type != store.TypeDir && dst.attr.Type == store.TypeDir:
			return syscall.EISDIR
		case dst.attr.Type == store.TypeDir && len(dst.entries) > 0:
			return syscall.ENOTEMPTY
		}
	}
	now := v.now()
	delete(od.entries, oldName)
	nd.entries[newName] = srcIno
	if dst != nil {
		if dst.attr.Type == store.TypeDir {
			nd.attr.Nlink--
		}
		v.dropLink(dst, now)
	}
	if src.attr.Type == store.TypeDir {
		od.attr.Nlink--
		nd.attr.Nlink++
		src.parent = newParent
	}
	src.changed(now)
	touch(od, now)
	touch(nd, now)
	return nil
}

// exchange swaps two existing entries (renameat2 RENAME_EXCHANGE).
func (v *Volume) exchange(od *inode, oldName string, a *inode, nd *inode, newName string, b *inode) error {
	if a == b {
		return nil
	}
	if a.attr.Type == store.TypeDir && v.isUnder(nd.attr.Ino, a.attr.Ino) {
		return syscall.EINVAL
	}
	if b.attr.Type == store.TypeDir && v.isUnder(od.attr.Ino, b.attr.Ino) {
		return syscall.EINVAL
	}
	now := v.now()
	od.entries[oldName], nd.entries[newName] = b.attr.Ino, a.attr.Ino
	if a.attr.Type == store.TypeDir {
		od.attr.Nlink--
		nd.attr.Nlink++
		a.parent = nd.attr.Ino
	}
	if b.attr.Type == store.TypeDir {
		nd.attr.Nlink--
		od.attr.Nlink++
		b.parent = od.attr.Ino
	}
	a.changed(now)
	b.changed(now)
	touch(od, now)
	touch(nd, now)
	return nil
}

// isUnder reports whether directory d is dir or lies below it.
func (v *Volume) isUnder(d, dir store.Ino) bool {
	for {
		if d == dir {
			return true
		}
		if d == store.RootIno {
			return false
		}
		d = v.inodes[d].parent
	}
}
