package cassandra

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/cassandra/chunks"
	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/storetest"
)

// TestFsckLooksAgain: a file reclaimed between Fsck's data scan and its inode scan must not be reported as data
// without an inode (it once was), while data that really has no inode is reported and purged.
func TestFsckLooksAgain(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, map[string]string{"chunkSize": "8192", "blockSize": "4096"})
	v := openVolume(t, c, info.Spec.ID, "again", nil)
	ctx := context.Background()
	f, err := v.Mknod(ctx, store.RootIno, "doomed", newFile())
	must(t, err)
	_, err = v.Write(ctx, f.Ino, 0, bytes.Repeat([]byte("d"), 20000))
	must(t, err)

	var unlinkErr error
	hit := false
	restore := SetFailpoint(func(name string) error {
		if name == "fsck.data" && !hit {
			hit = true
			_, unlinkErr = v.Unlink(ctx, store.RootIno, "doomed") // last link, not open: reclaimed now
		}
		return nil
	})
	r, err := v.Fsck(ctx, false)
	restore()
	must(t, err)
	if !hit || unlinkErr != nil {
		t.Fatalf("the file was not removed between the scans (hit %v): %v", hit, unlinkErr)
	}
	if !r.Clean() {
		t.Errorf("fsck reports a file reclaimed between its scans: %q", r.Problems)
	}

	// Data with no inode at all (as a write through a stale handle after the reclaim would leave).
	const ghost = 1 << 40
	must(t, v.data.Write(ctx, ghost, 5000, bytes.Repeat([]byte("g"), 10000)))
	r, err = v.Fsck(ctx, false)
	must(t, err)
	if r.DataOrphans != 1 || !strings.Contains(strings.Join(r.Problems, "\n"), "does not exist but has data") {
		t.Fatalf("data without an inode: %+v", r)
	}
	r, err = v.Fsck(ctx, true)
	must(t, err)
	t.Logf("repair: %q", r.Problems)
	if r, err := v.Fsck(ctx, false); err != nil || !r.Clean() {
		t.Fatalf("after repair: %q, %v", r.Problems, err)
	}
	if has, err := v.data.HasData(ctx, ghost, []uint64{0, 1, 2}); err != nil || has {
		t.Errorf("the data is still there (%v, %v)", has, err)
	}
}

// TestFsckCollectsLeakedBlocks crashes a Write between its blocks and its slice record. While the writer's
// session lives, Fsck leaves the blocks alone (they could be a write in flight); once the session is gone (its
// heartbeat stale), Fsck reports them and repair deletes them, and nothing else.
func TestFsckCollectsLeakedBlocks(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, map[string]string{"chunkSize": "8192", "blockSize": "4096"})
	ctx := context.Background()
	a, err := c.OpenVolume(ctx, info.Spec.ID, OpenOptions{Session: "writer", HeartbeatInterval: 200 * time.Millisecond,
		CleanupInterval: -1})
	must(t, err)
	const timeout = 2 * time.Second
	b, err := c.OpenVolume(ctx, info.Spec.ID, OpenOptions{Session: "checker", HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout: timeout, CleanupInterval: -1})
	must(t, err)
	t.Cleanup(func() { _ = b.Close() })

	f, err := a.Mknod(ctx, store.RootIno, "f", newFile())
	must(t, err)
	kept := bytes.Repeat([]byte("k"), 6000)
	_, err = a.Write(ctx, f.Ino, 0, kept)
	must(t, err)
	before, err := b.data.ScanBlocks(ctx)
	must(t, err)

	hit := crashAt(t, "data.write.blocks")
	_, err = a.Write(ctx, f.Ino, 6000, bytes.Repeat([]byte("x"), 3*4096+100)) // 4 blocks in 2 chunks
	failpoint = nil
	if !*hit || !errors.Is(err, errInjected) {
		t.Fatalf("the write did not stop between blocks and slices (hit %v): %v", *hit, err)
	}
	after, err := b.data.ScanBlocks(ctx)
	must(t, err)
	var leaked []chunks.BlockID
	for id := range after {
		if _, ok := before[id]; !ok {
			leaked = append(leaked, id)
		}
	}
	if len(leaked) != 4 {
		t.Fatalf("%d new blocks, want 4", len(leaked))
	}

	// The writer lives: its blocks are in flight, even for a repairing fsck.
	r, err := b.Fsck(ctx, true)
	must(t, err)
	if !r.Clean() || r.InFlightBlocks != 4 || r.LeakedBlocks != 0 {
		t.Fatalf("fsck with the writer alive: %+v", r)
	}
	for _, id := range leaked {
		if ok, err := b.data.BlockExists(ctx, id); err != nil || !ok {
			t.Fatalf("block %v of a live writer was deleted (%v)", id, err)
		}
	}

	// The writer dies; once its heartbeat is older than the timeout, its blocks are garbage.
	a.abandon()
	time.Sleep(timeout + 500*time.Millisecond)
	r, err = b.Fsck(ctx, false)
	must(t, err)
	if r.LeakedBlocks != 4 || r.Clean() {
		t.Fatalf("fsck after the writer died: %+v", r)
	}
	t.Logf("found: %q", r.Problems)
	r, err = b.Fsck(ctx, true)
	must(t, err)
	if r, err := b.Fsck(ctx, false); err != nil || !r.Clean() || r.InFlightBlocks != 0 {
		t.Fatalf("fsck after repair: %+v, %v", r, err)
	}
	for _, id := range leaked {
		if ok, err := b.data.BlockExists(ctx, id); err != nil || ok {
			t.Errorf("leaked block %v survived the repair (%v)", id, err)
		}
	}
	// Nothing else was touched: the file reads what was written before the crash.
	h, err := b.Open(ctx, f.Ino)
	must(t, err)
	buf := make([]byte, 20000)
	n, err := b.Read(ctx, f.Ino, 0, buf)
	must(t, err)
	if !bytes.Equal(buf[:n], kept) || h.Size != uint64(len(kept)) {
		t.Errorf("file reads %d bytes (size %d), want the %d written before the crash", n, h.Size, len(kept))
	}
	must(t, b.Release(ctx, f.Ino))
	storetest.CheckTree(t, b)
}
