package fusefs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/memstore"
)

// testLogger sends a mount's warnings to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// mountStore mounts st on a fresh directory, unmounted (and checked to unmount cleanly) when the test ends.
func mountStore(t testing.TB, st store.Store, opts Options) (string, *Server) {
	t.Helper()
	dir := t.TempDir()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	srv, err := Mount(dir, st, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	return dir, srv
}

// mountMem mounts a new in-memory volume and returns the mount point and the volume.
func mountMem(t testing.TB, opts Options) (string, *memstore.Volume) {
	t.Helper()
	vol := memstore.NewVolume(memstore.Options{})
	dir, _ := mountStore(t, vol.Session("test"), opts)
	return dir, vol
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func join(dir string, names ...string) string {
	return filepath.Join(append([]string{dir}, names...)...)
}

var bg = context.Background()

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func stat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Stat(path, &st))
	return st
}

func lstat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	return st
}

func fstat(t testing.TB, fd int) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Fstat(fd, &st))
	return st
}

// ino returns the inode number of path (the store's, as the mount reports it).
func ino(t testing.TB, path string) store.Ino { return store.Ino(stat(t, path).Ino) }

func umask() int {
	old := unix.Umask(0)
	unix.Umask(old)
	return old
}

func usage(t testing.TB, vol *memstore.Volume) store.Usage {
	t.Helper()
	u, err := vol.Session("usage").StatFS(bg)
	must(t, err)
	return u
}

func name(i int) string { return fmt.Sprintf("entry-%05d", i) }

// mountMemQuota mounts a new in-memory volume limited to capacity bytes and maxInodes inodes.
func mountMemQuota(t testing.TB, capacity, maxInodes uint64) (string, *memstore.Volume) {
	t.Helper()
	vol := memstore.NewVolume(memstore.Options{CapacityBytes: capacity, MaxInodes: maxInodes})
	dir, _ := mountStore(t, vol.Session("test"), Options{})
	return dir, vol
}

// mountMemTwice mounts one in-memory volume twice (two sessions, as two nodes would), sharing one FileLocker.
func mountMemTwice(t testing.TB) (string, string, *memstore.Volume) {
	t.Helper()
	vol := memstore.NewVolume(memstore.Options{})
	locks := newLocalFileLocker()
	a, _ := mountStore(t, vol.Session("a"), Options{Locks: locks, Session: "a"})
	b, _ := mountStore(t, vol.Session("b"), Options{Locks: locks, Session: "b"})
	return a, b, vol
}
