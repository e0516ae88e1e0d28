package memstore

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
)

// TestFsckFindsDamage corrupts a volume's internals in each way Fsck knows and checks that it reports it.
func TestFsckFindsDamage(t *testing.T) {
	ctx := context.Background()
	damages := map[string]func(v *Volume, dir, file store.Ino){
		"file nlink":     func(v *Volume, dir, file store.Ino) { v.inodes[file].attr.Nlink++ },
		"dir nlink":      func(v *Volume, dir, file store.Ino) { v.inodes[dir].attr.Nlink = 5 },
		"dangling entry": func(v *Volume, dir, file store.Ino) { v.inodes[dir].entries["ghost"] = 999 },
		"usage bytes":    func(v *Volume, dir, file store.Ino) { v.bytes++ },
		"parent pointer": func(v *Volume, dir, file store.Ino) { v.inodes[dir].parent = 77 },
		"lost inode":     func(v *Volume, dir, file store.Ino) { delete(v.inodes[dir].entries, "f") },
		"loop": func(v *Volume, dir, file store.Ino) {
			delete(v.inodes[store.RootIno].entries, "d")
			v.inodes[store.RootIno].attr.Nlink--
			v.inodes[dir].entries["self"] = dir
			v.inodes[dir].attr.Nlink++
		},
	}
	for name, damage := range damages {
		s := New(Options{})
		d, err := s.Mknod(ctx, store.RootIno, "d", store.NewNode{Type: store.TypeDir, Mode: 0o755})
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.Mknod(ctx, d.Ino, "f", store.NewNode{Type: store.TypeFile, Mode: 0o644})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(ctx, f.Ino, 0, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Fsck(ctx, false); err != nil || len(p) != 0 {
			t.Fatalf("%s: before damage: %q %v", name, p, err)
		}
		damage(s.v, d.Ino, f.Ino)
		if p, err := s.Fsck(ctx, false); err != nil || len(p) == 0 {
			t.Errorf("%s: fsck found nothing (%v)", name, err)
		}
	}
}

func TestReleaseAndClose(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	f, err := s.Mknod(ctx, store.RootIno, "f", store.NewNode{Type: store.TypeFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, f.Ino); !errors.Is(err, syscall.EBADF) {
		t.Errorf("release without open: %v, want EBADF", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := s.GetAttr(ctx, store.RootIno); store.ToErrno(err) != syscall.EIO {
		t.Errorf("getattr after close: %v, want EIO", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := New(Options{}).GetAttr(cctx, store.RootIno); store.ToErrno(err) != syscall.EINTR {
		t.Errorf("getattr with a cancelled context: %v, want EINTR", err)
	}
}
