package cassbackend

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/driver"
)

// TestSingleNodeVolumeOnOneNode: two Stagers with different node names (two nodes) and one writable single-node
// (ReadWriteOnce) volume. The second node is refused while the first serves it, also after the first renewed
// its claim; a second staging directory on the first node is fine; read-only and multi-node stagings are not
// claimed; once the first node unstages, the second node may stage it.
func TestSingleNodeVolumeOnOneNode(t *testing.T) {
	pool := testPool(t)
	b := NewBackend(pool, nil, nil)
	ctx := context.Background()
	id := testenv.UniqueName("cbclaim-")
	if _, err := b.CreateVolume(ctx, driver.Credentials{}, driver.VolumeRequest{ID: id, CapacityBytes: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.DeleteVolume(context.Background(), driver.Credentials{}, id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	a := NewStager(StagerConfig{Pool: pool, NodeID: "node-a", ClaimTTL: 3 * time.Second})
	t.Cleanup(func() { _ = a.Close() })
	bb := NewStager(StagerConfig{Pool: pool, NodeID: "node-b", ClaimTTL: 3 * time.Second})
	t.Cleanup(func() { _ = bb.Close() })

	dirA, dirA2, dirB := t.TempDir(), t.TempDir(), t.TempDir()
	if err := a.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dirA}); err != nil {
		t.Fatalf("stage on node-a: %v", err)
	}
	if err := a.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dirA2}); err != nil {
		t.Fatalf("second staging directory on node-a: %v", err)
	}
	err := bb.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dirB})
	if !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("stage on node-b while node-a serves it: %v, want ErrPrecondition", err)
	}
	t.Logf("refused: %v", err)
	// Past the TTL: node-a's renewals keep the claim.
	time.Sleep(4 * time.Second)
	if err := bb.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dirB}); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("stage on node-b after node-a's TTL (renewed): %v, want ErrPrecondition", err)
	}
	if err := bb.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dirB, ReadOnly: true}); err != nil {
		t.Fatalf("read-only stage on node-b: %v", err)
	}
	if err := bb.Unstage(ctx, dirB); err != nil {
		t.Fatal(err)
	}
	// Unstaging one of node-a's two directories keeps the claim.
	if err := a.Unstage(ctx, dirA2); err != nil {
		t.Fatal(err)
	}
	if err := bb.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dirB}); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("stage on node-b while node-a still serves one directory: %v, want ErrPrecondition", err)
	}
	if err := a.Unstage(ctx, dirA); err != nil {
		t.Fatal(err)
	}
	if err := bb.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dirB}); err != nil {
		t.Fatalf("stage on node-b after node-a unstaged: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "f"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dirA}); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("stage on node-a while node-b serves it: %v, want ErrPrecondition", err)
	}
	if err := bb.Unstage(ctx, dirB); err != nil {
		t.Fatal(err)
	}
}
