package sanity

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
)

// TestRetainedVolumeMountsStatically: a volume of a reclaim=retain class outlives DeleteVolume with its data,
// and a statically provisioned PV (only a volume handle, no volume attributes) mounts it again.
func TestRetainedVolumeMountsStatically(t *testing.T) {
	pc := newPluginConfig(t)
	c := dial(t, pc.start(t).endpoint)
	ctx := context.Background()
	vc := capability(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	vol, err := c.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: testenv.UniqueName("retain-"),
		VolumeCapabilities: []*csi.VolumeCapability{vc}, CapacityRange: &csi.CapacityRange{RequiredBytes: 16 << 20},
		Parameters: map[string]string{"reclaim": "retain", "replicationFactor": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	id := vol.Volume.VolumeId
	t.Cleanup(func() { dropVolume(t, id) })

	publish := func(name string) (staging, target string) {
		staging, target = filepath.Join(pc.dir, name+"-staging"), filepath.Join(pc.dir, name+"-target")
		if _, err := c.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: vc}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging, TargetPath: target, VolumeCapability: vc}); err != nil {
			t.Fatal(err)
		}
		return staging, target
	}
	unpublish := func(staging, target string) {
		if _, err := c.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging}); err != nil {
			t.Fatal(err)
		}
	}

	staging, target := publish("dynamic")
	writeSynced(t, filepath.Join(target, "keep.txt"), []byte("kept"))
	unpublish(staging, target)
	if _, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id,
		VolumeCapabilities: []*csi.VolumeCapability{vc}}); err != nil {
		t.Fatalf("retained volume gone after DeleteVolume: %v", err)
	}

	staging, target = publish("static") // as kubelet does for a PV with only volumeHandle set
	if b, err := os.ReadFile(filepath.Join(target, "keep.txt")); err != nil || string(b) != "kept" {
		t.Fatalf("static mount reads %q %v", b, err)
	}
	unpublish(staging, target)

	// A handle naming no volume fails staging with NotFound.
	_, err = c.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id + "-nope",
		StagingTargetPath: filepath.Join(pc.dir, "nope"), VolumeCapability: vc})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("stage of a missing volume: %v, want NotFound", err)
	}
}

// dropVolume deletes a volume directly in Cassandra (the CSI DeleteVolume keeps retained ones).
func dropVolume(t *testing.T, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: testenv.CassandraHosts(), Timeout: 30 * time.Second})
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer cl.Close()
	if err := cl.DeleteVolume(ctx, id); err != nil {
		t.Errorf("cleanup: delete %s: %v", id, err)
	}
}
