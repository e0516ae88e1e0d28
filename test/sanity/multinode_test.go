package sanity

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestMultiNodeWritersShareLocks: two plugins (two "nodes", each with its own FUSE mount) stage one
// ReadWriteMany volume; a flock taken through one node's target excludes the other node, through ZooKeeper, and
// data written on one node is read on the other.
func TestMultiNodeWritersShareLocks(t *testing.T) {
	pcA := newPluginConfig(t)
	pcB := pcA
	pcB.dir, pcB.nodeID = t.TempDir(), "node-b"
	a := dial(t, pcA.start(t).endpoint)
	b := dial(t, pcB.start(t).endpoint)
	ctx := context.Background()
	mode := csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER

	sa, _ := setup(t, &a, pcA.dir, mode) // created through A's controller
	vc := capability(mode)
	stagingB, targetB := filepath.Join(pcB.dir, "staging"), filepath.Join(pcB.dir, "target")
	if _, err := b.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: sa.id, StagingTargetPath: stagingB, VolumeCapability: vc}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := b.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: sa.id, TargetPath: targetB}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if _, err := b.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: sa.id, StagingTargetPath: stagingB}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := b.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: sa.id, StagingTargetPath: stagingB,
		TargetPath: targetB, VolumeCapability: vc}); err != nil {
		t.Fatal(err)
	}

	writeSynced(t, filepath.Join(sa.target, "shared"), []byte("from A"))
	if got, err := os.ReadFile(filepath.Join(targetB, "shared")); err != nil || string(got) != "from A" {
		t.Fatalf("node B reads %q %v", got, err)
	}
	fa, err := os.Open(filepath.Join(sa.target, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(filepath.Join(targetB, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	if err := syscall.Flock(int(fa.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("flock on node A: %v", err)
	}
	if err := syscall.Flock(int(fb.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("flock on node B while A holds it: %v, want EWOULDBLOCK", err)
	}
	if err := syscall.Flock(int(fa.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(fb.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("flock on node B after A released it: %v", err)
	}
	if err := syscall.Flock(int(fb.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
}

// TestMultiNodeWriterNeedsZooKeeper: without ZooKeeper a node refuses to stage a volume writable from several
// nodes (FailedPrecondition) but stages it read-only.
func TestMultiNodeWriterNeedsZooKeeper(t *testing.T) {
	pc := newPluginConfig(t)
	pc.zkChroot = ""
	c := dial(t, pc.start(t).endpoint)
	ctx := context.Background()
	s, _ := setup(t, &c, pc.dir, csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
	if _, err := os.ReadDir(s.target); err != nil {
		t.Fatalf("read-only multi-node volume: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.target, "x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write to a reader-only volume: %v, want EROFS", err)
	}
	_, err := c.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: s.id, StagingTargetPath: filepath.Join(pc.dir, "staging-rw"),
		VolumeCapability: capability(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stage RWX without ZooKeeper: %v, want FailedPrecondition", err)
	}
}

// TestSingleNodeVolumeRefusedOnSecondNode: a ReadWriteOnce volume staged on node A is refused on node B
// (FailedPrecondition) while A serves it, and B may stage it once A has unstaged it.
func TestSingleNodeVolumeRefusedOnSecondNode(t *testing.T) {
	pcA := newPluginConfig(t)
	pcB := pcA
	pcB.dir, pcB.nodeID = t.TempDir(), "node-b"
	a := dial(t, pcA.start(t).endpoint)
	b := dial(t, pcB.start(t).endpoint)
	ctx := context.Background()
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER

	sa, _ := setup(t, &a, pcA.dir, mode)
	vc := capability(mode)
	stagingB := filepath.Join(pcB.dir, "staging")
	_, err := b.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: sa.id, StagingTargetPath: stagingB, VolumeCapability: vc})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stage of a ReadWriteOnce volume on node B while node A serves it: %v, want FailedPrecondition", err)
	}
	t.Logf("node B refused: %v", err)
	if _, err := a.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: sa.id, TargetPath: sa.target}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: sa.id, StagingTargetPath: sa.staging}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: sa.id, StagingTargetPath: stagingB, VolumeCapability: vc}); err != nil {
		t.Fatalf("stage on node B after node A unstaged: %v", err)
	}
	if _, err := b.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: sa.id, StagingTargetPath: stagingB}); err != nil {
		t.Fatal(err)
	}
}
