package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
)

// RunRandom runs ops operations, drawn at random from a generator seeded with seed, on a fresh volume (through two
// sessions, chosen at random per operation) and on a simple model of a filesystem, and fails at the first result
// that differs: an errno, an inode number, attributes (type, nlink, size), file data, a directory listing or the
// usage counts. Operations: create, mkdir, symlink, unlink, rmdir, link, rename (plain, NOREPLACE, EXCHANGE),
// write, truncate, fallocate, read, open and release (files unlinked while open stay readable until their last
// release on either session), lookup, getattr, readlink, readdir (in random page sizes), xattrs and statfs. The names come from a small set so
// that collisions, replacements and loops are frequent. A session reads a file without opening it unless the
// other session changed its data since it last opened it; then it opens it first, as the contract's close-to-open
// consistency requires. Attributes, names and listings must be current on both sessions at all times. At the
// end CheckTree verifies the volume.
func RunRandom(t *testing.T, newVolume NewVolume, seed uint64, ops int) {
	opts := VolumeOptions{ChunkSize: ChunkSize}
	vol := newVolume(t, opts)
	r := &randomRun{
		t:        t,
		ctx:      context.Background(),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		sessions: []store.Store{vol.Session(t, "a"), vol.Session(t, "b")},
		cs:       ChunkSize,
		seed:     seed,
	}
	root := &mnode{ino: store.RootIno, typ: store.TypeDir, entries: map[string]*mnode{}, nlink: 2,
		xattrs: map[string]string{}}
	root.parent = root
	r.root = root
	r.live = map[store.Ino]*mnode{store.RootIno: root}
	for i := range ops {
		r.step(i)
		if t.Failed() {
			t.Fatalf("seed %d: stopped at operation %d; the last operations were:\n%s", seed, i,
				strings.Join(r.log[max(0, len(r.log)-15):], "\n"))
		}
	}
	for _, n := range r.live { // release what is still open, so that CheckTree's counts are exact
		for i, k := range n.opens {
			for range k {
				if err := r.sessions[i].Release(r.ctx, n.ino); err != nil {
					t.Errorf("final release of %d: %v", n.ino, err)
				}
			}
		}
	}
	CheckTree(t, r.sessions[0])
}

// mnode is one inode of the model.
type mnode struct {
	ino     store.Ino
	typ     store.FileType
	entries map[string]*mnode // directories
	parent  *mnode            // directories
	data    model             // files
	nlink   int
	stale   [2]bool // files: session i has not opened the file since the other changed it
	opens   [2]int  // opens held by each session
	xattrs  map[string]string
	target  string // symlinks
}

type randomRun struct {
	t        *testing.T
	ctx      context.Context
	rng      *rand.Rand
	sessions []store.Store
	root     *mnode
	live     map[store.Ino]*mnode // every inode of the model
	cs       int
	seed     uint64
	log      []string
	cur      int // the session of the current operation
}

// note logs an operation for the failure report.
func (r *randomRun) note(what string) {
	r.log = append(r.log, fmt.Sprintf("[%c] %s", 'a'+r.cur, what))
}

// changed records that the current session changed file n's data: the other session must open it again to be
// sure to see the change (close-to-open consistency).
func (r *randomRun) changed(n *mnode) { n.stale[1-r.cur] = true }

var randomNames = []string{"a", "b", "c", "d", "e", "f"}

func (r *randomRun) name() string { return randomNames[r.rng.IntN(len(randomNames))] }

// pick returns a random live inode of type typ (0: any), or nil.
func (r *randomRun) pick(typ store.FileType) *mnode {
	var c []*mnode
	for _, n := range r.live {
		if typ == 0 || n.typ == typ {
			c = append(c, n)
		}
	}
	if len(c) == 0 {
		return nil
	}
	slices.SortFunc(c, func(a, b *mnode) int { return int(a.ino) - int(b.ino) })
	return c[r.rng.IntN(len(c))]
}

// under reports whether directory d is dir or lies below it.
func under(d, dir *mnode) bool {
	for ; ; d = d.parent {
		if d == dir {
			return true
		}
		if d.parent == d {
			return false
		}
	}
}

func (r *randomRun) check(what string, err error, want syscall.Errno) bool {
	r.t.Helper()
	if got := store.ToErrno(err); got != want {
		r.t.Errorf("%s: got %v (%v), want %v", what, got, err, want)
		return false
	}
	return want == 0
}

// drop removes one name of n from the model.
func (r *randomRun) drop(n *mnode) {
	if n.typ == store.TypeDir {
		n.parent.nlink--
		delete(r.live, n.ino)
		return
	}
	if n.nlink--; n.nlink == 0 && n.opens == [2]int{} {
		delete(r.live, n.ino)
	}
}

func (r *randomRun) step(i int) {
	r.cur = r.rng.IntN(2)
	s := r.sessions[r.cur]
	ctx := r.ctx
	d := r.pick(store.TypeDir)
	name := r.name()
	cur := d.entries[name]
	op := r.rng.IntN(22)
	if op >= 16 {
		r.step2(s, op, d, name)
		return
	}
	switch op {
	case 0, 1: // create or mkdir
		typ := store.TypeFile
		if op == 1 {
			typ = store.TypeDir
		}
		what := fmt.Sprintf("mknod %d/%s type %d", d.ino, name, typ)
		r.note(what)
		a, err := s.Mknod(ctx, d.ino, name, store.NewNode{Type: typ, Mode: 0o644})
		want := syscall.Errno(0)
		if cur != nil {
			want = syscall.EEXIST
		}
		if !r.check(what, err, want) {
			return
		}
		n := &mnode{ino: a.Ino, typ: typ, nlink: 1, xattrs: map[string]string{}}
		if typ == store.TypeDir {
			n.entries, n.parent, n.nlink = map[string]*mnode{}, d, 2
			d.nlink++
		}
		if r.live[a.Ino] != nil {
			r.t.Errorf("%s: inode number %d is already in use", what, a.Ino)
		}
		r.live[a.Ino] = n
		d.entries[name] = n
	case 2: // unlink
		what := fmt.Sprintf("unlink %d/%s", d.ino, name)
		r.note(what)
		_, err := s.Unlink(ctx, d.ino, name)
		want := syscall.Errno(0)
		switch {
		case cur == nil:
			want = syscall.ENOENT
		case cur.typ == store.TypeDir:
			want = syscall.EISDIR
		}
		if r.check(what, err, want) {
			delete(d.entries, name)
			r.drop(cur)
		}
	case 3: // rmdir
		what := fmt.Sprintf("rmdir %d/%s", d.ino, name)
		r.note(what)
		err := s.Rmdir(ctx, d.ino, name)
		want := syscall.Errno(0)
		switch {
		case cur == nil:
			want = syscall.ENOENT
		case cur.typ != store.TypeDir:
			want = syscall.ENOTDIR
		case len(cur.entries) > 0:
			want = syscall.ENOTEMPTY
		}
		if r.check(what, err, want) {
			delete(d.entries, name)
			r.drop(cur)
		}
	case 4: // link
		f := r.pick(store.TypeFile)
		if f == nil || f.nlink == 0 {
			return
		}
		what := fmt.Sprintf("link %d as %d/%s", f.ino, d.ino, name)
		r.note(what)
		a, err := s.Link(ctx, f.ino, d.ino, name)
		want := syscall.Errno(0)
		if cur != nil {
			want = syscall.EEXIST
		}
		if r.check(what, err, want) {
			f.nlink++
			d.entries[name] = f
			if a.Nlink != uint32(f.nlink) {
				r.t.Errorf("%s: nlink %d, want %d", what, a.Nlink, f.nlink)
			}
		}
	case 5, 6: // rename
		r.rename(s, d, name)
	case 7, 8: // write
		f := r.pick(store.TypeFile)
		if f == nil {
			return
		}
		off, n := r.rng.IntN(3*r.cs), 1+r.rng.IntN(2*r.cs)
		data := pattern(byte(i), n)
		what := fmt.Sprintf("write %d bytes at %d to %d", n, off, f.ino)
		r.note(what)
		a, err := s.Write(ctx, f.ino, uint64(off), data)
		if r.check(what, err, 0) {
			r.changed(f)
			f.data.write(off, data)
			if a.Size != uint64(len(f.data)) {
				r.t.Errorf("%s: size %d, want %d", what, a.Size, len(f.data))
			}
		}
	case 9: // truncate
		f := r.pick(store.TypeFile)
		if f == nil {
			return
		}
		size := r.rng.IntN(4 * r.cs)
		what := fmt.Sprintf("truncate %d to %d", f.ino, size)
		r.note(what)
		_, err := s.SetAttr(ctx, f.ino, store.SetAttrIn{Valid: store.SetSize, Size: uint64(size)})
		if r.check(what, err, 0) {
			r.changed(f)
			f.data.truncate(size)
		}
	case 10, 11: // read
		f := r.pick(store.TypeFile)
		if f == nil {
			return
		}
		off, n := r.rng.IntN(5*r.cs), r.rng.IntN(3*r.cs)
		what := fmt.Sprintf("read %d bytes at %d of %d", n, off, f.ino)
		r.note(what)
		if f.stale[r.cur] { // open, as a reader on another mount would
			r.note(fmt.Sprintf("open %d", f.ino))
			_, err := s.Open(ctx, f.ino)
			if !r.check("open", err, 0) {
				return
			}
			defer func() { r.check("release", s.Release(ctx, f.ino), 0) }()
			f.stale[r.cur] = false
		}
		buf := make([]byte, n)
		k, err := s.Read(ctx, f.ino, uint64(off), buf)
		if r.check(what, err, 0) {
			want := []byte{}
			if off < len(f.data) {
				want = f.data[off:min(len(f.data), off+n)]
			}
			if !bytes.Equal(buf[:k], want) {
				r.t.Errorf("%s: %s", what, diffAt(buf[:k], want))
			}
		}
	case 12: // lookup
		what := fmt.Sprintf("lookup %d/%s", d.ino, name)
		r.note(what)
		a, err := s.Lookup(ctx, d.ino, name)
		want := syscall.Errno(0)
		if cur == nil {
			want = syscall.ENOENT
		}
		if r.check(what, err, want) {
			r.compareAttr(what, a, cur)
		}
	case 13: // getattr
		n := r.pick(0)
		what := fmt.Sprintf("getattr %d", n.ino)
		r.note(what)
		a, err := s.GetAttr(ctx, n.ino)
		if r.check(what, err, 0) {
			r.compareAttr(what, a, n)
		}
	case 14: // readdir
		page := 1 + r.rng.IntN(4)
		what := fmt.Sprintf("readdir %d in pages of %d", d.ino, page)
		r.note(what)
		ents, err := readDirAll(ctx, s, d.ino, page)
		if !r.check(what, err, 0) {
			return
		}
		var got, want []string
		for _, e := range ents {
			got = append(got, fmt.Sprintf("%s:%d:%d", e.Name, e.Ino, e.Type))
		}
		for name, n := range d.entries {
			want = append(want, fmt.Sprintf("%s:%d:%d", name, n.ino, n.typ))
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			r.t.Errorf("%s: got %q, want %q", what, got, want)
		}
	case 15: // statfs
		r.note("statfs")
		u, err := s.StatFS(ctx)
		if !r.check("statfs", err, 0) {
			return
		}
		var bytes uint64
		for _, n := range r.live {
			bytes += uint64(len(n.data))
		}
		if u.Inodes != uint64(len(r.live)) || u.Bytes != bytes {
			r.t.Errorf("statfs: %d inodes %d bytes, want %d and %d", u.Inodes, u.Bytes, len(r.live), bytes)
		}
	}
}

func (r *randomRun) compareAttr(what string, a store.Attr, n *mnode) {
	r.t.Helper()
	if a.Ino != n.ino || a.Type != n.typ || a.Nlink != uint32(n.nlink) ||
		(n.typ == store.TypeFile && a.Size != uint64(len(n.data))) {
		r.t.Errorf("%s: ino %d type %d nlink %d size %d, want %d %d %d %d", what, a.Ino, a.Type, a.Nlink, a.Size,
			n.ino, n.typ, n.nlink, len(n.data))
	}
}

// rename renames d/name to a random place with random flags and applies the expected result to the model.
func (r *randomRun) rename(s store.Store, od *mnode, oldName string) {
	nd := r.pick(store.TypeDir)
	newName := r.name()
	flags := []uint32{0, 0, store.RenameNoReplace, store.RenameExchange}[r.rng.IntN(4)]
	what := fmt.Sprintf("rename %d/%s to %d/%s flags %d", od.ino, oldName, nd.ino, newName, flags)
	r.note(what)
	err := s.Rename(r.ctx, od.ino, oldName, nd.ino, newName, flags)
	src, dst := od.entries[oldName], nd.entries[newName]
	isDir := func(n *mnode) bool { return n != nil && n.typ == store.TypeDir }
	want := syscall.Errno(0)
	switch {
	case src == nil:
		want = syscall.ENOENT
	case flags == store.RenameNoReplace && dst != nil:
		want = syscall.EEXIST
	case flags == store.RenameExchange && dst == nil:
		want = syscall.ENOENT
	case flags == store.RenameExchange && src == dst:
	case flags == store.RenameExchange && (isDir(src) && under(nd, src) || isDir(dst) && under(od, dst)):
		want = syscall.EINVAL
	case flags == store.RenameExchange:
		if r.check(what, err, 0) {
			od.entries[oldName], nd.entries[newName] = dst, src
			r.reparent(src, od, nd)
			r.reparent(dst, nd, od)
		}
		return
	case src == dst:
	case isDir(src) && under(nd, src):
		want = syscall.EINVAL
	case dst != nil && isDir(src) && !isDir(dst):
		want = syscall.ENOTDIR
	case dst != nil && !isDir(src) && isDir(dst):
		want = syscall.EISDIR
	case isDir(dst) && len(dst.entries) > 0:
		want = syscall.ENOTEMPTY
	default:
		if r.check(what, err, 0) {
			delete(od.entries, oldName)
			nd.entries[newName] = src
			if dst != nil {
				r.drop(dst)
			}
			r.reparent(src, od, nd)
		}
		return
	}
	r.check(what, err, want)
}

// reparent moves directory n's ".." from one parent to another in the model.
func (r *randomRun) reparent(n, from, to *mnode) {
	if n.typ != store.TypeDir || from == to {
		return
	}
	from.nlink--
	to.nlink++
	n.parent = to
}
