package driver

import (
	"context"
	"errors"

	"github.com/cassfs/cassfs/pkg/store"
)

// Errors a VolumeBackend or Stager reports; the CSI services turn them into gRPC codes once, at the edge.
// Any other error becomes codes.Internal (or codes.Unavailable when it wraps ErrUnavailable).
var (
	ErrNotFound     = errors.New("volume not found")                           // codes.NotFound
	ErrExists       = errors.New("volume exists with incompatible parameters") // codes.AlreadyExists
	ErrInvalid      = errors.New("invalid volume parameter")                   // codes.InvalidArgument
	ErrUnavailable  = errors.New("storage unavailable")                        // codes.Unavailable
	ErrUnauthorized = errors.New("storage refused the credentials")            // codes.Unauthenticated
	ErrPrecondition = errors.New("cannot be served in this configuration")     // codes.FailedPrecondition
	// ErrPermissionDenied (codes.PermissionDenied): the credentials were accepted but grant no access to this
	// volume (a Cassandra role without permissions on its keyspace, a ZooKeeper digest the volume's ACL does not
	// name).
	ErrPermissionDenied = errors.New("storage denied access to the volume")
)

// Credentials are what a request's CSI secrets carry to reach the storage. The zero value means "the driver's
// defaults" (the --cassandra-username/--cassandra-password-file flags).
type Credentials struct {
	Username string `json:"username,omitempty"` // secret key "username"
	Password string `json:"password,omitempty"` // secret key "password"
	// ZooKeeperDigest is "user:password" for ZooKeeper digest authentication (secret key "zookeeperDigest").
	ZooKeeperDigest string `json:"zookeeperDigest,omitempty"`
}

// VolumeRequest describes a volume to create.
type VolumeRequest struct {
	ID            string
	CapacityBytes uint64            // the quota; 0 means unlimited
	Parameters    map[string]string // storage parameters only: the driver's own keys are already removed
}

// Volume is a provisioned volume as the controller reports it.
type Volume struct {
	ID            string
	CapacityBytes uint64
	// Context is passed to nodes in volume_context (informational: nodes read the authoritative spec from the
	// volume itself, so statically provisioned volumes work without it).
	Context map[string]string
}

// VolumeBackend is what the controller service needs from the place volumes live (pkg/cassandra in production).
// Every method takes the credentials of the request; errors wrap the sentinels above when they apply.
type VolumeBackend interface {
	// CreateVolume creates the volume, or returns the existing one when an identical request created it before.
	// ErrExists when a volume with that ID exists with a different capacity or parameters; ErrInvalid for bad
	// parameters.
	CreateVolume(ctx context.Context, cred Credentials, req VolumeRequest) (Volume, error)
	// GetVolume returns the volume or ErrNotFound.
	GetVolume(ctx context.Context, cred Credentials, id string) (Volume, error)
	// DeleteVolume removes the volume and all its data. Deleting a volume that does not exist is not an error.
	DeleteVolume(ctx context.Context, cred Credentials, id string) error
	// ListVolumes returns every volume (in any order).
	ListVolumes(ctx context.Context, cred Credentials) ([]Volume, error)
	// ExpandVolume raises the quota to capacity (never lowers it) and returns the volume; ErrNotFound if missing.
	ExpandVolume(ctx context.Context, cred Credentials, id string, capacity uint64) (Volume, error)
}

// Sharing says which lock service a staged volume's mount uses.
type Sharing int

const (
	// SharingNode: the volume is written from this node only; locks are local to this process.
	SharingNode Sharing = iota
	// SharingCluster: several nodes may mount the volume; locks go through ZooKeeper.
	SharingCluster
)

// StageRequest asks a Stager to serve a volume at a directory.
type StageRequest struct {
	VolumeID string
	Dir      string // an existing directory that is not a mount point
	Cred     Credentials
	ReadOnly bool
	Sharing  Sharing
	Context  map[string]string // the volume_context of the request
}

// Stager mounts volumes on this node (pkg/fusefs on pkg/cassandra in production). The node service holds a
// per-volume lock around every call, records what is staged and handles idempotency; a Stager only mounts and
// unmounts.
type Stager interface {
	// Stage mounts the volume at req.Dir and keeps serving it until Unstage or Close. ErrNotFound when the volume
	// does not exist, ErrUnavailable when the storage (or ZooKeeper) cannot be reached, ErrInvalid when the
	// request cannot be served, ErrPrecondition when this node cannot serve it (a writable SharingCluster volume
	// without ZooKeeper).
	Stage(ctx context.Context, req StageRequest) error
	// Unstage stops serving dir and unmounts it. A dir this Stager does not serve is not an error.
	Unstage(ctx context.Context, dir string) error
	// Usage returns the usage of the volume served at dir: ErrNotFound if this Stager does not serve dir; another
	// error when the storage cannot answer.
	Usage(ctx context.Context, dir string) (store.Usage, error)
}

// Resumer is implemented by Stagers whose mounts can outlive the plugin process (a connection keeper holds
// them). Resume serves req.Dir again when its mount is still in place from before a restart, without
// unmounting: the bind mounts made from it stay valid and applications see no error. It reports false (and no
// error) when there is nothing to resume, so that the caller stages afresh.
type Resumer interface {
	Resume(ctx context.Context, req StageRequest) (bool, error)
}

// Prober reports whether a dependency is reachable; Probe says "not ready" while any Prober fails.
type Prober interface {
	// Probe returns nil when the dependency answers within ctx.
	Probe(ctx context.Context) error
}

// ProberFunc adapts a function to Prober.
type ProberFunc func(ctx context.Context) error

// Probe calls f.
func (f ProberFunc) Probe(ctx context.Context) error { return f(ctx) }
