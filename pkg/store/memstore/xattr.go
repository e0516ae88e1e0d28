package memstore

import (
	"context"
	"slices"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

// checkXattrName validates an extended attribute name.
func checkXattrName(name string) error {
	if name == "" {
		return syscall.EINVAL
	}
	if len(name) > store.MaxXattrNameLen {
		return syscall.ERANGE
	}
	return nil
}

// GetXattr implements store.Xattrs.
func (s *Store) GetXattr(ctx context.Context, ino store.Ino, name string) ([]byte, error) {
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.v.mu.Unlock()
	n, err := s.v.get(ino)
	if err != nil {
		return nil, err
	}
	val, ok := n.xattrs[name]
	if !ok {
		return nil, syscall.ENODATA
	}
	return slices.Clone(val), nil
}

// SetXattr implements store.Xattrs.
func (s *Store) SetXattr(ctx context.Context, ino store.Ino, name string, value []byte, flags uint32) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	if len(value) > store.MaxXattrValueLen {
		return syscall.E2BIG
	}
	if flags&^(store.XattrCreate|store.XattrReplace) != 0 || flags == store.XattrCreate|store.XattrReplace {
		return syscall.EINVAL
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.v.mu.Unlock()
	n, err := s.v.get(ino)
	if err != nil {
		return err
	}
	_, exists := n.xattrs[name]
	if flags == store.XattrCreate && exists {
		return syscall.EEXIST
	}
	if flags == store.XattrReplace && !exists {
		return syscall.ENODATA
	}
	n.xattrs[name] = append([]byte{}, value...)
	n.changed(s.v.now())
	return nil
}

// ListXattr implements store.Xattrs.
func (s *Store) ListXattr(ctx context.Context, ino store.Ino) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.v.mu.Unlock()
	n, err := s.v.get(ino)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(n.xattrs))
	for name := range n.xattrs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// RemoveXattr implements store.Xattrs.
func (s *Store) RemoveXattr(ctx context.Context, ino store.Ino, name string) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.v.mu.Unlock()
	n, err := s.v.get(ino)
	if err != nil {
		return err
	}
	if _, ok := n.xattrs[name]; !ok {
		return syscall.ENODATA
	}
	delete(n.xattrs, name)
	n.changed(s.v.now())
	return nil
}
