package storetest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

// step2 runs the operations on open files, symlinks, xattrs and fallocate.
func (r *randomRun) step2(s store.Store, op int, d *mnode, name string) {
	ctx := r.ctx
	cur := d.entries[name]
	switch op {
	case 16: // open
		f := r.pick(store.TypeFile)
		if f == nil {
			return
		}
		what := fmt.Sprintf("open %d", f.ino)
		r.note(what)
		a, err := s.Open(ctx, f.ino)
		if r.check(what, err, 0) {
			f.opens[r.cur]++
			f.stale[r.cur] = false
			r.compareAttr(what, a, f)
		}
	case 17: // release
		var held []*mnode
		for _, n := range r.live {
			if n.opens[r.cur] > 0 {
				held = append(held, n)
			}
		}
		if len(held) == 0 {
			return
		}
		slices.SortFunc(held, func(a, b *mnode) int { return int(a.ino) - int(b.ino) })
		f := held[r.rng.IntN(len(held))]
		what := fmt.Sprintf("release %d (nlink %d, opens %v)", f.ino, f.nlink, f.opens)
		r.note(what)
		if r.check(what, s.Release(ctx, f.ino), 0) {
			f.opens[r.cur]--
			if f.nlink == 0 && f.opens == [2]int{} {
				delete(r.live, f.ino)
				if _, err := s.GetAttr(ctx, f.ino); !isErrno(err, syscall.ENOENT) {
					r.t.Errorf("%s: getattr after the last release: %v, want ENOENT", what, err)
				}
			}
		}
	case 18: // symlink, then readlink
		target := strings.Repeat(name, 1+r.rng.IntN(40))
		what := fmt.Sprintf("symlink %d/%s -> %s", d.ino, name, target)
		r.note(what)
		a, err := s.Mknod(ctx, d.ino, name, store.NewNode{Type: store.TypeSymlink, Mode: 0o777, Target: target})
		want := syscall.Errno(0)
		if cur != nil {
			want = syscall.EEXIST
		}
		if r.check(what, err, want) {
			n := &mnode{ino: a.Ino, typ: store.TypeSymlink, nlink: 1, xattrs: map[string]string{}, target: target}
			r.live[a.Ino] = n
			d.entries[name] = n
		}
		if l := r.pick(store.TypeSymlink); l != nil {
			got, err := r.sessions[1-r.cur].Readlink(ctx, l.ino)
			if r.check("readlink", err, 0) && got != l.target {
				r.t.Errorf("readlink %d: %q, want %q", l.ino, got, l.target)
			}
		}
	case 19: // setxattr
		n := r.pick(0)
		xname := "user." + r.name()
		flags := []uint32{0, store.XattrCreate, store.XattrReplace}[r.rng.IntN(3)]
		val := strings.Repeat(name, r.rng.IntN(5))
		what := fmt.Sprintf("setxattr %d %s=%q flags %d", n.ino, xname, val, flags)
		r.note(what)
		err := s.SetXattr(ctx, n.ino, xname, []byte(val), flags)
		_, exists := n.xattrs[xname]
		want := syscall.Errno(0)
		switch {
		case flags == store.XattrCreate && exists:
			want = syscall.EEXIST
		case flags == store.XattrReplace && !exists:
			want = syscall.ENODATA
		}
		if r.check(what, err, want) {
			n.xattrs[xname] = val
		}
	case 20: // getxattr, listxattr, removexattr
		n := r.pick(0)
		xname := "user." + r.name()
		val, exists := n.xattrs[xname]
		want := syscall.Errno(0)
		if !exists {
			want = syscall.ENODATA
		}
		what := fmt.Sprintf("getxattr %d %s", n.ino, xname)
		r.note(what)
		got, err := s.GetXattr(ctx, n.ino, xname)
		if r.check(what, err, want) && string(got) != val {
			r.t.Errorf("%s: %q, want %q", what, got, val)
		}
		names, err := s.ListXattr(ctx, n.ino)
		if r.check("listxattr", err, 0) {
			if wantNames := slices.Sorted(maps.Keys(n.xattrs)); !slices.Equal(names, wantNames) && len(names)+len(wantNames) > 0 {
				r.t.Errorf("listxattr %d: %q, want %q", n.ino, names, wantNames)
			}
		}
		if r.rng.IntN(2) == 0 {
			what = fmt.Sprintf("removexattr %d %s", n.ino, xname)
			r.note(what)
			if r.check(what, s.RemoveXattr(ctx, n.ino, xname), want) {
				delete(n.xattrs, xname)
			}
		}
	case 21: // fallocate
		f := r.pick(store.TypeFile)
		if f == nil {
			return
		}
		mode := []uint32{0, store.FallocKeepSize}[r.rng.IntN(2)]
		off, length := r.rng.IntN(4*r.cs), 1+r.rng.IntN(2*r.cs)
		what := fmt.Sprintf("fallocate %d mode %d [%d, +%d)", f.ino, mode, off, length)
		r.note(what)
		a, err := s.Fallocate(ctx, f.ino, mode, uint64(off), uint64(length))
		if r.check(what, err, 0) {
			if mode == 0 && off+length > len(f.data) {
				r.changed(f)
				f.data.truncate(off + length)
			}
			if a.Size != uint64(len(f.data)) {
				r.t.Errorf("%s: size %d, want %d", what, a.Size, len(f.data))
			}
		}
	}
}
