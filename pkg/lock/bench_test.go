package lock_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/lock"
)

// Uncontended Lock+Unlock cycles, and contended grants with 8 waiters on one exclusive lock:
//
//	go test -run X -bench . ./pkg/lock/   (ZooKeeper must be running; CASSFS_TEST_ZOOKEEPER picks the servers)

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

// contenders is the number of lockers (ZooKeeper sessions) that compete for one exclusive lock.
const contenders = 8

// benchContended makes b.N grants of one exclusive lock in total, shared out among the lockers, each of which
// locks and unlocks in a loop, so every Lock waits for the others. It reports grants/s and the mean time a Lock
// call waited, and fails if two lockers ever held the lock at once.
func benchContended(b *testing.B, lockers []lock.Locker) {
	ctx := context.Background()
	var (
		next, waited atomic.Int64
		holders      atomic.Int32
		wg           sync.WaitGroup
		errs         = make(chan error, len(lockers))
	)
	b.ResetTimer()
	for _, l := range lockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				lease, err := l.Lock(ctx, "contended", lock.Exclusive)
				if err != nil {
					errs <- err
					return
				}
				waited.Add(int64(time.Since(t0)))
				if holders.Add(1) != 1 {
					errs <- errTwoHolders
				}
				holders.Add(-1)
				if err := lease.Unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "grants/s")
	b.ReportMetric(float64(waited.Load())/float64(b.N)/1e6, "ms-wait/grant")
}

var errTwoHolders = errors.New("two holders of an exclusive lock at once")

func BenchmarkLocalContended8(b *testing.B) {
	l := lock.NewLocal()
	lockers := []lock.Locker{l}
	for len(lockers) < contenders {
		lockers = append(lockers, l.Share())
	}
	benchContended(b, lockers)
}

func BenchmarkZKContended8(b *testing.B) {
	cfg := zkTestConfig(b)
	var lockers []lock.Locker
	for len(lockers) < contenders {
		lockers = append(lockers, newZK(b, cfg))
	}
	benchContended(b, lockers)
}

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
