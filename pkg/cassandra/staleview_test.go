package cassandra

import (
	"bytes"
	"context"
	"testing"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// TestOwnChangeKeepsOthersWritesVisible: a session that changes a file's inode (a size or mode change) after
// another session wrote to it still reads that write. SetAttr used to record the version after its own change
// as the one its cached slice lists belong to, so lists cached before the other session's write were taken as
// current, and reads missed the write (the two-mount random-operation test, fsx2 seed 20261206 step 505: a
// truncate that grew the file, then a whole-file read through the other mount).
func TestOwnChangeKeepsOthersWritesVisible(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	locker := lock.NewLocal()
	a := openVolume(t, c, info.Spec.ID, "s-a", locker)
	b := openVolume(t, c, info.Spec.ID, "s-b", locker.Share())
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change store.SetAttrIn
		size   int // the file's size after the change
	}{
		{"grow", store.SetAttrIn{Valid: store.SetSize, Size: 20000}, 20000},
		{"shrink", store.SetAttrIn{Valid: store.SetSize, Size: 6000}, 6000},
		{"chmod", store.SetAttrIn{Valid: store.SetMode, Mode: 0o600}, 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := a.Mknod(ctx, store.RootIno, tc.name, newFile())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Open(ctx, f.Ino); err != nil {
				t.Fatal(err)
			}
			defer a.Release(ctx, f.Ino)
			want := bytes.Repeat([]byte("a"), 8192)
			if _, err := a.Write(ctx, f.Ino, 0, want); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 32768)
			if _, err := a.Read(ctx, f.Ino, 0, buf); err != nil { // a caches the file's slice lists
				t.Fatal(err)
			}
			if _, err := b.Open(ctx, f.Ino); err != nil {
				t.Fatal(err)
			}
			defer b.Release(ctx, f.Ino)
			if _, err := b.Write(ctx, f.Ino, 4096, bytes.Repeat([]byte("b"), 1000)); err != nil {
				t.Fatal(err)
			}
			copy(want[4096:], bytes.Repeat([]byte("b"), 1000))
			if _, err := a.SetAttr(ctx, f.Ino, tc.change); err != nil {
				t.Fatal(err)
			}
			want = append(want, make([]byte, max(tc.size-len(want), 0))...)[:tc.size]
			n, err := a.Read(ctx, f.Ino, 0, buf)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) || !bytes.Equal(buf[:n], want) {
				t.Errorf("a reads %d bytes after its own change, want %d; first difference at %d", n, len(want),
					firstDifference(buf[:n], want))
			}
		})
	}
}

func firstDifference(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
