package memstore_test

import (
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/memstore"
	"github.com/cassfs/cassfs/pkg/store/storetest"
)

func newVolume(t *testing.T, opts storetest.VolumeOptions) storetest.Volume {
	return newVolumeWith(t, opts, false)
}

// newCachingVolume makes volumes whose sessions serve stale data between Opens, as the contract allows: the suite
// must still pass, which shows that it relies only on close-to-open consistency.
func newCachingVolume(t *testing.T, opts storetest.VolumeOptions) storetest.Volume {
	return newVolumeWith(t, opts, true)
}

func newVolumeWith(t *testing.T, opts storetest.VolumeOptions, cache bool) storetest.Volume {
	v := memstore.NewVolume(memstore.Options{CapacityBytes: opts.CapacityBytes, MaxInodes: opts.MaxInodes,
		ChunkSize: opts.ChunkSize, CacheData: cache})
	return storetest.VolumeFunc(func(t *testing.T, name string) store.Store {
		s := v.Session(name)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newVolume)
}

func TestConformanceCachingSessions(t *testing.T) {
	storetest.Run(t, newCachingVolume)
}

func TestRandom(t *testing.T) {
	for seed := range uint64(4) {
		t.Run("", func(t *testing.T) { storetest.RunRandom(t, newVolume, seed+1, 4000) })
		t.Run("caching", func(t *testing.T) { storetest.RunRandom(t, newCachingVolume, seed+1, 4000) })
	}
}
