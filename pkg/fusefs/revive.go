package fusefs

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/store"
)

// reviveFS sits between rawFS and go-fuse's node bridge and lets a server take over a connection from a dead
// predecessor (see Conn). The kernel keeps referring to what the predecessor gave it:
//
//   - Node ids. They are the store's inode numbers (ExternalNodeID), so an id the bridge does not know is
//     revived by asking the bridge for it by number (a LOOKUP of "." on it, which go-fuse answers through
//     node.LookupNode). The bridge's lookup count of a revived node is lower than the kernel's, so a taken-over
//     server forwards FORGET one count at a time while the bridge still knows the node; a node dropped too
//     early is simply revived again by the next request.
//   - File handles. Every handle handed out carries the server's epoch and the open flags that matter after
//     open (fhFlags) above go-fuse's own number. A handle of another epoch is opened again on first use with
//     the recorded flags and mapped to the new go-fuse handle until RELEASE.
//
// Only epoch tagging runs in a server that mounted itself; the rest costs nothing until a takeover.
type reviveFS struct {
	fuse.RawFileSystem
	epoch    uint16
	takeover bool // this server took over a connection
	leaving  atomic.Bool
	log      *slog.Logger

	mu      sync.Mutex
	checked map[uint64]bool   // node ids known to be in the bridge (takeover only); true: revived here
	handles map[uint64]uint64 // predecessor handle -> go-fuse handle
}

// fhFlags are the open flags kept in a handle: those that change reads and writes after open. O_TRUNC, O_CREAT
// and O_EXCL are left out: a reopen must not truncate or fail.
const fhFlags = syscall.O_ACCMODE | syscall.O_APPEND | syscall.O_DIRECT | syscall.O_DSYNC | syscall.O_NONBLOCK | syscall.O_NOATIME

func newReviveFS(raw fuse.RawFileSystem, epoch uint16, takeover bool) *reviveFS {
	return &reviveFS{RawFileSystem: raw, epoch: epoch, takeover: takeover, log: slog.Default(), checked: map[uint64]bool{},
		handles: map[uint64]uint64{}}
}

func (r *reviveFS) encode(fh uint64, flags uint32) uint64 {
	return uint64(r.epoch)<<48 | uint64(flags&fhFlags&0xffff)<<32 | fh&math.MaxUint32
}

// handle translates the kernel's fh to go-fuse's, opening a predecessor's handle again on first use.
func (r *reviveFS) handle(cancel <-chan struct{}, h *fuse.InHeader, fh uint64, dir bool) (uint64, fuse.Status) {
	if fh == 0 {
		return 0, fuse.OK
	}
	if uint16(fh>>48) == r.epoch {
		return fh & math.MaxUint32, fuse.OK
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.handles[fh]; ok {
		return n, fuse.OK
	}
	in := &fuse.OpenIn{InHeader: *h, Flags: uint32(fh>>32) & 0xffff}
	var out fuse.OpenOut
	var st fuse.Status
	if dir {
		st = r.RawFileSystem.OpenDir(cancel, in, &out)
	} else {
		st = r.RawFileSystem.Open(cancel, in, &out)
	}
	if !st.Ok() {
		return 0, st
	}
	r.handles[fh] = out.Fh
	return out.Fh, fuse.OK
}

// releaseHandle translates fh for RELEASE; ok is false for a predecessor's handle never used here (nothing to
// release).
func (r *reviveFS) releaseHandle(fh uint64) (uint64, bool) {
	if fh == 0 || uint16(fh>>48) == r.epoch {
		return fh & math.MaxUint32, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.handles[fh]
	delete(r.handles, fh)
	return n, ok
}

// probePid marks the bridge call that asks whether a node id is known (see node.LookupParent).
const probePid = math.MaxUint32

// node makes sure the bridge knows node id (takeover only). Every request but FORGET and RELEASE passes here
// first: after Server.Leave, they wait here for the process to exit, unanswered, for the successor to get them
// again (FUSE_NOTIFY_RESEND).
func (r *reviveFS) node(cancel <-chan struct{}, h *fuse.InHeader, id uint64) fuse.Status {
	if r.leaving.Load() {
		select {}
	}
	if !r.takeover || id == 0 || id == uint64(store.RootIno) {
		return fuse.OK
	}
	r.mu.Lock()
	_, ok := r.checked[id]
	r.mu.Unlock()
	if ok {
		return fuse.OK
	}
	revived := false
	if !r.known(id) {
		var out fuse.EntryOut
		if st := r.RawFileSystem.Lookup(cancel, &fuse.InHeader{NodeId: id, Caller: h.Caller}, ".", &out); !st.Ok() {
			if st == fuse.ENOENT {
				st = fuse.Status(syscall.ESTALE)
			}
			return st
		}
		revived = true
	}
	r.mu.Lock()
	r.checked[id] = revived
	r.mu.Unlock()
	return fuse.OK
}

// known asks the bridge whether it has node id, without side effects: a LOOKUP of ".." answers ESTALE for an
// unknown id before calling anything, and node.LookupParent answers probes with EALREADY.
func (r *reviveFS) known(id uint64) bool {
	var out fuse.EntryOut
	h := &fuse.InHeader{NodeId: id}
	h.Pid = probePid
	return r.RawFileSystem.Lookup(nil, h, "..", &out) == fuse.Status(syscall.EALREADY)
}

func (r *reviveFS) Forget(nodeid, nlookup uint64) {
	if !r.takeover {
		r.RawFileSystem.Forget(nodeid, nlookup)
		return
	}
	r.mu.Lock()
	delete(r.checked, nodeid)
	r.mu.Unlock()
	// The kernel may hold more references than the bridge counted (those given by the predecessor).
	for i := uint64(0); i < nlookup && r.known(nodeid); i++ {
		r.RawFileSystem.Forget(nodeid, 1)
	}
}

func (r *reviveFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Lookup(cancel, h, name, out)
}

func (r *reviveFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	if in.Flags()&fuse.FUSE_GETATTR_FH != 0 {
		fh, st := r.handle(cancel, &in.InHeader, in.Fh_, false)
		if !st.Ok() {
			return st
		}
		in.Fh_ = fh
	}
	return r.RawFileSystem.GetAttr(cancel, in, out)
}

func (r *reviveFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	if in.Valid&fuse.FATTR_FH != 0 {
		fh, st := r.handle(cancel, &in.InHeader, in.Fh, false)
		if !st.Ok() {
			return st
		}
		in.Fh = fh
	}
	return r.RawFileSystem.SetAttr(cancel, in, out)
}

func (r *reviveFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Mknod(cancel, in, name, out)
}

func (r *reviveFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Mkdir(cancel, in, name, out)
}

func (r *reviveFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Unlink(cancel, h, name)
}

func (r *reviveFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Rmdir(cancel, h, name)
}

func (r *reviveFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	if st := r.node(cancel, &in.InHeader, in.Newdir); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func (r *reviveFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	if st := r.node(cancel, &in.InHeader, in.Oldnodeid); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Link(cancel, in, name, out)
}

func (r *reviveFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Symlink(cancel, h, target, name, out)
}

func (r *reviveFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return nil, st
	}
	return r.RawFileSystem.Readlink(cancel, h)
}

func (r *reviveFS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Access(cancel, in)
}

func (r *reviveFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return 0, st
	}
	return r.RawFileSystem.GetXAttr(cancel, h, attr, dest)
}

func (r *reviveFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return 0, st
	}
	return r.RawFileSystem.ListXAttr(cancel, h, dest)
}

func (r *reviveFS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.SetXAttr(cancel, in, attr, data)
}

func (r *reviveFS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.RemoveXAttr(cancel, h, attr)
}

func (r *reviveFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	st := r.RawFileSystem.Create(cancel, in, name, out)
	if st.Ok() {
		out.Fh = r.encode(out.Fh, in.Flags)
	}
	return st
}

func (r *reviveFS) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	st := r.RawFileSystem.Tmpfile(cancel, in, out)
	if st.Ok() {
		out.Fh = r.encode(out.Fh, in.Flags)
	}
	return st
}

func (r *reviveFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	st := r.RawFileSystem.Open(cancel, in, out)
	if st.Ok() {
		out.Fh = r.encode(out.Fh, in.Flags)
	}
	return st
}

func (r *reviveFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	st := r.RawFileSystem.OpenDir(cancel, in, out)
	if st.Ok() {
		out.Fh = r.encode(out.Fh, in.Flags)
	}
	return st
}

// fileOp revives the node and translates the handle of a request on an open file or directory.
func (r *reviveFS) fileOp(cancel <-chan struct{}, h *fuse.InHeader, fh *uint64, dir bool) fuse.Status {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return st
	}
	n, st := r.handle(cancel, h, *fh, dir)
	if st.Ok() {
		*fh = n
	}
	return st
}

func (r *reviveFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return nil, st
	}
	return r.RawFileSystem.Read(cancel, in, buf)
}

func (r *reviveFS) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Lseek(cancel, in, out)
}

func (r *reviveFS) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return st
	}
	return r.RawFileSystem.GetLk(cancel, in, out)
}

func (r *reviveFS) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return st
	}
	return r.RawFileSystem.SetLk(cancel, in)
}

func (r *reviveFS) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return st
	}
	return r.RawFileSystem.SetLkw(cancel, in)
}

func (r *reviveFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	if n, ok := r.releaseHandle(in.Fh); ok {
		in.Fh = n
		r.RawFileSystem.Release(cancel, in)
	}
}

func (r *reviveFS) ReleaseDir(in *fuse.ReleaseIn) {
	if n, ok := r.releaseHandle(in.Fh); ok {
		in.Fh = n
		r.RawFileSystem.ReleaseDir(in)
	}
}

func (r *reviveFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return 0, st
	}
	return r.RawFileSystem.Write(cancel, in, data)
}

func (r *reviveFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return 0, st
	}
	return r.RawFileSystem.Writev(cancel, in, data)
}

func (r *reviveFS) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	if st := r.fileOp(cancel, &in.InHeader, &in.FhIn, false); !st.Ok() {
		return 0, st
	}
	out := in.InHeader
	out.NodeId = in.NodeIdOut
	if st := r.fileOp(cancel, &out, &in.FhOut, false); !st.Ok() {
		return 0, st
	}
	return r.RawFileSystem.CopyFileRange(cancel, in)
}

func (r *reviveFS) Ioctl(cancel <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Ioctl(cancel, in, inbuf, out, outbuf)
}

// uniqueResend marks a request the kernel queued again after FUSE_NOTIFY_RESEND (FUSE_UNIQUE_RESEND).
const uniqueResend = 1 << 63

// lostSync reports whether a FLUSH or FSYNC was being served by the dead predecessor on a handle open for
// writing: it was then uploading the file's buffered data, and what reached the store is unknown. Such a
// request fails with EIO (as fsync after a lost write-back does) instead of claiming durability.
func (r *reviveFS) lostSync(h *fuse.InHeader, fh uint64) bool {
	lost := r.takeover && h.Unique&uniqueResend != 0 && uint16(fh>>48) != r.epoch &&
		(fh>>32)&syscall.O_ACCMODE != syscall.O_RDONLY
	if lost {
		r.log.Warn("a flush or fsync interrupted by the previous server's death fails with EIO: its data may be lost",
			"ino", h.NodeId, "pid", h.Pid)
	}
	return lost
}

func (r *reviveFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	lost := r.lostSync(&in.InHeader, in.Fh)
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return st
	}
	st := r.RawFileSystem.Flush(cancel, in)
	if lost && st.Ok() {
		return fuse.EIO
	}
	return st
}

func (r *reviveFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if r.lostSync(&in.InHeader, in.Fh) {
		return fuse.EIO
	}
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Fsync(cancel, in)
}

func (r *reviveFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, false); !st.Ok() {
		return st
	}
	return r.RawFileSystem.Fallocate(cancel, in)
}

func (r *reviveFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, true); !st.Ok() {
		return st
	}
	return r.RawFileSystem.ReadDir(cancel, in, out)
}

func (r *reviveFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, true); !st.Ok() {
		return st
	}
	return r.RawFileSystem.ReadDirPlus(cancel, in, out)
}

func (r *reviveFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if st := r.fileOp(cancel, &in.InHeader, &in.Fh, true); !st.Ok() {
		return st
	}
	return r.RawFileSystem.FsyncDir(cancel, in)
}

func (r *reviveFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	if st := r.node(cancel, h, h.NodeId); !st.Ok() {
		return st
	}
	return r.RawFileSystem.StatFs(cancel, h, out)
}

func (r *reviveFS) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	if st := r.node(cancel, &in.InHeader, in.NodeId); !st.Ok() {
		return st
	}
	if in.GetattrFlags&fuse.FUSE_GETATTR_FH != 0 {
		fh, st := r.handle(cancel, &in.InHeader, in.Fh, false)
		if !st.Ok() {
			return st
		}
		in.Fh = fh
	}
	return r.RawFileSystem.Statx(cancel, in, out)
}

var (
	_ = (fs.NodeLookupNoder)((*node)(nil))
	_ = (fs.NodeLookupParenter)((*node)(nil))
)

// LookupNode revives a node by inode number (go-fuse calls it on the root for a LOOKUP of "." on an unknown
// id: reviveFS after a takeover, or an NFS export after a restart).
func (n *node) LookupNode(ctx context.Context, id uint64, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	a, err := n.fsys.st.GetAttr(ctx, store.Ino(id))
	if err != nil {
		if e := errno(err); e != syscall.ENOENT {
			return nil, e
		}
		return nil, syscall.ESTALE
	}
	return n.child(ctx, a, out), 0
}

// LookupParent answers reviveFS's probe of whether go-fuse knows a node (EALREADY); real reconnections of a
// node's parent are not supported (ESTALE, as without this method).
func (n *node) LookupParent(ctx context.Context, out *fuse.EntryOut) (*fs.Inode, string, syscall.Errno) {
	if c, ok := ctx.(*fuse.Context); ok && c.Pid == probePid {
		return nil, "", syscall.EALREADY
	}
	return nil, "", syscall.ESTALE
}
