package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	mount "k8s.io/mount-utils"
)

// node implements the CSI Node service: NodeStageVolume mounts a volume (through the Stager, in this process) on
// the staging path, NodePublishVolume bind-mounts the staging path onto each target. Operations on one volume
// and on one target path are serialized by try-locks (codes.Aborted on a clash); what is staged is recorded in
// nodeState so that a restarted plugin can mount it again (see restore).
type node struct {
	csi.UnimplementedNodeServer
	nodeID  string
	stager  Stager
	mounter mount.Interface
	state   *nodeState
	locks   *keyLocks
	log     *slog.Logger
	probers map[string]Prober // dependencies NodeGetStorageHealth checks, by name
	// pathRoot, when set, is the directory every staging and target path must lie below (NodeConfig.PathRoot).
	pathRoot string
	stat     func(string) (os.FileInfo, error) // os.Stat; replaced in tests to fake dead mounts
}

var _ csi.NodeServer = (*node)(nil)

func newNode(nodeID string, st Stager, m mount.Interface, state *nodeState, probers map[string]Prober, log *slog.Logger) *node {
	return &node{nodeID: nodeID, stager: st, mounter: m, state: state, probers: probers, locks: newKeyLocks(), log: log, stat: os.Stat}
}

// Lock keys: a volume's stage/unstage, and each target path's publish/unpublish.
func volumeKey(id string) string   { return "volume/" + id }
func targetKey(path string) string { return "target/" + path }
func abortedf(what string) error {
	return status.Errorf(codes.Aborted, "%s: another operation is in progress", what)
}
func required(field string) error {
	return status.Errorf(codes.InvalidArgument, "%s is required", field)
}
func internalf(f string, a ...any) error { return status.Errorf(codes.Internal, f, a...) }

// NodeStageVolume mounts the volume on the staging path; repeating it is a no-op while the mount is alive.
func (n *node) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	id, dir := req.GetVolumeId(), req.GetStagingTargetPath()
	if err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if err := n.checkNodePath("staging_target_path", dir); err != nil {
		return nil, err
	}
	if req.GetVolumeCapability() == nil {
		return nil, required("volume_capability")
	}
	if why := checkCapability(req.GetVolumeCapability()); why != "" {
		return nil, status.Error(codes.InvalidArgument, why)
	}
	if err := checkSecrets(req.GetSecrets()); err != nil {
		return nil, err
	}
	if !n.locks.tryAcquire(volumeKey(id)) {
		return nil, abortedf("stage volume " + id)
	}
	defer n.locks.release(volumeKey(id))
	// A staging path inside (or around) another mount of this plugin would put one volume inside another.
	for _, u := range n.state.overlaps(dir) {
		if !u.target && u.path == dir {
			continue // the same staging path: checked below
		}
		return nil, status.Errorf(codes.AlreadyExists, "staging_target_path %s overlaps %s", dir, u)
	}

	mode := req.GetVolumeCapability().GetAccessMode().GetMode()
	want := stagedVolume{
		VolumeID: id, StagingPath: dir, ReadOnly: readOnlyMode(mode), Sharing: sharingFor(mode),
		SingleWriter: mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		Context:      req.GetVolumeContext(), Cred: credentialsFrom(req.GetSecrets()),
	}
	if have, ok := n.state.get(dir); ok {
		if have.VolumeID != id {
			return nil, status.Errorf(codes.AlreadyExists, "staging path %s holds volume %s", dir, have.VolumeID)
		}
		if have.ReadOnly != want.ReadOnly || have.Sharing != want.Sharing || have.SingleWriter != want.SingleWriter {
			return nil, status.Errorf(codes.AlreadyExists, "volume %s is staged at %s with another access mode", id, dir)
		}
		if st, err := n.mountStatus(dir); err == nil && st == mounted {
			return &csi.NodeStageVolumeResponse{}, nil
		}
		n.log.Warn("staged volume's mount is gone; mounting again", "volume", id, "path", dir)
	}
	if err := n.stage(ctx, want); err != nil {
		return nil, err
	}
	if err := n.state.update(dir, func(v *stagedVolume, ok bool) bool { targets := v.Targets; *v = want; v.Targets = targets; return true }); err != nil {
		_ = n.stager.Unstage(ctx, dir)
		return nil, internalf("record staged volume: %v", err)
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

// stage prepares dir (creating it, clearing a dead mount) and asks the Stager to mount v there.
func (n *node) stage(ctx context.Context, v stagedVolume) error {
	st, err := n.mountStatus(v.StagingPath)
	if err != nil {
		return internalf("check staging path %s: %v", v.StagingPath, err)
	}
	switch st {
	case absent:
		if err := os.MkdirAll(v.StagingPath, 0o750); err != nil {
			return internalf("create staging path: %v", err)
		}
	case mounted, corrupted:
		// Our own mount from before a restart (dead, or served by a Stager that forgot it): take it down.
		_ = n.stager.Unstage(ctx, v.StagingPath)
		if err := n.unmountAll(v.StagingPath); err != nil {
			return internalf("clear staging path %s: %v", v.StagingPath, err)
		}
	}
	err = n.stager.Stage(ctx, StageRequest{
		VolumeID: v.VolumeID, Dir: v.StagingPath, Cred: v.Cred, ReadOnly: v.ReadOnly, Sharing: v.Sharing, Context: v.Context,
	})
	return toStatus("stage volume "+v.VolumeID, err)
}

// NodeUnstageVolume unmounts the staging path; a path that is not staged (or no longer mounted) is not an error.
func (n *node) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	id, dir := req.GetVolumeId(), req.GetStagingTargetPath()
	if err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if err := n.checkNodePath("staging_target_path", dir); err != nil {
		return nil, err
	}
	if !n.locks.tryAcquire(volumeKey(id)) {
		return nil, abortedf("unstage volume " + id)
	}
	defer n.locks.release(volumeKey(id))
	have, ok := n.state.get(dir)
	if ok && have.VolumeID != id {
		return nil, status.Errorf(codes.FailedPrecondition, "staging path %s holds volume %s, not %s", dir, have.VolumeID, id)
	}
	if !ok {
		// Not staged here: unmounting it must not take down a mount this plugin made for something else.
		if u := n.state.overlaps(dir); len(u) > 0 {
			return nil, status.Errorf(codes.FailedPrecondition, "staging_target_path %s is not staged; it overlaps %s", dir, u[0])
		}
	}
	// The CO unpublishes before it unstages; a target left mounted would keep the FUSE filesystem alive (and
	// the unmount waiting), so it goes first.
	for path := range have.Targets {
		if st, err := n.mountStatus(path); err == nil && (st == mounted || st == corrupted) {
			n.log.Warn("unstage: target still published; unmounting it", "volume", id, "target", path)
			if err := mount.CleanupMountPoint(path, n.mounter, true); err != nil {
				return nil, internalf("unmount leftover target %s: %v", path, err)
			}
		}
	}
	if err := n.stager.Unstage(ctx, dir); err != nil {
		return nil, toStatus("unstage volume "+id, err)
	}
	if err := n.unmountAll(dir); err != nil {
		return nil, internalf("unmount staging path %s: %v", dir, err)
	}
	if err := n.state.update(dir, func(*stagedVolume, bool) bool { return false }); err != nil {
		return nil, internalf("record unstaged volume: %v", err)
	}
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// NodePublishVolume bind-mounts the staging path onto the target path (read-only when asked).
func (n *node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	id, dir, path := req.GetVolumeId(), req.GetStagingTargetPath(), req.GetTargetPath()
	if err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if err := n.checkNodePath("staging_target_path", dir); err != nil {
		return nil, err
	}
	if err := n.checkNodePath("target_path", path); err != nil {
		return nil, err
	}
	if within(path, dir) || within(dir, path) {
		return nil, status.Errorf(codes.InvalidArgument, "target_path %s and staging_target_path %s overlap", path, dir)
	}
	if req.GetVolumeCapability() == nil {
		return nil, required("volume_capability")
	}
	if why := checkCapability(req.GetVolumeCapability()); why != "" {
		return nil, status.Error(codes.InvalidArgument, why)
	}
	excl, shared := []string{targetKey(path)}, []string{volumeKey(id)}
	if !n.locks.tryLock(excl, shared) {
		return nil, abortedf("publish volume " + id + " at " + path)
	}
	defer n.locks.unlock(excl, shared)

	staged, ok := n.state.get(dir)
	if !ok || staged.VolumeID != id {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is not staged at %s", id, dir)
	}
	want := target{ReadOnly: req.GetReadonly() || staged.ReadOnly, MountFlags: req.GetVolumeCapability().GetMount().GetMountFlags()}
	for _, u := range n.state.overlaps(path) {
		if u.target && u.path == path && u.staging == dir {
			continue // this volume's own target: checked below
		}
		return nil, status.Errorf(codes.AlreadyExists, "target_path %s overlaps %s", path, u)
	}
	singleWriter := staged.SingleWriter ||
		req.GetVolumeCapability().GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
	for other := range staged.Targets {
		if singleWriter && other != path {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is single-writer and already published at %s", id, other)
		}
	}
	if have, ok := staged.Targets[path]; ok {
		if have.ReadOnly != want.ReadOnly {
			return nil, status.Errorf(codes.AlreadyExists, "volume %s is published at %s with readonly=%t", id, path, have.ReadOnly)
		}
		if st, err := n.mountStatus(path); err == nil && st == mounted {
			return &csi.NodePublishVolumeResponse{}, nil
		}
	}
	if err := n.bind(dir, path, want); err != nil {
		return nil, err
	}
	if err := n.state.update(dir, func(v *stagedVolume, ok bool) bool {
		if !ok {
			return false
		}
		if v.Targets == nil {
			v.Targets = make(map[string]target)
		}
		v.Targets[path] = want
		return true
	}); err != nil {
		_ = mount.CleanupMountPoint(path, n.mounter, true)
		return nil, internalf("record published volume: %v", err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// bind makes path a bind mount of dir, clearing a dead mount at path first.
func (n *node) bind(dir, path string, t target) error {
	st, err := n.mountStatus(path)
	if err != nil {
		return internalf("check target path %s: %v", path, err)
	}
	switch st {
	case absent:
		if err := os.MkdirAll(path, 0o750); err != nil {
			return internalf("create target path: %v", err)
		}
	case mounted, corrupted:
		if err := n.unmountAll(path); err != nil {
			return internalf("clear target path %s: %v", path, err)
		}
	}
	opts := append([]string{"bind"}, t.MountFlags...)
	if t.ReadOnly {
		opts = append(opts, "ro")
	}
	if err := n.mounter.Mount(dir, path, "", opts); err != nil {
		return internalf("bind mount %s on %s: %v", dir, path, err)
	}
	return nil
}

// NodeUnpublishVolume unmounts and removes the target path; a missing or unmounted path is not an error.
func (n *node) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	id, path := req.GetVolumeId(), req.GetTargetPath()
	if err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if err := n.checkNodePath("target_path", path); err != nil {
		return nil, err
	}
	excl, shared := []string{targetKey(path)}, []string{volumeKey(id)}
	if !n.locks.tryLock(excl, shared) {
		return nil, abortedf("unpublish volume " + id + " at " + path)
	}
	defer n.locks.unlock(excl, shared)
	// Only a target of this volume (or a path no mount of this plugin overlaps) may be unmounted: a staging
	// path, or a target of another volume, must not be torn down by a wrong unpublish.
	for _, u := range n.state.overlaps(path) {
		if u.target && u.path == path && u.volumeID == id {
			continue
		}
		return nil, status.Errorf(codes.FailedPrecondition, "target_path %s overlaps %s", path, u)
	}
	if err := mount.CleanupMountPoint(path, n.mounter, true); err != nil {
		return nil, internalf("unmount %s: %v", path, err)
	}
	if staged, ok := n.state.findPath(path); ok && staged.StagingPath != path {
		err := n.state.update(staged.StagingPath, func(v *stagedVolume, ok bool) bool {
			delete(v.Targets, path)
			return ok
		})
		if err != nil {
			return nil, internalf("record unpublished volume: %v", err)
		}
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// mountStatus classifies a path.
type mountStat int

const (
	absent    mountStat = iota // no such path
	unmounted                  // a directory, not a mount point
	mounted                    // a live mount point
	corrupted                  // a dead mount ("transport endpoint is not connected", ESTALE, ...)
)

func (n *node) mountStatus(path string) (mountStat, error) {
	if _, err := n.stat(path); err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return absent, nil
		case mount.IsCorruptedMnt(err):
			return corrupted, nil
		}
		return 0, err
	}
	notMnt, err := mount.IsNotMountPoint(n.mounter, path)
	if err != nil {
		if mount.IsCorruptedMnt(err) {
			return corrupted, nil
		}
		return 0, err
	}
	if notMnt {
		return unmounted, nil
	}
	return mounted, nil
}

// unmountAll unmounts path until it is no longer a mount point (mounts can stack after a crash), keeping the
// directory.
func (n *node) unmountAll(path string) error {
	for i := 0; i < 8; i++ {
		st, err := n.mountStatus(path)
		if err != nil {
			return err
		}
		if st == absent || st == unmounted {
			return nil
		}
		if err := n.mounter.Unmount(path); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s is still mounted after 8 unmounts", path)
}

// NodeGetInfo reports the node ID given at start-up. CassFS volumes are reachable from every node: no topology
// and no volume limit.
func (n *node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.nodeID}, nil
}

// NodeGetCapabilities lists what this node service does.
func (n *node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	var caps []*csi.NodeServiceCapability
	for _, t := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
		csi.NodeServiceCapability_RPC_GET_STORAGE_HEALTH,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{
			Rpc: &csi.NodeServiceCapability_RPC{Type: t}}})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}
