package storetest

import (
	"bytes"
	"slices"
	"strings"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

var xattrTests = []test{
	{"Xattr", testXattr},
	{"XattrLimits", testXattrLimits},
}

func (e *env) listXattr(s store.Store, ino store.Ino) []string {
	e.t.Helper()
	names, err := s.ListXattr(e.ctx, ino)
	e.must(err, "listxattr %d", ino)
	return names
}

func testXattr(e *env) {
	f := e.mkfile(e.dir, "f")
	sl := e.mknod(e.a, e.dir, "sl", store.NewNode{Type: store.TypeSymlink, Target: "f"})
	for _, ino := range []store.Ino{f.Ino, e.dir, sl.Ino} {
		if got := e.listXattr(e.a, ino); len(got) != 0 {
			e.t.Errorf("new inode %d has xattrs %q", ino, got)
		}
		_, err := e.a.GetXattr(e.ctx, ino, "user.none")
		e.errno(err, syscall.ENODATA, "get of an unset xattr")
		e.errno(e.a.RemoveXattr(e.ctx, ino, "user.none"), syscall.ENODATA, "remove of an unset xattr")
		e.errno(e.a.SetXattr(e.ctx, ino, "user.none", []byte("x"), store.XattrReplace), syscall.ENODATA, "REPLACE of an unset xattr")
		e.must(e.a.SetXattr(e.ctx, ino, "user.b", []byte("two"), 0), "set")
		e.must(e.a.SetXattr(e.ctx, ino, "user.a", []byte("one"), store.XattrCreate), "set CREATE")
		e.must(e.a.SetXattr(e.ctx, ino, "security.selinux", []byte("ctx\x00"), 0), "set security")
		e.must(e.a.SetXattr(e.ctx, ino, "user.empty", nil, 0), "set empty value")
		e.errno(e.a.SetXattr(e.ctx, ino, "user.a", []byte("x"), store.XattrCreate), syscall.EEXIST, "CREATE of a set xattr")
		e.must(e.a.SetXattr(e.ctx, ino, "user.b", []byte("2"), store.XattrReplace), "set REPLACE")
		want := []string{"security.selinux", "user.a", "user.b", "user.empty"}
		if got := e.listXattr(e.b, ino); !slices.Equal(got, want) {
			e.t.Errorf("listxattr %q, want %q", got, want)
		}
		for name, val := range map[string]string{"user.a": "one", "user.b": "2", "security.selinux": "ctx\x00", "user.empty": ""} {
			got, err := e.b.GetXattr(e.ctx, ino, name)
			e.must(err, "get %q", name)
			if string(got) != val {
				e.t.Errorf("xattr %q = %q, want %q", name, got, val)
			}
		}
		e.must(e.b.RemoveXattr(e.ctx, ino, "user.a"), "remove")
		_, err = e.a.GetXattr(e.ctx, ino, "user.a")
		e.errno(err, syscall.ENODATA, "get after remove")
		if got := e.listXattr(e.a, ino); len(got) != 3 {
			e.t.Errorf("after remove: %q", got)
		}
	}
	e.errno(e.a.SetXattr(e.ctx, f.Ino, "user.x", nil, store.XattrCreate|store.XattrReplace), syscall.EINVAL, "CREATE|REPLACE")
	_, err := e.a.GetXattr(e.ctx, store.Ino(1<<60), "user.a")
	e.errno(err, syscall.ENOENT, "get on a missing inode")
	e.errno(e.a.SetXattr(e.ctx, store.Ino(1<<60), "user.a", nil, 0), syscall.ENOENT, "set on a missing inode")
	_, err = e.a.ListXattr(e.ctx, store.Ino(1<<60))
	e.errno(err, syscall.ENOENT, "list on a missing inode")
	// Xattrs belong to the inode: visible through a hard link, gone with the inode.
	_, err = e.a.Link(e.ctx, f.Ino, e.dir, "g")
	e.must(err, "link")
	g := e.lookup(e.dir, "g")
	if got, _ := e.a.GetXattr(e.ctx, g.Ino, "user.b"); string(got) != "2" {
		e.t.Errorf("xattr through a hard link: %q", got)
	}
	_, err = e.a.Unlink(e.ctx, e.dir, "f")
	e.must(err, "unlink")
	_, err = e.a.Unlink(e.ctx, e.dir, "g")
	e.must(err, "unlink")
	h := e.mkfile(e.dir, "f")
	if got := e.listXattr(e.a, h.Ino); len(got) != 0 {
		e.t.Errorf("a new file under an old name has xattrs %q", got)
	}
}

func testXattrLimits(e *env) {
	f := e.mkfile(e.dir, "f")
	long := "user." + strings.Repeat("n", store.MaxXattrNameLen-5)
	e.must(e.a.SetXattr(e.ctx, f.Ino, long, []byte("v"), 0), "set a %d-byte name", len(long))
	e.errno(e.a.SetXattr(e.ctx, f.Ino, long+"x", []byte("v"), 0), syscall.ERANGE, "set a 256-byte name")
	_, err := e.a.GetXattr(e.ctx, f.Ino, long+"x")
	e.errno(err, syscall.ERANGE, "get a 256-byte name")
	e.errno(e.a.SetXattr(e.ctx, f.Ino, "", []byte("v"), 0), syscall.EINVAL, "set an empty name")
	big := bytes.Repeat([]byte{0xa5, 0, 0x5a}, store.MaxXattrValueLen/3+1)[:store.MaxXattrValueLen]
	e.must(e.a.SetXattr(e.ctx, f.Ino, "user.big", big, 0), "set a 64 KiB value")
	got, err := e.b.GetXattr(e.ctx, f.Ino, "user.big")
	e.must(err, "get the 64 KiB value")
	if !bytes.Equal(got, big) {
		e.t.Errorf("64 KiB value differs (%d bytes back)", len(got))
	}
	e.errno(e.a.SetXattr(e.ctx, f.Ino, "user.big", append(big, 1), 0), syscall.E2BIG, "set a value over 64 KiB")
	if got, _ := e.a.GetXattr(e.ctx, f.Ino, "user.big"); !bytes.Equal(got, big) {
		e.t.Errorf("a rejected set changed the value")
	}
	if names := e.listXattr(e.a, f.Ino); !slices.Equal(names, []string{"user.big", long}) {
		e.t.Errorf("listxattr %q", names)
	}
}
