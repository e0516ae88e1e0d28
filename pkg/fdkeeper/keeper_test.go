package fdkeeper

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/fusefs"
)

// startKeeper serves a Keeper on a socket in a temporary directory until the test ends.
func startKeeper(t *testing.T) (*Keeper, *Client) {
	t.Helper()
	k := NewKeeper(nil)
	sock := filepath.Join(t.TempDir(), "k.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Serve(ctx, sock) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return k, NewClient(sock)
}

func testConn(f *os.File, epoch uint16) fusefs.Conn {
	init := make([]byte, unsafe.Sizeof(fuse.InitIn{}))
	init[0], init[len(init)-1] = 0x68, 0x7a
	return fusefs.Conn{Dev: f, Init: init, Epoch: epoch}
}

// TestKeepGetDrop: the protocol over a pipe standing in for a FUSE connection (the real one is tested with
// FUSE in cmd/csi-driver): what Get returns is the same open file, with the metadata kept; Keep replaces;
// Drop forgets; unknown dirs are not errors.
func TestKeepGetDrop(t *testing.T) {
	k, c := startKeeper(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := c.Keep("/mnt/a/", testConn(r, 3)); err != nil {
		t.Fatal(err)
	}
	r.Close() // the keeper holds its own duplicate
	if err := c.Keep("/mnt/a", testConn(nil, 3)); err == nil {
		t.Fatal("keep without a descriptor accepted")
	}
	if got, err := c.Get("/mnt/b"); err != nil || got != nil {
		t.Fatalf("get of an unknown dir: %v %v", got, err)
	}
	got, err := c.Get("/mnt/a")
	if err != nil || got == nil {
		t.Fatalf("get: %v %v", got, err)
	}
	want := testConn(nil, 3)
	if got.Epoch != 3 || string(got.Init) != string(want.Init) {
		t.Fatalf("metadata: epoch %d init %x", got.Epoch, got.Init[:4])
	}
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if n, err := got.Dev.Read(b); n != 1 || b[0] != 'x' {
		t.Fatalf("returned descriptor is not the kept file: %d %v", n, err)
	}
	got.Dev.Close()
	if dirs, err := c.List(); err != nil || len(dirs) != 1 || dirs[0] != "/mnt/a" {
		t.Fatalf("list: %v %v", dirs, err)
	}
	if err := c.Drop("/mnt/a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Drop("/mnt/a"); err != nil {
		t.Fatalf("second drop: %v", err)
	}
	if got, err := c.Get("/mnt/a"); err != nil || got != nil || k.Len() != 0 {
		t.Fatalf("after drop: %v %v, %d kept", got, err, k.Len())
	}
}

// TestAbortedConnectionsDropped: a kept descriptor that polls POLLHUP/POLLERR (an aborted FUSE connection; here
// a pipe whose writer closed) is not handed out, and the reaper drops it.
func TestAbortedConnectionsDropped(t *testing.T) {
	k, c := startKeeper(t)
	for _, dir := range []string{"/get", "/reap"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Keep(dir, testConn(r, 1)); err != nil {
			t.Fatal(err)
		}
		r.Close()
		w.Close()
	}
	if got, err := c.Get("/get"); err != nil || got != nil {
		t.Fatalf("aborted connection handed out: %v %v", got, err)
	}
	if k.Len() != 1 {
		t.Fatalf("%d kept, want the other one only", k.Len())
	}
	k.reapOnce()
	if k.Len() != 0 {
		t.Fatalf("reaper left %d", k.Len())
	}
}
