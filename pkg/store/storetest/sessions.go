package storetest

import (
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

var sessionTests = []test{
	{"StatFS", testStatFS},
	{"OpenUnlinked", testOpenUnlinked},
	{"OpenUnlinkedTwoSessions", testOpenUnlinkedTwoSessions},
	{"CloseToOpen", testCloseToOpen},
	{"Version", testVersion},
}

// testVersion: Attr.Version, when tracked, is the same on every session, survives reads and changes with every
// change of data or attributes made by any session.
func testVersion(e *env) {
	f := e.mkfile(e.dir, "v")
	if f.Version == 0 {
		e.t.Log("this store does not track versions (Attr.Version is 0)")
		return
	}
	cur := e.getattr(e.a, f.Ino).Version
	same := func(what string) {
		e.t.Helper()
		va, vb := e.getattr(e.a, f.Ino).Version, e.getattr(e.b, f.Ino).Version
		if va != cur || vb != cur {
			e.t.Errorf("after %s: version %d on a, %d on b, want unchanged %d", what, va, vb, cur)
		}
	}
	changed := func(what string) {
		e.t.Helper()
		va, vb := e.getattr(e.a, f.Ino).Version, e.getattr(e.b, f.Ino).Version
		if va != vb || va == cur || va == 0 {
			e.t.Errorf("after %s: version %d on a, %d on b, want one new version (was %d)", what, va, vb, cur)
		}
		cur = va
	}
	same("nothing")
	e.write(e.b, f.Ino, 0, []byte("data"))
	changed("write on b")
	e.readAll(e.a, f.Ino)
	e.open(e.a, f.Ino)
	e.release(e.a, f.Ino)
	e.names(e.b, e.dir)
	same("reads, open and release")
	e.write(e.a, f.Ino, 1, []byte("A"))
	changed("same-size overwrite on a")
	_, err := e.b.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetMode, Mode: 0o600})
	e.must(err, "chmod")
	changed("chmod on b")
	_, err = e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 1})
	e.must(err, "truncate")
	changed("truncate on a")
	_, err = e.b.Link(e.ctx, f.Ino, e.dir, "v2")
	e.must(err, "link")
	changed("link on b")
	_, err = e.a.Unlink(e.ctx, e.dir, "v2")
	e.must(err, "unlink")
	changed("unlink of the other name on a")
	e.must(e.b.SetXattr(e.ctx, f.Ino, "user.v", []byte("1"), 0), "setxattr")
	changed("setxattr on b")
}

func testStatFS(e *env) {
	u0 := e.statfs(e.a)
	if u0.CapacityBytes != e.opts.CapacityBytes || u0.MaxInodes != e.opts.MaxInodes {
		e.t.Errorf("statfs reports quota %d/%d, the volume was made with %d/%d", u0.CapacityBytes, u0.MaxInodes,
			e.opts.CapacityBytes, e.opts.MaxInodes)
	}
	if u0.Inodes < 2 {
		e.t.Errorf("statfs counts %d inodes", u0.Inodes)
	}
	expect := func(what string, inodes int, bytes int64) {
		e.t.Helper()
		for _, s := range []store.Store{e.a, e.b} {
			u := e.statfs(s)
			if u.Inodes != u0.Inodes+uint64(inodes) || int64(u.Bytes) != int64(u0.Bytes)+bytes {
				e.t.Errorf("%s: statfs %d inodes %d bytes, want %d and %d", what, u.Inodes, u.Bytes,
					int64(u0.Inodes)+int64(inodes), int64(u0.Bytes)+bytes)
			}
		}
	}
	f := e.mkfile(e.dir, "f")
	expect("create", 1, 0)
	e.write(e.a, f.Ino, 0, make([]byte, 5000))
	expect("write 5000", 1, 5000)
	e.write(e.b, f.Ino, 1000, make([]byte, 1000))
	expect("overwrite", 1, 5000)
	e.write(e.b, f.Ino, 9999, []byte{1})
	expect("sparse extension", 1, 10000)
	_, err := e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 100})
	e.must(err, "truncate")
	expect("truncate to 100", 1, 100)
	_, err = e.a.Fallocate(e.ctx, f.Ino, 0, 0, 300)
	e.must(err, "fallocate")
	expect("fallocate to 300", 1, 300)
	d := e.mkdir(e.dir, "d")
	e.mknod(e.b, d.Ino, "l", store.NewNode{Type: store.TypeSymlink, Target: "0123456789"})
	e.mknod(e.b, d.Ino, "p", store.NewNode{Type: store.TypeFIFO})
	expect("mkdir, symlink, fifo", 4, 300)
	_, err = e.a.Link(e.ctx, f.Ino, d.Ino, "f2")
	e.must(err, "link")
	expect("link", 4, 300)
	_, err = e.a.Unlink(e.ctx, e.dir, "f")
	e.must(err, "unlink")
	expect("unlink one of two names", 4, 300)
	e.must(e.a.Rename(e.ctx, d.Ino, "l", d.Ino, "f2", 0), "rename over the file's last name")
	expect("rename replacing the file", 3, 0)
	removeAll(e, e.dir, "d")
	expect("remove all", 0, 0)
}

func (e *env) open(s store.Store, ino store.Ino) {
	e.t.Helper()
	_, err := s.Open(e.ctx, ino)
	e.must(err, "open %d", ino)
}

func (e *env) release(s store.Store, ino store.Ino) {
	e.t.Helper()
	e.must(s.Release(e.ctx, ino), "release %d", ino)
}

func testOpenUnlinked(e *env) {
	f := e.mkfile(e.dir, "f")
	e.write(e.a, f.Ino, 0, []byte("still here"))
	u0 := e.statfs(e.a)
	e.open(e.a, f.Ino)
	e.open(e.a, f.Ino) // two opens by one session
	a, err := e.a.Unlink(e.ctx, e.dir, "f")
	e.must(err, "unlink")
	if a.Nlink != 0 {
		e.t.Errorf("nlink %d after unlinking the only name", a.Nlink)
	}
	if got := string(e.readAll(e.a, f.Ino)); got != "still here" {
		e.t.Errorf("open unlinked file reads %q", got)
	}
	e.write(e.a, f.Ino, 0, []byte("STILL"))
	if got := string(e.readAll(e.a, f.Ino)); got != "STILL here" {
		e.t.Errorf("open unlinked file after a write reads %q", got)
	}
	if g := e.getattr(e.a, f.Ino); g.Nlink != 0 || g.Size != 10 {
		e.t.Errorf("getattr of the open unlinked file %+v", g)
	}
	if u := e.statfs(e.a); u.Inodes != u0.Inodes || u.Bytes != u0.Bytes {
		e.t.Errorf("an open unlinked file must stay counted: %+v, before %+v", u, u0)
	}
	e.release(e.a, f.Ino)
	if got := string(e.readAll(e.a, f.Ino)); got != "STILL here" {
		e.t.Errorf("after one of two releases the file reads %q", got)
	}
	e.release(e.a, f.Ino)
	_, err = e.a.GetAttr(e.ctx, f.Ino)
	e.errno(err, syscall.ENOENT, "getattr after the last release")
	if u := e.statfs(e.a); u.Inodes != u0.Inodes-1 || u.Bytes != u0.Bytes-10 {
		e.t.Errorf("after the last release: %+v, before %+v", u, u0)
	}
	// Opening and releasing a linked file deletes nothing.
	g := e.mkfile(e.dir, "g")
	e.open(e.b, g.Ino)
	e.release(e.b, g.Ino)
	e.getattr(e.a, g.Ino)
	// Unlink of one of two names while open, then the other after release.
	_, err = e.a.Link(e.ctx, g.Ino, e.dir, "g2")
	e.must(err, "link")
	e.open(e.a, g.Ino)
	_, err = e.a.Unlink(e.ctx, e.dir, "g")
	e.must(err, "unlink g")
	e.release(e.a, g.Ino)
	if a := e.getattr(e.a, g.Ino); a.Nlink != 1 {
		e.t.Errorf("nlink %d with one name left", a.Nlink)
	}
	// Replacing an open file by rename keeps it readable until release.
	h := e.mkfile(e.dir, "h")
	e.write(e.a, h.Ino, 0, []byte("old"))
	e.open(e.b, h.Ino)
	e.must(e.a.Rename(e.ctx, e.dir, "g2", e.dir, "h", 0), "rename over an open file")
	if got := string(e.readAll(e.b, h.Ino)); got != "old" {
		e.t.Errorf("a file replaced while open reads %q", got)
	}
	e.release(e.b, h.Ino)
	_, err = e.a.GetAttr(e.ctx, h.Ino)
	e.errno(err, syscall.ENOENT, "getattr of a replaced file after release")
}

func testOpenUnlinkedTwoSessions(e *env) {
	f := e.mkfile(e.dir, "f")
	e.write(e.a, f.Ino, 0, []byte("shared"))
	e.open(e.a, f.Ino)
	e.open(e.b, f.Ino)
	_, err := e.b.Unlink(e.ctx, e.dir, "f")
	e.must(err, "unlink")
	e.release(e.a, f.Ino)
	if got := string(e.readAll(e.b, f.Ino)); got != "shared" {
		e.t.Errorf("after the other session released, the file reads %q", got)
	}
	e.release(e.b, f.Ino)
	_, err = e.a.GetAttr(e.ctx, f.Ino)
	e.errno(err, syscall.ENOENT, "getattr after both released")

	// A fresh session that closes without releasing: Close releases.
	c := e.vol.Session(e.t, "c")
	g := e.mkfile(e.dir, "g")
	e.write(e.a, g.Ino, 0, []byte("closing"))
	e.open(c, g.Ino)
	e.open(e.a, g.Ino)
	_, err = e.a.Unlink(e.ctx, e.dir, "g")
	e.must(err, "unlink g")
	e.must(c.Close(), "close session c")
	if got := string(e.readAll(e.a, g.Ino)); got != "closing" {
		e.t.Errorf("after session c closed, a still open file reads %q", got)
	}
	e.release(e.a, g.Ino)
	_, err = e.a.GetAttr(e.ctx, g.Ino)
	e.errno(err, syscall.ENOENT, "getattr after the closing session and a released")
	h := e.mkfile(e.dir, "h")
	d := e.vol.Session(e.t, "d")
	e.open(d, h.Ino)
	_, err = e.a.Unlink(e.ctx, e.dir, "h")
	e.must(err, "unlink h")
	e.must(d.Close(), "close session d")
	_, err = e.a.GetAttr(e.ctx, h.Ino)
	e.errno(err, syscall.ENOENT, "getattr after the only holder closed")
	if _, err := d.GetAttr(e.ctx, store.RootIno); err == nil {
		e.t.Errorf("a closed session still answers GetAttr")
	}
}

func testCloseToOpen(e *env) {
	f := e.mkfile(e.dir, "f")
	e.open(e.a, f.Ino)
	e.open(e.b, f.Ino)
	var m model
	for round := range 4 {
		w, r := e.a, e.b
		if round%2 == 1 {
			w, r = r, w
		}
		data := pattern(byte(round+1), 3000+round*2000)
		e.write(w, f.Ino, uint64(round*1500), data)
		m.write(round*1500, data)
		e.release(w, f.Ino) // close on the writer
		e.release(r, f.Ino)
		a, err := r.Open(e.ctx, f.Ino) // open on the reader
		e.must(err, "open")
		if a.Size != uint64(len(m)) {
			e.t.Errorf("round %d: open returned size %d, want %d", round, a.Size, len(m))
		}
		e.expectData(r, f.Ino, m, "close-to-open round "+string(rune('0'+round)))
		e.open(w, f.Ino)
	}
	e.release(e.a, f.Ino)
	e.release(e.b, f.Ino)
	_, err := e.a.Open(e.ctx, store.Ino(1<<60))
	e.errno(err, syscall.ENOENT, "open of a missing inode")
}
