package sanity

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cassfs/cassfs/internal/testenv"
)

// client is a CSI client of one plugin endpoint.
type client struct {
	csi.ControllerClient
	csi.NodeClient
	csi.IdentityClient
}

func dial(t *testing.T, endpoint string) client {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return client{csi.NewControllerClient(conn), csi.NewNodeClient(conn), csi.NewIdentityClient(conn)}
}

func capability(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

// volumeSetup is a created, staged and published volume.
type volumeSetup struct {
	id, staging, target string
}

// setup creates a volume and stages and publishes it under dir. teardown (registered as a cleanup too; it runs
// once) unpublishes, unstages and deletes it through c.
func setup(t *testing.T, c *client, dir string, mode csi.VolumeCapability_AccessMode_Mode) (s volumeSetup, teardown func()) {
	t.Helper()
	ctx := context.Background()
	vc := capability(mode)
	vol, err := c.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: testenv.UniqueName("mounts-"),
		VolumeCapabilities: []*csi.VolumeCapability{vc}, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	s = volumeSetup{id: vol.Volume.VolumeId, staging: filepath.Join(dir, "staging"), target: filepath.Join(dir, "target")}
	var once sync.Once
	teardown = func() {
		once.Do(func() {
			ctx := context.Background()
			if _, err := c.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: s.id, TargetPath: s.target}); err != nil {
				t.Errorf("cleanup: unpublish: %v", err)
			}
			if _, err := c.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: s.id, StagingTargetPath: s.staging}); err != nil {
				t.Errorf("cleanup: unstage: %v", err)
			}
			if _, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: s.id}); err != nil {
				t.Errorf("cleanup: delete volume: %v", err)
			}
		})
	}
	t.Cleanup(teardown)
	if _, err := c.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: s.id, StagingTargetPath: s.staging,
		VolumeCapability: vc, VolumeContext: vol.Volume.VolumeContext}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: s.id, StagingTargetPath: s.staging,
		TargetPath: s.target, VolumeCapability: vc}); err != nil {
		t.Fatal(err)
	}
	return s, teardown
}

// writeSynced writes a file and fsyncs it, so that its bytes are in Cassandra when it returns.
func writeSynced(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPublishedVolumeIsTheFilesystem: what a pod writes through its target is in the volume (seen through the
// staging mount and through a second, read-only target), and NodeGetVolumeStats counts it.
func TestPublishedVolumeIsTheFilesystem(t *testing.T) {
	pc := newPluginConfig(t)
	p := pc.start(t)
	c := dial(t, p.endpoint)
	ctx := context.Background()
	s, _ := setup(t, &c, pc.dir, csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER)

	writeSynced(t, filepath.Join(s.target, "hello.txt"), []byte("hello cassfs"))
	if b, err := os.ReadFile(filepath.Join(s.staging, "hello.txt")); err != nil || string(b) != "hello cassfs" {
		t.Fatalf("through staging: %q %v", b, err)
	}

	ro := filepath.Join(pc.dir, "target-ro")
	if _, err := c.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: s.id, StagingTargetPath: s.staging,
		TargetPath: ro, VolumeCapability: capability(csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER), Readonly: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(ro, "hello.txt")); err != nil || string(b) != "hello cassfs" {
		t.Fatalf("through the read-only target: %q %v", b, err)
	}
	err := os.WriteFile(filepath.Join(ro, "nope"), []byte("x"), 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write to the read-only target: %v, want EROFS", err)
	}
	if _, err := c.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: s.id, TargetPath: ro}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ro); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only target left behind: %v", err)
	}

	st, err := c.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: s.id, VolumePath: s.target})
	if err != nil {
		t.Fatal(err)
	}
	var bytes, inodes *csi.VolumeUsage
	for _, u := range st.Usage {
		switch u.Unit {
		case csi.VolumeUsage_BYTES:
			bytes = u
		case csi.VolumeUsage_INODES:
			inodes = u
		}
	}
	if bytes == nil || bytes.Total != 64<<20 || bytes.Used < int64(len("hello cassfs")) || bytes.Available != bytes.Total-bytes.Used {
		t.Errorf("bytes usage %v", bytes)
	}
	if inodes == nil || inodes.Used < 2 { // the root and hello.txt
		t.Errorf("inode usage %v", inodes)
	}
	h, err := c.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: s.id})
	if err != nil || len(h.VolumeHealth.HealthStatuses) != 0 {
		t.Fatalf("health of a healthy volume: %v %v", h, err)
	}
}

// TestKilledPluginIsReplaced: a plugin process dies with its volume staged and published (its FUSE mount is
// then dead: "transport endpoint is not connected"). A new plugin on the same state directory mounts the volume
// again and binds the target to the new mount, so the data is reachable at the same target path.
func TestKilledPluginIsReplaced(t *testing.T) {
	pc := newPluginConfig(t)
	child := startChild(t, pc)
	c := dial(t, "unix://"+filepath.Join(pc.dir, "csi.sock"))
	s, teardown := setup(t, &c, pc.dir, csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	writeSynced(t, filepath.Join(s.target, "before-crash"), []byte("durable"))

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if _, err := os.ReadFile(filepath.Join(s.target, "before-crash")); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("target of a killed plugin: %v, want ENOTCONN", err)
	}

	// The replacement: same directory, same socket path; c reconnects.
	pc.start(t)
	var b []byte
	var err error
	for i := 0; i < 600; i++ { // restore runs in the background; allow it up to a minute
		if b, err = os.ReadFile(filepath.Join(s.target, "before-crash")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || string(b) != "durable" {
		t.Fatalf("after restart: %q %v", b, err)
	}
	writeSynced(t, filepath.Join(s.target, "after-restart"), []byte("ok"))
	if b, err := os.ReadFile(filepath.Join(s.staging, "after-restart")); err != nil || string(b) != "ok" {
		t.Fatalf("through the new staging mount: %q %v", b, err)
	}
	teardown() // while the new plugin runs (its cleanup stops it before setup's would run)
}

// startChild runs a plugin in a child process (this test binary, see TestMain) and returns it; the test's
// cleanup kills it if it still runs.
func startChild(t *testing.T, pc pluginConfig) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+pc.dir, childChrootEnv+"="+pc.zkChroot, childRoleEnv+"="+pc.role)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitForSocket(t, filepath.Join(pc.dir, "csi.sock"))
	return cmd
}
