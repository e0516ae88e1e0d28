package sanity

import (
	"bytes"
	"os"
	"os/exec"
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

// TestSanitySplit runs csi-sanity against a controller plugin and a node plugin in separate processes, as a
// Deployment and a DaemonSet run them: nothing may depend on the two services sharing memory. Ginkgo runs one
// suite per process and TestSanity has run it here, so the suite runs in a child process (this test binary again,
// see TestMain), which serves the controller itself and starts the node plugin in a grandchild.
func TestSanitySplit(t *testing.T) {
	if os.Getenv(splitChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSanitySplit$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), splitChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("csi-sanity with split controller and node: %v\n%s", err, out)
		}
		if i := bytes.LastIndex(out, []byte("Ran ")); i >= 0 {
			t.Logf("split run: %s", bytes.SplitN(out[i:], []byte("\n"), 3)[:2])
		}
		return
	}
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

// splitChildEnv marks the child process of TestSanitySplit.
const splitChildEnv = "CASSFS_SANITY_SPLIT_CHILD"
