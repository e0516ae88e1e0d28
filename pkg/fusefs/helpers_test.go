package fusefs

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

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

func join(dir string, names ...string) string { return filepath.Join(append([]string{dir}, names...)...) }

var bg = context.Background()
