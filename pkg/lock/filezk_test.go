package lock_test

import (
	"testing"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/lock/filelocktest"
)

func TestZKFilesConformance(t *testing.T) {
	filelocktest.Run(t, func(t *testing.T) filelocktest.Mounts {
		cfg := zkTestConfig(t)
		za, zb := newZK(t, cfg), newZK(t, cfg)
		return filelocktest.Mounts{A: lock.NewZKFiles(za), B: lock.NewZKFiles(zb), SessA: "mount-a", SessB: "mount-b",
			CloseA: func() { _ = za.Close() }}
	})
}
