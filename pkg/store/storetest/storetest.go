package storetest

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
)

// VolumeOptions describe the volume a test needs.
type VolumeOptions struct {
	CapacityBytes uint64 // quota on Usage.Bytes; 0 means unlimited. Implementations must honour it.
	MaxInodes     uint64 // limit on Usage.Inodes (the root included); 0 means unlimited. Must be honoured.
	ChunkSize     int    // preferred data chunk size in bytes; a hint, 0 means the implementation's default
}

// Volume is one fresh volume under test.
type Volume interface {
	// Session opens a new session (mount) of the volume and registers its Close with t.Cleanup. Every call
	// returns an independent session, as a separate node would have.
	Session(t *testing.T, name string) store.Store
}

// VolumeFunc adapts a function to the Volume interface.
type VolumeFunc func(t *testing.T, name string) store.Store

// Session implements Volume.
func (f VolumeFunc) Session(t *testing.T, name string) store.Store { return f(t, name) }

// NewVolume creates a fresh, empty volume for one test, registering its removal with t.Cleanup.
type NewVolume func(t *testing.T, opts VolumeOptions) Volume

// Checker is implemented by stores that can verify their own stored invariants. Fsck returns one description per
// problem found (and, with repair, fixed); an error means the check itself could not run. It uses only built-in
// types so that implementations need not import this package.
type Checker interface {
	Fsck(ctx context.Context, repair bool) ([]string, error)
}

// ChunkSize is the chunk size the suite asks for (VolumeOptions.ChunkSize) so that data tests cross chunk
// boundaries with small files.
const ChunkSize = 4096

// env is what a subtest works with: two sessions of one volume and a fresh directory.
type env struct {
	t    *testing.T
	ctx  context.Context
	a, b store.Store // two sessions of the same volume
	dir  store.Ino   // this subtest's directory
	opts VolumeOptions
	vol  Volume // for tests that open more sessions
}

// test is one subtest of the shared volume.
type test struct {
	name string
	fn   func(e *env)
}

// Run runs the whole conformance suite. newVolume is called a few times (see the package doc).
func Run(t *testing.T, newVolume NewVolume) {
	opts := VolumeOptions{ChunkSize: ChunkSize}
	vol := newVolume(t, opts)
	a, b := vol.Session(t, "a"), vol.Session(t, "b")
	ctx := context.Background()
	for _, group := range [][]test{namespaceTests, renameTests, readDirTests, xattrTests, dataTests,
		sessionTests, concurrencyTests} {
		for _, tc := range group {
			t.Run(tc.name, func(t *testing.T) {
				d, err := a.Mknod(ctx, store.RootIno, tc.name, store.NewNode{Type: store.TypeDir, Mode: 0o755})
				if err != nil {
					t.Fatalf("mkdir %s: %v", tc.name, err)
				}
				t.Cleanup(func() { CheckSubtree(t, a, d.Ino) })
				tc.fn(&env{t: t, ctx: ctx, a: a, b: b, dir: d.Ino, opts: opts, vol: vol})
			})
		}
	}
	t.Run("CheckTree", func(t *testing.T) { CheckTree(t, a) })
	for _, tc := range volumeTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newVolume) })
	}
}

// ---- helpers shared by the subtests ----

func (e *env) fatalf(format string, args ...any) {
	e.t.Helper()
	e.t.Fatalf(format, args...)
}

// must fails the test if err is not nil.
func (e *env) must(err error, what string, args ...any) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// errno fails the test unless err maps to want.
func (e *env) errno(err error, want syscall.Errno, what string, args ...any) {
	e.t.Helper()
	if got := store.ToErrno(err); got != want {
		e.t.Errorf("%s: got %v (%v), want %v", fmt.Sprintf(what, args...), got, err, want)
	}
}

func isErrno(err error, want syscall.Errno) bool {
	return errors.Is(err, want) || store.ToErrno(err) == want
}

func (e *env) mknod(s store.Store, parent store.Ino, name string, n store.NewNode) store.Attr {
	e.t.Helper()
	a, err := s.Mknod(e.ctx, parent, name, n)
	e.must(err, "mknod %q", name)
	return a
}

func (e *env) mkfile(parent store.Ino, name string) store.Attr {
	e.t.Helper()
	return e.mknod(e.a, parent, name, store.NewNode{Type: store.TypeFile, Mode: 0o644})
}

func (e *env) mkdir(parent store.Ino, name string) store.Attr {
	e.t.Helper()
	return e.mknod(e.a, parent, name, store.NewNode{Type: store.TypeDir, Mode: 0o755})
}

func (e *env) getattr(s store.Store, ino store.Ino) store.Attr {
	e.t.Helper()
	a, err := s.GetAttr(e.ctx, ino)
	e.must(err, "getattr %d", ino)
	return a
}

func (e *env) lookup(parent store.Ino, name string) store.Attr {
	e.t.Helper()
	a, err := e.a.Lookup(e.ctx, parent, name)
	e.must(err, "lookup %q", name)
	return a
}

func (e *env) write(s store.Store, ino store.Ino, off uint64, data []byte) store.Attr {
	e.t.Helper()
	a, err := s.Write(e.ctx, ino, off, data)
	e.must(err, "write %d bytes at %d", len(data), off)
	return a
}

// readAll opens the file on s (so that, by close-to-open consistency, every change made before on any session is
// seen), reads it whole by the size Open returns, and releases it.
func (e *env) readAll(s store.Store, ino store.Ino) []byte {
	e.t.Helper()
	a, err := s.Open(e.ctx, ino)
	e.must(err, "open %d", ino)
	defer func() { e.must(s.Release(e.ctx, ino), "release %d", ino) }()
	buf := make([]byte, a.Size+10)
	n, err := s.Read(e.ctx, ino, 0, buf)
	e.must(err, "read %d", ino)
	if uint64(n) != a.Size {
		e.t.Fatalf("read of %d returned %d bytes, size is %d", ino, n, a.Size)
	}
	return buf[:n]
}

// names lists a directory completely.
func (e *env) names(s store.Store, dir store.Ino) []string {
	e.t.Helper()
	ents, err := readDirAll(e.ctx, s, dir, 1000)
	e.must(err, "readdir %d", dir)
	out := make([]string, len(ents))
	for i, d := range ents {
		out[i] = d.Name
	}
	return out
}

// readDirAll pages through a directory with the given page size.
func readDirAll(ctx context.Context, s store.Store, dir store.Ino, page int) ([]store.Dirent, error) {
	var all []store.Dirent
	after := ""
	for {
		ents, err := s.ReadDir(ctx, dir, after, page)
		if err != nil {
			return all, err
		}
		for _, d := range ents {
			if d.Name <= after {
				return all, fmt.Errorf("readdir of %d after %q returned %q: not in order", dir, after, d.Name)
			}
			after = d.Name
		}
		all = append(all, ents...)
		if len(ents) < page {
			return all, nil
		}
	}
}

func (e *env) statfs(s store.Store) store.Usage {
	e.t.Helper()
	u, err := s.StatFS(e.ctx)
	e.must(err, "statfs")
	return u
}

// ageTimes sets ino's atime, mtime and ctime to a fixed old time so that a later change is visible.
const oldTime = int64(1_000_000_000) * 1_000_000_000 // 2001-09-09

func (e *env) ageTimes(ino store.Ino) {
	e.t.Helper()
	_, err := e.a.SetAttr(e.ctx, ino, store.SetAttrIn{Valid: store.SetAtime | store.SetMtime | store.SetCtime,
		Atime: oldTime, Mtime: oldTime, Ctime: oldTime})
	e.must(err, "age times of %d", ino)
}

// expectTimes checks which of mtime and ctime moved past oldTime (after ageTimes) and that atime did not.
func (e *env) expectTimes(ino store.Ino, mtime, ctime bool, what string) {
	e.t.Helper()
	a := e.getattr(e.a, ino)
	if got := a.Mtime > oldTime; got != mtime {
		e.t.Errorf("%s: mtime changed %v, want %v", what, got, mtime)
	}
	if got := a.Ctime > oldTime; got != ctime {
		e.t.Errorf("%s: ctime changed %v, want %v", what, got, ctime)
	}
	if a.Atime != oldTime {
		e.t.Errorf("%s: atime changed to %d", what, a.Atime)
	}
}
