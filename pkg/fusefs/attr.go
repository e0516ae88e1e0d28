package fusefs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/store"
)

// typeBits maps a store type to the S_IFMT bits of a mode.
func typeBits(t store.FileType) uint32 {
	switch t {
	case store.TypeFile:
		return syscall.S_IFREG
	case store.TypeDir:
		return syscall.S_IFDIR
	case store.TypeSymlink:
		return syscall.S_IFLNK
	case store.TypeFIFO:
		return syscall.S_IFIFO
	case store.TypeSocket:
		return syscall.S_IFSOCK
	case store.TypeCharDev:
		return syscall.S_IFCHR
	case store.TypeBlockDev:
		return syscall.S_IFBLK
	}
	return 0
}

// fileType maps the S_IFMT bits of a mode to a store type (0 if unknown; a zero type means a regular file, as
// mknod(2) says).
func fileType(mode uint32) store.FileType {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG, 0:
		return store.TypeFile
	case syscall.S_IFDIR:
		return store.TypeDir
	case syscall.S_IFLNK:
		return store.TypeSymlink
	case syscall.S_IFIFO:
		return store.TypeFIFO
	case syscall.S_IFSOCK:
		return store.TypeSocket
	case syscall.S_IFCHR:
		return store.TypeCharDev
	case syscall.S_IFBLK:
		return store.TypeBlockDev
	}
	return 0
}

// stableAttr is the identity go-fuse keeps for an inode.
func stableAttr(a store.Attr) fs.StableAttr {
	return fs.StableAttr{Mode: typeBits(a.Type), Ino: uint64(a.Ino), Gen: a.Generation}
}

const blockSize = 4096

// fillAttr converts store attributes to the kernel's.
func fillAttr(a store.Attr, out *fuse.Attr) {
	out.Ino = uint64(a.Ino)
	out.Mode = typeBits(a.Type) | (a.Mode & 07777)
	out.Nlink = a.Nlink
	out.Owner = fuse.Owner{Uid: a.Uid, Gid: a.Gid}
	out.Size = a.Size
	out.Blocks = (a.Size + 511) / 512
	out.Blksize = blockSize
	out.Rdev = a.Rdev
	out.Atime, out.Atimensec = splitNs(a.Atime)
	out.Mtime, out.Mtimensec = splitNs(a.Mtime)
	out.Ctime, out.Ctimensec = splitNs(a.Ctime)
}

func splitNs(ns int64) (uint64, uint32) {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return uint64(sec), uint32(nsec)
}

func timeNs(t time.Time) int64 { return t.UnixNano() }

// caller returns the uid and gid of the process behind a request.
func caller(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return 0, 0
}

// setAttrIn converts a kernel setattr request to the store's. Times given as UTIME_NOW arrive with the *_NOW bit;
// UTIME_OMIT arrives as an absent field.
func setAttrIn(in *fuse.SetAttrIn) store.SetAttrIn {
	var s store.SetAttrIn
	if m, ok := in.GetMode(); ok {
		s.Valid |= store.SetMode
		s.Mode = m & 07777
	}
	if u, ok := in.GetUID(); ok {
		s.Valid |= store.SetUid
		s.Uid = u
	}
	if g, ok := in.GetGID(); ok {
		s.Valid |= store.SetGid
		s.Gid = g
	}
	if sz, ok := in.GetSize(); ok {
		s.Valid |= store.SetSize
		s.Size = sz
	}
	if t, ok := in.GetATime(); ok {
		s.Valid |= store.SetAtime
		s.Atime = timeNs(t)
	}
	if t, ok := in.GetMTime(); ok {
		s.Valid |= store.SetMtime
		s.Mtime = timeNs(t)
	}
	if t, ok := in.GetCTime(); ok {
		s.Valid |= store.SetCtime
		s.Ctime = timeNs(t)
	}
	return s
}

// errno converts a store error at the FUSE edge.
func errno(err error) syscall.Errno { return store.ToErrno(err) }
