package storetest

import (
	"strings"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

var namespaceTests = []test{
	{"Names", testNames},
	{"LookupGetAttr", testLookupGetAttr},
	{"Mknod", testMknod},
	{"MknodExists", testMknodExists},
	{"Symlink", testSymlink},
	{"Link", testLink},
	{"Unlink", testUnlink},
	{"Rmdir", testRmdir},
	{"SetAttr", testSetAttr},
	{"Times", testTimes},
	{"InodeNumbers", testInodeNumbers},
}

var fileNode = store.NewNode{Type: store.TypeFile, Mode: 0o644}
var dirNode = store.NewNode{Type: store.TypeDir, Mode: 0o755}

// badNames maps invalid names to the errno every method taking a name must return.
var badNames = map[string]syscall.Errno{
	"":                       syscall.EINVAL,
	".":                      syscall.EINVAL,
	"..":                     syscall.EINVAL,
	"a/b":                    syscall.EINVAL,
	"/":                      syscall.EINVAL,
	"a\x00b":                 syscall.EINVAL,
	strings.Repeat("n", 256): syscall.ENAMETOOLONG,
}

func testNames(e *env) {
	f := e.mkfile(e.dir, "f")
	sub := e.mkdir(e.dir, "sub")
	for name, want := range badNames {
		q := strings.ToValidUTF8(name, "?")
		if len(q) > 20 {
			q = q[:20] + "..."
		}
		_, err := e.a.Lookup(e.ctx, e.dir, name)
		e.errno(err, want, "lookup %q", q)
		_, err = e.a.Mknod(e.ctx, e.dir, name, fileNode)
		e.errno(err, want, "create %q", q)
		_, err = e.a.Mknod(e.ctx, e.dir, name, dirNode)
		e.errno(err, want, "mkdir %q", q)
		_, err = e.a.Link(e.ctx, f.Ino, e.dir, name)
		e.errno(err, want, "link %q", q)
		_, err = e.a.Unlink(e.ctx, e.dir, name)
		e.errno(err, want, "unlink %q", q)
		e.errno(e.a.Rmdir(e.ctx, e.dir, name), want, "rmdir %q", q)
		e.errno(e.a.Rename(e.ctx, e.dir, name, e.dir, "x", 0), want, "rename from %q", q)
		e.errno(e.a.Rename(e.ctx, e.dir, "f", e.dir, name, 0), want, "rename f to %q", q)
	}
	// Nothing was changed by the rejected calls.
	if got := e.names(e.a, e.dir); strings.Join(got, ",") != "f,sub" {
		e.t.Errorf("after invalid names the directory holds %q", got)
	}
	if a := e.getattr(e.a, f.Ino); a.Nlink != 1 {
		e.t.Errorf("f nlink %d after rejected links", a.Nlink)
	}
	// The longest name and unusual bytes work.
	for _, name := range []string{strings.Repeat("l", store.MaxNameLen), "sp ace", "ü-ñ", "\x01\xff", "-", "...", ".hidden"} {
		a := e.mkfile(sub.Ino, name)
		if got := e.lookup(sub.Ino, name); got.Ino != a.Ino {
			e.t.Errorf("lookup %q: ino %d, want %d", name, got.Ino, a.Ino)
		}
	}
	if got := len(e.names(e.a, sub.Ino)); got != 7 {
		e.t.Errorf("sub lists %d names, want 7", got)
	}
}

func testLookupGetAttr(e *env) {
	f := e.mkfile(e.dir, "f")
	_, err := e.a.Lookup(e.ctx, e.dir, "missing")
	e.errno(err, syscall.ENOENT, "lookup missing")
	_, err = e.a.Lookup(e.ctx, f.Ino, "x")
	e.errno(err, syscall.ENOTDIR, "lookup in a file")
	_, err = e.a.GetAttr(e.ctx, store.Ino(1<<60))
	e.errno(err, syscall.ENOENT, "getattr of a never-used inode")
	_, err = e.a.Mknod(e.ctx, f.Ino, "x", fileNode)
	e.errno(err, syscall.ENOTDIR, "create in a file")
	_, err = e.a.Mknod(e.ctx, store.Ino(1<<60), "x", fileNode)
	e.errno(err, syscall.ENOENT, "create in a missing directory")
	l := e.lookup(e.dir, "f")
	g := e.getattr(e.b, f.Ino)
	if l != f || g != f {
		e.t.Errorf("attributes differ: mknod %+v, lookup %+v, getattr on b %+v", f, l, g)
	}
	root := e.getattr(e.a, store.RootIno)
	if root.Type != store.TypeDir || root.Ino != store.RootIno || root.Nlink < 3 {
		e.t.Errorf("root attributes %+v", root)
	}
}

func testMknod(e *env) {
	cases := []struct {
		name string
		n    store.NewNode
	}{
		{"file", store.NewNode{Type: store.TypeFile, Mode: 0o640, Uid: 1000, Gid: 2000}},
		{"setuid", store.NewNode{Type: store.TypeFile, Mode: 0o4755, Uid: 1, Gid: 1}},
		{"dir", store.NewNode{Type: store.TypeDir, Mode: 0o1777, Uid: 5, Gid: 6}},
		{"fifo", store.NewNode{Type: store.TypeFIFO, Mode: 0o600}},
		{"socket", store.NewNode{Type: store.TypeSocket, Mode: 0o755}},
		{"chr", store.NewNode{Type: store.TypeCharDev, Mode: 0o666, Rdev: 1<<8 | 3}},
		{"blk", store.NewNode{Type: store.TypeBlockDev, Mode: 0o660, Rdev: 8<<8 | 1}},
		{"symlink", store.NewNode{Type: store.TypeSymlink, Mode: 0o777, Target: "../some/where"}},
	}
	parent0 := e.getattr(e.a, e.dir)
	seen := map[store.Ino]bool{e.dir: true}
	for _, c := range cases {
		a := e.mknod(e.a, e.dir, c.name, c.n)
		if seen[a.Ino] || a.Ino == 0 {
			e.t.Errorf("%s: inode number %d reused or zero", c.name, a.Ino)
		}
		seen[a.Ino] = true
		wantNlink := uint32(1)
		if c.n.Type == store.TypeDir {
			wantNlink = 2
		}
		if a.Type != c.n.Type || a.Mode != c.n.Mode || a.Uid != c.n.Uid || a.Gid != c.n.Gid || a.Nlink != wantNlink {
			e.t.Errorf("%s: attributes %+v do not match %+v (nlink want %d)", c.name, a, c.n, wantNlink)
		}
		if (c.n.Type == store.TypeCharDev || c.n.Type == store.TypeBlockDev) && a.Rdev != c.n.Rdev {
			e.t.Errorf("%s: rdev %#x, want %#x", c.name, a.Rdev, c.n.Rdev)
		}
		if c.n.Type == store.TypeSymlink && a.Size != uint64(len(c.n.Target)) {
			e.t.Errorf("%s: size %d, want %d", c.name, a.Size, len(c.n.Target))
		}
		if c.n.Type == store.TypeFile && a.Size != 0 {
			e.t.Errorf("%s: new file has size %d", c.name, a.Size)
		}
		if a.Mtime == 0 || a.Ctime == 0 || a.Atime == 0 || a.Mtime < parent0.Mtime {
			e.t.Errorf("%s: times %d %d %d not set (parent was %d)", c.name, a.Atime, a.Mtime, a.Ctime, parent0.Mtime)
		}
		if got := e.getattr(e.b, a.Ino); got != a {
			e.t.Errorf("%s: getattr on the other session %+v, want %+v", c.name, got, a)
		}
	}
	if p := e.getattr(e.a, e.dir); p.Nlink != parent0.Nlink+1 {
		e.t.Errorf("parent nlink %d after one mkdir, want %d", p.Nlink, parent0.Nlink+1)
	}
	for _, mode := range []uint32{0o10000, 0o100644, 0o40755} {
		_, err := e.a.Mknod(e.ctx, e.dir, "badmode", store.NewNode{Type: store.TypeFile, Mode: mode})
		e.errno(err, syscall.EINVAL, "mode %#o", mode)
	}
	_, err := e.a.Mknod(e.ctx, e.dir, "badtype", store.NewNode{Type: 0, Mode: 0o644})
	e.errno(err, syscall.EINVAL, "type 0")
	// InheritSetgid: in a set-group-ID directory, new nodes take its group and directories its bit; elsewhere
	// (and without the flag) the caller's Gid and Mode stand.
	sg := e.mknod(e.a, e.dir, "sgid", store.NewNode{Type: store.TypeDir, Mode: 0o2775, Uid: 1, Gid: 4242})
	for _, c := range []struct {
		name     string
		n        store.NewNode
		gid      uint32
		mode     uint32
		inParent store.Ino
	}{
		{"sgid-file", store.NewNode{Type: store.TypeFile, Mode: 0o644, Gid: 7, InheritSetgid: true}, 4242, 0o644, sg.Ino},
		{"sgid-dir", store.NewNode{Type: store.TypeDir, Mode: 0o755, Gid: 7, InheritSetgid: true}, 4242, 0o2755, sg.Ino},
		{"sgid-off", store.NewNode{Type: store.TypeDir, Mode: 0o755, Gid: 7}, 7, 0o755, sg.Ino},
		{"plain-dir", store.NewNode{Type: store.TypeDir, Mode: 0o755, Gid: 7, InheritSetgid: true}, 7, 0o755, e.dir},
	} {
		a := e.mknod(e.a, c.inParent, c.name, c.n)
		if a.Gid != c.gid || a.Mode != c.mode {
			e.t.Errorf("%s: gid %d mode %o, want %d and %o", c.name, a.Gid, a.Mode, c.gid, c.mode)
		}
	}
	if _, err := e.a.Lookup(e.ctx, e.dir, "badmode"); !isErrno(err, syscall.ENOENT) {
		e.t.Errorf("rejected create left an entry: %v", err)
	}
}

func testMknodExists(e *env) {
	types := []store.NewNode{fileNode, dirNode, {Type: store.TypeSymlink, Target: "t"}, {Type: store.TypeFIFO}}
	for i, first := range types {
		name := string(rune('a' + i))
		orig := e.mknod(e.a, e.dir, name, first)
		for _, second := range types {
			_, err := e.b.Mknod(e.ctx, e.dir, name, second)
			e.errno(err, syscall.EEXIST, "create type %d over type %d", second.Type, first.Type)
		}
		if got := e.lookup(e.dir, name); got.Ino != orig.Ino || got.Type != orig.Type {
			e.t.Errorf("EEXIST changed the entry: %+v, want %+v", got, orig)
		}
	}
	if d := e.getattr(e.a, e.dir); d.Nlink != 3 {
		e.t.Errorf("dir nlink %d after one mkdir and failed ones, want 3", d.Nlink)
	}
}

func testSymlink(e *env) {
	for _, target := range []string{"a", "/abs/path", "../x/../y", "with space", strings.Repeat("t", 4095)} {
		a := e.mknod(e.a, e.dir, "l", store.NewNode{Type: store.TypeSymlink, Mode: 0o777, Target: target})
		got, err := e.b.Readlink(e.ctx, a.Ino)
		e.must(err, "readlink")
		if got != target || a.Size != uint64(len(target)) {
			e.t.Errorf("readlink %q (size %d), want %q", got, a.Size, target)
		}
		_, err = e.a.Unlink(e.ctx, e.dir, "l")
		e.must(err, "unlink symlink")
	}
	_, err := e.a.Mknod(e.ctx, e.dir, "long", store.NewNode{Type: store.TypeSymlink, Target: strings.Repeat("t", 4096)})
	e.errno(err, syscall.ENAMETOOLONG, "symlink to a 4096-byte target")
	if _, err := e.a.Mknod(e.ctx, e.dir, "empty", store.NewNode{Type: store.TypeSymlink}); err == nil {
		e.t.Errorf("symlink with an empty target succeeded")
	}
	f := e.mkfile(e.dir, "f")
	_, err = e.a.Readlink(e.ctx, f.Ino)
	e.errno(err, syscall.EINVAL, "readlink of a file")
	_, err = e.a.Readlink(e.ctx, e.dir)
	e.errno(err, syscall.EINVAL, "readlink of a directory")
}

func testLink(e *env) {
	f := e.mkfile(e.dir, "f")
	e.write(e.a, f.Ino, 0, []byte("linked"))
	sub := e.mkdir(e.dir, "sub")
	e.ageTimes(f.Ino)
	e.ageTimes(sub.Ino)
	a, err := e.b.Link(e.ctx, f.Ino, sub.Ino, "g")
	e.must(err, "link")
	if a.Nlink != 2 || a.Ino != f.Ino {
		e.t.Errorf("link returned %+v, want nlink 2 of %d", a, f.Ino)
	}
	e.expectTimes(f.Ino, false, true, "link: the inode")
	e.expectTimes(sub.Ino, true, true, "link: the directory")
	if g := e.lookup(sub.Ino, "g"); g.Ino != f.Ino || g.Nlink != 2 {
		e.t.Errorf("lookup of the link %+v", g)
	}
	_, err = e.a.Link(e.ctx, f.Ino, sub.Ino, "g")
	e.errno(err, syscall.EEXIST, "link over an existing name")
	_, err = e.a.Link(e.ctx, sub.Ino, e.dir, "dirlink")
	e.errno(err, syscall.EPERM, "link of a directory")
	_, err = e.a.Link(e.ctx, store.Ino(1<<60), e.dir, "ghost")
	e.errno(err, syscall.ENOENT, "link of a missing inode")
	_, err = e.a.Link(e.ctx, f.Ino, f.Ino, "x")
	e.errno(err, syscall.ENOTDIR, "link into a file")
	for i := 3; i <= 5; i++ {
		a, err = e.a.Link(e.ctx, f.Ino, e.dir, "f"+string(rune('0'+i)))
		e.must(err, "link %d", i)
		if a.Nlink != uint32(i) {
			e.t.Errorf("nlink %d after link %d", a.Nlink, i)
		}
	}
	a, err = e.a.Unlink(e.ctx, e.dir, "f")
	e.must(err, "unlink the first name")
	if a.Nlink != 4 {
		e.t.Errorf("nlink %d after unlinking one of five names", a.Nlink)
	}
	if got := string(e.readAll(e.b, f.Ino)); got != "linked" {
		e.t.Errorf("data through a remaining name: %q", got)
	}
	sl := e.mknod(e.a, e.dir, "sl", store.NewNode{Type: store.TypeSymlink, Target: "f"})
	a, err = e.a.Link(e.ctx, sl.Ino, sub.Ino, "sl2")
	e.must(err, "link of a symlink")
	if a.Nlink != 2 {
		e.t.Errorf("symlink nlink %d after link", a.Nlink)
	}
}

func testUnlink(e *env) {
	f := e.mkfile(e.dir, "f")
	e.write(e.a, f.Ino, 0, []byte("bye"))
	sub := e.mkdir(e.dir, "sub")
	_, err := e.a.Unlink(e.ctx, e.dir, "missing")
	e.errno(err, syscall.ENOENT, "unlink of a missing name")
	_, err = e.a.Unlink(e.ctx, e.dir, "sub")
	e.errno(err, syscall.EISDIR, "unlink of a directory")
	_, err = e.a.Unlink(e.ctx, f.Ino, "x")
	e.errno(err, syscall.ENOTDIR, "unlink in a file")
	e.ageTimes(e.dir)
	a, err := e.b.Unlink(e.ctx, e.dir, "f")
	e.must(err, "unlink")
	if a.Nlink != 0 || a.Ino != f.Ino {
		e.t.Errorf("unlink returned %+v", a)
	}
	e.expectTimes(e.dir, true, true, "unlink: the parent")
	_, err = e.a.GetAttr(e.ctx, f.Ino)
	e.errno(err, syscall.ENOENT, "getattr of an unlinked file nobody holds open")
	_, err = e.a.Lookup(e.ctx, e.dir, "f")
	e.errno(err, syscall.ENOENT, "lookup of an unlinked name")
	_, err = e.b.Unlink(e.ctx, e.dir, "f")
	e.errno(err, syscall.ENOENT, "second unlink")
	for _, n := range []store.NewNode{{Type: store.TypeSymlink, Target: "x"}, {Type: store.TypeFIFO}, {Type: store.TypeSocket}, {Type: store.TypeCharDev, Rdev: 5}} {
		a := e.mknod(e.a, sub.Ino, "x", n)
		_, err := e.a.Unlink(e.ctx, sub.Ino, "x")
		e.must(err, "unlink type %d", n.Type)
		_, err = e.a.GetAttr(e.ctx, a.Ino)
		e.errno(err, syscall.ENOENT, "getattr after unlink of type %d", n.Type)
	}
}

func testRmdir(e *env) {
	d := e.mkdir(e.dir, "d")
	e.mkfile(d.Ino, "f")
	e.mkfile(e.dir, "file")
	p0 := e.getattr(e.a, e.dir)
	e.errno(e.a.Rmdir(e.ctx, e.dir, "d"), syscall.ENOTEMPTY, "rmdir of a non-empty directory")
	e.errno(e.a.Rmdir(e.ctx, e.dir, "file"), syscall.ENOTDIR, "rmdir of a file")
	e.errno(e.a.Rmdir(e.ctx, e.dir, "missing"), syscall.ENOENT, "rmdir of a missing name")
	_, err := e.a.Unlink(e.ctx, d.Ino, "f")
	e.must(err, "unlink")
	e.ageTimes(e.dir)
	e.must(e.b.Rmdir(e.ctx, e.dir, "d"), "rmdir")
	e.expectTimes(e.dir, true, true, "rmdir: the parent")
	if p := e.getattr(e.a, e.dir); p.Nlink != p0.Nlink-1 {
		e.t.Errorf("parent nlink %d after rmdir, want %d", p.Nlink, p0.Nlink-1)
	}
	_, err = e.a.GetAttr(e.ctx, d.Ino)
	e.errno(err, syscall.ENOENT, "getattr of a removed directory")
	_, err = e.a.Mknod(e.ctx, d.Ino, "x", fileNode)
	if !isErrno(err, syscall.ENOENT) {
		e.t.Errorf("create in a removed directory: %v, want ENOENT", err)
	}
	// A directory emptied of subdirectories can go too.
	x := e.mkdir(e.dir, "x")
	e.mkdir(x.Ino, "y")
	e.must(e.a.Rmdir(e.ctx, x.Ino, "y"), "rmdir y")
	if a := e.getattr(e.a, x.Ino); a.Nlink != 2 {
		e.t.Errorf("x nlink %d after its only subdirectory went", a.Nlink)
	}
	e.must(e.a.Rmdir(e.ctx, e.dir, "x"), "rmdir x")
}

func testSetAttr(e *env) {
	f := e.mkfile(e.dir, "f")
	a, err := e.b.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetMode | store.SetUid | store.SetGid,
		Mode: 0o2751, Uid: 42, Gid: 43})
	e.must(err, "setattr")
	if a.Mode != 0o2751 || a.Uid != 42 || a.Gid != 43 || a.Size != 0 || a.Type != store.TypeFile {
		e.t.Errorf("setattr returned %+v", a)
	}
	if got := e.getattr(e.a, f.Ino); got != a {
		e.t.Errorf("getattr %+v after setattr returned %+v", got, a)
	}
	a, err = e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetAtime | store.SetMtime, Atime: 11, Mtime: 22})
	e.must(err, "set times")
	if a.Atime != 11 || a.Mtime != 22 || a.Ctime <= 22 || a.Mode != 0o2751 {
		e.t.Errorf("explicit times: %+v (ctime must be now)", a)
	}
	a, err = e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetCtime, Ctime: 33})
	e.must(err, "set ctime")
	if a.Ctime != 33 || a.Atime != 11 || a.Mtime != 22 {
		e.t.Errorf("explicit ctime: %+v", a)
	}
	a, err = e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetUid, Uid: 7})
	e.must(err, "chown")
	if a.Ctime <= 33 || a.Mtime != 22 {
		e.t.Errorf("chown: ctime %d must move, mtime %d must not", a.Ctime, a.Mtime)
	}
	_, err = e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetMode, Mode: 0o100644})
	e.errno(err, syscall.EINVAL, "mode with type bits")
	_, err = e.a.SetAttr(e.ctx, e.dir, store.SetAttrIn{Valid: store.SetSize, Size: 0})
	e.errno(err, syscall.EISDIR, "truncate of a directory")
	sl := e.mknod(e.a, e.dir, "sl", store.NewNode{Type: store.TypeSymlink, Target: "abc"})
	_, err = e.a.SetAttr(e.ctx, sl.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 1})
	e.errno(err, syscall.EINVAL, "truncate of a symlink")
	fifo := e.mknod(e.a, e.dir, "fifo", store.NewNode{Type: store.TypeFIFO, Mode: 0o600})
	_, err = e.a.SetAttr(e.ctx, fifo.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 1})
	e.errno(err, syscall.EINVAL, "truncate of a fifo")
	_, err = e.a.SetAttr(e.ctx, store.Ino(1<<60), store.SetAttrIn{Valid: store.SetMode, Mode: 0o600})
	e.errno(err, syscall.ENOENT, "setattr of a missing inode")
	d, err := e.a.SetAttr(e.ctx, e.dir, store.SetAttrIn{Valid: store.SetMode | store.SetUid, Mode: 0o1770, Uid: 9})
	e.must(err, "chmod of a directory")
	if d.Mode != 0o1770 || d.Uid != 9 || d.Type != store.TypeDir {
		e.t.Errorf("directory setattr %+v", d)
	}
	// Truncation sets mtime and ctime.
	e.ageTimes(f.Ino)
	a, err = e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 10})
	e.must(err, "truncate up")
	if a.Size != 10 {
		e.t.Errorf("size %d after truncate to 10", a.Size)
	}
	e.expectTimes(f.Ino, true, true, "truncate")
}

func testTimes(e *env) {
	sub := e.mkdir(e.dir, "sub")
	other := e.mkdir(e.dir, "other")
	e.ageTimes(sub.Ino)
	f := e.mknod(e.a, sub.Ino, "f", fileNode)
	e.expectTimes(sub.Ino, true, true, "create: the parent")
	e.ageTimes(f.Ino)
	e.write(e.b, f.Ino, 0, []byte("data"))
	e.expectTimes(f.Ino, true, true, "write")
	e.ageTimes(f.Ino)
	buf := make([]byte, 4)
	_, err := e.a.Read(e.ctx, f.Ino, 0, buf)
	e.must(err, "read")
	e.expectTimes(f.Ino, false, false, "read")
	_, err = e.a.Open(e.ctx, f.Ino)
	e.must(err, "open")
	e.must(e.a.Release(e.ctx, f.Ino), "release")
	_, err = e.a.Lookup(e.ctx, sub.Ino, "f")
	e.must(err, "lookup")
	_, err = e.a.ReadDir(e.ctx, sub.Ino, "", 10)
	e.must(err, "readdir")
	e.expectTimes(f.Ino, false, false, "open, release and lookup")
	e.ageTimes(sub.Ino)
	e.expectTimes(sub.Ino, false, false, "readdir")
	e.ageTimes(other.Ino)
	e.must(e.a.Rename(e.ctx, sub.Ino, "f", other.Ino, "g", 0), "rename")
	e.expectTimes(sub.Ino, true, true, "rename: the old parent")
	e.expectTimes(other.Ino, true, true, "rename: the new parent")
	if a := e.getattr(e.a, f.Ino); a.Mtime != oldTime {
		e.t.Errorf("rename changed the moved file's mtime")
	}
	e.ageTimes(f.Ino)
	e.must(e.a.SetXattr(e.ctx, f.Ino, "user.t", []byte("v"), 0), "setxattr")
	e.expectTimes(f.Ino, false, true, "setxattr")
	e.ageTimes(f.Ino)
	_, err = e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetMode, Mode: 0o600})
	e.must(err, "chmod")
	e.expectTimes(f.Ino, false, true, "chmod")
	e.ageTimes(f.Ino)
	_, err = e.a.Write(e.ctx, f.Ino, 0, nil)
	e.must(err, "empty write")
	if a := e.getattr(e.a, f.Ino); a.Size != 4 {
		e.t.Errorf("empty write changed the size to %d", a.Size)
	}
}

func testInodeNumbers(e *env) {
	seen := map[store.Ino]bool{}
	for i := range 5 {
		a := e.mkfile(e.dir, "f")
		if seen[a.Ino] {
			e.t.Errorf("round %d: inode number %d reused", i, a.Ino)
		}
		seen[a.Ino] = true
		_, err := e.a.Unlink(e.ctx, e.dir, "f")
		e.must(err, "unlink")
		d := e.mkdir(e.dir, "d")
		if seen[d.Ino] {
			e.t.Errorf("round %d: inode number %d reused", i, d.Ino)
		}
		seen[d.Ino] = true
		e.must(e.a.Rmdir(e.ctx, e.dir, "d"), "rmdir")
	}
}
