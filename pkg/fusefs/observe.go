package fusefs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Observer is told about the requests a mount serves (Options.Observer). Its methods run on the request path,
// concurrently from many goroutines: they must be cheap, must not block and must not allocate per call (keep
// whatever a metric needs resolved in advance, per Op). A mount never passes names, paths or data to it.
type Observer interface {
	// Op reports one FUSE request: its opcode, how long serving it took and its result (0: success, else the
	// errno the kernel got; a LOOKUP of a missing name is ENOENT even when answered with a negative entry).
	// Requests that wait for a lock (SETLKW) count their waiting time.
	Op(op Op, d time.Duration, errno uint32)
	// BytesRead and BytesWritten report file data returned by a READ and accepted by a WRITE.
	BytesRead(n int)
	BytesWritten(n int)
	// ReadAhead reports, for each sequential read, whether it was served from windows fetched ahead of it
	// (hit, possibly after waiting for a prefetch still in flight) or had to fetch a window itself (miss).
	// Random reads and reads of a whole window or more bypass read-ahead and are not reported.
	ReadAhead(hit bool)
}

// Op is a FUSE request type, as Observer sees it.
type Op uint8

// The FUSE requests a mount serves.
const (
	OpLookup Op = iota
	OpForget
	OpGetattr
	OpSetattr
	OpMknod
	OpMkdir
	OpUnlink
	OpRmdir
	OpRename
	OpLink
	OpSymlink
	OpReadlink
	OpAccess
	OpGetxattr
	OpListxattr
	OpSetxattr
	OpRemovexattr
	OpCreate
	OpTmpfile
	OpOpen
	OpRead
	OpLseek
	OpGetlk
	OpSetlk
	OpSetlkw
	OpRelease
	OpWrite
	OpCopyFileRange
	OpIoctl
	OpFlush
	OpFsync
	OpFallocate
	OpOpendir
	OpReaddir
	OpReaddirplus
	OpReleasedir
	OpFsyncdir
	OpStatfs
	OpStatx
	NumOps // the number of Op values, for tables indexed by Op
)

var opNames = [NumOps]string{"lookup", "forget", "getattr", "setattr", "mknod", "mkdir", "unlink", "rmdir",
	"rename", "link", "symlink", "readlink", "access", "getxattr", "listxattr", "setxattr", "removexattr", "create",
	"tmpfile", "open", "read", "lseek", "getlk", "setlk", "setlkw", "release", "write", "copy_file_range", "ioctl",
	"flush", "fsync", "fallocate", "opendir", "readdir", "readdirplus", "releasedir", "fsyncdir", "statfs", "statx"}

// String returns the lower-case name of the request ("lookup", "setlkw", "copy_file_range").
func (o Op) String() string {
	if o < NumOps {
		return opNames[o]
	}
	return "unknown"
}

// noObserver is the Observer of mounts that have none.
type noObserver struct{}

func (noObserver) Op(Op, time.Duration, uint32) {}
func (noObserver) BytesRead(int)                {}
func (noObserver) BytesWritten(int)             {}
func (noObserver) ReadAhead(bool)               {}

// observedFS times every request of the wrapped file system and reports it to an Observer. It only watches:
// arguments and results pass through unchanged.
type observedFS struct {
	fuse.RawFileSystem
	obs Observer
}

func (o *observedFS) done(op Op, start time.Time, st fuse.Status) {
	o.obs.Op(op, time.Since(start), uint32(st))
}

func (o *observedFS) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Lookup(c, h, name, out)
	if st == fuse.OK && out.NodeId == 0 {
		o.done(OpLookup, t, fuse.ENOENT) // a negative entry: the name does not exist
	} else {
		o.done(OpLookup, t, st)
	}
	return st
}

func (o *observedFS) Forget(nodeid, nlookup uint64) {
	t := time.Now()
	o.RawFileSystem.Forget(nodeid, nlookup)
	o.done(OpForget, t, fuse.OK)
}

func (o *observedFS) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.GetAttr(c, in, out)
	o.done(OpGetattr, t, st)
	return st
}

func (o *observedFS) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.SetAttr(c, in, out)
	o.done(OpSetattr, t, st)
	return st
}

func (o *observedFS) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Mknod(c, in, name, out)
	o.done(OpMknod, t, st)
	return st
}

func (o *observedFS) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Mkdir(c, in, name, out)
	o.done(OpMkdir, t, st)
	return st
}

func (o *observedFS) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Unlink(c, h, name)
	o.done(OpUnlink, t, st)
	return st
}

func (o *observedFS) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Rmdir(c, h, name)
	o.done(OpRmdir, t, st)
	return st
}

func (o *observedFS) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Rename(c, in, oldName, newName)
	o.done(OpRename, t, st)
	return st
}

func (o *observedFS) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Link(c, in, name, out)
	o.done(OpLink, t, st)
	return st
}

func (o *observedFS) Symlink(c <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Symlink(c, h, target, name, out)
	o.done(OpSymlink, t, st)
	return st
}

func (o *observedFS) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	t := time.Now()
	b, st := o.RawFileSystem.Readlink(c, h)
	o.done(OpReadlink, t, st)
	return b, st
}

func (o *observedFS) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Access(c, in)
	o.done(OpAccess, t, st)
	return st
}

func (o *observedFS) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.GetXAttr(c, h, attr, dest)
	o.done(OpGetxattr, t, st)
	return n, st
}

func (o *observedFS) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.ListXAttr(c, h, dest)
	o.done(OpListxattr, t, st)
	return n, st
}

func (o *observedFS) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.SetXAttr(c, in, attr, data)
	o.done(OpSetxattr, t, st)
	return st
}

func (o *observedFS) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.RemoveXAttr(c, h, attr)
	o.done(OpRemovexattr, t, st)
	return st
}

func (o *observedFS) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Create(c, in, name, out)
	o.done(OpCreate, t, st)
	return st
}

func (o *observedFS) Tmpfile(c <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Tmpfile(c, in, out)
	o.done(OpTmpfile, t, st)
	return st
}

func (o *observedFS) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Open(c, in, out)
	o.done(OpOpen, t, st)
	return st
}

func (o *observedFS) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	t := time.Now()
	res, st := o.RawFileSystem.Read(c, in, buf)
	o.done(OpRead, t, st)
	if st == fuse.OK && res != nil {
		o.obs.BytesRead(res.Size())
	}
	return res, st
}

func (o *observedFS) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Lseek(c, in, out)
	o.done(OpLseek, t, st)
	return st
}

func (o *observedFS) GetLk(c <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.GetLk(c, in, out)
	o.done(OpGetlk, t, st)
	return st
}

func (o *observedFS) SetLk(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.SetLk(c, in)
	o.done(OpSetlk, t, st)
	return st
}

func (o *observedFS) SetLkw(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.SetLkw(c, in)
	o.done(OpSetlkw, t, st)
	return st
}

func (o *observedFS) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	t := time.Now()
	o.RawFileSystem.Release(c, in)
	o.done(OpRelease, t, fuse.OK)
}

// Writev is what go-fuse calls for every WRITE; ENOSYS makes it fall back to Write, which then reports.
func (o *observedFS) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.Writev(c, in, data)
	if st == fuse.ENOSYS {
		return n, st
	}
	o.done(OpWrite, t, st)
	if st == fuse.OK {
		o.obs.BytesWritten(int(n))
	}
	return n, st
}

func (o *observedFS) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.Write(c, in, data)
	o.done(OpWrite, t, st)
	if st == fuse.OK {
		o.obs.BytesWritten(int(n))
	}
	return n, st
}

func (o *observedFS) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	t := time.Now()
	n, st := o.RawFileSystem.CopyFileRange(c, in)
	o.done(OpCopyFileRange, t, st)
	return n, st
}

func (o *observedFS) Ioctl(c <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Ioctl(c, in, inbuf, out, outbuf)
	o.done(OpIoctl, t, st)
	return st
}

func (o *observedFS) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Flush(c, in)
	o.done(OpFlush, t, st)
	return st
}

func (o *observedFS) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Fsync(c, in)
	o.done(OpFsync, t, st)
	return st
}

func (o *observedFS) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Fallocate(c, in)
	o.done(OpFallocate, t, st)
	return st
}

func (o *observedFS) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.OpenDir(c, in, out)
	o.done(OpOpendir, t, st)
	return st
}

func (o *observedFS) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.ReadDir(c, in, out)
	o.done(OpReaddir, t, st)
	return st
}

func (o *observedFS) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.ReadDirPlus(c, in, out)
	o.done(OpReaddirplus, t, st)
	return st
}

func (o *observedFS) ReleaseDir(in *fuse.ReleaseIn) {
	t := time.Now()
	o.RawFileSystem.ReleaseDir(in)
	o.done(OpReleasedir, t, fuse.OK)
}

func (o *observedFS) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.FsyncDir(c, in)
	o.done(OpFsyncdir, t, st)
	return st
}

func (o *observedFS) StatFs(c <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.StatFs(c, in, out)
	o.done(OpStatfs, t, st)
	return st
}

func (o *observedFS) Statx(c <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	t := time.Now()
	st := o.RawFileSystem.Statx(c, in, out)
	o.done(OpStatx, t, st)
	return st
}
