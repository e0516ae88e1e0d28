package storetest

import (
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

var renameTests = []test{
	{"RenameFile", testRenameFile},
	{"RenameMatrix", testRenameMatrix},
	{"RenameDirNlink", testRenameDirNlink},
	{"RenameNoReplace", testRenameNoReplace},
	{"RenameExchange", testRenameExchange},
	{"RenameLoops", testRenameLoops},
	{"RenameSameInode", testRenameSameInode},
}

// expectEntry checks that name in dir refers to ino (0: that it does not exist).
func (e *env) expectEntry(dir store.Ino, name string, ino store.Ino) {
	e.t.Helper()
	a, err := e.b.Lookup(e.ctx, dir, name)
	if ino == 0 {
		if !isErrno(err, syscall.ENOENT) {
			e.t.Errorf("entry %q: got %v (ino %d), want ENOENT", name, err, a.Ino)
		}
		return
	}
	if err != nil || a.Ino != ino {
		e.t.Errorf("entry %q: got ino %d (%v), want %d", name, a.Ino, err, ino)
	}
}

func testRenameFile(e *env) {
	f := e.mkfile(e.dir, "f")
	e.write(e.a, f.Ino, 0, []byte("payload"))
	sub := e.mkdir(e.dir, "sub")
	e.ageTimes(f.Ino)
	e.must(e.a.Rename(e.ctx, e.dir, "f", e.dir, "g", 0), "rename in one directory")
	e.expectEntry(e.dir, "f", 0)
	e.expectEntry(e.dir, "g", f.Ino)
	if a := e.getattr(e.a, f.Ino); a.Nlink != 1 || a.Size != 7 {
		e.t.Errorf("renamed file %+v", a)
	}
	e.must(e.b.Rename(e.ctx, e.dir, "g", sub.Ino, "h", 0), "rename across directories")
	e.expectEntry(e.dir, "g", 0)
	e.expectEntry(sub.Ino, "h", f.Ino)
	if got := string(e.readAll(e.b, f.Ino)); got != "payload" {
		e.t.Errorf("data after renames %q", got)
	}
	e.errno(e.a.Rename(e.ctx, e.dir, "missing", e.dir, "x", 0), syscall.ENOENT, "rename of a missing name")
	e.errno(e.a.Rename(e.ctx, sub.Ino, "h", store.Ino(1<<60), "x", 0), syscall.ENOENT, "rename into a missing dir")
	e.errno(e.a.Rename(e.ctx, sub.Ino, "h", f.Ino, "x", 0), syscall.ENOTDIR, "rename into a file")
	e.errno(e.a.Rename(e.ctx, sub.Ino, "h", sub.Ino, "x", 1<<7), syscall.EINVAL, "unknown rename flag")
	e.errno(e.a.Rename(e.ctx, sub.Ino, "h", sub.Ino, "x", store.RenameNoReplace|store.RenameExchange),
		syscall.EINVAL, "NOREPLACE|EXCHANGE")
	e.expectEntry(sub.Ino, "h", f.Ino)
	// Every type can be renamed.
	for _, n := range []store.NewNode{{Type: store.TypeSymlink, Target: "t"}, {Type: store.TypeFIFO}, {Type: store.TypeSocket}, {Type: store.TypeBlockDev, Rdev: 7}} {
		a := e.mknod(e.a, e.dir, "special", n)
		e.must(e.a.Rename(e.ctx, e.dir, "special", sub.Ino, "moved", 0), "rename type %d", n.Type)
		e.expectEntry(sub.Ino, "moved", a.Ino)
		_, err := e.a.Unlink(e.ctx, sub.Ino, "moved")
		e.must(err, "unlink")
	}
}

// testRenameMatrix renames every kind of source over every kind of target.
func testRenameMatrix(e *env) {
	type kind int
	const (
		none kind = iota
		file
		emptyDir
		fullDir
	)
	names := []string{"none", "file", "emptyDir", "fullDir"}
	make1 := func(dir store.Ino, name string, k kind) store.Ino {
		switch k {
		case file:
			return e.mkfile(dir, name).Ino
		case emptyDir:
			return e.mkdir(dir, name).Ino
		case fullDir:
			d := e.mkdir(dir, name)
			e.mkfile(d.Ino, "child")
			return d.Ino
		}
		return 0
	}
	want := map[[2]kind]syscall.Errno{
		{file, none}: 0, {file, file}: 0, {file, emptyDir}: syscall.EISDIR, {file, fullDir}: syscall.EISDIR,
		{emptyDir, none}: 0, {emptyDir, file}: syscall.ENOTDIR, {emptyDir, emptyDir}: 0, {emptyDir, fullDir}: syscall.ENOTEMPTY,
		{fullDir, none}: 0, {fullDir, file}: syscall.ENOTDIR, {fullDir, emptyDir}: 0, {fullDir, fullDir}: syscall.ENOTEMPTY,
	}
	for _, cross := range []bool{false, true} {
		for pair, errno := range want {
			src, dst := pair[0], pair[1]
			label := names[src] + "->" + names[dst]
			if cross {
				label += " across"
			}
			top := e.mkdir(e.dir, "m")
			from, to := top.Ino, top.Ino
			if cross {
				from, to = e.mkdir(top.Ino, "from").Ino, e.mkdir(top.Ino, "to").Ino
			}
			srcIno := make1(from, "s", src)
			dstIno := make1(to, "d", dst)
			before := CheckSubtree(e.t, e.a, top.Ino)
			err := e.b.Rename(e.ctx, from, "s", to, "d", 0)
			e.errno(err, errno, "rename %s", label)
			after := CheckSubtree(e.t, e.a, top.Ino)
			if errno != 0 {
				e.expectEntry(from, "s", srcIno)
				e.expectEntry(to, "d", dstIno)
				if after != before {
					e.t.Errorf("%s: failed rename changed the tree from %+v to %+v", label, before, after)
				}
			} else {
				e.expectEntry(from, "s", 0)
				e.expectEntry(to, "d", srcIno)
				if dstIno != 0 {
					if _, err := e.a.GetAttr(e.ctx, dstIno); !isErrno(err, syscall.ENOENT) {
						e.t.Errorf("%s: replaced inode %d still exists: %v", label, dstIno, err)
					}
					if after.Inodes != before.Inodes-1 {
						e.t.Errorf("%s: %d inodes after replacing, %d before", label, after.Inodes, before.Inodes)
					}
				}
			}
			removeAll(e, e.dir, "m")
		}
	}
}

// removeAll removes name from dir and everything under it.
func removeAll(e *env, dir store.Ino, name string) {
	e.t.Helper()
	a, err := e.a.Lookup(e.ctx, dir, name)
	e.must(err, "lookup %q for removal", name)
	if a.Type != store.TypeDir {
		_, err := e.a.Unlink(e.ctx, dir, name)
		e.must(err, "unlink %q", name)
		return
	}
	for _, child := range e.names(e.a, a.Ino) {
		removeAll(e, a.Ino, child)
	}
	e.must(e.a.Rmdir(e.ctx, dir, name), "rmdir %q", name)
}

// testRenameDirNlink checks the nlink bookkeeping of moving directories (their ".." changes parent).
func testRenameDirNlink(e *env) {
	p1 := e.mkdir(e.dir, "p1")
	p2 := e.mkdir(e.dir, "p2")
	d := e.mkdir(p1.Ino, "d")
	e.mkdir(d.Ino, "inner")
	nlink := func(ino store.Ino) uint32 { return e.getattr(e.a, ino).Nlink }
	if nlink(p1.Ino) != 3 || nlink(p2.Ino) != 2 || nlink(d.Ino) != 3 {
		e.fatalf("setup nlinks %d %d %d", nlink(p1.Ino), nlink(p2.Ino), nlink(d.Ino))
	}
	e.ageTimes(d.Ino)
	e.must(e.a.Rename(e.ctx, p1.Ino, "d", p2.Ino, "d", 0), "move d")
	if nlink(p1.Ino) != 2 || nlink(p2.Ino) != 3 || nlink(d.Ino) != 3 {
		e.t.Errorf("after move: nlinks %d %d %d, want 2 3 3", nlink(p1.Ino), nlink(p2.Ino), nlink(d.Ino))
	}
	// Replacing an empty directory in another parent: the target's parent keeps its count, the source's drops.
	e.mkdir(p1.Ino, "victim")
	e.must(e.a.Rename(e.ctx, p2.Ino, "d", p1.Ino, "victim", 0), "move d over an empty dir")
	if nlink(p1.Ino) != 3 || nlink(p2.Ino) != 2 {
		e.t.Errorf("after replacing: nlinks %d %d, want 3 2", nlink(p1.Ino), nlink(p2.Ino))
	}
	// Renaming within one parent changes nothing.
	e.must(e.a.Rename(e.ctx, p1.Ino, "victim", p1.Ino, "d", 0), "rename in place")
	if nlink(p1.Ino) != 3 {
		e.t.Errorf("rename within a parent: nlink %d, want 3", nlink(p1.Ino))
	}
	// A directory replacing an empty sibling in the same parent.
	e.mkdir(p1.Ino, "sibling")
	e.must(e.a.Rename(e.ctx, p1.Ino, "d", p1.Ino, "sibling", 0), "rename over a sibling")
	if nlink(p1.Ino) != 3 {
		e.t.Errorf("after replacing a sibling: nlink %d, want 3", nlink(p1.Ino))
	}
	e.expectEntry(p1.Ino, "sibling", d.Ino)
	// The moved directory's contents come along.
	if got := e.names(e.b, d.Ino); len(got) != 1 || got[0] != "inner" {
		e.t.Errorf("moved directory lists %q", got)
	}
}

func testRenameNoReplace(e *env) {
	f := e.mkfile(e.dir, "f")
	g := e.mkfile(e.dir, "g")
	d := e.mkdir(e.dir, "d")
	e.errno(e.a.Rename(e.ctx, e.dir, "f", e.dir, "g", store.RenameNoReplace), syscall.EEXIST, "NOREPLACE over a file")
	e.errno(e.a.Rename(e.ctx, e.dir, "f", e.dir, "d", store.RenameNoReplace), syscall.EEXIST, "NOREPLACE over a dir")
	e.errno(e.a.Rename(e.ctx, e.dir, "missing", e.dir, "z", store.RenameNoReplace), syscall.ENOENT, "NOREPLACE of a missing name")
	e.expectEntry(e.dir, "f", f.Ino)
	e.expectEntry(e.dir, "g", g.Ino)
	e.must(e.a.Rename(e.ctx, e.dir, "f", d.Ino, "f", store.RenameNoReplace), "NOREPLACE to a free name")
	e.expectEntry(d.Ino, "f", f.Ino)
	e.expectEntry(e.dir, "f", 0)
}

func testRenameExchange(e *env) {
	a := e.mkdir(e.dir, "a")
	b := e.mkdir(e.dir, "b")
	f := e.mkfile(a.Ino, "f")
	d := e.mkdir(b.Ino, "d")
	e.mkfile(d.Ino, "inside")
	nlink := func(ino store.Ino) uint32 { return e.getattr(e.a, ino).Nlink }
	// A file and a non-empty directory in different parents swap; the parents' nlinks follow the directory.
	e.must(e.b.Rename(e.ctx, a.Ino, "f", b.Ino, "d", store.RenameExchange), "exchange file and dir")
	e.expectEntry(a.Ino, "f", d.Ino)
	e.expectEntry(b.Ino, "d", f.Ino)
	if nlink(a.Ino) != 3 || nlink(b.Ino) != 2 {
		e.t.Errorf("after exchange: parent nlinks %d %d, want 3 2", nlink(a.Ino), nlink(b.Ino))
	}
	if got := e.names(e.a, d.Ino); len(got) != 1 || got[0] != "inside" {
		e.t.Errorf("exchanged directory lists %q", got)
	}
	// Two files in one directory.
	x := e.mkfile(e.dir, "x")
	y := e.mkfile(e.dir, "y")
	e.must(e.a.Rename(e.ctx, e.dir, "x", e.dir, "y", store.RenameExchange), "exchange two files")
	e.expectEntry(e.dir, "x", y.Ino)
	e.expectEntry(e.dir, "y", x.Ino)
	e.errno(e.a.Rename(e.ctx, e.dir, "x", e.dir, "nothing", store.RenameExchange), syscall.ENOENT, "exchange with a missing name")
	e.errno(e.a.Rename(e.ctx, e.dir, "nothing", e.dir, "x", store.RenameExchange), syscall.ENOENT, "exchange of a missing name")
	e.expectEntry(e.dir, "x", y.Ino)
	// A directory cannot be exchanged with its own descendant.
	e.errno(e.a.Rename(e.ctx, e.dir, "a", a.Ino, "f", store.RenameExchange), syscall.EINVAL, "exchange a dir with its child")
	e.errno(e.a.Rename(e.ctx, a.Ino, "f", e.dir, "a", store.RenameExchange), syscall.EINVAL, "exchange a child with its dir")
	e.expectEntry(a.Ino, "f", d.Ino)
	e.errno(e.a.Rename(e.ctx, e.dir, "a", d.Ino, "inside", store.RenameExchange), syscall.EINVAL, "exchange a dir with a grandchild")
	// Two directories in different parents, one with a subdirectory: nlinks are unchanged.
	p := e.mkdir(e.dir, "p")
	q := e.mkdir(p.Ino, "q")
	e.mkdir(q.Ino, "qq")
	r := e.mkdir(b.Ino, "r")
	before := [3]uint32{nlink(p.Ino), nlink(b.Ino), nlink(e.dir)}
	e.must(e.a.Rename(e.ctx, p.Ino, "q", b.Ino, "r", store.RenameExchange), "exchange two dirs")
	e.expectEntry(p.Ino, "q", r.Ino)
	e.expectEntry(b.Ino, "r", q.Ino)
	if after := [3]uint32{nlink(p.Ino), nlink(b.Ino), nlink(e.dir)}; after != before {
		e.t.Errorf("exchanging two dirs changed nlinks from %v to %v", before, after)
	}
	// Moving q (now under b) into r (now under p) is fine; the tree check verifies the parents.
	e.must(e.a.Rename(e.ctx, b.Ino, "r", p.Ino, "q2", 0), "move after exchange")
}

func testRenameLoops(e *env) {
	a := e.mkdir(e.dir, "a")
	b := e.mkdir(a.Ino, "b")
	c := e.mkdir(b.Ino, "c")
	e.errno(e.a.Rename(e.ctx, e.dir, "a", a.Ino, "x", 0), syscall.EINVAL, "a into itself")
	e.errno(e.a.Rename(e.ctx, e.dir, "a", c.Ino, "x", 0), syscall.EINVAL, "a into its grandchild")
	e.errno(e.a.Rename(e.ctx, e.dir, "a", c.Ino, "x", store.RenameNoReplace), syscall.EINVAL, "a into its grandchild, NOREPLACE")
	e.mkdir(c.Ino, "empty")
	e.errno(e.a.Rename(e.ctx, e.dir, "a", c.Ino, "empty", 0), syscall.EINVAL, "a over an empty dir in its subtree")
	// A directory over its own ancestor: the ancestor is not empty.
	e.errno(e.a.Rename(e.ctx, b.Ino, "c", e.dir, "a", 0), syscall.ENOTEMPTY, "c over its grandparent")
	e.expectEntry(e.dir, "a", a.Ino)
	e.expectEntry(a.Ino, "b", b.Ino)
	e.expectEntry(b.Ino, "c", c.Ino)
	// Moving a subtree up is fine.
	e.must(e.a.Rename(e.ctx, b.Ino, "c", e.dir, "c", 0), "c up two levels")
	e.must(e.a.Rename(e.ctx, e.dir, "a", c.Ino, "a", 0), "a below its former grandchild")
	e.expectEntry(c.Ino, "a", a.Ino)
}

func testRenameSameInode(e *env) {
	f := e.mkfile(e.dir, "f")
	_, err := e.a.Link(e.ctx, f.Ino, e.dir, "g")
	e.must(err, "link")
	d := e.mkdir(e.dir, "d")
	e.must(e.a.Rename(e.ctx, e.dir, "f", e.dir, "g", 0), "rename onto a hard link of the same inode")
	e.expectEntry(e.dir, "f", f.Ino)
	e.expectEntry(e.dir, "g", f.Ino)
	if a := e.getattr(e.a, f.Ino); a.Nlink != 2 {
		e.t.Errorf("nlink %d after the no-op rename", a.Nlink)
	}
	e.must(e.a.Rename(e.ctx, e.dir, "f", e.dir, "f", 0), "rename a file onto itself")
	e.must(e.a.Rename(e.ctx, e.dir, "d", e.dir, "d", 0), "rename a dir onto itself")
	e.expectEntry(e.dir, "f", f.Ino)
	e.expectEntry(e.dir, "d", d.Ino)
	if a := e.getattr(e.a, e.dir); a.Nlink != 3 {
		e.t.Errorf("dir nlink %d after no-op renames", a.Nlink)
	}
}
