package driver

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
)

// TestSanityWithFakes runs csi-sanity against the driver on the in-memory back end and stager (mounts are
// recorded by a fake mounter). The same suite runs against Cassandra and real FUSE mounts in test/sanity.
func TestSanityWithFakes(t *testing.T) {
	dir := t.TempDir()
	m := newFakeMounter()
	d, err := New(Config{
		Version:    "test",
		Endpoint:   "unix://" + filepath.Join(dir, "csi.sock"),
		Controller: &ControllerConfig{Backend: newFakeBackend()},
		Node:       &NodeConfig{NodeID: "node-1", Stager: newFakeStager(m), Mounter: m, StateDir: filepath.Join(dir, "state")},
		Logger:     quietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + filepath.Join(dir, "csi.sock")
	cfg.TargetPath = filepath.Join(dir, "target")
	cfg.StagingPath = filepath.Join(dir, "staging")
	cfg.TestVolumeSize = 1 << 30
	sanity.Test(t, cfg)
}
