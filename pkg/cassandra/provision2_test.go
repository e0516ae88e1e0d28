package cassandra

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/store"
)

// TestCreateVolumeResumesAfterCrash: a volume whose creation stopped before its schema version was recorded is
// invisible (GetVolume: not found) until CreateVolume is called again, which completes it without duplicating
// the root or the allocator.
func TestCreateVolumeResumesAfterCrash(t *testing.T) {
	c := testCluster(t)
	ctx := context.Background()
	info := testVolume(t, c, 0, nil)
	v := openVolume(t, c, info.Spec.ID, "before", nil)
	f, err := v.Mknod(ctx, store.RootIno, "kept", newFile())
	must(t, err)
	must(t, v.Close())
	// Simulate the crash: the version bump of migration 1 never happened.
	ok, _, err := cas(ctx, c.session.Query(cql(info.Keyspace, `UPDATE {ks}.meta SET schema_version = 0 WHERE k = ? IF schema_version = ?`),
		metaKey, SchemaVersion))
	if err != nil || !ok {
		t.Fatalf("reset schema version: %v %v", ok, err)
	}
	if _, err := c.GetVolume(ctx, info.Spec.ID); !errors.Is(err, ErrVolumeNotFound) {
		t.Fatalf("half-created volume visible: %v", err)
	}
	again, err := c.CreateVolume(ctx, info.Spec)
	if err != nil || again.SchemaVersion != SchemaVersion {
		t.Fatalf("resume: %+v, %v", again, err)
	}
	v = openVolume(t, c, info.Spec.ID, "after", nil)
	if a, err := v.Lookup(ctx, store.RootIno, "kept"); err != nil || a.Ino != f.Ino {
		t.Fatalf("file after resume: %+v, %v", a, err)
	}
	g, err := v.Mknod(ctx, store.RootIno, "new", newFile())
	must(t, err)
	if g.Ino <= f.Ino {
		t.Fatalf("inode number %d reused or went back (had %d)", g.Ino, f.Ino)
	}
	if r, err := v.Fsck(ctx, false); err != nil || !r.Clean() {
		t.Fatalf("fsck: %q, %v", r.Problems, err)
	}
}

// TestExpandVolumeRaisesQuota: an open volume sees a raised quota at once.
func TestExpandVolumeRaisesQuota(t *testing.T) {
	c := testCluster(t)
	ctx := context.Background()
	info := testVolume(t, c, 64<<10, map[string]string{"chunkSize": "65536", "blockSize": "65536"})
	v := openVolume(t, c, info.Spec.ID, "q", nil)
	f, err := v.Mknod(ctx, store.RootIno, "f", newFile())
	must(t, err)
	_, err = v.Write(ctx, f.Ino, 0, make([]byte, 60<<10))
	must(t, err)
	if _, err := v.Write(ctx, f.Ino, 60<<10, make([]byte, 8<<10)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the quota: %v", err)
	}
	if _, err := v.SetAttr(ctx, f.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 1 << 20}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("truncate past the quota: %v", err)
	}
	if _, err := c.ExpandVolume(ctx, info.Spec.ID, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Write(ctx, f.Ino, 60<<10, make([]byte, 8<<10)); err != nil {
		t.Fatalf("write after expansion: %v", err)
	}
	u, err := v.StatFS(ctx)
	must(t, err)
	if u.CapacityBytes != 1<<20 || u.Bytes != 68<<10 || u.Inodes != 2 {
		t.Fatalf("statfs %+v", u)
	}
}

// TestBackgroundSessionCleanup: a live mount's background cleanup reclaims what a dead mount held open.
func TestBackgroundSessionCleanup(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	ctx := context.Background()
	dead, err := c.OpenVolume(ctx, info.Spec.ID, OpenOptions{Session: "dead", CleanupInterval: -1})
	must(t, err)
	t.Cleanup(func() { _ = dead.Close() })
	f, err := dead.Mknod(ctx, store.RootIno, "f", newFile())
	must(t, err)
	_, err = dead.Open(ctx, f.Ino)
	must(t, err)
	_, err = dead.Unlink(ctx, store.RootIno, "f")
	must(t, err)
	dead.abandon()
	live, err := c.OpenVolume(ctx, info.Spec.ID, OpenOptions{Session: "live", HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout: time.Second, CleanupInterval: 200 * time.Millisecond})
	must(t, err)
	t.Cleanup(func() { _ = live.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := live.GetAttr(ctx, f.Ino)
		if errors.Is(err, syscall.ENOENT) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead session's open-unlinked file was not reclaimed in a minute: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r, err := live.Fsck(ctx, false); err != nil || !r.Clean() {
		t.Fatalf("fsck: %q, %v", r.Problems, err)
	}
}
