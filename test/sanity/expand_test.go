package sanity

import (
	"context"
	"syscall"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// TestOnlineExpansion: ControllerExpandVolume raises the quota of a mounted volume; the mount (statfs) and
// NodeGetVolumeStats see the new size without any node step.
func TestOnlineExpansion(t *testing.T) {
	pc := newPluginConfig(t)
	c := dial(t, pc.start(t).endpoint)
	ctx := context.Background()
	s, _ := setup(t, &c, pc.dir, csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER) // 64 MiB
	resp, err := c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: s.id,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 128 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.CapacityBytes != 128<<20 || resp.NodeExpansionRequired {
		t.Fatalf("expand: %v", resp)
	}
	st, err := c.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: s.id, VolumePath: s.target})
	if err != nil {
		t.Fatal(err)
	}
	if st.Usage[0].Unit != csi.VolumeUsage_BYTES || st.Usage[0].Total != 128<<20 {
		t.Fatalf("stats after expansion: %v", st.Usage)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.target, &fs); err != nil {
		t.Fatal(err)
	}
	if total := fs.Blocks * uint64(fs.Frsize); total != 128<<20 {
		t.Fatalf("statfs of the mount after expansion: %d bytes (%d blocks of %d), want %d", total, fs.Blocks, fs.Frsize, 128<<20)
	}
}
