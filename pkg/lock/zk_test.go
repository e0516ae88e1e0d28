package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/lock/locktest"
)

// zkTestConfig returns a config with a chroot of its own, deleted with everything below it when t ends.
func zkTestConfig(t testing.TB) lock.ZKConfig {
	t.Helper()
	servers := testenv.RequireZooKeeper(t)
	cfg := lock.ZKConfig{
		Servers:        servers,
		SessionTimeout: 6 * time.Second,
		Chroot:         "/" + testenv.UniqueName("cassfs-locktest-"),
		Namespace:      testenv.UniqueName("vol-"),
	}
	t.Cleanup(func() { testenv.DeleteZKTree(t, servers, cfg.Chroot) })
	return cfg
}

func newZK(t testing.TB, cfg lock.ZKConfig) *lock.ZK {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	z, err := lock.NewZK(ctx, cfg)
	if err != nil {
		t.Fatalf("NewZK: %v", err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}

func TestZKConformance(t *testing.T) {
	locktest.Run(t, func(t *testing.T) (a, b lock.Locker) {
		cfg := zkTestConfig(t)
		return newZK(t, cfg), newZK(t, cfg)
	})
}

func TestDeleteZKNamespace(t *testing.T) {
	cfg := zkTestConfig(t)
	z := newZK(t, cfg)
	ctx := context.Background()
	if _, err := z.Lock(ctx, "x", lock.Exclusive); err != nil {
		t.Fatal(err)
	}
	_ = z.Close()
	if err := lock.DeleteZKNamespace(ctx, cfg); err != nil {
		t.Fatalf("DeleteZKNamespace: %v", err)
	}
	c, _, err := zk.Connect(cfg.Servers, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _, err := c.Exists(cfg.Chroot + "/" + cfg.Namespace); err != nil || ok {
		t.Fatalf("namespace still exists (%v, %v)", ok, err)
	}
	if ok, _, err := c.Exists(cfg.Chroot); err != nil || !ok {
		t.Fatalf("the deployment's chroot must stay (%v, %v)", ok, err)
	}
}
