package cassandra

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/cassfs/cassfs/internal/testenv"
)

func TestCreateVolumeSimpleStrategy(t *testing.T) {
	c := testCluster(t)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	info := testVolume(t, c, 1<<30, map[string]string{"replicationFactor": "1"})
	ok, repl := keyspaceExists(t, c, info.Keyspace)
	if !ok {
		t.Fatalf("keyspace %s not in system_schema", info.Keyspace)
	}
	if repl["class"] != "org.apache.cassandra.locator.SimpleStrategy" || repl["replication_factor"] != "1" {
		t.Fatalf("replication %v", repl)
	}
	if info.SchemaVersion != SchemaVersion || info.Spec.CapacityBytes != 1<<30 || info.CreatedAt.IsZero() {
		t.Fatalf("info %+v", info)
	}
	got, err := c.GetVolume(ctx, info.Spec.ID)
	if err != nil || !reflect.DeepEqual(got, info) {
		t.Fatalf("GetVolume = %+v, %v; want %+v", got, err, info)
	}
	// Idempotent: the same spec returns the same info.
	again, err := c.CreateVolume(ctx, info.Spec)
	if err != nil || !reflect.DeepEqual(again, info) {
		t.Fatalf("second CreateVolume = %+v, %v", again, err)
	}
	// Incompatible: other replication, other capacity.
	other := info.Spec
	other.Replication.Factor = 2
	if _, err := c.CreateVolume(ctx, other); !errors.Is(err, ErrVolumeExists) {
		t.Fatalf("different replication: %v", err)
	}
	other = info.Spec
	other.CapacityBytes = 5 << 30
	if _, err := c.CreateVolume(ctx, other); !errors.Is(err, ErrVolumeExists) {
		t.Fatalf("different capacity: %v", err)
	}
	other = info.Spec
	other.Compression = "none"
	if _, err := c.CreateVolume(ctx, other); !errors.Is(err, ErrVolumeExists) {
		t.Fatalf("different compression: %v", err)
	}
	// Expand raises the quota; the original request stays compatible.
	exp, err := c.ExpandVolume(ctx, info.Spec.ID, 2<<30)
	if err != nil || exp.Spec.CapacityBytes != 2<<30 {
		t.Fatalf("expand: %+v, %v", exp, err)
	}
	if got, _ := c.GetVolume(ctx, info.Spec.ID); got.Spec.CapacityBytes != 2<<30 {
		t.Fatalf("capacity after expand %d", got.Spec.CapacityBytes)
	}
	if exp, err := c.ExpandVolume(ctx, info.Spec.ID, 1<<20); err != nil || exp.Spec.CapacityBytes != 2<<30 {
		t.Fatalf("shrink request changed the quota: %+v, %v", exp, err)
	}
	if again, err := c.CreateVolume(ctx, info.Spec); err != nil || again.Spec.CapacityBytes != 2<<30 {
		t.Fatalf("CreateVolume after expand: %+v, %v", again, err)
	}
	list, err := c.ListVolumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range list {
		found = found || v.Spec.ID == info.Spec.ID
	}
	if !found {
		t.Fatalf("ListVolumes misses %s", info.Spec.ID)
	}
}

func TestCreateVolumeNetworkTopologyStrategy(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, map[string]string{"dcReplication": "dc1:1", "consistency": "LOCAL_QUORUM"})
	ok, repl := keyspaceExists(t, c, info.Keyspace)
	if !ok || repl["class"] != "org.apache.cassandra.locator.NetworkTopologyStrategy" || repl["dc1"] != "1" {
		t.Fatalf("keyspace %s: %v %v", info.Keyspace, ok, repl)
	}
	// The volume works: a file round trip.
	v := openVolume(t, c, info.Spec.ID, "a", nil)
	ctx := context.Background()
	f, err := v.Mknod(ctx, 1, "f", newFile())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Write(ctx, f.Ino, 0, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := v.Read(ctx, f.Ino, 0, buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

func TestDeleteVolumeIdempotent(t *testing.T) {
	c := testCluster(t)
	ctx := context.Background()
	id := testenv.UniqueName("cfstest-del-")
	spec, _ := ParseVolumeSpec(id, 0, nil)
	info, err := c.CreateVolume(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.DeleteVolume(ctx, id); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if ok, _ := keyspaceExists(t, c, info.Keyspace); ok {
		t.Fatal("keyspace still exists")
	}
	if _, err := c.GetVolume(ctx, id); !errors.Is(err, ErrVolumeNotFound) {
		t.Fatalf("GetVolume after delete: %v", err)
	}
	if _, err := c.OpenVolume(ctx, id, OpenOptions{}); !errors.Is(err, ErrVolumeNotFound) {
		t.Fatalf("OpenVolume after delete: %v", err)
	}
	if _, err := c.ExpandVolume(ctx, id, 1); !errors.Is(err, ErrVolumeNotFound) {
		t.Fatalf("ExpandVolume after delete: %v", err)
	}
}

// TestInvalidParamsCreateNothing: no parameter set that fails validation reaches Cassandra, and a hand-built spec
// with injected text is refused by CreateVolume before any keyspace exists.
func TestInvalidParamsCreateNothing(t *testing.T) {
	c := testCluster(t)
	ctx := context.Background()
	before := countKeyspaces(t, c)
	for _, tc := range invalidParams {
		id := testenv.UniqueName("cfstest-bad-")
		if _, err := ParseVolumeSpec(id, 0, tc.params); err == nil {
			t.Fatalf("%v accepted", tc.params)
		}
	}
	id := testenv.UniqueName("cfstest-inj-")
	spec, _ := ParseVolumeSpec(id, 0, nil)
	spec.Replication = Replication{Class: NetworkTopologyStrategy, DCFactors: map[string]int{"dc1': 1} AND durable_writes = false; --": 1}}
	if _, err := c.CreateVolume(ctx, spec); !errors.Is(err, ErrInvalidParameter) {
		t.Fatalf("injected dc name: %v", err)
	}
	spec, _ = ParseVolumeSpec(id, 0, nil)
	spec.Consistency = "ONE; DROP KEYSPACE x"
	if _, err := c.CreateVolume(ctx, spec); !errors.Is(err, ErrInvalidParameter) {
		t.Fatalf("injected consistency: %v", err)
	}
	if ok, _ := keyspaceExists(t, c, KeyspaceName(id)); ok {
		t.Fatal("a keyspace was created for a rejected spec")
	}
	if after := countKeyspaces(t, c); after > before {
		// Other helpers create keyspaces concurrently; only ours would carry this id's name.
		t.Logf("keyspaces %d -> %d (other tests running)", before, after)
	}
}

func countKeyspaces(t *testing.T, c *Cluster) int {
	n := 0
	iter := c.Session().Query(`SELECT keyspace_name FROM system_schema.keyspaces`).Iter()
	var s string
	for iter.Scan(&s) {
		n++
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}
