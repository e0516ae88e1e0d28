package driver

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// TestPathRoot: with NodeConfig.PathRoot set, paths outside it are refused before anything is created or mounted,
// and paths below it work.
func TestPathRoot(t *testing.T) {
	e := newNodeEnv(t)
	e.n.pathRoot = filepath.Join(e.dir, "kubelet")
	ctx := context.Background()
	outside := e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER) // e.dir/staging-v
	_, err := e.n.NodeStageVolume(ctx, outside)
	wantCode(t, err, codes.InvalidArgument)
	if e.stager.stages != 0 || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("stage outside the root: %v, %d stages", err, e.stager.stages)
	}
	// A sibling that shares the root's name as a prefix is outside it.
	_, err = e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v", TargetPath: e.n.pathRoot + "x/pod"})
	wantCode(t, err, codes.InvalidArgument)
	inside := e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	inside.StagingTargetPath = filepath.Join(e.n.pathRoot, "plugins", "staging-v")
	_, err = e.n.NodeStageVolume(ctx, inside)
	wantCode(t, err, codes.OK)
	_, err = e.n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: "v", StagingTargetPath: inside.StagingTargetPath,
		TargetPath: filepath.Join(e.dir, "elsewhere"), VolumeCapability: rwo})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: "v", StagingTargetPath: inside.StagingTargetPath,
		TargetPath: filepath.Join(e.n.pathRoot, "pods", "p1", "mount"), VolumeCapability: rwo})
	wantCode(t, err, codes.OK)
}

func TestNewRefusesBadPathRoot(t *testing.T) {
	for _, root := range []string{"relative", "/var/lib/kubelet/", "/var/../kubelet", "/"} {
		_, err := New(Config{Endpoint: "unix:///tmp/x.sock", Node: &NodeConfig{NodeID: "n", Stager: newFakeStager(newFakeMounter()), PathRoot: root}})
		if err == nil {
			t.Errorf("PathRoot %q accepted", root)
		}
	}
}
