package lock_test

import (
	"testing"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/lock/filelocktest"
)

func TestLocalFilesConformance(t *testing.T) {
	filelocktest.Run(t, func(t *testing.T) filelocktest.Mounts {
		f := lock.NewLocalFiles()
		return filelocktest.Mounts{A: f, B: f, SessA: "mount-a", SessB: "mount-b",
			CloseA: func() { f.ReleaseSession("mount-a") }}
	})
}
