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
