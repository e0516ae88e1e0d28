package driver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

func newTestController() (*controller, *fakeBackend) {
	b := newFakeBackend()
	return newController(b, quietLog()), b
}

func createReq(name string, required int64, params map[string]string) *csi.CreateVolumeRequest {
	return &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: []*csi.VolumeCapability{rwo},
		CapacityRange: &csi.CapacityRange{RequiredBytes: required}, Parameters: params}
}

func TestCreateVolumeIdempotentByName(t *testing.T) {
	c, b := newTestController()
	ctx := context.Background()
	params := map[string]string{"replicationFactor": "1", "csi.storage.k8s.io/pvc/name": "data"}
	r1, err := c.CreateVolume(ctx, createReq("pvc-1", 1<<30, params))
	wantCode(t, err, codes.OK)
	r2, err := c.CreateVolume(ctx, createReq("pvc-1", 1<<30, params))
	wantCode(t, err, codes.OK)
	if r1.Volume.VolumeId != r2.Volume.VolumeId || r1.Volume.VolumeId != volumeIDFor("pvc-1", false) {
		t.Fatalf("ids %q %q, want both %q", r1.Volume.VolumeId, r2.Volume.VolumeId, volumeIDFor("pvc-1", false))
	}
	if r1.Volume.CapacityBytes != 1<<30 || r1.Volume.VolumeContext[ContextReclaim] != "delete" || r1.Volume.VolumeContext["fake"] != "yes" {
		t.Fatalf("volume %+v", r1.Volume)
	}
	if got := b.vols[r1.Volume.VolumeId].params; len(got) != 1 || got["replicationFactor"] != "1" {
		t.Fatalf("back end got parameters %v: driver and k8s keys must be stripped", got)
	}
	// Incompatible repeats.
	_, err = c.CreateVolume(ctx, createReq("pvc-1", 2<<30, params))
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.CreateVolume(ctx, createReq("pvc-1", 1<<30, map[string]string{"replicationFactor": "3"}))
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.CreateVolume(ctx, createReq("pvc-1", 1<<30, map[string]string{"replicationFactor": "1", ParamReclaim: "retain"}))
	wantCode(t, err, codes.AlreadyExists)
	// Another name is another volume.
	r3, err := c.CreateVolume(ctx, createReq("pvc-2", 1<<30, nil))
	wantCode(t, err, codes.OK)
	if r3.Volume.VolumeId == r1.Volume.VolumeId {
		t.Fatal("two names share a volume id")
	}
}

func TestCreateVolumeBadInput(t *testing.T) {
	c, _ := newTestController()
	ctx := context.Background()
	cases := []struct {
		name string
		req  *csi.CreateVolumeRequest
		code codes.Code
	}{
		{"no name", &csi.CreateVolumeRequest{VolumeCapabilities: []*csi.VolumeCapability{rwo}}, codes.InvalidArgument},
		{"no capabilities", &csi.CreateVolumeRequest{Name: "a"}, codes.InvalidArgument},
		{"block", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{blockCap()}}, codes.InvalidArgument},
		{"unknown mode", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_UNKNOWN)}}, codes.InvalidArgument},
		{"no access type", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{{AccessMode: rwo.AccessMode}}}, codes.InvalidArgument},
		{"fs type", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}}, AccessMode: rwo.AccessMode}}}, codes.InvalidArgument},
		{"limit below required", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{rwo},
			CapacityRange: &csi.CapacityRange{RequiredBytes: 10, LimitBytes: 5}}, codes.OutOfRange},
		{"negative", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{rwo},
			CapacityRange: &csi.CapacityRange{RequiredBytes: -1}}, codes.InvalidArgument},
		{"bad reclaim", createReq("a", 1, map[string]string{ParamReclaim: "later"}), codes.InvalidArgument},
		{"unknown storage parameter", createReq("a", 1, map[string]string{"colour": "blue"}), codes.InvalidArgument},
		{"content source", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{rwo},
			VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "s"}}}}, codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateVolume(ctx, tc.req)
			wantCode(t, err, tc.code)
		})
	}
}

func TestCreateVolumeCapacity(t *testing.T) {
	c, _ := newTestController()
	ctx := context.Background()
	r, err := c.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "lim", VolumeCapabilities: []*csi.VolumeCapability{rwo},
		CapacityRange: &csi.CapacityRange{LimitBytes: 5 << 20}})
	wantCode(t, err, codes.OK)
	if r.Volume.CapacityBytes != 5<<20 {
		t.Fatalf("limit only: capacity %d", r.Volume.CapacityBytes)
	}
	r, err = c.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "none", VolumeCapabilities: []*csi.VolumeCapability{rwo}})
	wantCode(t, err, codes.OK)
	if r.Volume.CapacityBytes != 0 {
		t.Fatalf("no range: capacity %d, want 0 (unlimited)", r.Volume.CapacityBytes)
	}
}

func TestCreateVolumeBackendErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("x: %w", ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("x: %w", ErrUnauthorized), codes.Unauthenticated},
		{fmt.Errorf("x: %w", ErrPermissionDenied), codes.PermissionDenied},
		{fmt.Errorf("x: %w", ErrInvalid), codes.InvalidArgument},
		{fmt.Errorf("x: %w", ErrExists), codes.AlreadyExists},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{errors.New("boom"), codes.Internal},
	} {
		c, b := newTestController()
		b.CreateErr = tc.err
		_, err := c.CreateVolume(context.Background(), createReq("x", 1, nil))
		wantCode(t, err, tc.code)
	}
	c, b := newTestController()
	b.GetErr = fmt.Errorf("down: %w", ErrUnavailable)
	_, err := c.CreateVolume(context.Background(), createReq("x", 1, nil))
	wantCode(t, err, codes.Unavailable)
}

func TestConcurrentDuplicateCreateIsAborted(t *testing.T) {
	c, b := newTestController()
	b.block, b.entered = make(chan struct{}), make(chan struct{})
	ctx := context.Background()
	var wg sync.WaitGroup
	var first error
	wg.Add(1)
	go func() { defer wg.Done(); _, first = c.CreateVolume(ctx, createReq("dup", 1, nil)) }()
	<-b.entered // the first request holds the volume's lock
	_, err := c.CreateVolume(ctx, createReq("dup", 1, nil))
	wantCode(t, err, codes.Aborted)
	_, err = c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volumeIDFor("dup", false)})
	wantCode(t, err, codes.Aborted)
	_, err = c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: volumeIDFor("dup", false), CapacityRange: &csi.CapacityRange{RequiredBytes: 2}})
	wantCode(t, err, codes.Aborted)
	close(b.block)
	wg.Wait()
	wantCode(t, first, codes.OK)
	b.block = nil
	_, err = c.CreateVolume(ctx, createReq("dup", 1, nil))
	wantCode(t, err, codes.OK)
}

func TestDeleteVolume(t *testing.T) {
	c, b := newTestController()
	ctx := context.Background()
	_, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument)
	r, err := c.CreateVolume(ctx, createReq("d", 1, nil))
	wantCode(t, err, codes.OK)
	for i := 0; i < 2; i++ { // the second delete finds nothing, and succeeds
		_, err = c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: r.Volume.VolumeId})
		wantCode(t, err, codes.OK)
	}
	if _, ok := b.vols[r.Volume.VolumeId]; ok {
		t.Fatal("volume still exists")
	}
	b.DeleteErr = fmt.Errorf("gone: %w", ErrNotFound)
	_, err = c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "missing"})
	wantCode(t, err, codes.OK)
	b.DeleteErr = fmt.Errorf("down: %w", ErrUnavailable)
	_, err = c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: "x"})
	wantCode(t, err, codes.Unavailable)
}

func TestDeleteRetainedVolumeKeepsData(t *testing.T) {
	c, b := newTestController()
	ctx := context.Background()
	r, err := c.CreateVolume(ctx, createReq("keep", 1, map[string]string{ParamReclaim: "Retain"}))
	wantCode(t, err, codes.OK)
	if r.Volume.VolumeId != volumeIDFor("keep", true) || r.Volume.VolumeContext[ContextReclaim] != "retain" {
		t.Fatalf("volume %+v", r.Volume)
	}
	_, err = c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: r.Volume.VolumeId})
	wantCode(t, err, codes.OK)
	if _, ok := b.vols[r.Volume.VolumeId]; !ok || b.deletes != 0 {
		t.Fatal("retained volume was deleted")
	}
}

func TestValidateVolumeCapabilities(t *testing.T) {
	c, _ := newTestController()
	ctx := context.Background()
	r, err := c.CreateVolume(ctx, createReq("v", 1, nil))
	wantCode(t, err, codes.OK)
	id := r.Volume.VolumeId
	_, err = c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeCapabilities: []*csi.VolumeCapability{rwo}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: "nope", VolumeCapabilities: []*csi.VolumeCapability{rwo}})
	wantCode(t, err, codes.NotFound)
	ok, err := c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id,
		VolumeCapabilities: []*csi.VolumeCapability{rwo, mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)}})
	wantCode(t, err, codes.OK)
	if ok.Confirmed == nil || len(ok.Confirmed.VolumeCapabilities) != 2 {
		t.Fatalf("not confirmed: %v", ok)
	}
	no, err := c.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id, VolumeCapabilities: []*csi.VolumeCapability{blockCap()}})
	wantCode(t, err, codes.OK)
	if no.Confirmed != nil || no.Message == "" {
		t.Fatalf("block confirmed: %v", no)
	}
}

func TestListVolumesPaging(t *testing.T) {
	c, b := newTestController()
	ctx := context.Background()
	want := map[string]bool{}
	for i := 0; i < 7; i++ {
		r, err := c.CreateVolume(ctx, createReq(fmt.Sprintf("l%d", i), 1, nil))
		wantCode(t, err, codes.OK)
		want[r.Volume.VolumeId] = true
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		r, err := c.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: 3, StartingToken: token})
		wantCode(t, err, codes.OK)
		pages++
		for _, e := range r.Entries {
			if seen[e.Volume.VolumeId] {
				t.Fatalf("%s listed twice", e.Volume.VolumeId)
			}
			seen[e.Volume.VolumeId] = true
		}
		if pages == 1 {
			// A volume deleted between pages must not break the next page.
			_, err := c.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: r.Entries[2].Volume.VolumeId})
			wantCode(t, err, codes.OK)
		}
		if token = r.NextToken; token == "" {
			break
		}
	}
	if pages != 3 || len(seen) != 7 {
		t.Fatalf("%d pages, %d volumes", pages, len(seen))
	}
	all, err := c.ListVolumes(ctx, &csi.ListVolumesRequest{})
	wantCode(t, err, codes.OK)
	if len(all.Entries) != 6 || all.NextToken != "" {
		t.Fatalf("unpaged: %d entries, token %q", len(all.Entries), all.NextToken)
	}
	_, err = c.ListVolumes(ctx, &csi.ListVolumesRequest{StartingToken: "invalid-token"})
	wantCode(t, err, codes.Aborted)
	_, err = c.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: -1})
	wantCode(t, err, codes.InvalidArgument)
	b.ListErr = fmt.Errorf("down: %w", ErrUnavailable)
	_, err = c.ListVolumes(ctx, &csi.ListVolumesRequest{})
	wantCode(t, err, codes.Unavailable)
}

func TestControllerExpandVolume(t *testing.T) {
	c, b := newTestController()
	ctx := context.Background()
	r, err := c.CreateVolume(ctx, createReq("e", 100, nil))
	wantCode(t, err, codes.OK)
	id := r.Volume.VolumeId
	exp := func(req, lim int64) (*csi.ControllerExpandVolumeResponse, error) {
		return c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id,
			CapacityRange: &csi.CapacityRange{RequiredBytes: req, LimitBytes: lim}})
	}
	resp, err := exp(300, 0)
	wantCode(t, err, codes.OK)
	if resp.CapacityBytes != 300 || resp.NodeExpansionRequired || b.vols[id].v.CapacityBytes != 300 {
		t.Fatalf("expand: %+v, stored %d", resp, b.vols[id].v.CapacityBytes)
	}
	resp, err = exp(200, 0) // smaller: no change, still success
	wantCode(t, err, codes.OK)
	if resp.CapacityBytes != 300 {
		t.Fatalf("shrink request changed capacity to %d", resp.CapacityBytes)
	}
	_, err = exp(100, 200)
	wantCode(t, err, codes.OutOfRange)
	_, err = c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{CapacityRange: &csi.CapacityRange{RequiredBytes: 1}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: "nope", CapacityRange: &csi.CapacityRange{RequiredBytes: 1}})
	wantCode(t, err, codes.NotFound)
	_, err = c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, VolumeCapability: blockCap(), CapacityRange: &csi.CapacityRange{RequiredBytes: 1}})
	wantCode(t, err, codes.InvalidArgument)
	b.ExpandErr = fmt.Errorf("down: %w", ErrUnavailable)
	_, err = exp(1000, 0)
	wantCode(t, err, codes.Unavailable)
}

func TestControllerCapabilities(t *testing.T) {
	c, _ := newTestController()
	r, err := c.ControllerGetCapabilities(context.Background(), &csi.ControllerGetCapabilitiesRequest{})
	wantCode(t, err, codes.OK)
	got := map[csi.ControllerServiceCapability_RPC_Type]bool{}
	for _, cp := range r.Capabilities {
		got[cp.GetRpc().GetType()] = true
	}
	for _, want := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME, csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
	} {
		if !got[want] {
			t.Errorf("missing %v", want)
		}
	}
	if got[csi.ControllerServiceCapability_RPC_GET_CAPACITY] || got[csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME] {
		t.Errorf("claims capabilities it lacks: %v", got)
	}
	_, err = c.ControllerPublishVolume(context.Background(), &csi.ControllerPublishVolumeRequest{})
	wantCode(t, err, codes.Unimplemented)
}

func TestKeyLocks(t *testing.T) {
	l := newKeyLocks()
	first := l.tryLock(nil, []string{"v"})
	second := l.tryLock(nil, []string{"v"})
	if !first || !second {
		t.Fatal("shared holders exclude each other")
	}
	if l.tryAcquire("v") {
		t.Fatal("exclusive granted while shared held")
	}
	if l.tryLock([]string{"a"}, []string{"v", "x"}) != true || l.tryLock([]string{"a"}, nil) {
		t.Fatal("exclusive a")
	}
	l.unlock([]string{"a"}, []string{"v", "x"})
	l.unlock(nil, []string{"v"})
	if l.tryAcquire("v") {
		t.Fatal("exclusive granted while one shared holder remains")
	}
	l.unlock(nil, []string{"v"})
	if !l.tryAcquire("v", "w") || l.tryLock(nil, []string{"w"}) || l.tryAcquire("z", "v") {
		t.Fatal("exclusive keys")
	}
	if !l.tryAcquire("z") {
		t.Fatal("failed all-or-none attempt left z held")
	}
}
