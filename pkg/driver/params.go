package driver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Parameter keys the driver reads itself; they are removed before the rest goes to the back end.
const (
	// ParamReclaim is "delete" (default: DeleteVolume drops the volume and its data) or "retain" (DeleteVolume
	// succeeds but keeps the data, so a statically provisioned PV can mount it again).
	ParamReclaim = "reclaim"
	// k8sParamPrefix marks the keys external-provisioner adds (csi.storage.k8s.io/pvc/name, ...).
	k8sParamPrefix = "csi.storage.k8s.io/"
)

// Volume context keys the controller sets.
const (
	ContextReclaim = "cassfs.io/reclaim"
)

// Secret keys read from the CSI secrets of a request.
const (
	SecretUsername        = "username"
	SecretPassword        = "password"
	SecretZooKeeperDigest = "zookeeperDigest"
)

// Volume IDs: "cassfs-" + 32 hex digits of SHA-256(name), with "r" instead of "-" after "cassfs" for retained
// volumes. The ID is a pure function of the name and the reclaim policy, so a repeated CreateVolume finds the
// volume it created before without any lookup table.
const (
	idPrefixDelete = "cassfs-"
	idPrefixRetain = "cassfsr"
	idHashHexLen   = 32
)

// volumeIDFor derives the volume ID of a CreateVolume name.
func volumeIDFor(name string, retain bool) string {
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:])[:idHashHexLen]
	if retain {
		return idPrefixRetain + h
	}
	return idPrefixDelete + h
}

// retained reports whether DeleteVolume must keep the data of volume id.
func retained(id string) bool {
	return strings.HasPrefix(id, idPrefixRetain) && len(id) == len(idPrefixRetain)+idHashHexLen
}

// createParams is the result of splitting CreateVolume parameters.
type createParams struct {
	retain  bool
	storage map[string]string // what the back end interprets
}

// splitParams removes the driver's own keys and the csi.storage.k8s.io/ keys.
func splitParams(in map[string]string) (createParams, error) {
	p := createParams{storage: make(map[string]string, len(in))}
	for k, v := range in {
		switch {
		case k == ParamReclaim:
			switch strings.ToLower(v) {
			case "", "delete":
			case "retain":
				p.retain = true
			default:
				return p, status.Errorf(codes.InvalidArgument, "parameter %s: %q is not delete or retain", ParamReclaim, v)
			}
		case strings.HasPrefix(k, k8sParamPrefix):
		default:
			p.storage[k] = v
		}
	}
	return p, nil
}

// capacityFor picks the quota for a capacity range: required_bytes if set, else limit_bytes, else 0 (unlimited).
func capacityFor(r *csi.CapacityRange) (uint64, error) {
	if r == nil {
		return 0, nil
	}
	req, lim := r.GetRequiredBytes(), r.GetLimitBytes()
	if req < 0 || lim < 0 {
		return 0, status.Error(codes.InvalidArgument, "capacity_range: negative bytes")
	}
	if lim > 0 && req > lim {
		return 0, status.Errorf(codes.OutOfRange, "capacity_range: required_bytes %d exceeds limit_bytes %d", req, lim)
	}
	if req > 0 {
		return uint64(req), nil
	}
	return uint64(lim), nil
}

// credentialsFrom reads the credential keys of a request's secrets; absent keys leave the defaults.
func credentialsFrom(secrets map[string]string) Credentials {
	return Credentials{
		Username:        secrets[SecretUsername],
		Password:        secrets[SecretPassword],
		ZooKeeperDigest: secrets[SecretZooKeeperDigest],
	}
}

// checkCapability reports why cap is not supported, or "" if it is. CassFS volumes are filesystems: mount access
// only, fs_type empty or "cassfs", and every access mode except UNKNOWN.
func checkCapability(c *csi.VolumeCapability) string {
	if c == nil {
		return "volume capability is empty"
	}
	if c.GetBlock() != nil {
		return "block access is not supported: CassFS volumes are filesystems"
	}
	m := c.GetMount()
	if m == nil {
		return "access_type must be mount"
	}
	if fs := m.GetFsType(); fs != "" && fs != "cassfs" && fs != "fuse.cassfs" {
		return fmt.Sprintf("fs_type %q is not supported (leave it empty)", fs)
	}
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return ""
	}
	return fmt.Sprintf("access mode %v is not supported", c.GetAccessMode().GetMode())
}

// checkCapabilities returns an InvalidArgument status when caps is empty or one capability is unsupported.
func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume_capabilities are required")
	}
	for _, c := range caps {
		if why := checkCapability(c); why != "" {
			return status.Error(codes.InvalidArgument, why)
		}
	}
	return nil
}

// sharingFor says whether an access mode lets several nodes mount the volume at once.
func sharingFor(mode csi.VolumeCapability_AccessMode_Mode) Sharing {
	switch mode {
	case csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return SharingCluster
	}
	return SharingNode
}

// readOnlyMode reports whether an access mode allows no writes at all.
func readOnlyMode(mode csi.VolumeCapability_AccessMode_Mode) bool {
	return mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY ||
		mode == csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
}
