// Package locktest is the conformance suite every lock.Locker must pass. Run it from a _test.go file:
//
//	locktest.Run(t, func(t *testing.T) (a, b lock.Locker) { ... })
//
// a and b stand for two mounts of one volume: locks taken through one must exclude the other. The factory is
// called once per subtest and registers its own cleanup. A Locker that also implements Queuer lets the suite wait
// until a waiter is really queued instead of sleeping.
package locktest

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/lock"
)

// Queuer is implemented by Lockers that can report how many holders and waiters a name has.
type Queuer interface {
	QueueLen(ctx context.Context, name string) (int, error)
}

// Factory returns two Lockers on one shared lock space.
type Factory func(t *testing.T) (a, b lock.Locker)

// Run runs every conformance test against the Lockers made by newLockers.
func Run(t *testing.T, newLockers Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, lock.Locker, lock.Locker)
	}{
		{"Exclusion", testExclusion},
		{"SharedCoexist", testSharedCoexist},
		{"WriterWaitsForReaders", testWriterWaitsForReaders},
		{"ReaderQueuedBehindWriter", testReaderQueuedBehindWriter},
		{"FIFO", testFIFO},
		{"TryLock", testTryLock},
		{"CancelLeavesNothing", testCancel},
		{"DeadlineLeavesNothing", testDeadline},
		{"TokensIncrease", testTokens},
		{"UnlockIdempotent", testUnlockIdempotent},
		{"CloseReleasesAndLost", testClose},
		{"CloseFailsWaiter", testCloseFailsWaiter},
		{"InvalidName", testInvalidName},
		{"Stress", testStress},
		{"ElectionOneLeader", testElectionOneLeader},
		{"ElectionNextAfterLoss", testElectionNextAfterLoss},
		{"ElectionRunElected", testRunElected},
		{"ElectionLeadCancelledOnLoss", testElectionLeadCancelledOnLoss},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newLockers(t)
			tc.fn(t, a, b)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustLock(t *testing.T, l lock.Locker, name string, mode lock.Mode) lock.Lease {
	t.Helper()
	lease, err := l.Lock(ctxT(t), name, mode)
	if err != nil {
		t.Fatalf("Lock(%s, %v): %v", name, mode, err)
	}
	return lease
}

func mustUnlock(t *testing.T, lease lock.Lease) {
	t.Helper()
	if err := lease.Unlock(context.Background()); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

func wantWouldBlock(t *testing.T, l lock.Locker, name string, mode lock.Mode) {
	t.Helper()
	lease, err := l.TryLock(ctxT(t), name, mode)
	if !errors.Is(err, lock.ErrWouldBlock) {
		if lease != nil {
			_ = lease.Unlock(context.Background())
		}
		t.Fatalf("TryLock(%s, %v) = %v, want ErrWouldBlock", name, mode, err)
	}
}

// waitQueued waits until name has n holders+waiters (as seen through l), or sleeps briefly if l cannot tell.
func waitQueued(t *testing.T, l lock.Locker, name string, n int) {
	t.Helper()
	q, ok := l.(Queuer)
	if !ok {
		time.Sleep(300 * time.Millisecond)
		return
	}
	ctx := ctxT(t)
	for {
		got, err := q.QueueLen(ctx, name)
		if err != nil {
			t.Fatalf("QueueLen: %v", err)
		}
		if got == n {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("QueueLen(%s) = %d, want %d", name, got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// async runs Lock in a goroutine; the result arrives on the channel.
type result struct {
	lease lock.Lease
	err   error
}

func async(ctx context.Context, l lock.Locker, name string, mode lock.Mode) <-chan result {
	ch := make(chan result, 1)
	go func() {
		lease, err := l.Lock(ctx, name, mode)
		ch <- result{lease, err}
	}()
	return ch
}

func notYet(t *testing.T, ch <-chan result, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s granted too early (err %v)", what, r.err)
	default:
	}
}

func recv(t *testing.T, ch <-chan result, what string) lock.Lease {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r.lease
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: not granted", what)
		return nil
	}
}

func testExclusion(t *testing.T, a, b lock.Locker) {
	x := mustLock(t, a, "ex", lock.Exclusive)
	wantWouldBlock(t, b, "ex", lock.Exclusive)
	wantWouldBlock(t, b, "ex", lock.Shared)
	wantWouldBlock(t, a, "ex", lock.Exclusive) // not reentrant
	mustUnlock(t, x)
	y, err := b.TryLock(ctxT(t), "ex", lock.Exclusive)
	if err != nil {
		t.Fatalf("TryLock after release: %v", err)
	}
	wantWouldBlock(t, a, "ex", lock.Shared)
	mustUnlock(t, y)
	// Another name is independent.
	z := mustLock(t, a, "ex2", lock.Exclusive)
	w, err := b.TryLock(ctxT(t), "ex3", lock.Exclusive)
	if err != nil {
		t.Fatalf("independent name: %v", err)
	}
	mustUnlock(t, z)
	mustUnlock(t, w)
}

func testSharedCoexist(t *testing.T, a, b lock.Locker) {
	r1 := mustLock(t, a, "sh", lock.Shared)
	r2 := mustLock(t, b, "sh", lock.Shared)
	r3, err := a.TryLock(ctxT(t), "sh", lock.Shared)
	if err != nil {
		t.Fatalf("third reader: %v", err)
	}
	wantWouldBlock(t, b, "sh", lock.Exclusive)
	for _, l := range []lock.Lease{r1, r2, r3} {
		mustUnlock(t, l)
	}
	mustUnlock(t, mustLock(t, b, "sh", lock.Exclusive))
}

func testWriterWaitsForReaders(t *testing.T, a, b lock.Locker) {
	r1 := mustLock(t, a, "wr", lock.Shared)
	r2 := mustLock(t, b, "wr", lock.Shared)
	w := async(ctxT(t), b, "wr", lock.Exclusive)
	waitQueued(t, a, "wr", 3)
	notYet(t, w, "writer while two readers hold")
	mustUnlock(t, r1)
	waitQueued(t, a, "wr", 2)
	notYet(t, w, "writer while one reader holds")
	mustUnlock(t, r2)
	mustUnlock(t, recv(t, w, "writer after readers"))
}

func testReaderQueuedBehindWriter(t *testing.T, a, b lock.Locker) {
	r1 := mustLock(t, a, "rq", lock.Shared)
	w := async(ctxT(t), b, "rq", lock.Exclusive)
	waitQueued(t, a, "rq", 2)
	wantWouldBlock(t, a, "rq", lock.Shared)
	r2 := async(ctxT(t), a, "rq", lock.Shared)
	waitQueued(t, b, "rq", 3)
	notYet(t, r2, "reader behind a queued writer")
	mustUnlock(t, r1)
	wl := recv(t, w, "writer")
	waitQueued(t, b, "rq", 2)
	notYet(t, r2, "reader while writer holds")
	mustUnlock(t, wl)
	mustUnlock(t, recv(t, r2, "reader after writer"))
}

func testFIFO(t *testing.T, a, b lock.Locker) {
	first := mustLock(t, a, "fifo", lock.Exclusive)
	const n = 6
	var mu sync.Mutex
	var order []int
	var wg, readers sync.WaitGroup
	readers.Add(2)
	bothReaders := make(chan struct{})
	go func() { readers.Wait(); close(bothReaders) }()
	for i := 0; i < n; i++ {
		l := a
		if i%2 == 1 {
			l = b
		}
		mode := lock.Exclusive
		if i == 2 || i == 3 {
			mode = lock.Shared // two adjacent readers are granted together, after 0 and 1
		}
		ch := async(ctxT(t), l, "fifo", mode)
		waitQueued(t, a, "fifo", i+2)
		wg.Add(1)
		go func(i int, mode lock.Mode) {
			defer wg.Done()
			r := <-ch
			if r.err != nil {
				t.Errorf("waiter %d: %v", i, r.err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			if mode == lock.Shared { // both readers are held at once before either leaves
				readers.Done()
				select {
				case <-bothReaders:
				case <-time.After(60 * time.Second):
					t.Errorf("reader %d: the other reader was not granted alongside", i)
				}
			}
			_ = r.lease.Unlock(context.Background())
		}(i, mode)
	}
	mustUnlock(t, first)
	wg.Wait()
	if len(order) != n {
		t.Fatalf("order %v: want %d grants", order, n)
	}
	for i, got := range order {
		want := i
		if i == 2 || i == 3 {
			if got != 2 && got != 3 {
				t.Fatalf("grant order %v, want 0 1 {2 3} 4 5", order)
			}
			continue
		}
		if got != want {
			t.Fatalf("grant order %v, want 0 1 {2 3} 4 5", order)
		}
	}
}

func testTryLock(t *testing.T, a, b lock.Locker) {
	x, err := a.TryLock(ctxT(t), "try", lock.Exclusive)
	if err != nil {
		t.Fatalf("TryLock of a free lock: %v", err)
	}
	wantWouldBlock(t, b, "try", lock.Exclusive)
	wantWouldBlock(t, b, "try", lock.Shared)
	mustUnlock(t, x)
	// A failed TryLock leaves nothing behind: the queue is empty again.
	waitQueued(t, a, "try", 0)
	r, err := b.TryLock(ctxT(t), "try", lock.Shared)
	if err != nil {
		t.Fatalf("TryLock shared of a free lock: %v", err)
	}
	mustUnlock(t, r)
}

func cancelTest(t *testing.T, a, b lock.Locker, name string, mk func() (context.Context, context.CancelFunc), want error) {
	x := mustLock(t, a, name, lock.Exclusive)
	for _, mode := range []lock.Mode{lock.Exclusive, lock.Shared} {
		ctx, cancel := mk()
		ch := async(ctx, b, name, mode)
		if want == context.Canceled {
			waitQueued(t, a, name, 2)
			cancel()
		}
		r := <-ch
		cancel()
		if !errors.Is(r.err, want) {
			t.Fatalf("Lock with ended ctx = %v, want %v", r.err, want)
		}
		if r.lease != nil {
			t.Fatalf("lease returned with error")
		}
		waitQueued(t, a, name, 1)
	}
	mustUnlock(t, x)
	y, err := b.TryLock(ctxT(t), name, lock.Exclusive)
	if err != nil {
		t.Fatalf("next lock after an abandoned wait: %v", err)
	}
	mustUnlock(t, y)
	// An already-ended ctx fails at once, even on a free lock.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Lock(ctx, name, lock.Exclusive); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with cancelled ctx on a free lock = %v", err)
	}
}

func testCancel(t *testing.T, a, b lock.Locker) {
	cancelTest(t, a, b, "cancel", func() (context.Context, context.CancelFunc) {
		return context.WithCancel(context.Background())
	}, context.Canceled)
}

func testDeadline(t *testing.T, a, b lock.Locker) {
	cancelTest(t, a, b, "deadline", func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 300*time.Millisecond)
	}, context.DeadlineExceeded)
}

func testTokens(t *testing.T, a, b lock.Locker) {
	var last uint64
	check := func(l lock.Lease, what string) {
		t.Helper()
		if l.Token() <= last {
			t.Fatalf("%s: token %d not above previous %d", what, l.Token(), last)
		}
		last = l.Token()
	}
	for i := 0; i < 5; i++ {
		x := mustLock(t, a, "tok", lock.Exclusive)
		check(x, "exclusive via a")
		mustUnlock(t, x)
		y := mustLock(t, b, "tok", lock.Exclusive)
		check(y, "exclusive via b")
		mustUnlock(t, y)
		r := mustLock(t, b, "tok", lock.Shared)
		check(r, "shared via b")
		mustUnlock(t, r)
	}
	// A queued writer's token is above the holder's.
	x := mustLock(t, a, "tok", lock.Exclusive)
	check(x, "holder")
	ch := async(ctxT(t), b, "tok", lock.Exclusive)
	waitQueued(t, a, "tok", 2)
	mustUnlock(t, x)
	y := recv(t, ch, "queued writer")
	check(y, "queued writer")
	mustUnlock(t, y)
}

func testUnlockIdempotent(t *testing.T, a, b lock.Locker) {
	x := mustLock(t, a, "idem", lock.Exclusive)
	mustUnlock(t, x)
	mustUnlock(t, x)
	y := mustLock(t, b, "idem", lock.Exclusive)
	mustUnlock(t, x) // must not release b's lock
	wantWouldBlock(t, a, "idem", lock.Exclusive)
	mustUnlock(t, y)
	select {
	case <-x.Lost():
		t.Fatalf("Lost closed by a plain Unlock")
	default:
	}
}

func testClose(t *testing.T, a, b lock.Locker) {
	x := mustLock(t, a, "close", lock.Exclusive)
	r := mustLock(t, a, "close2", lock.Shared)
	ch := async(ctxT(t), b, "close", lock.Exclusive)
	waitQueued(t, b, "close", 2)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, l := range []lock.Lease{x, r} {
		select {
		case <-l.Lost():
		default:
			t.Fatalf("Lost not closed by Close")
		}
		if err := lock.Valid(l); !errors.Is(err, lock.ErrLost) {
			t.Fatalf("Valid after Close = %v", err)
		}
		mustUnlock(t, l)
	}
	y := recv(t, ch, "waiter after the holder's Locker closed")
	mustUnlock(t, y)
	mustUnlock(t, mustLock(t, b, "close2", lock.Exclusive))
	if _, err := a.Lock(ctxT(t), "close3", lock.Exclusive); err == nil {
		t.Fatalf("Lock after Close succeeded")
	}
}

func testCloseFailsWaiter(t *testing.T, a, b lock.Locker) {
	x := mustLock(t, b, "cw", lock.Exclusive)
	ch := async(ctxT(t), a, "cw", lock.Exclusive)
	waitQueued(t, b, "cw", 2)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := <-ch; r.err == nil {
		t.Fatalf("waiter of a closed Locker was granted")
	}
	waitQueued(t, b, "cw", 1)
	mustUnlock(t, x)
}

func testInvalidName(t *testing.T, a, _ lock.Locker) {
	for _, name := range []string{"", "a/b", "..", "x y", "ü"} {
		if l, err := a.Lock(ctxT(t), name, lock.Exclusive); err == nil {
			_ = l.Unlock(context.Background())
			t.Fatalf("Lock(%q) accepted", name)
		}
	}
}

// testStress: many goroutines on both Lockers; a writer must never see another holder, a reader never a writer.
func testStress(t *testing.T, a, b lock.Locker) {
	const workers, rounds = 8, 25
	var writers, readers, grants, exclusive atomic.Int64
	var counter atomic.Int64 // read, then written: protected by the exclusive lock only (atomic for -race)
	var wg sync.WaitGroup
	var lastToken sync.Map
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			for r := 0; r < rounds; r++ {
				mode := lock.Exclusive
				if (i+r)%3 == 0 {
					mode = lock.Shared
				}
				lease, err := l.Lock(context.Background(), "stress", mode)
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				grants.Add(1)
				if mode == lock.Exclusive {
					exclusive.Add(1)
					if n := writers.Add(1); n != 1 || readers.Load() != 0 {
						t.Errorf("writer with %d writers, %d readers", n, readers.Load())
					}
					c := counter.Load()
					runtime.Gosched()
					counter.Store(c + 1)
					if prev, ok := lastToken.Swap("w", lease.Token()); ok && prev.(uint64) >= lease.Token() {
						t.Errorf("exclusive token %d after %d", lease.Token(), prev)
					}
					writers.Add(-1)
				} else {
					readers.Add(1)
					runtime.Gosched()
					if writers.Load() != 0 {
						t.Errorf("reader with a writer")
					}
					readers.Add(-1)
				}
				if err := lease.Unlock(context.Background()); err != nil {
					t.Errorf("unlock: %v", err)
				}
			}
		}(i)
	}
	wg.Wait()
	if got := grants.Load(); got != workers*rounds {
		t.Fatalf("%d grants, want %d", got, workers*rounds)
	}
	if counter.Load() != exclusive.Load() {
		t.Fatalf("counter %d after %d exclusive grants: lost updates", counter.Load(), exclusive.Load())
	}
	waitQueued(t, a, "stress", 0)
}
