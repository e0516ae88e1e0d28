package cassandra

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/store"
)

// Extended attributes: one partition per inode, one row per name. Every write is an LWT (so that the create and
// replace flags are exact across mounts and plain writes never mix with conditional ones).

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
func (v *Volume) GetXattr(ctx context.Context, ino store.Ino, name string) (_ []byte, err error) {
	defer shape(&err)
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	if _, err := v.GetAttr(ctx, ino); err != nil {
		return nil, err
	}
	var val []byte
	err = v.read(`SELECT value FROM {ks}.xattrs WHERE ino = ? AND name = ?`, int64(ino), []byte(name)).
		ScanContext(ctx, &val)
	if errors.Is(err, gocql.ErrNotFound) {
		return nil, syscall.ENODATA
	}
	if err != nil {
		return nil, fmt.Errorf("cassandra: get xattr: %w", err)
	}
	if val == nil {
		val = []byte{}
	}
	return val, nil
}

// SetXattr implements store.Xattrs.
func (v *Volume) SetXattr(ctx context.Context, ino store.Ino, name string, value []byte, flags uint32) (err error) {
	defer shape(&err)
	if err := checkXattrName(name); err != nil {
		return err
	}
	if len(value) > store.MaxXattrValueLen {
		return syscall.E2BIG
	}
	if flags&^(store.XattrCreate|store.XattrReplace) != 0 || flags == store.XattrCreate|store.XattrReplace {
		return syscall.EINVAL
	}
	if _, err := v.GetAttr(ctx, ino); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	create := func() (bool, error) {
		ok, _, err := cas(ctx, v.q(`INSERT INTO {ks}.xattrs (ino, name, value) VALUES (?, ?, ?) IF NOT EXISTS`,
			int64(ino), []byte(name), value))
		return ok, err
	}
	replace := func() (bool, error) {
		ok, _, err := cas(ctx, v.q(`UPDATE {ks}.xattrs SET value = ? WHERE ino = ? AND name = ? IF EXISTS`,
			value, int64(ino), []byte(name)))
		return ok, err
	}
	switch flags {
	case store.XattrCreate:
		var ok bool
		if ok, err = create(); err == nil && !ok {
			return syscall.EEXIST
		}
	case store.XattrReplace:
		var ok bool
		if ok, err = replace(); err == nil && !ok {
			return syscall.ENODATA
		}
	default:
		for i := 0; i < 20; i++ {
			var ok bool
			if ok, err = create(); err != nil || ok {
				break
			}
			if ok, err = replace(); err != nil || ok {
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("cassandra: set xattr: %w", err)
	}
	return v.touchCtime(ctx, ino)
}

func (v *Volume) touchCtime(ctx context.Context, ino store.Ino) error {
	t := now()
	_, err := v.updateInode(ctx, ino, func(n *inode) error {
		n.Ctime = max(n.Ctime, t)
		return nil
	})
	return err
}

// ListXattr implements store.Xattrs.
func (v *Volume) ListXattr(ctx context.Context, ino store.Ino) (_ []string, err error) {
	defer shape(&err)
	if _, err := v.GetAttr(ctx, ino); err != nil {
		return nil, err
	}
	iter := v.read(`SELECT name FROM {ks}.xattrs WHERE ino = ?`, int64(ino)).WithContext(ctx).Iter()
	names := []string{}
	var name []byte
	for iter.Scan(&name) {
		names = append(names, string(name))
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: list xattrs: %w", err)
	}
	return names, nil
}

// RemoveXattr implements store.Xattrs.
func (v *Volume) RemoveXattr(ctx context.Context, ino store.Ino, name string) (err error) {
	defer shape(&err)
	if err := checkXattrName(name); err != nil {
		return err
	}
	if _, err := v.GetAttr(ctx, ino); err != nil {
		return err
	}
	ok, _, err := cas(ctx, v.q(`DELETE FROM {ks}.xattrs WHERE ino = ? AND name = ? IF EXISTS`, int64(ino), []byte(name)))
	if err != nil {
		return fmt.Errorf("cassandra: remove xattr: %w", err)
	}
	if !ok {
		return syscall.ENODATA
	}
	return v.touchCtime(ctx, ino)
}
