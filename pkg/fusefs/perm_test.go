package fusefs

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/memstore"
)

const nobody = 65534

// asNobody runs a shell command in dir as uid/gid 65534 and returns its error (nil: exit status 0).
//
// The shell changes into dir itself: Go forks with vfork, and a child that touched the mount before exec
// (cmd.Dir) would wait on this very process's FUSE server while the forking thread is stuck in a raw syscall,
// which deadlocks as soon as a garbage collection needs to stop the world.
func asNobody(t *testing.T, dir, script string) error {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `cd "$1" && `+script, "sh", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody: %s -> %v %s", script, err, out)
	return err
}

// permBackends are the stores the permission tests run on: the in-memory one and a real Cassandra volume.
// Permission checks are the kernel's (default_permissions), but what it decides rests on the modes, owners
// and groups the store keeps and returns, so both are checked.
var permBackends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"memstore", func(t *testing.T) store.Store { return memstore.New(memstore.Options{}) }},
	{"cassandra", func(t *testing.T) store.Store {
		c, id := cassVolume(t, 0)
		v, err := c.OpenVolume(context.Background(), id, cassandra.OpenOptions{Session: "perm"})
		if err != nil {
			t.Fatalf("open volume: %v", err)
		}
		t.Cleanup(func() {
			if err := v.Close(); err != nil {
				t.Errorf("close volume session: %v", err)
			}
		})
		return v
	}},
}

// permCases are the permission and mode-bit cases; each gets its own 0777 directory on the mount.
var permCases = []struct {
	name string
	fn   func(t *testing.T, dir string)
}{
	{"Permissions", testPermissions},
	{"StickyDirectory", testStickyDirectory},
	{"SetuidClearedOnWrite", testSetuidClearedOnWrite},
	{"SetuidClearedOnTruncate", testSetuidClearedOnTruncate},
	{"ChownClearsSetuid", testChownClearsSetuid},
	{"SetgidDirectory", testSetgidDirectory},
}

// TestPermissionChecks runs permCases, as root and as another user (65534), on one shared mount (mountShared)
// of each of permBackends.
func TestPermissionChecks(t *testing.T) {
	for _, b := range permBackends {
		t.Run(b.name, func(t *testing.T) {
			mnt := mountShared(t, b.open(t))
			for _, c := range permCases {
				t.Run(c.name, func(t *testing.T) {
					dir := join(mnt, c.name)
					must(t, os.Mkdir(dir, 0o777))
					must(t, os.Chmod(dir, 0o777))
					c.fn(t, dir)
				})
			}
		})
	}
}

// mountShared mounts st with allow_other on a directory other users can reach, its root open to all (0777).
func mountShared(t *testing.T, st store.Store) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "fusefs-perm-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(parent) })
	must(t, os.Chmod(parent, 0o755))
	dir := join(parent, "mnt")
	must(t, os.Mkdir(dir, 0o755))
	srv, err := Mount(dir, st, Options{AllowOther: true, Logger: testLogger(t)})
	must(t, err)
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	must(t, os.Chmod(dir, 0o777))
	return dir
}

// testPermissions: access checks are the kernel's (default_permissions), for another user than the mounter.
func testPermissions(t *testing.T, dir string) {
	writeFile(t, join(dir, "private"), []byte("secret"))
	must(t, os.Chmod(join(dir, "private"), 0o600))
	if asNobody(t, dir, "cat private") == nil {
		t.Error("nobody read a 0600 root file")
	}
	if asNobody(t, dir, "chmod 0666 private") == nil {
		t.Error("nobody changed the mode of a root file")
	}
	if asNobody(t, dir, "echo mine > own && chmod 0600 own && cat own") != nil {
		t.Error("nobody cannot create and read its own file")
	}
	if st := stat(t, join(dir, "own")); st.Uid != nobody || st.Gid != nobody {
		t.Errorf("file created by nobody is owned by %d:%d", st.Uid, st.Gid)
	}
	must(t, os.Mkdir(join(dir, "closed"), 0o700))
	if asNobody(t, dir, "ls closed") == nil {
		t.Error("nobody listed a 0700 root directory")
	}
}

// testStickyDirectory: in a sticky directory only a file's owner (or the directory's, or root) may remove it.
func testStickyDirectory(t *testing.T, dir string) {
	must(t, os.Mkdir(join(dir, "tmp"), 0o777))
	must(t, os.Chmod(join(dir, "tmp"), 0o777|os.ModeSticky))
	writeFile(t, join(dir, "tmp", "rootfile"), nil)
	must(t, os.Chmod(join(dir, "tmp", "rootfile"), 0o666))
	if asNobody(t, dir, "rm -f tmp/rootfile") == nil {
		t.Error("nobody removed root's file from a sticky directory")
	}
	if asNobody(t, dir, "mv tmp/rootfile tmp/renamed") == nil {
		t.Error("nobody renamed root's file in a sticky directory")
	}
	if asNobody(t, dir, "touch tmp/mine && rm tmp/mine") != nil {
		t.Error("nobody cannot remove its own file from a sticky directory")
	}
	if _, err := os.Stat(join(dir, "tmp", "rootfile")); err != nil {
		t.Errorf("root's file: %v", err)
	}
}

// testSetuidClearedOnWrite: a write by a user other than root clears setuid (and setgid with group exec),
// as the kernel does when it asks the filesystem to change the mode.
func testSetuidClearedOnWrite(t *testing.T, dir string) {
	p := join(dir, "suid")
	writeFile(t, p, []byte("#!/bin/sh\n"))
	must(t, unix.Chmod(p, 0o6777))
	if m := stat(t, p).Mode & 07777; m != 0o6777 {
		t.Fatalf("mode = %o", m)
	}
	if asNobody(t, dir, "echo more >> suid") != nil {
		t.Fatal("nobody cannot write a 0777 file")
	}
	if m := stat(t, p).Mode & 07777; m&(unix.S_ISUID|unix.S_ISGID) != 0 {
		t.Errorf("mode after write by another user = %o, want setuid and setgid cleared", m)
	}
	if got := readFile(t, p); string(got) != "#!/bin/sh\nmore\n" {
		t.Errorf("content %q", got)
	}
}

// testSetuidClearedOnTruncate: truncation by another user clears setuid and setgid (with group exec), like a
// write does.
func testSetuidClearedOnTruncate(t *testing.T, dir string) {
	p := join(dir, "suid")
	writeFile(t, p, []byte("0123456789"))
	must(t, unix.Chmod(p, 0o6777))
	if asNobody(t, dir, ": > suid") != nil {
		t.Fatal("nobody cannot truncate a 0777 file")
	}
	st := stat(t, p)
	if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 || st.Size != 0 {
		t.Errorf("after truncation by another user: mode %o size %d, want setuid and setgid cleared, size 0", st.Mode&07777, st.Size)
	}
}

// testChownClearsSetuid: changing a regular file's owner clears setuid, and setgid when group exec is set (Linux
// does this for root too); a directory keeps its bits.
func testChownClearsSetuid(t *testing.T, dir string) {
	exe, plain, d := join(dir, "exe"), join(dir, "plain"), join(dir, "d")
	writeFile(t, exe, nil)
	writeFile(t, plain, nil)
	must(t, os.Mkdir(d, 0o755))
	must(t, unix.Chmod(exe, 0o6755))
	must(t, unix.Chmod(plain, 0o6745)) // setgid without group exec means mandatory locking, not privilege: kept
	must(t, unix.Chmod(d, 0o3775))
	for _, p := range []string{exe, plain, d} {
		must(t, os.Chown(p, nobody, nobody))
	}
	if st := stat(t, exe); st.Mode&07777 != 0o755 || st.Uid != nobody || st.Gid != nobody {
		t.Errorf("exe after chown: mode %o owner %d:%d, want 0755 %d:%d", st.Mode&07777, st.Uid, st.Gid, nobody, nobody)
	}
	if st := stat(t, plain); st.Mode&07777 != 0o2745 {
		t.Errorf("plain after chown: mode %o, want 2745 (setuid cleared, setgid without group exec kept)", st.Mode&07777)
	}
	if st := stat(t, d); st.Mode&07777 != 0o3775 {
		t.Errorf("directory after chown: mode %o, want 3775", st.Mode&07777)
	}
}

// testSetgidDirectory: files and directories made in a setgid directory take its group; directories also
// inherit the setgid bit. A user outside a file's group cannot set setgid on it (the kernel drops the bit).
func testSetgidDirectory(t *testing.T, dir string) {
	const group = 4242
	shared := join(dir, "shared")
	must(t, os.Mkdir(shared, 0o777))
	must(t, os.Chown(shared, 0, group))
	must(t, unix.Chmod(shared, 0o2777))
	if asNobody(t, dir, "touch shared/f && mkdir shared/sub") != nil {
		t.Fatal("nobody cannot create in a 2777 directory")
	}
	if st := stat(t, join(shared, "f")); st.Uid != nobody || st.Gid != group {
		t.Errorf("file in setgid directory owned by %d:%d, want %d:%d", st.Uid, st.Gid, nobody, group)
	}
	if st := stat(t, join(shared, "sub")); st.Gid != group || st.Mode&unix.S_ISGID == 0 {
		t.Errorf("directory in setgid directory: gid %d mode %o, want gid %d and setgid", st.Gid, st.Mode&07777, group)
	}
	// nobody owns shared/f but is not in group 4242: asking for setgid gives a file without it.
	if asNobody(t, dir, "chmod 2755 shared/f") != nil {
		t.Fatal("nobody cannot chmod its own file")
	}
	if st := stat(t, join(shared, "f")); st.Mode&07777 != 0o755 {
		t.Errorf("setgid set by a non-member of the group: mode %o, want 0755", st.Mode&07777)
	}
}
