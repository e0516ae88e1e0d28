package fusefs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRenameFlags(t *testing.T) {
	dir, _ := mountMem(t, Options{})
	a, b, c := join(dir, "a"), join(dir, "b"), join(dir, "c")
	writeFile(t, a, []byte("A"))
	writeFile(t, b, []byte("B"))

	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE); err != syscall.EEXIST {
		t.Fatalf("RENAME_NOREPLACE onto existing: %v, want EEXIST", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		t.Fatalf("RENAME_EXCHANGE: %v", err)
	}
	if got := readFile(t, a); string(got) != "B" {
		t.Errorf("a after exchange = %q, want B", got)
	}
	if got := readFile(t, b); string(got) != "A" {
		t.Errorf("b after exchange = %q, want A", got)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, c, unix.RENAME_EXCHANGE); err != syscall.ENOENT {
		t.Errorf("RENAME_EXCHANGE with a missing target: %v, want ENOENT", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, c, unix.RENAME_NOREPLACE); err != nil {
		t.Fatalf("RENAME_NOREPLACE onto a free name: %v", err)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("a still exists after rename: %v", err)
	}
	if got := readFile(t, c); string(got) != "B" {
		t.Errorf("c = %q, want B", got)
	}
	// Directories: into own subtree is EINVAL, onto a non-empty directory ENOTEMPTY.
	must(t, os.MkdirAll(join(dir, "d1", "sub"), 0o755))
	must(t, os.MkdirAll(join(dir, "d2", "x"), 0o755))
	if err := os.Rename(join(dir, "d1"), join(dir, "d1", "sub", "in")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("rename into own subtree: %v, want EINVAL", err)
	}
	if err := os.Rename(join(dir, "d1"), join(dir, "d2")); !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		t.Errorf("rename onto non-empty dir: %v, want ENOTEMPTY", err)
	}
	must(t, os.Rename(join(dir, "d1", "sub"), join(dir, "d2", "sub")))
	if _, err := os.Stat(join(dir, "d2", "sub")); err != nil {
		t.Errorf("moved directory: %v", err)
	}
}

func TestFallocate(t *testing.T) {
	dir, _ := mountMem(t, Options{})
	f, err := os.Create(join(dir, "f"))
	must(t, err)
	defer f.Close()
	fd := int(f.Fd())
	must(t, unix.Fallocate(fd, 0, 0, 10000))
	if st := fstat(t, fd); st.Size != 10000 {
		t.Errorf("size after fallocate = %d, want 10000", st.Size)
	}
	must(t, unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 0, 50000))
	if st := fstat(t, fd); st.Size != 10000 {
		t.Errorf("size after KEEP_SIZE fallocate = %d, want 10000", st.Size)
	}
	if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 100); err != syscall.EOPNOTSUPP {
		t.Errorf("PUNCH_HOLE: %v, want EOPNOTSUPP", err)
	}
	buf := make([]byte, 20000)
	n, err := f.ReadAt(buf, 0)
	if n != 10000 || (err != nil && err.Error() != "EOF") {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if !bytes.Equal(buf[:n], make([]byte, n)) {
		t.Error("fallocated range does not read as zeros")
	}
	// Data written before fallocate survives it (the write-back is flushed first).
	_, err = f.WriteAt([]byte("xyz"), 100)
	must(t, err)
	must(t, unix.Fallocate(fd, 0, 0, 20000))
	got := make([]byte, 3)
	_, err = f.ReadAt(got, 100)
	must(t, err)
	if string(got) != "xyz" {
		t.Errorf("data after fallocate = %q, want xyz", got)
	}
}

func TestXattrs(t *testing.T) {
	dir, _ := mountMem(t, Options{})
	p := join(dir, "f")
	writeFile(t, p, nil)
	must(t, unix.Setxattr(p, "user.a", []byte("1"), 0))
	must(t, unix.Setxattr(p, "user.b", []byte("two"), 0))
	if err := unix.Setxattr(p, "user.a", []byte("x"), unix.XATTR_CREATE); err != syscall.EEXIST {
		t.Errorf("XATTR_CREATE of existing: %v, want EEXIST", err)
	}
	if err := unix.Setxattr(p, "user.c", []byte("x"), unix.XATTR_REPLACE); err != syscall.ENODATA {
		t.Errorf("XATTR_REPLACE of missing: %v, want ENODATA", err)
	}
	if n, err := unix.Getxattr(p, "user.b", nil); err != nil || n != 3 {
		t.Errorf("size query = %d, %v; want 3", n, err)
	}
	small := make([]byte, 1)
	if _, err := unix.Getxattr(p, "user.b", small); err != syscall.ERANGE {
		t.Errorf("Getxattr into small buffer: %v, want ERANGE", err)
	}
	buf := make([]byte, 100)
	n, err := unix.Getxattr(p, "user.b", buf)
	if err != nil || string(buf[:n]) != "two" {
		t.Errorf("Getxattr = %q, %v", buf[:n], err)
	}
	n, err = unix.Listxattr(p, buf)
	must(t, err)
	if got := string(buf[:n]); got != "user.a\x00user.b\x00" {
		t.Errorf("Listxattr = %q", got)
	}
	must(t, unix.Removexattr(p, "user.a"))
	if _, err := unix.Getxattr(p, "user.a", buf); err != syscall.ENODATA {
		t.Errorf("Getxattr of removed: %v, want ENODATA", err)
	}
	if err := unix.Removexattr(p, "user.a"); err != syscall.ENODATA {
		t.Errorf("Removexattr of removed: %v, want ENODATA", err)
	}
	// Directories and symlinks carry xattrs too (trusted.* on a symlink; user.* is not allowed there).
	must(t, unix.Setxattr(dir, "user.d", []byte("dir"), 0))
	must(t, os.Symlink("f", join(dir, "l")))
	must(t, unix.Lsetxattr(join(dir, "l"), "trusted.t", []byte("lnk"), 0))
	n, err = unix.Lgetxattr(join(dir, "l"), "trusted.t", buf)
	if err != nil || string(buf[:n]) != "lnk" {
		t.Errorf("Lgetxattr = %q, %v", buf[:n], err)
	}
}

func TestUtimensat(t *testing.T) {
	dir, _ := mountMem(t, Options{AttrTimeout: time.Nanosecond})
	p := join(dir, "f")
	writeFile(t, p, nil)
	ts := []unix.Timespec{{Sec: 1000, Nsec: 123456789}, {Sec: 2000, Nsec: 987654321}}
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0))
	st := stat(t, p)
	if st.Atim != ts[0] || st.Mtim != ts[1] {
		t.Fatalf("times = %v %v, want %v %v", st.Atim, st.Mtim, ts[0], ts[1])
	}
	before := time.Now().Add(-time.Second)
	omitNow := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_NOW}}
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, omitNow, 0))
	st = stat(t, p)
	if st.Atim != ts[0] {
		t.Errorf("UTIME_OMIT changed atime to %v", st.Atim)
	}
	if mt := time.Unix(st.Mtim.Unix()); mt.Before(before) {
		t.Errorf("UTIME_NOW gave mtime %v, before %v", mt, before)
	}
	// ctime moves on every change.
	if ct := time.Unix(st.Ctim.Unix()); ct.Before(before) {
		t.Errorf("ctime %v not updated", ct)
	}
	// Symlinks: AT_SYMLINK_NOFOLLOW changes the link, not the target.
	must(t, os.Symlink("f", join(dir, "l")))
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, join(dir, "l"), ts, unix.AT_SYMLINK_NOFOLLOW))
	var lst unix.Stat_t
	must(t, unix.Lstat(join(dir, "l"), &lst))
	if lst.Mtim != ts[1] {
		t.Errorf("symlink mtime = %v, want %v", lst.Mtim, ts[1])
	}
}

func TestMknod(t *testing.T) {
	dir, _ := mountMem(t, Options{})
	fifo := join(dir, "fifo")
	must(t, unix.Mkfifo(fifo, 0o640))
	st := stat(t, fifo)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&07777 != 0o640&^uint32(umask()) {
		t.Errorf("fifo mode = %o", st.Mode)
	}
	// A FIFO works through the mount: the kernel serves the pipe itself.
	done := make(chan []byte)
	go func() {
		b, _ := os.ReadFile(fifo)
		done <- b
	}()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	must(t, err)
	_, err = w.Write([]byte("through the pipe"))
	must(t, err)
	must(t, w.Close())
	if got := <-done; string(got) != "through the pipe" {
		t.Errorf("fifo read %q", got)
	}
	dev := join(dir, "null")
	must(t, unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	st = stat(t, dev)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("char device: mode %o rdev %x", st.Mode, st.Rdev)
	}
	must(t, unix.Mknod(join(dir, "sock"), unix.S_IFSOCK|0o600, 0))
	if st := stat(t, join(dir, "sock")); st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		t.Errorf("socket mode %o", st.Mode)
	}
	if err := unix.Mkfifo(fifo, 0o600); err != syscall.EEXIST {
		t.Errorf("mkfifo over existing: %v, want EEXIST", err)
	}
}

func TestHardLinks(t *testing.T) {
	dir, _ := mountMem(t, Options{AttrTimeout: time.Nanosecond})
	a, b := join(dir, "a"), join(dir, "b")
	writeFile(t, a, []byte("shared"))
	must(t, os.Mkdir(join(dir, "sub"), 0o755))
	must(t, os.Link(a, b))
	must(t, os.Link(a, join(dir, "sub", "c")))
	sa, sb := stat(t, a), stat(t, b)
	if sa.Ino != sb.Ino || sa.Nlink != 3 {
		t.Errorf("ino %d/%d nlink %d, want equal and 3", sa.Ino, sb.Ino, sa.Nlink)
	}
	writeFile(t, b, []byte("changed via b"))
	if got := readFile(t, join(dir, "sub", "c")); string(got) != "changed via b" {
		t.Errorf("read via third link: %q", got)
	}
	must(t, os.Remove(a))
	if st := stat(t, b); st.Nlink != 2 {
		t.Errorf("nlink after unlink = %d, want 2", st.Nlink)
	}
	if err := os.Link(dir+"/sub", join(dir, "dirlink")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("hard link to a directory: %v, want EPERM", err)
	}
	if err := os.Link(b, join(dir, "sub", "c")); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("link onto existing name: %v, want EEXIST", err)
	}
}

func TestUnlinkWhileOpen(t *testing.T) {
	dir, vol := mountMem(t, Options{})
	p := join(dir, "f")
	f, err := os.Create(p)
	must(t, err)
	_, err = f.Write([]byte("before"))
	must(t, err)
	must(t, os.Remove(p))
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("stat after unlink: %v", err)
	}
	_, err = f.Write([]byte(" and after"))
	must(t, err)
	if st := fstat(t, int(f.Fd())); st.Nlink != 0 || st.Size != 16 {
		t.Errorf("fstat of unlinked file: nlink %d size %d, want 0 and 16", st.Nlink, st.Size)
	}
	got := make([]byte, 16)
	_, err = f.ReadAt(got, 0)
	must(t, err)
	if string(got) != "before and after" {
		t.Errorf("read unlinked file: %q", got)
	}
	inodes := usage(t, vol).Inodes
	must(t, f.Close())
	// The kernel sends RELEASE after close(2) has returned: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for usage(t, vol).Inodes != inodes-1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := usage(t, vol).Inodes; after != inodes-1 {
		t.Errorf("inodes after last close = %d, want %d (the unlinked file is freed)", after, inodes-1)
	}
}

func TestAppend(t *testing.T) {
	dir, _ := mountMem(t, Options{})
	p := join(dir, "log")
	writeFile(t, p, []byte("0123"))
	f1, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	f2, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	for i := 0; i < 3; i++ {
		_, err = f1.Write([]byte("a"))
		must(t, err)
		_, err = f2.Write([]byte("b"))
		must(t, err)
	}
	must(t, f1.Close())
	must(t, f2.Close())
	if got := readFile(t, p); string(got) != "0123ababab" {
		t.Errorf("appended file = %q, want 0123ababab", got)
	}
}

func TestCreateFlags(t *testing.T) {
	dir, _ := mountMem(t, Options{})
	p := join(dir, "f")
	writeFile(t, p, []byte("old content"))
	if _, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("O_EXCL on existing: %v, want EEXIST", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	if st := fstat(t, int(f.Fd())); st.Size != 0 {
		t.Errorf("size after O_TRUNC = %d", st.Size)
	}
	_, err = f.Write([]byte("new"))
	must(t, err)
	must(t, f.Close())
	if got := readFile(t, p); string(got) != "new" {
		t.Errorf("content = %q, want new", got)
	}
	if _, err := os.OpenFile(join(dir, "missing"), os.O_RDONLY, 0); !os.IsNotExist(err) {
		t.Errorf("open missing: %v", err)
	}
	if _, err := os.OpenFile(dir, os.O_WRONLY, 0); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("open dir for writing: %v, want EISDIR", err)
	}
}

func TestSparse(t *testing.T) {
	dir, vol := mountMem(t, Options{})
	p := join(dir, "sparse")
	f, err := os.Create(p)
	must(t, err)
	const far = 10<<20 + 12345
	_, err = f.WriteAt([]byte("end"), far)
	must(t, err)
	_, err = f.WriteAt([]byte("start"), 0)
	must(t, err)
	must(t, f.Close())
	st := stat(t, p)
	if st.Size != far+3 {
		t.Errorf("size = %d, want %d", st.Size, far+3)
	}
	got := readFile(t, p)
	want := make([]byte, far+3)
	copy(want, "start")
	copy(want[far:], "end")
	if !bytes.Equal(got, want) {
		t.Error("sparse file does not read back as data + zeros")
	}
	if u := usage(t, vol); u.Bytes != far+3 {
		t.Errorf("usage bytes = %d", u.Bytes)
	}
	// Truncate up and down.
	must(t, os.Truncate(p, 4))
	if got := readFile(t, p); string(got) != "star" {
		t.Errorf("after truncate down: %q", got)
	}
	must(t, os.Truncate(p, 8))
	if got := readFile(t, p); string(got) != "star\x00\x00\x00\x00" {
		t.Errorf("after truncate up: %q", got)
	}
}

func TestSymlinkAndDirs(t *testing.T) {
	dir, _ := mountMem(t, Options{})
	must(t, os.Symlink("some/where/far", join(dir, "l")))
	if target, err := os.Readlink(join(dir, "l")); err != nil || target != "some/where/far" {
		t.Errorf("readlink = %q, %v", target, err)
	}
	if st := lstat(t, join(dir, "l")); st.Size != int64(len("some/where/far")) || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("symlink lstat: size %d mode %o", st.Size, st.Mode)
	}
	must(t, os.Mkdir(join(dir, "d"), 0o755))
	writeFile(t, join(dir, "d", "f"), nil)
	if err := os.Remove(join(dir, "d")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("rmdir non-empty: %v, want ENOTEMPTY", err)
	}
	if err := syscall.Rmdir(join(dir, "l")); err != syscall.ENOTDIR {
		t.Errorf("rmdir symlink: %v, want ENOTDIR", err)
	}
	if err := syscall.Unlink(join(dir, "d")); err != syscall.EISDIR {
		t.Errorf("unlink dir: %v, want EISDIR", err)
	}
	if st := stat(t, dir); st.Nlink != 3 {
		t.Errorf("root nlink = %d, want 3", st.Nlink)
	}
	long := string(bytes.Repeat([]byte("n"), 256))
	if err := os.WriteFile(join(dir, long), nil, 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("256-byte name: %v, want ENAMETOOLONG", err)
	}
}

func TestModes(t *testing.T) {
	dir, _ := mountMem(t, Options{AttrTimeout: time.Nanosecond})
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	must(t, os.WriteFile(join(dir, "f"), nil, 0o777))
	if m := stat(t, join(dir, "f")).Mode & 07777; m != 0o755 {
		t.Errorf("mode with umask 022 = %o, want 755 (umask applied once)", m)
	}
	unix.Umask(0)
	must(t, os.Mkdir(join(dir, "d"), 0o777))
	if m := stat(t, join(dir, "d")).Mode & 07777; m != 0o777 {
		t.Errorf("dir mode with umask 0 = %o, want 777", m)
	}
	must(t, os.Chmod(join(dir, "f"), 0))
	if m := stat(t, join(dir, "f")).Mode & 07777; m != 0 {
		t.Errorf("mode after chmod 0 = %o, want 0", m)
	}
	must(t, os.Chmod(join(dir, "f"), 0o4755|os.ModeSetuid))
	must(t, unix.Chmod(join(dir, "f"), 0o6755))
	must(t, os.Chown(join(dir, "f"), 1000, 1000))
	st := stat(t, join(dir, "f"))
	if st.Uid != 1000 || st.Gid != 1000 {
		t.Errorf("owner = %d:%d, want 1000:1000", st.Uid, st.Gid)
	}
	if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		t.Errorf("chown left setuid/setgid: mode %o", st.Mode)
	}
	// Setgid directories pass their group on, and their setgid bit to subdirectories.
	must(t, os.Chown(join(dir, "d"), 0, 4242))
	must(t, unix.Chmod(join(dir, "d"), 0o2777))
	writeFile(t, join(dir, "d", "g"), nil)
	must(t, os.Mkdir(join(dir, "d", "sub"), 0o755))
	if st := stat(t, join(dir, "d", "g")); st.Gid != 4242 {
		t.Errorf("file in setgid dir: gid %d, want 4242", st.Gid)
	}
	if st := stat(t, join(dir, "d", "sub")); st.Gid != 4242 || st.Mode&unix.S_ISGID == 0 {
		t.Errorf("dir in setgid dir: gid %d mode %o, want 4242 and setgid", st.Gid, st.Mode)
	}
}

func TestStatfs(t *testing.T) {
	dir, _ := mountMemQuota(t, 1<<20, 100)
	var s unix.Statfs_t
	must(t, unix.Statfs(dir, &s))
	if s.Bsize != 4096 || s.Blocks != 256 || s.Bfree != 256 || s.Files != 100 || s.Ffree != 99 {
		t.Errorf("statfs of empty volume: bsize %d blocks %d bfree %d files %d ffree %d", s.Bsize, s.Blocks, s.Bfree, s.Files, s.Ffree)
	}
	writeFile(t, join(dir, "f"), make([]byte, 40960))
	must(t, unix.Statfs(dir, &s))
	if s.Bfree != 246 || s.Bavail != 246 || s.Ffree != 98 {
		t.Errorf("statfs after 40 KiB: bfree %d bavail %d ffree %d", s.Bfree, s.Bavail, s.Ffree)
	}
	if s.Namelen != 255 {
		t.Errorf("namelen %d", s.Namelen)
	}
}

// TestQuotaErrorsSurface: writes are buffered, so ENOSPC from the store shows up at fsync or close, and the
// data that fit is kept.
func TestQuotaErrorsSurface(t *testing.T) {
	dir, _ := mountMemQuota(t, 1<<20, 0)
	f, err := os.Create(join(dir, "big"))
	must(t, err)
	chunk := make([]byte, 256<<10)
	var werr error
	for i := 0; i < 8 && werr == nil; i++ {
		_, werr = f.Write(chunk)
	}
	serr := f.Sync()
	cerr := f.Close()
	if !errors.Is(werr, syscall.ENOSPC) && !errors.Is(serr, syscall.ENOSPC) && !errors.Is(cerr, syscall.ENOSPC) {
		t.Errorf("writing 2 MiB into a 1 MiB volume: write %v, fsync %v, close %v; want ENOSPC somewhere", werr, serr, cerr)
	}
	if f, err := os.Create(join(dir, "more")); err != nil {
		t.Errorf("create after ENOSPC: %v", err)
	} else {
		must(t, f.Close())
	}
}

// TestMmapShared writes through a MAP_SHARED mapping and reads through another descriptor. The mapping is used
// by a child process: a page fault on a FUSE mapping holds the faulting process's mmap lock while the request is
// served, and a server in the same process that needs to grow its heap then deadlocks with itself.
func TestMmapShared(t *testing.T) {
	if p := os.Getenv("FUSEFS_MMAP_CHILD"); p != "" {
		mmapChild(t, p)
		return
	}
	dir, vol := mountMem(t, Options{})
	p := join(dir, "m")
	writeFile(t, p, make([]byte, 8192))
	cmd := exec.Command(os.Args[0], "-test.run=^TestMmapShared$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "FUSEFS_MMAP_CHILD="+p)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mmap child: %v\n%s", err, out)
	}
	// The pages reached the store: read through a second session of the volume.
	s := vol.Session("check")
	for off, want := range map[uint64]string{100: "written through mmap", 5000: "second page"} {
		buf := make([]byte, len(want))
		if _, err := s.Read(bg, ino(t, p), off, buf); err != nil || string(buf) != want {
			t.Errorf("store holds %q, %v at %d after msync and close", buf, err, off)
		}
	}
}

func mmapChild(t *testing.T, p string) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	must(t, err)
	mem, err := unix.Mmap(int(f.Fd()), 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	must(t, err)
	copy(mem[100:], "written through mmap")
	copy(mem[5000:], "second page")
	// Another descriptor on the same mount shares the page cache.
	other, err := os.Open(p)
	must(t, err)
	got := make([]byte, 20)
	_, err = other.ReadAt(got, 100)
	must(t, err)
	if string(got) != "written through mmap" {
		t.Errorf("read via other fd before msync: %q", got)
	}
	must(t, unix.Msync(mem, unix.MS_SYNC))
	must(t, unix.Munmap(mem))
	must(t, f.Close())
	must(t, other.Close())
}

func TestReaddirUnderChange(t *testing.T) {
	dir, _ := mountMem(t, Options{})
	const n = 1200 // more than two store pages
	for i := 0; i < n; i++ {
		writeFile(t, join(dir, name(i)), nil)
	}
	d, err := os.Open(dir)
	must(t, err)
	defer d.Close()
	seen := map[string]int{}
	first, err := d.Readdirnames(300)
	must(t, err)
	for _, s := range first {
		seen[s]++
	}
	// Change the directory mid-listing: remove entries on both sides of the cursor, add new ones.
	for i := 0; i < n; i += 7 {
		if i%2 == 0 {
			must(t, os.Remove(join(dir, name(i))))
		}
	}
	for i := 0; i < 50; i++ {
		writeFile(t, join(dir, "new"+name(i)), nil)
	}
	rest, err := d.Readdirnames(-1)
	must(t, err)
	for _, s := range rest {
		seen[s]++
	}
	for i := 0; i < n; i++ {
		c := seen[name(i)]
		removed := i%7 == 0 && i%2 == 0
		if c > 1 || (c == 0 && !removed) {
			t.Fatalf("entry %s seen %d times", name(i), c)
		}
	}
	// A fresh listing sees exactly the current contents.
	names, err := os.ReadDir(dir)
	must(t, err)
	if want := n - (n+13)/14 + 50; len(names) != want {
		t.Errorf("fresh listing has %d entries, want %d", len(names), want)
	}
}

// TestTwoMountsCloseToOpen: data written and closed on one mount is read by an open on another mount.
func TestTwoMountsCloseToOpen(t *testing.T) {
	a, b, _ := mountMemTwice(t)
	writeFile(t, join(a, "f"), []byte("version 1"))
	if got := readFile(t, join(b, "f")); string(got) != "version 1" {
		t.Fatalf("B reads %q", got)
	}
	f, err := os.OpenFile(join(a, "f"), os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	_, err = f.Write([]byte("version 2, longer"))
	must(t, err)
	must(t, f.Close())
	if got := readFile(t, join(b, "f")); string(got) != "version 2, longer" {
		t.Errorf("B reads %q after A's close", got)
	}
}
