package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cassfs/cassfs/pkg/store"
)

type nodeEnv struct {
	n       *node
	stager  *fakeStager
	mounter *fakeMounter
	dir     string // temporary directory holding staging and target paths
	state   string // state directory
}

func newNodeEnv(t *testing.T) *nodeEnv {
	t.Helper()
	dir := t.TempDir()
	e := &nodeEnv{dir: dir, state: filepath.Join(dir, "state"), mounter: newFakeMounter()}
	e.stager = newFakeStager(e.mounter)
	e.restart(t)
	return e
}

// restart builds a new node service on the same state directory, mounter and stager (as a restarted process).
func (e *nodeEnv) restart(t *testing.T) {
	t.Helper()
	st, err := loadState(e.state)
	if err != nil {
		t.Fatal(err)
	}
	e.n = newNode("node-1", e.stager, e.mounter, st, map[string]Prober{}, quietLog())
}

func (e *nodeEnv) stageReq(id string, mode csi.VolumeCapability_AccessMode_Mode) *csi.NodeStageVolumeRequest {
	return &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: filepath.Join(e.dir, "staging-"+id),
		VolumeCapability: mountCap(mode), Secrets: map[string]string{SecretUsername: "u", SecretPassword: "p"}}
}

func (e *nodeEnv) publishReq(id, target string, ro bool) *csi.NodePublishVolumeRequest {
	return &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: filepath.Join(e.dir, "staging-"+id),
		TargetPath: filepath.Join(e.dir, target), VolumeCapability: rwo, Readonly: ro}
}

func TestNodeStagePublishRoundTrip(t *testing.T) {
	e := newNodeEnv(t)
	ctx := context.Background()
	sreq := e.stageReq("vol1", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	for i := 0; i < 2; i++ {
		_, err := e.n.NodeStageVolume(ctx, sreq)
		wantCode(t, err, codes.OK)
	}
	if e.stager.stages != 1 {
		t.Fatalf("staged %d times, want 1 (the repeat is a no-op)", e.stager.stages)
	}
	got := e.stager.served[sreq.StagingTargetPath]
	if got.Cred.Username != "u" || got.Cred.Password != "p" || got.Sharing != SharingNode || got.ReadOnly {
		t.Fatalf("stage request %+v", got)
	}
	preq := e.publishReq("vol1", "pods/a/mount", true)
	for i := 0; i < 2; i++ {
		_, err := e.n.NodePublishVolume(ctx, preq)
		wantCode(t, err, codes.OK)
	}
	mp, ok := e.mounter.mountedAt(preq.TargetPath)
	if !ok || !slices.Contains(mp.Opts, "bind") || !slices.Contains(mp.Opts, "ro") {
		t.Fatalf("target mount %+v %v", mp, ok)
	}
	// The same target read-write is incompatible.
	_, err := e.n.NodePublishVolume(ctx, e.publishReq("vol1", "pods/a/mount", false))
	wantCode(t, err, codes.AlreadyExists)

	for i := 0; i < 2; i++ {
		_, err = e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "vol1", TargetPath: preq.TargetPath})
		wantCode(t, err, codes.OK)
	}
	if _, err := os.Stat(preq.TargetPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target path not removed: %v", err)
	}
	for i := 0; i < 2; i++ {
		_, err = e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "vol1", StagingTargetPath: sreq.StagingTargetPath})
		wantCode(t, err, codes.OK)
	}
	if _, ok := e.mounter.mountedAt(sreq.StagingTargetPath); ok || len(e.stager.served) != 0 {
		t.Fatal("still staged")
	}
	if len(e.n.state.all()) != 0 {
		t.Fatalf("state not empty: %+v", e.n.state.all())
	}
}

func TestNodeAccessModes(t *testing.T) {
	for _, tc := range []struct {
		mode     csi.VolumeCapability_AccessMode_Mode
		sharing  Sharing
		readOnly bool
	}{
		{csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, SharingNode, false},
		{csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER, SharingNode, false},
		{csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER, SharingNode, false},
		{csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, SharingNode, true},
		{csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY, SharingCluster, true},
		{csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER, SharingCluster, false},
		{csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, SharingCluster, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			e := newNodeEnv(t)
			req := e.stageReq("v", tc.mode)
			_, err := e.n.NodeStageVolume(context.Background(), req)
			wantCode(t, err, codes.OK)
			got := e.stager.served[req.StagingTargetPath]
			if got.Sharing != tc.sharing || got.ReadOnly != tc.readOnly {
				t.Fatalf("sharing %v readOnly %v", got.Sharing, got.ReadOnly)
			}
			// A repeat with another access mode is incompatible.
			other := e.stageReq("v", csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
			if tc.mode == csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER {
				other = e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
			}
			_, err = e.n.NodeStageVolume(context.Background(), other)
			if tc.mode == csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER {
				wantCode(t, err, codes.OK) // same sharing and writability: compatible
			} else {
				wantCode(t, err, codes.AlreadyExists)
			}
		})
	}
}

func TestNodeBadInput(t *testing.T) {
	e := newNodeEnv(t)
	ctx := context.Background()
	p := e.publishReq("v", "t", false)
	noCap := func(r *csi.NodeStageVolumeRequest) *csi.NodeStageVolumeRequest { r.VolumeCapability = nil; return r }
	block := func(r *csi.NodeStageVolumeRequest) *csi.NodeStageVolumeRequest {
		r.VolumeCapability = blockCap()
		return r
	}
	for name, call := range map[string]func() error{
		"stage no id": func() error {
			_, err := e.n.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{StagingTargetPath: "/x", VolumeCapability: rwo})
			return err
		},
		"stage no path": func() error {
			_, err := e.n.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: "v", VolumeCapability: rwo})
			return err
		},
		"stage no cap": func() error { _, err := e.n.NodeStageVolume(ctx, noCap(e.stageReq("v", 1))); return err },
		"stage block":  func() error { _, err := e.n.NodeStageVolume(ctx, block(e.stageReq("v", 1))); return err },
		"unstage no id": func() error {
			_, err := e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{StagingTargetPath: "/x"})
			return err
		},
		"unstage no path": func() error {
			_, err := e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "v"})
			return err
		},
		"publish no id": func() error {
			r := proto.Clone(p).(*csi.NodePublishVolumeRequest)
			r.VolumeId = ""
			_, err := e.n.NodePublishVolume(ctx, r)
			return err
		},
		"publish no stage": func() error {
			r := proto.Clone(p).(*csi.NodePublishVolumeRequest)
			r.StagingTargetPath = ""
			_, err := e.n.NodePublishVolume(ctx, r)
			return err
		},
		"publish no path": func() error {
			r := proto.Clone(p).(*csi.NodePublishVolumeRequest)
			r.TargetPath = ""
			_, err := e.n.NodePublishVolume(ctx, r)
			return err
		},
		"publish no cap": func() error {
			r := proto.Clone(p).(*csi.NodePublishVolumeRequest)
			r.VolumeCapability = nil
			_, err := e.n.NodePublishVolume(ctx, r)
			return err
		},
		"publish block": func() error {
			r := proto.Clone(p).(*csi.NodePublishVolumeRequest)
			r.VolumeCapability = blockCap()
			_, err := e.n.NodePublishVolume(ctx, r)
			return err
		},
		"unpublish no id": func() error {
			_, err := e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{TargetPath: "/x"})
			return err
		},
		"unpublish no path": func() error {
			_, err := e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v"})
			return err
		},
		"stats no id": func() error {
			_, err := e.n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumePath: "/x"})
			return err
		},
		"stats no path": func() error {
			_, err := e.n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v"})
			return err
		},
		"health no id": func() error { _, err := e.n.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{}); return err },
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, call(), codes.InvalidArgument) })
	}
	// Publishing a volume that is not staged.
	_, err := e.n.NodePublishVolume(ctx, p)
	wantCode(t, err, codes.FailedPrecondition)
}

func TestNodeStageErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("x: %w", ErrNotFound), codes.NotFound},
		{fmt.Errorf("x: %w", ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("x: %w", ErrPrecondition), codes.FailedPrecondition},
		{fmt.Errorf("x: %w", ErrUnauthorized), codes.Unauthenticated},
		{fmt.Errorf("x: %w", ErrPermissionDenied), codes.PermissionDenied},
		{errors.New("boom"), codes.Internal},
	} {
		e := newNodeEnv(t)
		e.stager.StageErr = tc.err
		req := e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
		_, err := e.n.NodeStageVolume(context.Background(), req)
		wantCode(t, err, tc.code)
		if len(e.n.state.all()) != 0 {
			t.Fatal("failed stage recorded")
		}
	}
}

func TestNodeConcurrentDuplicateIsAborted(t *testing.T) {
	e := newNodeEnv(t)
	ctx := context.Background()
	req := e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	e.n.locks.tryAcquire(volumeKey("v")) // an operation on v is in flight
	_, err := e.n.NodeStageVolume(ctx, req)
	wantCode(t, err, codes.Aborted)
	_, err = e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "v", StagingTargetPath: req.StagingTargetPath})
	wantCode(t, err, codes.Aborted)
	e.n.locks.release(volumeKey("v"))
	_, err = e.n.NodeStageVolume(ctx, req)
	wantCode(t, err, codes.OK)
	p := e.publishReq("v", "t", false)
	e.n.locks.tryAcquire(targetKey(p.TargetPath))
	_, err = e.n.NodePublishVolume(ctx, p)
	wantCode(t, err, codes.Aborted)
	_, err = e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v", TargetPath: p.TargetPath})
	wantCode(t, err, codes.Aborted)
	// Another target of the same volume is not blocked.
	_, err = e.n.NodePublishVolume(ctx, e.publishReq("v", "t2", false))
	wantCode(t, err, codes.OK)
	e.n.locks.release(targetKey(p.TargetPath))

	// A publish in flight (volume held shared) blocks unstage but not another publish.
	e.n.locks.tryLock(nil, []string{volumeKey("v")})
	_, err = e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "v", StagingTargetPath: req.StagingTargetPath})
	wantCode(t, err, codes.Aborted)
	_, err = e.n.NodePublishVolume(ctx, e.publishReq("v", "t3", false))
	wantCode(t, err, codes.OK)
	e.n.locks.unlock(nil, []string{volumeKey("v")})
	// A stage or unstage in flight (volume held exclusively) blocks publish and unpublish.
	e.n.locks.tryAcquire(volumeKey("v"))
	_, err = e.n.NodePublishVolume(ctx, e.publishReq("v", "t4", false))
	wantCode(t, err, codes.Aborted)
	_, err = e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v", TargetPath: filepath.Join(e.dir, "t3")})
	wantCode(t, err, codes.Aborted)
}

func TestNodeMountErrors(t *testing.T) {
	e := newNodeEnv(t)
	ctx := context.Background()
	req := e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	_, err := e.n.NodeStageVolume(ctx, req)
	wantCode(t, err, codes.OK)
	e.mounter.MountErr = errors.New("mount refused")
	p := e.publishReq("v", "t", false)
	_, err = e.n.NodePublishVolume(ctx, p)
	wantCode(t, err, codes.Internal)
	if v, _ := e.n.state.get(req.StagingTargetPath); len(v.Targets) != 0 {
		t.Fatal("failed publish recorded")
	}
	e.mounter.MountErr = nil
	_, err = e.n.NodePublishVolume(ctx, p)
	wantCode(t, err, codes.OK)
	e.mounter.UnmountErr = errors.New("device busy")
	_, err = e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v", TargetPath: p.TargetPath})
	wantCode(t, err, codes.Internal)
	if v, _ := e.n.state.get(req.StagingTargetPath); len(v.Targets) != 1 {
		t.Fatal("failed unpublish forgot the target")
	}
	e.mounter.UnmountErr = nil
	e.stager.UnstageErr = errors.New("write-back failed")
	_, err = e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "v", StagingTargetPath: req.StagingTargetPath})
	wantCode(t, err, codes.Internal)
	if _, ok := e.n.state.get(req.StagingTargetPath); !ok {
		t.Fatal("failed unstage forgot the volume")
	}
}

// corruptedStat makes the node see a dead FUSE mount ("transport endpoint is not connected") at the given paths
// while m has a mount there.
func corruptedStat(m *fakeMounter, paths ...string) func(string) (os.FileInfo, error) {
	return func(p string) (os.FileInfo, error) {
		if _, mounted := m.mountedAt(p); mounted && slices.Contains(paths, p) {
			return nil, &os.PathError{Op: "stat", Path: p, Err: syscall.ENOTCONN}
		}
		return os.Stat(p)
	}
}

func TestNodeCleansDeadMounts(t *testing.T) {
	e := newNodeEnv(t)
	ctx := context.Background()
	req := e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	_, err := e.n.NodeStageVolume(ctx, req)
	wantCode(t, err, codes.OK)
	p := e.publishReq("v", "t", false)
	_, err = e.n.NodePublishVolume(ctx, p)
	wantCode(t, err, codes.OK)

	// The staging mount dies: a repeated stage mounts it again rather than reporting success.
	e.stager.forget()
	e.n.stat = corruptedStat(e.mounter, req.StagingTargetPath)
	_, err = e.n.NodeStageVolume(ctx, req)
	wantCode(t, err, codes.OK)
	if e.stager.stages != 2 {
		t.Fatalf("stages %d, want 2", e.stager.stages)
	}
	// Health and stats of a dead target.
	e.n.stat = corruptedStat(e.mounter, p.TargetPath)
	h, err := e.n.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "v"})
	wantCode(t, err, codes.OK)
	if len(h.VolumeHealth.HealthStatuses) != 1 || h.VolumeHealth.HealthStatuses[0].Reason != reasonPublishLost {
		t.Fatalf("health %v", h)
	}
	_, err = e.n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: p.TargetPath})
	wantCode(t, err, codes.Unavailable)
	// Unpublish and unstage of dead mounts unmount them.
	_, err = e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v", TargetPath: p.TargetPath})
	wantCode(t, err, codes.OK)
	if _, ok := e.mounter.mountedAt(p.TargetPath); ok {
		t.Fatal("dead target still mounted")
	}
	e.stager.forget()
	e.n.stat = corruptedStat(e.mounter, req.StagingTargetPath)
	_, err = e.n.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "v", StagingTargetPath: req.StagingTargetPath})
	wantCode(t, err, codes.OK)
	if _, ok := e.mounter.mountedAt(req.StagingTargetPath); ok {
		t.Fatal("dead staging mount still mounted")
	}
}

func TestNodeStatsAndHealth(t *testing.T) {
	e := newNodeEnv(t)
	ctx := context.Background()
	req := e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	_, err := e.n.NodeStageVolume(ctx, req)
	wantCode(t, err, codes.OK)
	p := e.publishReq("v", "t", false)
	_, err = e.n.NodePublishVolume(ctx, p)
	wantCode(t, err, codes.OK)
	e.stager.usage = store.Usage{Bytes: 300, Inodes: 7, CapacityBytes: 1000, MaxInodes: 0}
	for _, path := range []string{p.TargetPath, req.StagingTargetPath} {
		r, err := e.n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: path})
		wantCode(t, err, codes.OK)
		b, i := r.Usage[0], r.Usage[1]
		if b.Unit != csi.VolumeUsage_BYTES || b.Used != 300 || b.Total != 1000 || b.Available != 700 ||
			i.Unit != csi.VolumeUsage_INODES || i.Used != 7 || i.Total != 0 {
			t.Fatalf("usage %v", r.Usage)
		}
	}
	_, err = e.n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: "/nowhere"})
	wantCode(t, err, codes.NotFound)
	_, err = e.n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "other", VolumePath: p.TargetPath})
	wantCode(t, err, codes.NotFound)

	h, err := e.n.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "v"})
	wantCode(t, err, codes.OK)
	if h.VolumeHealth.VolumeId != "v" || len(h.VolumeHealth.HealthStatuses) != 0 {
		t.Fatalf("healthy volume reports %v", h)
	}
	e.stager.usage.Bytes = 1000
	h, _ = e.n.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "v", VolumePublishPath: p.TargetPath})
	if len(h.VolumeHealth.HealthStatuses) != 1 || h.VolumeHealth.HealthStatuses[0].Status != csi.VolumeHealthErrorType_DEGRADED {
		t.Fatalf("full volume reports %v", h)
	}
	e.stager.UsageErr = fmt.Errorf("%w: no Cassandra", ErrUnavailable)
	_, err = e.n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: p.TargetPath})
	wantCode(t, err, codes.Unavailable)
	h, _ = e.n.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "v"})
	if len(h.VolumeHealth.HealthStatuses) != 1 || h.VolumeHealth.HealthStatuses[0].Reason != reasonStorageUnreachable ||
		h.VolumeHealth.HealthStatuses[0].Status != csi.VolumeHealthErrorType_INACCESSIBLE {
		t.Fatalf("unreachable volume reports %v", h)
	}
	_, err = e.n.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "v", StagingTargetPath: "/elsewhere"})
	wantCode(t, err, codes.NotFound)
}

func TestNodeStorageHealth(t *testing.T) {
	e := newNodeEnv(t)
	e.n.probers = map[string]Prober{
		"Cassandra": ProberFunc(func(context.Context) error { return nil }),
		"ZooKeeper": ProberFunc(func(context.Context) error { return errors.New("connection refused") }),
	}
	r, err := e.n.NodeGetStorageHealth(context.Background(), &csi.NodeGetStorageHealthRequest{})
	wantCode(t, err, codes.OK)
	if len(r.BackendHealth) != 1 || r.BackendHealth[0].Reason != "ZooKeeperUnreachable" ||
		r.BackendHealth[0].Status != csi.StorageHealthErrorType_STORAGE_UNREACHABLE {
		t.Fatalf("storage health %v", r)
	}
}

func TestNodeInfoAndCapabilities(t *testing.T) {
	e := newNodeEnv(t)
	info, err := e.n.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	wantCode(t, err, codes.OK)
	if info.NodeId != "node-1" {
		t.Fatalf("node id %q", info.NodeId)
	}
	caps, err := e.n.NodeGetCapabilities(context.Background(), &csi.NodeGetCapabilitiesRequest{})
	wantCode(t, err, codes.OK)
	got := map[csi.NodeServiceCapability_RPC_Type]bool{}
	for _, c := range caps.Capabilities {
		got[c.GetRpc().GetType()] = true
	}
	for _, want := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME, csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER, csi.NodeServiceCapability_RPC_GET_VOLUME_HEALTH,
	} {
		if !got[want] {
			t.Errorf("missing %v", want)
		}
	}
	if got[csi.NodeServiceCapability_RPC_EXPAND_VOLUME] {
		t.Error("claims node expansion")
	}
}

func TestNodeSingleWriterPublishesOnce(t *testing.T) {
	e := newNodeEnv(t)
	ctx := context.Background()
	_, err := e.n.NodeStageVolume(ctx, e.stageReq("v", csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER))
	wantCode(t, err, codes.OK)
	_, err = e.n.NodePublishVolume(ctx, e.publishReq("v", "a", false))
	wantCode(t, err, codes.OK)
	_, err = e.n.NodePublishVolume(ctx, e.publishReq("v", "a", false)) // the same target again: idempotent
	wantCode(t, err, codes.OK)
	_, err = e.n.NodePublishVolume(ctx, e.publishReq("v", "b", false))
	wantCode(t, err, codes.FailedPrecondition)
	_, err = e.n.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v", TargetPath: filepath.Join(e.dir, "a")})
	wantCode(t, err, codes.OK)
	_, err = e.n.NodePublishVolume(ctx, e.publishReq("v", "b", false))
	wantCode(t, err, codes.OK)
}
