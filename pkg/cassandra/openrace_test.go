package cassandra

import (
	"context"
	"sync"
	"testing"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// TestReleaseRacingOpenKeepsRecord: the kernel sends RELEASE after close returned, so a file closed and opened
// again at once has its last Release and its next Open in flight together. Whatever their order, while the
// session holds the file open its open record must exist, or an unlink would reclaim a file still in use (the
// fsx test met this as ENOENT from fstat of an open, unlinked file).
func TestReleaseRacingOpenKeepsRecord(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	v := openVolume(t, c, info.Spec.ID, "s-race", lock.NewLocal())
	ctx := context.Background()
	a, err := v.Mknod(ctx, store.RootIno, "f", newFile())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Open(ctx, a.Ino); err != nil {
		t.Fatal(err)
	}
	missing := 0
	const rounds = 150
	for i := 0; i < rounds; i++ {
		var wg sync.WaitGroup
		wg.Add(2)
		var rerr, oerr error
		go func() { defer wg.Done(); rerr = v.Release(ctx, a.Ino) }()
		go func() { defer wg.Done(); _, oerr = v.Open(ctx, a.Ino) }()
		wg.Wait()
		if rerr != nil || oerr != nil {
			t.Fatalf("round %d: release %v, open %v", i, rerr, oerr)
		}
		var sid string
		if err := v.read(`SELECT sid FROM {ks}.opens WHERE ino = ? AND sid = ?`, int64(a.Ino), v.sid).ScanContext(ctx, &sid); err != nil {
			missing++
			t.Errorf("round %d: the file is open in this session but its open record is gone (%v)", i, err)
			if missing > 3 {
				t.FailNow()
			}
		}
	}
	// With the record in place, an unlink leaves the open file readable; the last release reclaims it.
	if _, err := v.Unlink(ctx, store.RootIno, "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GetAttr(ctx, a.Ino); err != nil {
		t.Fatalf("open file after unlink: %v", err)
	}
	if err := v.Release(ctx, a.Ino); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GetAttr(ctx, a.Ino); err == nil {
		t.Fatal("the unlinked file outlived its last release")
	}
}
