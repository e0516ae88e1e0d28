package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/lock/locktest"
)

func TestLocalNotifierConformance(t *testing.T) {
	locktest.RunNotifier(t, func(t *testing.T, n int) []lock.Notifier {
		g := lock.NewLocalNotifiers(0)
		var ns []lock.Notifier
		for range n {
			m := g.Join()
			t.Cleanup(func() { _ = m.Close() })
			ns = append(ns, m)
		}
		return ns
	})
}

// TestZKNotifierConformance runs the suite against the real ZooKeeper, one ZK session per notifier (as mounts
// on different nodes have).
func TestZKNotifierConformance(t *testing.T) {
	locktest.RunNotifier(t, func(t *testing.T, n int) []lock.Notifier {
		cfg := zkTestConfig(t)
		var ns []lock.Notifier
		for range n {
			z := newZK(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			m, err := lock.NewZKNotifier(ctx, z, 0)
			cancel()
			if err != nil {
				t.Fatalf("NewZKNotifier: %v", err)
			}
			t.Cleanup(func() { _ = m.Close() }) // runs before z's Close (cleanups run last-in first-out)
			ns = append(ns, m)
		}
		return ns
	})
}
