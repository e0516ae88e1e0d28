// Package driver is the CassFS CSI plugin: the Identity, Controller and Node services of CSI spec v1.13 over
// gRPC, for the driver name csi.cassfs.io.
//
// # Structure
//
// The services hold no storage code. They reach the outside world through small consumer interfaces, each
// method with a written contract (backend.go):
//
//   - VolumeBackend (controller): create, get, delete, list and expand volumes. Production: cassbackend.Backend
//     on pkg/cassandra.
//   - Stager (node): mount a volume on a staging directory in this process, unmount it, report its usage.
//     Production: cassbackend.Stager, a pkg/fusefs mount of a pkg/cassandra volume with pkg/lock locks.
//   - Prober: is Cassandra (or ZooKeeper) reachable. Probe and NodeGetStorageHealth use them.
//   - mount.Interface (k8s.io/mount-utils): the bind mounts of NodePublishVolume.
//
// Back ends report errors by wrapping the sentinels ErrNotFound, ErrExists, ErrInvalid, ErrUnavailable,
// ErrUnauthorized (a refused login: Unauthenticated), ErrPermissionDenied (a login without rights on the volume:
// PermissionDenied) and ErrPrecondition; toStatus turns them into gRPC codes once, at the edge. Unit tests run the
// services on fakes with explicit error fields (fakes_test.go) and run csi-sanity on them; test/sanity runs
// csi-sanity and mount tests on the real back ends.
//
// # Validation
//
// Every request is checked at the edge (validate.go) before anything is locked, stored or mounted: names and
// volume IDs (128 bytes of UTF-8 without control characters), node paths (absolute, clean, below
// NodeConfig.PathRoot when set, not overlapping another mount of this plugin) and the credential secrets. A
// refused request gets InvalidArgument (or the code the spec gives for the case) and changes nothing; messages
// name fields, never secret values. The fuzz tests (fuzz_*_test.go, run by hack/fuzz.sh) state the same rules as
// an oracle and drive every request path on the fakes.
//
// # Controller
//
// Volume IDs are a pure function of the CreateVolume name (and reclaim policy), see params.go, so CreateVolume
// is idempotent without a lookup table; the back end decides whether a repeat is compatible. Operations on one
// volume are serialized by try-locks: a concurrent duplicate gets codes.Aborted and the CO retries.
//
// # Node
//
// NodeStageVolume asks the Stager to mount the volume on the staging path; NodePublishVolume bind-mounts the
// staging path onto each target (read-only when asked). Both are idempotent, and both clear a dead mount
// ("transport endpoint is not connected") before mounting. Operations lock the volume (stage, unstage) or the
// target path (publish, unpublish).
//
// What is staged and published is recorded in a JSON state file (state.go) replaced atomically on every change.
// The FUSE servers live in this process, so a restarted plugin finds dead mounts; restore (restore.go) mounts
// every recorded volume again and rebinds its targets. A Stager that is also a Resumer (a connection keeper,
// pkg/fdkeeper, held the mounts' FUSE connections) serves the old mounts again in place instead: nothing is
// remounted and applications see only a pause.
//
// # Server
//
// Driver.Run listens on a unix:// or tcp:// endpoint (removing a stale socket), logs every call through an
// interceptor that strips the fields the CSI protobuf marks csi_secret (sanitize.go), and counts calls and
// durations for Prometheus when a metrics address is configured.
package driver
