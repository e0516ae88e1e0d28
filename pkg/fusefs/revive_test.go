package fusefs

import (
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fakeBridge records what reviveFS forwards; it knows the node ids in known (with lookup counts).
type fakeBridge struct {
	fuse.RawFileSystem
	known   map[uint64]uint64 // id -> lookup count
	opens   []uint32          // flags of each Open
	nextFh  uint64
	written []uint64 // fh of each Write
	release []uint64
}

func newFakeBridge() *fakeBridge {
	return &fakeBridge{RawFileSystem: fuse.NewDefaultRawFileSystem(), known: map[uint64]uint64{1: 1}, nextFh: 10}
}

func (f *fakeBridge) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	switch name {
	case "..": // the probe
		if _, ok := f.known[h.NodeId]; ok {
			return fuse.Status(syscall.EALREADY)
		}
		return fuse.Status(syscall.ESTALE)
	case ".": // revival
		if h.NodeId == 99 {
			return fuse.ENOENT
		}
		f.known[h.NodeId]++
		return fuse.OK
	}
	return fuse.ENOENT
}

func (f *fakeBridge) Forget(id, n uint64) {
	if f.known[id] < n {
		panic("lookup count underflow")
	}
	if f.known[id] -= n; f.known[id] == 0 {
		delete(f.known, id)
	}
}

func (f *fakeBridge) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f.opens = append(f.opens, in.Flags)
	f.nextFh++
	out.Fh = f.nextFh
	return fuse.OK
}

func (f *fakeBridge) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	f.written = append(f.written, in.Fh)
	return uint32(len(data)), fuse.OK
}

func (f *fakeBridge) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if _, ok := f.known[in.NodeId]; !ok {
		panic("unknown node")
	}
	return fuse.OK
}

func (f *fakeBridge) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status { return fuse.OK }

func (f *fakeBridge) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	f.release = append(f.release, in.Fh)
}

// TestReviveHandles: a handle of a predecessor epoch is opened again once, with its recorded flags minus
// O_TRUNC/O_CREAT/O_EXCL, and released through its new number; an own handle passes through; a predecessor's
// handle released unused releases nothing.
func TestReviveHandles(t *testing.T) {
	old := newReviveFS(newFakeBridge(), 4, false)
	b := newFakeBridge()
	r := newReviveFS(b, 5, true)

	var out fuse.OpenOut
	flags := uint32(syscall.O_RDWR | syscall.O_APPEND | syscall.O_TRUNC | syscall.O_CREAT)
	if st := old.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: 1}, Flags: flags}, &out); !st.Ok() {
		t.Fatal(st)
	}
	oldFh := out.Fh
	for i := 0; i < 2; i++ {
		if _, st := r.Write(nil, &fuse.WriteIn{InHeader: fuse.InHeader{NodeId: 7}, Fh: oldFh}, []byte("x")); !st.Ok() {
			t.Fatal(st)
		}
	}
	if len(b.opens) != 1 || b.opens[0] != syscall.O_RDWR|syscall.O_APPEND {
		t.Fatalf("reopens %o, want one with O_RDWR|O_APPEND", b.opens)
	}
	if b.written[0] != 11 || b.written[1] != 11 {
		t.Fatalf("writes went to %v, want the reopened handle 11", b.written)
	}
	if b.known[7] != 1 {
		t.Fatalf("node 7 not revived once: %v", b.known)
	}
	r.Release(nil, &fuse.ReleaseIn{Fh: oldFh})
	r.Release(nil, &fuse.ReleaseIn{Fh: oldFh + 1}) // another predecessor handle, never used here
	if len(b.release) != 1 || b.release[0] != 11 {
		t.Fatalf("released %v, want only 11", b.release)
	}

	// Own handles carry our epoch and pass through.
	if st := r.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: 7}, Flags: syscall.O_RDONLY}, &out); !st.Ok() {
		t.Fatal(st)
	}
	if out.Fh>>48 != 5 || out.Fh&0xffffffff != 12 {
		t.Fatalf("own handle %x", out.Fh)
	}
	if _, st := r.Write(nil, &fuse.WriteIn{InHeader: fuse.InHeader{NodeId: 7}, Fh: out.Fh}, nil); !st.Ok() || b.written[2] != 12 {
		t.Fatalf("own handle write: %v %v", st, b.written)
	}

	// A removed inode answers ESTALE.
	if _, st := r.Write(nil, &fuse.WriteIn{InHeader: fuse.InHeader{NodeId: 99}, Fh: oldFh}, nil); st != fuse.Status(syscall.ESTALE) {
		t.Fatalf("write on a removed inode: %v, want ESTALE", st)
	}
}

// TestReviveForget: the kernel forgets more lookups of a revived node than go-fuse counted; reviveFS forwards
// only what go-fuse knows, and a node forgotten early is revived by its next use.
func TestReviveForget(t *testing.T) {
	b := newFakeBridge()
	r := newReviveFS(b, 2, true)
	if st := r.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: 8}}, &fuse.AttrOut{}); !st.Ok() {
		t.Fatal(st)
	}
	b.known[8] += 2 // two lookups answered by this server
	r.Forget(8, 10) // the kernel also counts the predecessor's
	if _, ok := b.known[8]; ok {
		t.Fatalf("node 8 still known: %v", b.known)
	}
	if st := r.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: 8}}, &fuse.AttrOut{}); !st.Ok() || b.known[8] != 1 {
		t.Fatalf("node 8 not revived again: %v %v", st, b.known)
	}
}

// TestResentSyncFails: a resent FSYNC on a predecessor's writable handle fails with EIO; on a read-only handle,
// or when not resent, it is served.
func TestResentSyncFails(t *testing.T) {
	old := newReviveFS(newFakeBridge(), 1, false)
	var w, ro fuse.OpenOut
	old.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: 1}, Flags: syscall.O_WRONLY}, &w)
	old.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: 1}, Flags: syscall.O_RDONLY}, &ro)
	r := newReviveFS(newFakeBridge(), 2, true)
	for _, c := range []struct {
		fh     uint64
		unique uint64
		want   fuse.Status
	}{
		{w.Fh, 5 | uniqueResend, fuse.EIO},
		{w.Fh, 6, fuse.OK},
		{ro.Fh, 7 | uniqueResend, fuse.OK},
	} {
		if st := r.Fsync(nil, &fuse.FsyncIn{InHeader: fuse.InHeader{NodeId: 3, Unique: c.unique}, Fh: c.fh}); st != c.want {
			t.Errorf("fsync fh %x unique %x: %v, want %v", c.fh, c.unique, st, c.want)
		}
	}
}
