package lock_test

import (
	"testing"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/lock/locktest"
)

func TestLocalConformance(t *testing.T) {
	locktest.Run(t, func(t *testing.T) (a, b lock.Locker) {
		l := lock.NewLocal()
		m := l.Share()
		t.Cleanup(func() { _ = l.Close(); _ = m.Close() })
		return l, m
	})
}
