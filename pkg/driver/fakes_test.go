package driver

import (
	"context"
	"fmt"
	"maps"
	"sync"

	mount "k8s.io/mount-utils"

	"github.com/cassfs/cassfs/pkg/store"
)

// fakeBackend is an in-memory VolumeBackend. The *Err fields, when set, are returned by the matching method
// before it does anything; when block is set, CreateVolume sends on entered and then waits for block (to hold
// a request in flight).
type fakeBackend struct {
	mu   sync.Mutex
	vols map[string]fakeVolume

	CreateErr, GetErr, DeleteErr, ListErr, ExpandErr error
	entered, block                                   chan struct{}
	creates, deletes                                 int
	// parse, when set, checks the parameters of CreateVolume instead of knownFakeParams (the fuzz tests use
	// pkg/cassandra's parser).
	parse func(VolumeRequest) error
}

type fakeVolume struct {
	v      Volume
	params map[string]string
}

var _ VolumeBackend = (*fakeBackend)(nil)

func newFakeBackend() *fakeBackend { return &fakeBackend{vols: make(map[string]fakeVolume)} }

// knownFakeParams are the storage parameters the fake accepts (like cassandra.ParseVolumeSpec, it rejects others).
var knownFakeParams = map[string]bool{"replicationFactor": true, "consistency": true}

func (b *fakeBackend) CreateVolume(ctx context.Context, cred Credentials, req VolumeRequest) (Volume, error) {
	if b.block != nil {
		b.entered <- struct{}{}
		<-b.block
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.creates++
	if b.CreateErr != nil {
		return Volume{}, b.CreateErr
	}
	if b.parse != nil {
		if err := b.parse(req); err != nil {
			return Volume{}, err
		}
	} else {
		for k := range req.Parameters {
			if !knownFakeParams[k] {
				return Volume{}, fmt.Errorf("%w: unknown parameter %q", ErrInvalid, k)
			}
		}
	}
	if have, ok := b.vols[req.ID]; ok {
		if have.v.CapacityBytes != req.CapacityBytes || !maps.Equal(have.params, req.Parameters) {
			return Volume{}, fmt.Errorf("%w: %s", ErrExists, req.ID)
		}
		return have.v, nil
	}
	v := Volume{ID: req.ID, CapacityBytes: req.CapacityBytes, Context: map[string]string{"fake": "yes"}}
	b.vols[req.ID] = fakeVolume{v: v, params: maps.Clone(req.Parameters)}
	return v, nil
}

func (b *fakeBackend) GetVolume(ctx context.Context, cred Credentials, id string) (Volume, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.GetErr != nil {
		return Volume{}, b.GetErr
	}
	have, ok := b.vols[id]
	if !ok {
		return Volume{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return have.v, nil
}

func (b *fakeBackend) DeleteVolume(ctx context.Context, cred Credentials, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deletes++
	if b.DeleteErr != nil {
		return b.DeleteErr
	}
	delete(b.vols, id)
	return nil
}

func (b *fakeBackend) ListVolumes(ctx context.Context, cred Credentials) ([]Volume, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ListErr != nil {
		return nil, b.ListErr
	}
	var out []Volume
	for _, v := range b.vols {
		out = append(out, v.v)
	}
	return out, nil
}

func (b *fakeBackend) ExpandVolume(ctx context.Context, cred Credentials, id string, capacity uint64) (Volume, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ExpandErr != nil {
		return Volume{}, b.ExpandErr
	}
	have, ok := b.vols[id]
	if !ok {
		return Volume{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if capacity > have.v.CapacityBytes {
		have.v.CapacityBytes = capacity
		b.vols[id] = have
	}
	return have.v, nil
}

// fakeStager "mounts" by adding a mount point to a fakeMounter. The *Err fields are returned when set; Volumes
// holds the volume IDs that exist (Stage of another is ErrNotFound) when non-nil.
type fakeStager struct {
	mu      sync.Mutex
	mounter *fakeMounter
	served  map[string]StageRequest
	usage   store.Usage
	Volumes map[string]bool

	StageErr, UnstageErr, UsageErr error
	stages                         int
}

var _ Stager = (*fakeStager)(nil)

func newFakeStager(m *fakeMounter) *fakeStager {
	return &fakeStager{mounter: m, served: make(map[string]StageRequest)}
}

func (s *fakeStager) Stage(ctx context.Context, req StageRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stages++
	if s.StageErr != nil {
		return s.StageErr
	}
	if s.Volumes != nil && !s.Volumes[req.VolumeID] {
		return fmt.Errorf("%w: %s", ErrNotFound, req.VolumeID)
	}
	if _, ok := s.served[req.Dir]; ok {
		return fmt.Errorf("%w: %s already served", ErrPrecondition, req.Dir)
	}
	if err := s.mounter.Mount("cassfs", req.Dir, "fuse.cassfs", nil); err != nil {
		return err
	}
	s.served[req.Dir] = req
	return nil
}

func (s *fakeStager) Unstage(ctx context.Context, dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.UnstageErr != nil {
		return s.UnstageErr
	}
	if _, ok := s.served[dir]; !ok {
		return nil
	}
	delete(s.served, dir)
	return s.mounter.Unmount(dir)
}

func (s *fakeStager) Usage(ctx context.Context, dir string) (store.Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.UsageErr != nil {
		return store.Usage{}, s.UsageErr
	}
	if _, ok := s.served[dir]; !ok {
		return store.Usage{}, fmt.Errorf("%w: %s", ErrNotFound, dir)
	}
	return s.usage, nil
}

// forget drops what the stager serves, as a restarted process would.
func (s *fakeStager) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served = make(map[string]StageRequest)
}

// fakeMounter is mount-utils' FakeMounter with explicit errors for Mount and Unmount.
type fakeMounter struct {
	*mount.FakeMounter
	mu                   sync.Mutex
	MountErr, UnmountErr error
}

func newFakeMounter() *fakeMounter { return &fakeMounter{FakeMounter: mount.NewFakeMounter(nil)} }

func (m *fakeMounter) Mount(source, target, fstype string, options []string) error {
	m.mu.Lock()
	err := m.MountErr
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return m.FakeMounter.Mount(source, target, fstype, options)
}

func (m *fakeMounter) Unmount(target string) error {
	m.mu.Lock()
	err := m.UnmountErr
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return m.FakeMounter.Unmount(target)
}

// mountedAt returns the mount point record at path.
func (m *fakeMounter) mountedAt(path string) (mount.MountPoint, bool) {
	mps, _ := m.List()
	for _, mp := range mps {
		if mp.Path == path {
			return mp, true
		}
	}
	return mount.MountPoint{}, false
}
