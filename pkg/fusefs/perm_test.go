package fusefs

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

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

// mountShared mounts a fresh in-memory volume with allow_other on a directory other users can reach.
func mountShared(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "fusefs-perm-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(parent) })
	must(t, os.Chmod(parent, 0o755))
	dir := join(parent, "mnt")
	must(t, os.Mkdir(dir, 0o755))
	srv, err := Mount(dir, memstore.New(memstore.Options{}), Options{AllowOther: true, Logger: testLogger(t)})
	must(t, err)
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	must(t, os.Chmod(dir, 0o777))
	return dir
}

// TestPermissions: access checks are the kernel's (default_permissions), for another user than the mounter.
func TestPermissions(t *testing.T) {
	dir := mountShared(t)
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

// TestStickyDirectory: in a sticky directory only a file's owner (or the directory's, or root) may remove it.
func TestStickyDirectory(t *testing.T) {
	dir := mountShared(t)
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

// TestSetuidClearedOnWrite: a write by a user other than root clears setuid (and setgid with group exec),
// as the kernel does when it asks the filesystem to change the mode.
func TestSetuidClearedOnWrite(t *testing.T) {
	dir := mountShared(t)
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
