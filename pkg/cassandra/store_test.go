package cassandra

import (
	"context"
	"strconv"
	"testing"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/storetest"
)

// checkedVolume is a Volume that storetest recognises as a Checker (its Fsck returns problem lines).
type checkedVolume struct {
	*Volume
}

func (c checkedVolume) Fsck(ctx context.Context, repair bool) ([]string, error) {
	return Checker(c).Fsck(ctx, repair)
}

var _ storetest.Checker = checkedVolume{}

func newStoretestVolume(t *testing.T, opts storetest.VolumeOptions) storetest.Volume {
	c := testCluster(t)
	params := map[string]string{}
	if opts.ChunkSize > 0 {
		params["chunkSize"] = strconv.Itoa(opts.ChunkSize)
		params["blockSize"] = strconv.Itoa(min(opts.ChunkSize, DefaultBlockSize))
	}
	if opts.MaxInodes > 0 {
		params["maxInodes"] = strconv.FormatUint(opts.MaxInodes, 10)
	}
	info := testVolume(t, c, opts.CapacityBytes, params)
	locks := lock.NewLocal() // the sessions share a lock table, as mounts share ZooKeeper
	return storetest.VolumeFunc(func(t *testing.T, name string) store.Store {
		return checkedVolume{openVolume(t, c, info.Spec.ID, name+"-"+t.Name(), locks.Share())}
	})
}

// TestConformance runs the storetest suite against *Volume on the real Cassandra, two sessions per volume.
func TestConformance(t *testing.T) {
	storetest.Run(t, newStoretestVolume)
}
