package driver

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NodeGetVolumeStats reports bytes and inodes of a staged or published volume.
func (n *node) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	if err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, required("volume_path")
	}
	// A path that breaks the path rules cannot be where a volume is mounted: csi-sanity (and the spec's error
	// table) want NotFound for "no volume at this path", so that is the code, with the reason.
	if err := n.checkNodePath("volume_path", path); err != nil {
		return nil, status.Errorf(codes.NotFound, "no volume at volume_path: %s", status.Convert(err).Message())
	}
	staged, ok := n.state.findPath(path)
	if !ok || staged.VolumeID != id {
		return nil, status.Errorf(codes.NotFound, "volume %s is not staged or published at %s", id, path)
	}
	st, err := n.mountStatus(path)
	if err != nil {
		return nil, internalf("check %s: %v", path, err)
	}
	switch st {
	case absent:
		return nil, status.Errorf(codes.NotFound, "volume path %s does not exist", path)
	case corrupted, unmounted:
		return nil, status.Errorf(codes.Unavailable, "%s is not mounted (the mount is gone or dead)", path)
	}
	u, err := n.stager.Usage(ctx, staged.StagingPath)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: volume not served by this plugin", ErrUnavailable)
		}
		return nil, toStatus("volume stats "+id, err)
	}
	bytes := &csi.VolumeUsage{Unit: csi.VolumeUsage_BYTES, Used: int64(u.Bytes)}
	if u.CapacityBytes > 0 {
		bytes.Total = int64(u.CapacityBytes)
		bytes.Available = max(int64(u.CapacityBytes)-int64(u.Bytes), 0)
	}
	inodes := &csi.VolumeUsage{Unit: csi.VolumeUsage_INODES, Used: int64(u.Inodes)}
	if u.MaxInodes > 0 {
		inodes.Total = int64(u.MaxInodes)
		inodes.Available = max(int64(u.MaxInodes)-int64(u.Inodes), 0)
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{bytes, inodes}}, nil
}

// Health reasons (CamelCase, for machines).
const (
	reasonMountLost          = "StagingMountLost"
	reasonPublishLost        = "PublishMountLost"
	reasonStorageUnreachable = "StorageUnreachable"
	reasonNotServed          = "VolumeNotServed"
	reasonFull               = "VolumeFull"
)

// NodeGetVolumeHealth reports the health of a volume staged on this node: INACCESSIBLE when its staging mount or
// a publish mount is dead or its storage does not answer, DEGRADED when it is full. (Spec v1.13 replaced the
// VolumeCondition of NodeGetVolumeStats with this call.) The paths of the request, when given, must belong to the
// volume.
func (n *node) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	id := req.GetVolumeId()
	if err := checkVolumeID(id); err != nil {
		return nil, err
	}
	for _, f := range [][2]string{{"staging_target_path", req.GetStagingTargetPath()}, {"volume_publish_path", req.GetVolumePublishPath()}} {
		if f[1] != "" {
			if err := n.checkNodePath(f[0], f[1]); err != nil {
				return nil, err
			}
		}
	}
	var staged stagedVolume
	found := false
	for _, v := range n.state.all() {
		if v.VolumeID != id || (req.GetStagingTargetPath() != "" && v.StagingPath != req.GetStagingTargetPath()) {
			continue
		}
		if p := req.GetVolumePublishPath(); p != "" {
			if _, ok := v.Targets[p]; !ok {
				continue
			}
		}
		staged, found = v, true
		break
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "volume %s is not staged on this node at the given paths", id)
	}
	var entries []*csi.VolumeHealth_VolumeHealthEntry
	add := func(t csi.VolumeHealthErrorType, reason, msg string) {
		entries = append(entries, &csi.VolumeHealth_VolumeHealthEntry{Status: t, Reason: reason, Message: msg})
	}
	if st, err := n.mountStatus(staged.StagingPath); err != nil || st != mounted {
		add(csi.VolumeHealthErrorType_INACCESSIBLE, reasonMountLost, fmt.Sprintf("staging path %s is not mounted", staged.StagingPath))
	}
	var dead []string
	for p := range staged.Targets {
		if req.GetVolumePublishPath() != "" && p != req.GetVolumePublishPath() {
			continue
		}
		if st, err := n.mountStatus(p); err != nil || st != mounted {
			dead = append(dead, p)
		}
	}
	if len(dead) > 0 {
		sort.Strings(dead)
		add(csi.VolumeHealthErrorType_INACCESSIBLE, reasonPublishLost, fmt.Sprintf("not mounted: %v", dead))
	}
	u, err := n.stager.Usage(ctx, staged.StagingPath)
	switch {
	case errors.Is(err, ErrNotFound):
		add(csi.VolumeHealthErrorType_INACCESSIBLE, reasonNotServed, "this plugin does not serve the volume (restore pending)")
	case err != nil:
		add(csi.VolumeHealthErrorType_INACCESSIBLE, reasonStorageUnreachable, err.Error())
	case u.CapacityBytes > 0 && u.Bytes >= u.CapacityBytes:
		add(csi.VolumeHealthErrorType_DEGRADED, reasonFull, fmt.Sprintf("%d of %d bytes used", u.Bytes, u.CapacityBytes))
	}
	return &csi.NodeGetVolumeHealthResponse{VolumeHealth: &csi.VolumeHealth{VolumeId: id, HealthStatuses: entries}}, nil
}

// NodeGetStorageHealth reports STORAGE_UNREACHABLE for every dependency (Cassandra, ZooKeeper) that does not
// answer from this node.
func (n *node) NodeGetStorageHealth(ctx context.Context, _ *csi.NodeGetStorageHealthRequest) (*csi.NodeGetStorageHealthResponse, error) {
	resp := &csi.NodeGetStorageHealthResponse{}
	names := make([]string, 0, len(n.probers))
	for name := range n.probers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := n.probers[name].Probe(ctx); err != nil {
			resp.BackendHealth = append(resp.BackendHealth, &csi.NodeGetStorageHealthResponse_StorageBackendHealth{
				Status: csi.StorageHealthErrorType_STORAGE_UNREACHABLE, Reason: name + "Unreachable", Message: err.Error(),
			})
		}
	}
	return resp, nil
}
