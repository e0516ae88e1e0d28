package lock_test

import (
	"context"
	"testing"

	"github.com/cassfs/cassfs/pkg/lock"
)

// Uncontended Lock+Unlock cycles: go test -run X -bench LockUnlock ./pkg/lock/ (ZooKeeper must be running).

func benchLockUnlock(b *testing.B, l lock.Locker) {
	ctx := context.Background()
	for b.Loop() {
		lease, err := l.Lock(ctx, "bench", lock.Exclusive)
		if err != nil {
			b.Fatal(err)
		}
		if err := lease.Unlock(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
}

func BenchmarkLocalLockUnlock(b *testing.B) { benchLockUnlock(b, lock.NewLocal()) }

func BenchmarkZKLockUnlock(b *testing.B) { benchLockUnlock(b, newZK(b, zkTestConfig(b))) }

func BenchmarkZKFilesSetLkUnlock(b *testing.B) {
	f := lock.NewZKFiles(newZK(b, zkTestConfig(b)))
	ctx := context.Background()
	o := lock.Owner{Session: "bench", ID: 1}
	for b.Loop() {
		if err := f.SetLk(ctx, 1, o, lock.FileLock{Start: 0, End: 99, Type: lock.WriteLock}, false); err != nil {
			b.Fatal(err)
		}
		if err := f.SetLk(ctx, 1, o, lock.FileLock{Start: 0, End: 99, Type: lock.Unlock}, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
}
