package cassandra

import (
	"context"
	"testing"
	"time"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/lock"
)

// testCluster connects to the test Cassandra (failing, never skipping, if it is down).
func testCluster(t testing.TB) *Cluster {
	t.Helper()
	hosts := testenv.RequireCassandra(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Connect(ctx, ClusterConfig{Hosts: hosts, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testVolume creates a fresh volume with params, dropped when the test ends.
func testVolume(t testing.TB, c *Cluster, capacity uint64, params map[string]string) VolumeInfo {
	t.Helper()
	id := testenv.UniqueName("cfstest-")
	spec, err := ParseVolumeSpec(id, capacity, params)
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	ctx := context.Background()
	info, err := c.CreateVolume(ctx, spec)
	if err != nil {
		t.Fatalf("create volume: %v", err)
	}
	t.Cleanup(func() {
		if err := c.DeleteVolume(context.Background(), id); err != nil {
			t.Errorf("delete volume %s: %v", id, err)
		}
	})
	return info
}

// openVolume opens a session of the volume, closed when the test ends.
// Sessions given the same locker (lock.Local handles from Share) coordinate like mounts sharing ZooKeeper.
func openVolume(t testing.TB, c *Cluster, id, session string, locker lock.Locker) *Volume {
	t.Helper()
	v, err := c.OpenVolume(context.Background(), id, OpenOptions{Session: session, Locker: locker})
	if err != nil {
		t.Fatalf("open volume: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func keyspaceExists(t testing.TB, c *Cluster, ks string) (bool, map[string]string) {
	t.Helper()
	var repl map[string]string
	err := c.Session().Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&repl)
	if err != nil {
		if err.Error() == "not found" {
			return false, nil
		}
		t.Fatalf("system_schema: %v", err)
	}
	return true, repl
}

// abandon stops the session as a crash would (tests): no more heartbeats, nothing released or deregistered.
func (v *Volume) abandon() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.stop()
	<-v.done
	v.comp.Close()
}
