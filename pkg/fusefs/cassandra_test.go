package fusefs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/posixtest"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/lock"
)

// cassVolume creates a fresh Cassandra volume (deleted when the test ends) and returns the cluster and its id.
func cassVolume(t testing.TB, capacity uint64) (*cassandra.Cluster, string) {
	t.Helper()
	hosts := testenv.RequireCassandra(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: hosts, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	id := testenv.UniqueName("fusefs-")
	spec, err := cassandra.ParseVolumeSpec(id, capacity, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, spec); err != nil {
		t.Fatalf("create volume: %v", err)
	}
	t.Cleanup(func() {
		if err := c.DeleteVolume(context.Background(), id); err != nil {
			t.Errorf("delete volume %s: %v", id, err)
		}
	})
	return c, id
}

// mountCass opens a session of volume id and mounts it; the mount is unmounted before the session closes.
func mountCass(t testing.TB, c *cassandra.Cluster, id, session string, locker lock.Locker, opts Options) string {
	t.Helper()
	v, err := c.OpenVolume(context.Background(), id, cassandra.OpenOptions{Session: session, Locker: locker})
	if err != nil {
		t.Fatalf("open volume: %v", err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("close volume session: %v", err)
		}
	})
	opts.Session = session
	dir, _ := mountStore(t, v, opts)
	return dir
}

// TestCassandraPosix runs go-fuse's POSIX suite over one real Cassandra volume, each test in its own directory.
func TestCassandraPosix(t *testing.T) {
	c, id := cassVolume(t, 0)
	mnt := mountCass(t, c, id, "posix", nil, Options{})
	for _, name := range posixtestNames() {
		t.Run(name, func(t *testing.T) {
			dir := join(mnt, name)
			must(t, os.Mkdir(dir, 0o755))
			posixtest.All[name](t, dir)
		})
	}
}
