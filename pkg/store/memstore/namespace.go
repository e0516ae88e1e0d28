package memstore

import (
	"context"
	"slices"
	"strings"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

// MaxSymlinkLen is the longest symlink target.
const MaxSymlinkLen = 4095

// GetAttr implements store.Namespace.
func (s *Store) GetAttr(ctx context.Context, ino store.Ino) (store.Attr, error) {
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	n, err := s.v.get(ino)
	if err != nil {
		return store.Attr{}, err
	}
	return n.attr, nil
}

// Lookup implements store.Namespace.
func (s *Store) Lookup(ctx context.Context, parent store.Ino, name string) (store.Attr, error) {
	if err := store.CheckName(name); err != nil {
		return store.Attr{}, err
	}
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	d, err := s.v.dir(parent)
	if err != nil {
		return store.Attr{}, err
	}
	ino, ok := d.entries[name]
	if !ok {
		return store.Attr{}, syscall.ENOENT
	}
	return s.v.inodes[ino].attr, nil
}

// checkNewNode validates the description of an inode to create.
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

// Mknod implements store.Namespace.
func (s *Store) Mknod(ctx context.Context, parent store.Ino, name string, nn store.NewNode) (store.Attr, error) {
	if err := store.CheckName(name); err != nil {
		return store.Attr{}, err
	}
	if err := checkNewNode(nn); err != nil {
		return store.Attr{}, err
	}
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	d, err := v.dir(parent)
	if err != nil {
		return store.Attr{}, err
	}
	if _, ok := d.entries[name]; ok {
		return store.Attr{}, syscall.EEXIST
	}
	nn = store.ApplySetgid(nn, d.attr)
	if v.opts.MaxInodes > 0 && uint64(len(v.inodes)) >= v.opts.MaxInodes {
		return store.Attr{}, syscall.ENOSPC
	}
	now := v.now()
	ino := v.nextIno
	v.nextIno++
	n := &inode{
		attr: store.Attr{Ino: ino, Type: nn.Type, Mode: nn.Mode, Uid: nn.Uid, Gid: nn.Gid, Nlink: 1,
			Atime: now, Mtime: now, Ctime: now, Generation: 1, Version: uint64(now)},
		xattrs: map[string][]byte{},
	}
	switch nn.Type {
	case store.TypeDir:
		n.attr.Nlink = 2
		n.entries = map[string]store.Ino{}
		n.parent = parent
		d.attr.Nlink++
	case store.TypeFile:
		n.chunks = map[uint64][]byte{}
	case store.TypeSymlink:
		n.target = nn.Target
		n.attr.Size = uint64(len(nn.Target))
	case store.TypeCharDev, store.TypeBlockDev:
		n.attr.Rdev = nn.Rdev
	}
	v.inodes[ino] = n
	d.entries[name] = ino
	touch(d, now)
	return n.attr, nil
}

// Link implements store.Namespace.
func (s *Store) Link(ctx context.Context, ino store.Ino, parent store.Ino, name string) (store.Attr, error) {
	if err := store.CheckName(name); err != nil {
		return store.Attr{}, err
	}
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	n, err := v.get(ino)
	if err != nil {
		return store.Attr{}, err
	}
	if n.attr.Type == store.TypeDir {
		return store.Attr{}, syscall.EPERM
	}
	if n.attr.Nlink == 0 {
		return store.Attr{}, syscall.ENOENT
	}
	d, err := v.dir(parent)
	if err != nil {
		return store.Attr{}, err
	}
	if _, ok := d.entries[name]; ok {
		return store.Attr{}, syscall.EEXIST
	}
	now := v.now()
	d.entries[name] = ino
	touch(d, now)
	n.attr.Nlink++
	n.changed(now)
	return n.attr, nil
}

// Unlink implements store.Namespace.
func (s *Store) Unlink(ctx context.Context, parent store.Ino, name string) (store.Attr, error) {
	if err := store.CheckName(name); err != nil {
		return store.Attr{}, err
	}
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	d, err := v.dir(parent)
	if err != nil {
		return store.Attr{}, err
	}
	ino, ok := d.entries[name]
	if !ok {
		return store.Attr{}, syscall.ENOENT
	}
	n := v.inodes[ino]
	if n.attr.Type == store.TypeDir {
		return store.Attr{}, syscall.EISDIR
	}
	now := v.now()
	delete(d.entries, name)
	touch(d, now)
	v.dropLink(n, now)
	return n.attr, nil
}

// Rmdir implements store.Namespace.
func (s *Store) Rmdir(ctx context.Context, parent store.Ino, name string) error {
	if err := store.CheckName(name); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.v.mu.Unlock()
	v := s.v
	d, err := v.dir(parent)
	if err != nil {
		return err
	}
	ino, ok := d.entries[name]
	if !ok {
		return syscall.ENOENT
	}
	n := v.inodes[ino]
	if n.attr.Type != store.TypeDir {
		return syscall.ENOTDIR
	}
	if len(n.entries) > 0 {
		return syscall.ENOTEMPTY
	}
	now := v.now()
	delete(d.entries, name)
	d.attr.Nlink--
	touch(d, now)
	v.dropLink(n, now)
	return nil
}

// ReadDir implements store.Namespace. A limit of 0 or less means no limit.
func (s *Store) ReadDir(ctx context.Context, dir store.Ino, after string, limit int) ([]store.Dirent, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.v.mu.Unlock()
	d, err := s.v.dir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(d.entries))
	for name := range d.entries {
		if name > after {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, strings.Compare)
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	out := make([]store.Dirent, len(names))
	for i, name := range names {
		ino := d.entries[name]
		out[i] = store.Dirent{Name: name, Ino: ino, Type: s.v.inodes[ino].attr.Type}
	}
	return out, nil
}

// SetAttr implements store.Namespace.
func (s *Store) SetAttr(ctx context.Context, ino store.Ino, in store.SetAttrIn) (store.Attr, error) {
	if in.Valid&store.SetMode != 0 && in.Mode&^uint32(0o7777) != 0 {
		return store.Attr{}, syscall.EINVAL
	}
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	n, err := v.get(ino)
	if err != nil {
		return store.Attr{}, err
	}
	now := v.now()
	if in.Valid&store.SetSize != 0 {
		switch n.attr.Type {
		case store.TypeFile:
		case store.TypeDir:
			return store.Attr{}, syscall.EISDIR
		default:
			return store.Attr{}, syscall.EINVAL
		}
		if err := v.resize(n, in.Size); err != nil {
			return store.Attr{}, err
		}
		s.forget(ino)
		n.attr.Mtime = now
	}
	if in.Valid&store.SetMode != 0 {
		n.attr.Mode = in.Mode
	}
	if in.Valid&store.SetUid != 0 {
		n.attr.Uid = in.Uid
	}
	if in.Valid&store.SetGid != 0 {
		n.attr.Gid = in.Gid
	}
	if in.Valid&store.SetAtime != 0 {
		n.attr.Atime = in.Atime
	}
	if in.Valid&store.SetMtime != 0 {
		n.attr.Mtime = in.Mtime
	}
	n.changed(now)
	if in.Valid&store.SetCtime != 0 {
		n.attr.Ctime = in.Ctime
	}
	return n.attr, nil
}

// Readlink implements store.Namespace.
func (s *Store) Readlink(ctx context.Context, ino store.Ino) (string, error) {
	if err := s.begin(ctx); err != nil {
		return "", err
	}
	defer s.v.mu.Unlock()
	n, err := s.v.get(ino)
	if err != nil {
		return "", err
	}
	if n.attr.Type != store.TypeSymlink {
		return "", syscall.EINVAL
	}
	return n.target, nil
}
