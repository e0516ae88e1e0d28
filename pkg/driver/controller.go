package driver

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// controller implements the CSI Controller service on a VolumeBackend. It holds no volume state of its own:
// volume IDs are derived from names, and everything else lives in the back end.
type controller struct {
	csi.UnimplementedControllerServer
	backend VolumeBackend
	locks   *keyLocks
	log     *slog.Logger
}

var _ csi.ControllerServer = (*controller)(nil)

func newController(b VolumeBackend, log *slog.Logger) *controller {
	return &controller{backend: b, locks: newKeyLocks(), log: log}
}

// CreateVolume creates (or finds) the volume for req.Name.
func (c *controller) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if err := checkName(req.GetName()); err != nil {
		return nil, err
	}
	if err := checkSecrets(req.GetSecrets()); err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	if req.GetVolumeContentSource() != nil {
		return nil, status.Error(codes.InvalidArgument, "volume_content_source: snapshots and clones are not supported")
	}
	if len(req.GetAccessibilityRequirements().GetRequisite()) > 0 || len(req.GetAccessibilityRequirements().GetPreferred()) > 0 {
		// CassFS volumes are reachable from every node: topology requirements are satisfied by any placement.
		c.log.Debug("ignoring accessibility requirements", "name", req.GetName())
	}
	capacity, err := capacityFor(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	p, err := splitParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	id := volumeIDFor(req.GetName(), p.retain)
	if !c.locks.tryAcquire(id) {
		return nil, status.Errorf(codes.Aborted, "an operation on volume %s (name %q) is in progress", id, req.GetName())
	}
	defer c.locks.release(id)

	cred := credentialsFrom(req.GetSecrets())
	// The same name under the other reclaim policy is the same volume asked for incompatibly.
	if _, err := c.backend.GetVolume(ctx, cred, volumeIDFor(req.GetName(), !p.retain)); err == nil {
		return nil, status.Errorf(codes.AlreadyExists, "volume %q exists with another %s policy", req.GetName(), ParamReclaim)
	} else if !isNotFound(err) {
		return nil, toStatus("create volume", err)
	}
	v, err := c.backend.CreateVolume(ctx, cred, VolumeRequest{ID: id, CapacityBytes: capacity, Parameters: p.storage})
	if err != nil {
		return nil, toStatus("create volume "+req.GetName(), err)
	}
	if lim := req.GetCapacityRange().GetLimitBytes(); lim > 0 && v.CapacityBytes > uint64(lim) {
		return nil, status.Errorf(codes.AlreadyExists, "volume %q exists with capacity %d above limit_bytes %d", req.GetName(), v.CapacityBytes, lim)
	}
	return &csi.CreateVolumeResponse{Volume: c.csiVolume(v)}, nil
}

func (c *controller) csiVolume(v Volume) *csi.Volume {
	ctx := make(map[string]string, len(v.Context)+1)
	for k, val := range v.Context {
		ctx[k] = val
	}
	if retained(v.ID) {
		ctx[ContextReclaim] = "retain"
	} else {
		ctx[ContextReclaim] = "delete"
	}
	return &csi.Volume{VolumeId: v.ID, CapacityBytes: int64(v.CapacityBytes), VolumeContext: ctx}
}

// DeleteVolume drops the volume, keeps it when it was created with reclaim=retain, and succeeds when it is gone.
func (c *controller) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if err := checkSecrets(req.GetSecrets()); err != nil {
		return nil, err
	}
	if !c.locks.tryAcquire(id) {
		return nil, status.Errorf(codes.Aborted, "an operation on volume %s is in progress", id)
	}
	defer c.locks.release(id)
	if retained(id) {
		c.log.Info("volume retained: data kept", "volume", id)
		return &csi.DeleteVolumeResponse{}, nil
	}
	if err := c.backend.DeleteVolume(ctx, credentialsFrom(req.GetSecrets()), id); err != nil && !isNotFound(err) {
		return nil, toStatus("delete volume "+id, err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

// ValidateVolumeCapabilities confirms caps when every one is supported.
func (c *controller) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if err := checkVolumeID(req.GetVolumeId()); err != nil {
		return nil, err
	}
	if err := checkSecrets(req.GetSecrets()); err != nil {
		return nil, err
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities are required")
	}
	if _, err := c.backend.GetVolume(ctx, credentialsFrom(req.GetSecrets()), req.GetVolumeId()); err != nil {
		return nil, toStatus("validate volume "+req.GetVolumeId(), err)
	}
	for _, cp := range req.GetVolumeCapabilities() {
		if why := checkCapability(cp); why != "" {
			return &csi.ValidateVolumeCapabilitiesResponse{Message: why}, nil
		}
	}
	if _, err := splitParams(req.GetParameters()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

// listTokenPrefix starts every ListVolumes token; the rest is the last volume ID of the previous page, so a page
// resumes correctly even when volumes are added or deleted between calls.
const listTokenPrefix = "after:"

// ListVolumes pages through the volumes in ID order.
func (c *controller) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, status.Error(codes.InvalidArgument, "max_entries must not be negative")
	}
	after, start := "", req.GetStartingToken()
	if start != "" {
		if !strings.HasPrefix(start, listTokenPrefix) {
			return nil, status.Errorf(codes.Aborted, "starting_token %s is not a token this plugin issued", strconv.Quote(start))
		}
		after = strings.TrimPrefix(start, listTokenPrefix)
	}
	vols, err := c.backend.ListVolumes(ctx, Credentials{})
	if err != nil {
		return nil, toStatus("list volumes", err)
	}
	sort.Slice(vols, func(i, j int) bool { return vols[i].ID < vols[j].ID })
	i := sort.Search(len(vols), func(i int) bool { return vols[i].ID > after })
	vols = vols[i:]
	resp := &csi.ListVolumesResponse{}
	if n := int(req.GetMaxEntries()); n > 0 && len(vols) > n {
		vols = vols[:n]
		resp.NextToken = listTokenPrefix + vols[n-1].ID
	}
	for _, v := range vols {
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{Volume: c.csiVolume(v)})
	}
	return resp, nil
}

// ControllerExpandVolume raises the quota; the filesystem sees it at once, so no node step is needed.
func (c *controller) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if err := checkSecrets(req.GetSecrets()); err != nil {
		return nil, err
	}
	if req.GetCapacityRange() == nil {
		return nil, status.Error(codes.InvalidArgument, "capacity_range is required")
	}
	if vc := req.GetVolumeCapability(); vc != nil {
		if why := checkCapability(vc); why != "" {
			return nil, status.Error(codes.InvalidArgument, why)
		}
	}
	capacity, err := capacityFor(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	if !c.locks.tryAcquire(id) {
		return nil, status.Errorf(codes.Aborted, "an operation on volume %s is in progress", id)
	}
	defer c.locks.release(id)
	cred := credentialsFrom(req.GetSecrets())
	v, err := c.backend.GetVolume(ctx, cred, id)
	if err != nil {
		return nil, toStatus("expand volume "+id, err)
	}
	if lim := req.GetCapacityRange().GetLimitBytes(); lim > 0 && v.CapacityBytes > uint64(lim) {
		return nil, status.Errorf(codes.OutOfRange, "volume %s already has %d bytes, above limit_bytes %d", id, v.CapacityBytes, lim)
	}
	switch {
	case v.CapacityBytes == 0:
		// An unlimited volume already holds any capacity; keep it unlimited.
		return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(capacity)}, nil
	case capacity > v.CapacityBytes:
		if v, err = c.backend.ExpandVolume(ctx, cred, id, capacity); err != nil {
			return nil, toStatus("expand volume "+id, err)
		}
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(v.CapacityBytes), NodeExpansionRequired: false}, nil
}

// ControllerGetCapabilities lists what this controller does. GET_CAPACITY is not offered: a Cassandra cluster's
// free space is not a number the driver can report honestly per volume.
func (c *controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{
			Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

func isNotFound(err error) bool {
	return err != nil && (status.Code(err) == codes.NotFound || errors.Is(err, ErrNotFound))
}
