package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

var (
	_ = (fs.NodeGetxattrer)((*node)(nil))
	_ = (fs.NodeSetxattrer)((*node)(nil))
	_ = (fs.NodeListxattrer)((*node)(nil))
	_ = (fs.NodeRemovexattrer)((*node)(nil))
)

// Getxattr copies the value into dest; with an empty dest it only reports the size, and a dest too small is
// ERANGE, as getxattr(2) says.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.fsys.st.GetXattr(ctx, n.ino(), attr)
	if err != nil {
		return 0, errno(err)
	}
	return copyOut(dest, v)
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	err := n.fsys.st.SetXattr(ctx, n.ino(), attr, data, flags)
	if err == nil {
		n.fsys.publish(attrChanged(n.ino()))
	}
	return errno(err)
}

// Listxattr returns the names, each followed by a NUL.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names, err := n.fsys.st.ListXattr(ctx, n.ino())
	if err != nil {
		return 0, errno(err)
	}
	var b []byte
	for _, name := range names {
		b = append(b, name...)
		b = append(b, 0)
	}
	return copyOut(dest, b)
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	err := n.fsys.st.RemoveXattr(ctx, n.ino(), attr)
	if err == nil {
		n.fsys.publish(attrChanged(n.ino()))
	}
	return errno(err)
}

func copyOut(dest, v []byte) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}
