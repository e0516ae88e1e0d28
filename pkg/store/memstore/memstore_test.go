package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/memstore"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	v := memstore.NewVolume(memstore.Options{ChunkSize: 8})
	a, b := v.Session("a"), v.Session("b")
	f, err := a.Mknod(ctx, store.RootIno, "f", store.NewNode{Type: store.TypeFile, Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Mknod(ctx, store.RootIno, "f", store.NewNode{Type: store.TypeFile}); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := a.Write(ctx, f.Ino, 5, []byte("hello world")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, f.Ino); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Unlink(ctx, store.RootIno, "f"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, err := b.Read(ctx, f.Ino, 0, buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("\x00\x00\x00\x00\x00hello world")) {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetAttr(ctx, f.Ino); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("after last release: %v", err)
	}
	if p, err := a.Fsck(ctx, false); err != nil || len(p) > 0 {
		t.Fatal(p, err)
	}
}

// TestCacheData checks that a caching session really serves stale data until it opens the file again.
func TestCacheData(t *testing.T) {
	ctx := context.Background()
	v := memstore.NewVolume(memstore.Options{CacheData: true})
	a, b := v.Session("a"), v.Session("b")
	f, err := a.Mknod(ctx, store.RootIno, "f", store.NewNode{Type: store.TypeFile, Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	read := func(s *memstore.Store) string {
		buf := make([]byte, 16)
		n, err := s.Read(ctx, f.Ino, 0, buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if _, err := a.Write(ctx, f.Ino, 0, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if got := read(b); got != "one" {
		t.Fatalf("first read %q", got)
	}
	if _, err := a.Write(ctx, f.Ino, 0, []byte("two!")); err != nil {
		t.Fatal(err)
	}
	if got := read(b); got != "one" {
		t.Errorf("b read %q before opening again, want the stale %q", got, "one")
	}
	if got := read(a); got != "two!" {
		t.Errorf("the writer reads %q", got)
	}
	if _, err := b.Open(ctx, f.Ino); err != nil {
		t.Fatal(err)
	}
	if got := read(b); got != "two!" {
		t.Errorf("after Open b reads %q", got)
	}
}
