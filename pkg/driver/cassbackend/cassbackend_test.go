package cassbackend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
	"github.com/cassfs/cassfs/pkg/lock"
)

func testPool(t *testing.T) *Pool {
	t.Helper()
	p := NewPool(cassandra.ClusterConfig{Hosts: testenv.RequireCassandra(t), Timeout: 30 * time.Second})
	t.Cleanup(p.Close)
	return p
}

// TestBackendErrorsAreDriverSentinels: the Cassandra errors reach pkg/driver as its sentinels.
func TestBackendErrorsAreDriverSentinels(t *testing.T) {
	b := NewBackend(testPool(t), nil, nil)
	ctx := context.Background()
	id := testenv.UniqueName("cbtest-")
	t.Cleanup(func() {
		if err := b.DeleteVolume(context.Background(), driver.Credentials{}, id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	req := driver.VolumeRequest{ID: id, CapacityBytes: 1 << 20, Parameters: map[string]string{"replicationFactor": "1"}}
	v, err := b.CreateVolume(ctx, driver.Credentials{}, req)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != id || v.CapacityBytes != 1<<20 || v.Context[ContextKeyspace] != cassandra.KeyspaceName(id) ||
		v.Context[ContextConsistency] != "LOCAL_QUORUM" || v.Context[ContextReplication] != "SimpleStrategy:1" {
		t.Fatalf("volume %+v", v)
	}
	if again, err := b.CreateVolume(ctx, driver.Credentials{}, req); err != nil || again.ID != id {
		t.Fatalf("idempotent create: %+v %v", again, err)
	}
	other := req
	other.CapacityBytes = 2 << 20
	if _, err := b.CreateVolume(ctx, driver.Credentials{}, other); !errors.Is(err, driver.ErrExists) {
		t.Fatalf("incompatible create: %v, want ErrExists", err)
	}
	bad := req
	bad.ID, bad.Parameters = id+"-bad", map[string]string{"colour": "blue"}
	if _, err := b.CreateVolume(ctx, driver.Credentials{}, bad); !errors.Is(err, driver.ErrInvalid) {
		t.Fatalf("unknown parameter: %v, want ErrInvalid", err)
	}
	if _, err := b.GetVolume(ctx, driver.Credentials{}, id+"-missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	if _, err := b.ExpandVolume(ctx, driver.Credentials{}, id+"-missing", 1); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("expand missing: %v, want ErrNotFound", err)
	}
	if v, err := b.ExpandVolume(ctx, driver.Credentials{}, id, 4<<20); err != nil || v.CapacityBytes != 4<<20 {
		t.Fatalf("expand: %+v %v", v, err)
	}
	vols, err := b.ListVolumes(ctx, driver.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range vols {
		found = found || v.ID == id
	}
	if !found {
		t.Fatal("created volume not listed")
	}
	if err := b.DeleteVolume(ctx, driver.Credentials{}, id); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteVolume(ctx, driver.Credentials{}, id); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := b.GetVolume(ctx, driver.Credentials{}, id); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
}

// TestUnreachableCassandra: nothing listens on the port; every call is ErrUnavailable and the prober fails.
func TestUnreachableCassandra(t *testing.T) {
	p := NewPool(cassandra.ClusterConfig{Hosts: []string{"127.0.0.1"}, Port: 1, Timeout: 2 * time.Second})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := (CassandraProber{Pool: p}).Probe(ctx); !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("probe: %v, want ErrUnavailable", err)
	}
	_, err := NewBackend(p, nil, nil).GetVolume(ctx, driver.Credentials{}, "x")
	if !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("get: %v, want ErrUnavailable", err)
	}
	s := NewStager(StagerConfig{Pool: p, NodeID: "n"})
	err = s.Stage(ctx, driver.StageRequest{VolumeID: "x", Dir: t.TempDir()})
	if !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("stage: %v, want ErrUnavailable", err)
	}
}

func TestProbersOnRealServers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := (CassandraProber{Pool: testPool(t)}).Probe(ctx); err != nil {
		t.Fatalf("cassandra probe: %v", err)
	}
	zk := &ZooKeeper{Servers: testenv.RequireZooKeeper(t)}
	if err := (ZooKeeperProber{ZK: zk}).Probe(ctx); err != nil {
		t.Fatalf("zookeeper probe: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if err := (ZooKeeperProber{ZK: &ZooKeeper{Servers: []string{"127.0.0.1:1"}}}).Probe(short); err == nil {
		t.Fatal("zookeeper probe of a closed port succeeded")
	}
}

// TestStagerServesAndUnstages: a real FUSE mount of a real volume; usage through the Stager; unstage unmounts;
// a missing volume is ErrNotFound; a second stage of a served directory is refused.
func TestStagerServesAndUnstages(t *testing.T) {
	pool := testPool(t)
	b := NewBackend(pool, nil, nil)
	ctx := context.Background()
	id := testenv.UniqueName("cbstage-")
	if _, err := b.CreateVolume(ctx, driver.Credentials{}, driver.VolumeRequest{ID: id, CapacityBytes: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.DeleteVolume(context.Background(), driver.Credentials{}, id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	s := NewStager(StagerConfig{Pool: pool, NodeID: "n"})
	dir := t.TempDir()
	if err := s.Stage(ctx, driver.StageRequest{VolumeID: id + "-missing", Dir: dir}); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("stage missing volume: %v, want ErrNotFound", err)
	}
	if err := s.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dir}); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("second stage: %v, want ErrPrecondition", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := s.Usage(ctx, dir)
	if err != nil || u.CapacityBytes != 8<<20 || u.Inodes < 2 {
		t.Fatalf("usage %+v %v", u, err)
	}
	if _, err := s.Usage(ctx, t.TempDir()); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("usage of an unserved dir: %v", err)
	}
	if err := s.Unstage(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Unstage(ctx, dir); err != nil {
		t.Fatalf("second unstage: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file visible after unstage: %v (still mounted?)", err)
	}
}

// TestPoolOneConnectionPerCredentials: requests with the same credentials share a connection, other credentials
// get their own, and a closed pool refuses. (The test Cassandra accepts any login, so this checks the pooling,
// not Cassandra's authentication.)
func TestPoolOneConnectionPerCredentials(t *testing.T) {
	p := NewPool(cassandra.ClusterConfig{Hosts: testenv.RequireCassandra(t), Timeout: 30 * time.Second})
	ctx := context.Background()
	get := func(cred driver.Credentials) *cassandra.Cluster {
		t.Helper()
		c, err := p.Get(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	def, a := get(driver.Credentials{}), get(driver.Credentials{Username: "alice", Password: "a"})
	if get(driver.Credentials{}) != def || get(driver.Credentials{Username: "alice", Password: "a"}) != a {
		t.Fatal("same credentials, new connection")
	}
	if a == def || get(driver.Credentials{Username: "alice", Password: "b"}) == a {
		t.Fatal("other credentials share a connection")
	}
	p.Close()
	if _, err := p.Get(ctx, driver.Credentials{}); !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("closed pool: %v", err)
	}
}

// TestStagerChangeNotices: two stagings of one volume in this process, as two nodes would have them: with
// SharingCluster each gets a ZooKeeper Notifier, otherwise both share an in-process group; either way what one
// mount changes is announced to the other.
func TestStagerChangeNotices(t *testing.T) {
	pool := testPool(t)
	zkc := &ZooKeeper{Servers: testenv.RequireZooKeeper(t), Chroot: "/" + testenv.UniqueName("cassfs-stager-")}
	b := NewBackend(pool, zkc, nil)
	ctx := context.Background()
	id := testenv.UniqueName("cbnotify-")
	if _, err := b.CreateVolume(ctx, driver.Credentials{}, driver.VolumeRequest{ID: id}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.DeleteVolume(context.Background(), driver.Credentials{}, id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := lock.DeleteZKNamespace(context.Background(), zkc.config(id, "")); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if c, _, err := zk.Connect(zkc.Servers, 5*time.Second, zk.WithLogInfo(false)); err == nil {
			_ = c.Delete(zkc.Chroot, -1)
			c.Close()
		}
	})
	for _, sharing := range []driver.Sharing{driver.SharingCluster, driver.SharingNode} {
		s := NewStager(StagerConfig{Pool: pool, ZooKeeper: zkc, NodeID: "n"})
		a, bdir := t.TempDir(), t.TempDir()
		for _, dir := range []string{a, bdir} {
			if err := s.Stage(ctx, driver.StageRequest{VolumeID: id, Dir: dir, Sharing: sharing}); err != nil {
				t.Fatal(err)
			}
		}
		s.mu.Lock()
		na, nb := s.mounts[a].notifier, s.mounts[bdir].notifier
		s.mu.Unlock()
		_, isZK := nb.(*lock.ZKNotifier)
		if isZK != (sharing == driver.SharingCluster) {
			t.Errorf("sharing %v: notifier %T", sharing, nb)
		}
		name := fmt.Sprintf("f-%d", sharing)
		if err := os.WriteFile(filepath.Join(a, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); nb.Stats().Received == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("sharing %v: the other mount received no change notice (sender: %+v)", sharing, na.Stats())
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
