package memstore_test

import (
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/memstore"
	"github.com/cassfs/cassfs/pkg/store/storetest"
)

func newVolume(t *testing.T, opts storetest.VolumeOptions) storetest.Volume {
	v := memstore.NewVolume(memstore.Options{CapacityBytes: opts.CapacityBytes, MaxInodes: opts.MaxInodes,
		ChunkSize: opts.ChunkSize})
	return storetest.VolumeFunc(func(t *testing.T, name string) store.Store {
		s := v.Session(name)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newVolume)
}

func TestRandom(t *testing.T) {
	for seed := range uint64(4) {
		t.Run("", func(t *testing.T) { storetest.RunRandom(t, newVolume, seed+1, 4000) })
	}
}
