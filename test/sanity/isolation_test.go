package sanity

import (
	"context"
	"sync"

	"github.com/cassfs/cassfs/pkg/driver"
)

// isolatedBackend lists only the volumes created through it. The test Cassandra is shared with other test
// suites that create and drop volumes at any moment, and csi-sanity compares volume counts between two
// ListVolumes calls; without this filter those counts depend on what else runs. Every call still goes to the real
// back end; only the listing's result is filtered.
type isolatedBackend struct {
	driver.VolumeBackend
	mu      sync.Mutex
	created map[string]bool
}

func isolate(b driver.VolumeBackend) *isolatedBackend {
	return &isolatedBackend{VolumeBackend: b, created: make(map[string]bool)}
}

func (b *isolatedBackend) CreateVolume(ctx context.Context, cred driver.Credentials, req driver.VolumeRequest) (driver.Volume, error) {
	v, err := b.VolumeBackend.CreateVolume(ctx, cred, req)
	if err == nil {
		b.mu.Lock()
		b.created[v.ID] = true
		b.mu.Unlock()
	}
	return v, err
}

func (b *isolatedBackend) ListVolumes(ctx context.Context, cred driver.Credentials) ([]driver.Volume, error) {
	all, err := b.VolumeBackend.ListVolumes(ctx, cred)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var mine []driver.Volume
	for _, v := range all {
		if b.created[v.ID] {
			mine = append(mine, v)
		}
	}
	return mine, nil
}
