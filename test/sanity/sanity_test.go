package sanity

import (
	"path/filepath"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
)

// TestSanity runs the whole csi-sanity suite against the real plugin. Volumes it creates are deleted by the
// suite itself (and the keyspaces with them).
func TestSanity(t *testing.T) {
	pc := newPluginConfig(t)
	p := pc.start(t)
	cfg := sanity.NewTestConfig()
	cfg.Address = p.endpoint
	cfg.TargetPath = filepath.Join(pc.dir, "target")
	cfg.StagingPath = filepath.Join(pc.dir, "staging")
	cfg.TestVolumeSize = 1 << 30
	sanity.Test(t, cfg)
}

// TestSanitySplit runs csi-sanity against a controller plugin in this process and a node plugin in a child
// process (this test binary, see TestMain), as a Deployment and a DaemonSet run them: nothing may depend on the
// two services sharing memory.
func TestSanitySplit(t *testing.T) {
	ctrl := newPluginConfig(t)
	ctrl.role = "controller"
	cp := ctrl.start(t)
	node := ctrl
	node.dir, node.role = t.TempDir(), "node"
	startChild(t, node)
	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + filepath.Join(node.dir, "csi.sock")
	cfg.ControllerAddress = cp.endpoint
	cfg.TargetPath = filepath.Join(node.dir, "target")
	cfg.StagingPath = filepath.Join(node.dir, "staging")
	cfg.TestVolumeSize = 1 << 30
	sanity.Test(t, cfg)
}
