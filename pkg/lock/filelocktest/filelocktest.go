// Package filelocktest is the conformance suite every lock.FileLocker must pass:
//
//	filelocktest.Run(t, func(t *testing.T) filelocktest.Mounts { ... })
//
// A and B stand for two mounts of one volume (they may be one object: owners differ by Owner.Session).
// CloseA ends mount A (its Locker closed or its session expired): its locks must be released for B.
package filelocktest

import (
	"context"
	"errors"
	"math"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/lock"
)

// Mounts are two FileLockers on one volume, with the owners' session names they were made for.
type Mounts struct {
	A, B         lock.FileLocker
	SessA, SessB string
	CloseA       func()
}

// Run runs every conformance test; newMounts is called once per subtest and registers its own cleanup.
func Run(t *testing.T, newMounts func(t *testing.T) Mounts) {
	tests := []struct {
		name string
		fn   func(*testing.T, Mounts)
	}{
		{"ConflictingWriteLocks", testConflictingWrites},
		{"SharedReadLocks", testSharedReads},
		{"GetLkReportsConflict", testGetLk},
		{"SplitByUnlockingMiddle", testSplit},
		{"MergeAdjacent", testMerge},
		{"UpgradeDowngrade", testUpgradeDowngrade},
		{"BlockingSetLkGrantedAfterRelease", testBlocking},
		{"CancelIsEINTR", testCancel},
		{"ReleaseOwner", testReleaseOwner},
		{"OwnersOfOneMountConflict", testOwnersOfOneMount},
		{"InodesIndependent", testInodes},
		{"FlockSeparateFromPOSIX", testFlock},
		{"FlockBlocking", testFlockBlocking},
		{"InvalidRange", testInvalid},
		{"ClosedMountReleased", testClosedMount},
		{"DeadlockTwoOwners", testDeadlockTwo},
		{"DeadlockUpgrade", testDeadlockUpgrade},
		{"DeadlockSimultaneous", testDeadlockSimultaneous},
		{"DeadlockThreeOwnersTwoInodes", testDeadlockThree},
		{"NoDeadlockInAChain", testNoDeadlockChain},
		{"CancelledWaitLeavesNoEdge", testCancelledWaitNoEdge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newMounts(t)) })
	}
}

const ino = 42

func owners(m Mounts) (a, b lock.Owner) {
	return lock.Owner{Session: m.SessA, ID: 1}, lock.Owner{Session: m.SessB, ID: 1}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func lk(s, e uint64, typ lock.FileLockType) lock.FileLock {
	return lock.FileLock{Start: s, End: e, Type: typ, Pid: 100}
}

func set(t *testing.T, f lock.FileLocker, o lock.Owner, l lock.FileLock, want error) {
	t.Helper()
	err := f.SetLk(ctxT(t), ino, o, l, false)
	if !errors.Is(err, want) && !(err == nil && want == nil) {
		t.Fatalf("SetLk(%v, %+v) = %v, want %v", o, l, err, want)
	}
}

func get(t *testing.T, f lock.FileLocker, o lock.Owner, l lock.FileLock) lock.FileLock {
	t.Helper()
	got, err := f.GetLk(ctxT(t), ino, o, l)
	if err != nil {
		t.Fatalf("GetLk: %v", err)
	}
	return got
}

func wantFree(t *testing.T, f lock.FileLocker, o lock.Owner, l lock.FileLock) {
	t.Helper()
	if got := get(t, f, o, l); got.Type != lock.Unlock {
		t.Fatalf("GetLk(%+v) = %+v, want no conflict", l, got)
	}
}

func testConflictingWrites(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 99, lock.WriteLock), nil)
	set(t, m.B, b, lk(50, 60, lock.WriteLock), syscall.EAGAIN)
	set(t, m.B, b, lk(0, 10, lock.ReadLock), syscall.EAGAIN)
	set(t, m.B, b, lk(99, 99, lock.ReadLock), syscall.EAGAIN)
	set(t, m.B, b, lk(100, 200, lock.WriteLock), nil)
	set(t, m.A, a, lk(150, 150, lock.ReadLock), syscall.EAGAIN)
}

func testSharedReads(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 99, lock.ReadLock), nil)
	set(t, m.B, b, lk(50, 149, lock.ReadLock), nil)
	set(t, m.A, a, lk(0, 99, lock.WriteLock), syscall.EAGAIN)
	set(t, m.A, a, lk(0, 49, lock.WriteLock), nil) // outside b's range: an upgrade of part is fine
}

func testGetLk(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lock.FileLock{Start: 10, End: 20, Type: lock.WriteLock, Pid: 4242}, nil)
	got := get(t, m.B, b, lk(0, 100, lock.ReadLock))
	if got != (lock.FileLock{Start: 10, End: 20, Type: lock.WriteLock, Pid: 4242}) {
		t.Fatalf("GetLk = %+v, want a's write lock [10,20] of pid 4242", got)
	}
	wantFree(t, m.B, b, lk(21, 30, lock.WriteLock))
	wantFree(t, m.A, a, lk(0, 100, lock.WriteLock)) // one's own locks never conflict
}

func testSplit(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 99, lock.WriteLock), nil)
	set(t, m.A, a, lk(40, 59, lock.Unlock), nil)
	set(t, m.B, b, lk(40, 59, lock.WriteLock), nil)
	set(t, m.B, b, lk(39, 39, lock.ReadLock), syscall.EAGAIN)
	set(t, m.B, b, lk(60, 60, lock.ReadLock), syscall.EAGAIN)
	if got := get(t, m.B, b, lk(0, math.MaxUint64, lock.WriteLock)); got.Start != 0 || got.End != 39 {
		t.Fatalf("GetLk = %+v, want the left piece [0,39]", got)
	}
	if got := get(t, m.B, b, lk(60, math.MaxUint64, lock.WriteLock)); got.Start != 60 || got.End != 99 {
		t.Fatalf("GetLk = %+v, want the right piece [60,99]", got)
	}
}

func testMerge(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 9, lock.ReadLock), nil)
	set(t, m.A, a, lk(10, 19, lock.ReadLock), nil)
	if got := get(t, m.B, b, lk(0, 100, lock.WriteLock)); got.Start != 0 || got.End != 19 || got.Type != lock.ReadLock {
		t.Fatalf("GetLk = %+v, want one merged read lock [0,19]", got)
	}
}

func testUpgradeDowngrade(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 99, lock.ReadLock), nil)
	set(t, m.A, a, lk(0, 99, lock.WriteLock), nil) // upgrade: no other holder
	set(t, m.B, b, lk(0, 0, lock.ReadLock), syscall.EAGAIN)
	set(t, m.A, a, lk(0, 99, lock.ReadLock), nil) // downgrade
	set(t, m.B, b, lk(0, 99, lock.ReadLock), nil)
	set(t, m.B, b, lk(0, 0, lock.WriteLock), syscall.EAGAIN)
	set(t, m.A, a, lk(0, 99, lock.WriteLock), syscall.EAGAIN) // upgrade blocked by b's reader
	if got := get(t, m.B, b, lk(0, 99, lock.WriteLock)); got.Type != lock.ReadLock {
		t.Fatalf("failed upgrade changed a's lock: %+v", got)
	}
}

func async(ctx context.Context, f func(context.Context) error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f(ctx) }()
	return ch
}

func wait(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: still blocked", what)
		return nil
	}
}

// settle gives a blocked call time to start waiting; the tests stay correct (if weaker) when it is too short.
func settle() { time.Sleep(200 * time.Millisecond) }

func testBlocking(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 99, lock.WriteLock), nil)
	ch := async(ctxT(t), func(ctx context.Context) error {
		return m.B.SetLk(ctx, ino, b, lk(50, 50, lock.WriteLock), true)
	})
	settle()
	select {
	case err := <-ch:
		t.Fatalf("blocking SetLk returned %v while a holds the range", err)
	default:
	}
	set(t, m.A, a, lk(0, 49, lock.Unlock), nil) // not enough yet
	settle()
	select {
	case err := <-ch:
		t.Fatalf("blocking SetLk returned %v while a still holds [50,99]", err)
	default:
	}
	set(t, m.A, a, lk(0, 99, lock.Unlock), nil)
	if err := wait(t, ch, "SetLkw after release"); err != nil {
		t.Fatalf("SetLkw: %v", err)
	}
	set(t, m.A, a, lk(50, 50, lock.ReadLock), syscall.EAGAIN)
}

func testCancel(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 99, lock.WriteLock), nil)
	ctx, cancel := context.WithCancel(context.Background())
	ch := async(ctx, func(ctx context.Context) error {
		return m.B.SetLk(ctx, ino, b, lk(0, 9, lock.WriteLock), true)
	})
	settle()
	cancel()
	if err := wait(t, ch, "cancelled SetLkw"); !errors.Is(err, syscall.EINTR) {
		t.Fatalf("cancelled SetLkw = %v, want EINTR", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	ch = async(ctx2, func(ctx context.Context) error { return m.B.Flock(ctx, ino, b, lock.WriteLock, true) })
	set(t, m.A, a, lk(0, 99, lock.Unlock), nil)
	if err := m.A.Flock(ctxT(t), ino, a, lock.WriteLock, false); err == nil {
		// a won the flock race; b waits, then gives up
		settle()
		cancel2()
		if err := wait(t, ch, "cancelled flock"); !errors.Is(err, syscall.EINTR) {
			t.Fatalf("cancelled flock wait = %v, want EINTR", err)
		}
		if err := m.A.ReleaseFlock(ctxT(t), ino, a); err != nil {
			t.Fatal(err)
		}
	} else {
		cancel2()
		<-ch
		_ = m.B.ReleaseFlock(ctxT(t), ino, b)
	}
	// Nothing left behind by the cancelled waiters.
	wantFree(t, m.A, a, lk(0, math.MaxUint64, lock.WriteLock))
	if err := m.A.Flock(ctxT(t), ino, a, lock.WriteLock, false); err != nil {
		t.Fatalf("flock after cancelled waiters: %v", err)
	}
}

func testReleaseOwner(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 9, lock.WriteLock), nil)
	set(t, m.A, a, lk(20, 29, lock.ReadLock), nil)
	if err := m.A.Flock(ctxT(t), ino, a, lock.WriteLock, false); err != nil {
		t.Fatal(err)
	}
	if err := m.A.ReleaseOwner(ctxT(t), ino, a); err != nil {
		t.Fatalf("ReleaseOwner: %v", err)
	}
	set(t, m.B, b, lk(0, 100, lock.WriteLock), nil)
	// The flock is not a POSIX lock: close of one descriptor leaves it.
	if err := m.B.Flock(ctxT(t), ino, b, lock.ReadLock, false); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("flock after ReleaseOwner = %v, want EAGAIN", err)
	}
	if err := m.A.ReleaseOwner(ctxT(t), ino, a); err != nil { // twice: fine
		t.Fatal(err)
	}
}

func testOwnersOfOneMount(t *testing.T, m Mounts) {
	a, _ := owners(m)
	a2 := lock.Owner{Session: a.Session, ID: 2}
	set(t, m.A, a, lk(0, 9, lock.WriteLock), nil)
	set(t, m.A, a2, lk(5, 5, lock.ReadLock), syscall.EAGAIN)
	set(t, m.A, a2, lk(10, 19, lock.WriteLock), nil)
	if got := get(t, m.A, a2, lk(0, 100, lock.WriteLock)); got.Start != 0 || got.End != 9 {
		t.Fatalf("GetLk by another owner of the same mount = %+v", got)
	}
}

func testInodes(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, math.MaxUint64, lock.WriteLock), nil)
	if err := m.B.SetLk(ctxT(t), ino+1, b, lk(0, math.MaxUint64, lock.WriteLock), false); err != nil {
		t.Fatalf("another inode: %v", err)
	}
	_ = m.B.ReleaseOwner(ctxT(t), ino+1, b)
}

func testFlock(t *testing.T, m Mounts) {
	a, b := owners(m)
	ctx := ctxT(t)
	if err := m.A.Flock(ctx, ino, a, lock.WriteLock, false); err != nil {
		t.Fatal(err)
	}
	set(t, m.B, b, lk(0, math.MaxUint64, lock.WriteLock), nil) // POSIX locks are another namespace
	wantFree(t, m.B, b, lk(0, math.MaxUint64, lock.ReadLock))  // ... and GetLk does not see flocks
	for _, typ := range []lock.FileLockType{lock.WriteLock, lock.ReadLock} {
		if err := m.B.Flock(ctx, ino, b, typ, false); !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("flock %v over a's exclusive flock = %v, want EAGAIN", typ, err)
		}
	}
	if err := m.A.Flock(ctx, ino, a, lock.ReadLock, false); err != nil { // convert to shared
		t.Fatal(err)
	}
	if err := m.B.Flock(ctx, ino, b, lock.ReadLock, false); err != nil {
		t.Fatalf("two shared flocks: %v", err)
	}
	if err := m.B.Flock(ctx, ino, b, lock.WriteLock, false); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("flock upgrade beside a reader = %v, want EAGAIN", err)
	}
	if err := m.A.ReleaseFlock(ctx, ino, a); err != nil {
		t.Fatal(err)
	}
	if err := m.B.Flock(ctx, ino, b, lock.WriteLock, false); err != nil {
		t.Fatalf("flock after release: %v", err)
	}
	if err := m.B.Flock(ctx, ino, b, lock.Unlock, false); err != nil {
		t.Fatal(err)
	}
	if err := m.A.Flock(ctx, ino, a, lock.WriteLock, false); err != nil {
		t.Fatalf("flock after LOCK_UN: %v", err)
	}
}

func testFlockBlocking(t *testing.T, m Mounts) {
	a, b := owners(m)
	if err := m.A.Flock(ctxT(t), ino, a, lock.ReadLock, false); err != nil {
		t.Fatal(err)
	}
	ch := async(ctxT(t), func(ctx context.Context) error { return m.B.Flock(ctx, ino, b, lock.WriteLock, true) })
	settle()
	select {
	case err := <-ch:
		t.Fatalf("blocking flock returned %v while a holds a shared flock", err)
	default:
	}
	if err := m.A.ReleaseFlock(ctxT(t), ino, a); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, ch, "flock after release"); err != nil {
		t.Fatalf("blocking flock: %v", err)
	}
}

func testInvalid(t *testing.T, m Mounts) {
	a, _ := owners(m)
	set(t, m.A, a, lock.FileLock{Start: 10, End: 9, Type: lock.WriteLock}, syscall.EINVAL)
	set(t, m.A, a, lock.FileLock{Start: 0, End: 9, Type: 7}, syscall.EINVAL)
	if _, err := m.A.GetLk(ctxT(t), ino, a, lock.FileLock{Start: 10, End: 9}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("GetLk of an empty range = %v, want EINVAL", err)
	}
}

func testClosedMount(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, math.MaxUint64, lock.WriteLock), nil)
	if err := m.A.Flock(ctxT(t), ino, a, lock.WriteLock, false); err != nil {
		t.Fatal(err)
	}
	ch := async(ctxT(t), func(ctx context.Context) error {
		return m.B.SetLk(ctx, ino, b, lk(0, 9, lock.WriteLock), true)
	})
	settle()
	m.CloseA()
	if err := wait(t, ch, "SetLkw after the holder's mount closed"); err != nil {
		t.Fatalf("SetLkw: %v", err)
	}
	if err := m.B.Flock(ctxT(t), ino, b, lock.WriteLock, false); err != nil {
		t.Fatalf("flock after the holder's mount closed: %v", err)
	}
}

// A blocked request, as the deadlock tests track it.
type pending struct {
	owner lock.Owner
	f     lock.FileLocker
	ch    <-chan error
	what  string
}

func setLkW(t *testing.T, f lock.FileLocker, o lock.Owner, in uint64, l lock.FileLock, what string) pending {
	return pending{o, f, async(ctxT(t), func(ctx context.Context) error { return f.SetLk(ctx, in, o, l, true) }), what}
}

// resolveDeadlock checks that exactly one of the blocked requests in ps fails with EDEADLK (the one that closed
// the cycle: which one that is depends on the order they reached the locker in) while the others keep waiting.
// It then releases the loser's locks on inodes and lets the others finish one after another, each granted and
// then released (a chain, no longer a cycle, so every one of them must be granted).
func resolveDeadlock(t *testing.T, ps []pending, inodes ...uint64) {
	t.Helper()
	cases := make([]reflect.SelectCase, len(ps)+1)
	for i, p := range ps {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(p.ch)}
	}
	cases[len(ps)] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(time.After(60 * time.Second))}
	i, v, _ := reflect.Select(cases)
	if i == len(ps) {
		t.Fatalf("deadlock of %d owners: no request failed with EDEADLK within 60 s", len(ps))
	}
	err, _ := v.Interface().(error)
	if !errors.Is(err, syscall.EDEADLK) {
		t.Fatalf("%s returned %v while the others wait in a cycle, want EDEADLK", ps[i].what, err)
	}
	t.Logf("%s: EDEADLK", ps[i].what)
	loser := ps[i]
	ps = append(ps[:i:i], ps[i+1:]...)
	settle()
	for _, p := range ps {
		select {
		case err := <-p.ch:
			t.Fatalf("%s returned %v after the other request's EDEADLK; want it still waiting", p.what, err)
		default:
		}
	}
	release := func(p pending) {
		for _, in := range inodes {
			if err := p.f.ReleaseOwner(ctxT(t), in, p.owner); err != nil {
				t.Fatalf("release: %v", err)
			}
		}
	}
	release(loser)
	for len(ps) > 0 {
		cases = cases[:0]
		for _, p := range ps {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(p.ch)})
		}
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(time.After(60 * time.Second))})
		i, v, _ := reflect.Select(cases)
		if i == len(ps) {
			t.Fatalf("after the EDEADLK and its owner's release, %d requests still wait", len(ps))
		}
		if err, _ := v.Interface().(error); err != nil {
			t.Fatalf("%s: %v, want granted once the cycle is broken", ps[i].what, err)
		}
		release(ps[i])
		ps = append(ps[:i:i], ps[i+1:]...)
	}
}

// testDeadlockTwo: a holds [0,9] and waits for b's [10,19]; b then asks for [0,9]: one of them gets EDEADLK.
func testDeadlockTwo(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 9, lock.WriteLock), nil)
	set(t, m.B, b, lk(10, 19, lock.WriteLock), nil)
	pa := setLkW(t, m.A, a, ino, lk(10, 19, lock.WriteLock), "a's F_SETLKW [10,19]")
	settle()
	pb := setLkW(t, m.B, b, ino, lk(0, 9, lock.WriteLock), "b's F_SETLKW [0,9]")
	resolveDeadlock(t, []pending{pa, pb}, ino)
}

// testDeadlockSimultaneous: both requests of a two-owner cycle are made at once, a few times: exactly one fails.
func testDeadlockSimultaneous(t *testing.T, m Mounts) {
	a, b := owners(m)
	for i := 0; i < 4; i++ {
		set(t, m.A, a, lk(0, 9, lock.WriteLock), nil)
		set(t, m.B, b, lk(10, 19, lock.WriteLock), nil)
		pa := setLkW(t, m.A, a, ino, lk(10, 19, lock.WriteLock), "a's F_SETLKW [10,19]")
		pb := setLkW(t, m.B, b, ino, lk(0, 9, lock.WriteLock), "b's F_SETLKW [0,9]")
		resolveDeadlock(t, []pending{pa, pb}, ino)
	}
}

// testDeadlockUpgrade: two readers of one range both upgrade to writers: each waits for the other's read lock.
func testDeadlockUpgrade(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 9, lock.ReadLock), nil)
	set(t, m.B, b, lk(0, 9, lock.ReadLock), nil)
	pa := setLkW(t, m.A, a, ino, lk(0, 9, lock.WriteLock), "a's upgrade")
	settle()
	pb := setLkW(t, m.B, b, ino, lk(5, 5, lock.WriteLock), "b's upgrade")
	resolveDeadlock(t, []pending{pa, pb}, ino)
}

// testDeadlockThree: a cycle of three owners (two of one mount) across two inodes: a waits for b on the second
// inode, b for c on the first, c for a on the first.
func testDeadlockThree(t *testing.T, m Mounts) {
	a, b := owners(m)
	c := lock.Owner{Session: m.SessA, ID: 2}
	ctx := ctxT(t)
	set(t, m.A, a, lk(0, 0, lock.WriteLock), nil)
	if err := m.B.SetLk(ctx, ino+1, b, lk(0, 0, lock.WriteLock), false); err != nil {
		t.Fatal(err)
	}
	set(t, m.A, c, lk(5, 5, lock.WriteLock), nil)
	pa := setLkW(t, m.A, a, ino+1, lk(0, 0, lock.WriteLock), "a's wait for b")
	pb := setLkW(t, m.B, b, ino, lk(5, 5, lock.ReadLock), "b's wait for c")
	settle()
	pc := setLkW(t, m.A, c, ino, lk(0, 0, lock.ReadLock), "c's wait for a")
	resolveDeadlock(t, []pending{pa, pb, pc}, ino, ino+1)
}

// testNoDeadlockInAChain: owners waiting in a chain (c for b, b for a) are no cycle; a, which waits for nobody,
// may take more locks; releases let the chain through.
func testNoDeadlockChain(t *testing.T, m Mounts) {
	a, b := owners(m)
	c := lock.Owner{Session: m.SessB, ID: 2}
	set(t, m.A, a, lk(0, 9, lock.WriteLock), nil)
	set(t, m.B, b, lk(10, 19, lock.WriteLock), nil)
	pb := setLkW(t, m.B, b, ino, lk(0, 9, lock.WriteLock), "b's wait for a")
	settle()
	pc := setLkW(t, m.B, c, ino, lk(10, 19, lock.ReadLock), "c's wait for b")
	settle()
	// a shares [20,29] with nobody: granted at once. A read lock beside b's held write lock is refused (no wait).
	set(t, m.A, a, lk(20, 29, lock.WriteLock), nil)
	set(t, m.A, a, lk(19, 19, lock.ReadLock), syscall.EAGAIN)
	for _, p := range []pending{pb, pc} {
		select {
		case err := <-p.ch:
			t.Fatalf("%s returned %v in a chain without a cycle", p.what, err)
		default:
		}
	}
	set(t, m.A, a, lk(0, math.MaxUint64, lock.Unlock), nil)
	if err := wait(t, pb.ch, pb.what); err != nil {
		t.Fatalf("%s: %v", pb.what, err)
	}
	select {
	case err := <-pc.ch:
		t.Fatalf("%s returned %v while b still holds [10,19]", pc.what, err)
	default:
	}
	set(t, m.B, b, lk(0, math.MaxUint64, lock.Unlock), nil)
	if err := wait(t, pc.ch, pc.what); err != nil {
		t.Fatalf("%s: %v", pc.what, err)
	}
}

// testCancelledWaitNoEdge: a wait that ended (EINTR) no longer counts: a later wait in the other direction is no
// cycle and is granted once the holder releases.
func testCancelledWaitNoEdge(t *testing.T, m Mounts) {
	a, b := owners(m)
	set(t, m.A, a, lk(0, 9, lock.WriteLock), nil)
	set(t, m.B, b, lk(10, 19, lock.WriteLock), nil)
	ctx, cancel := context.WithCancel(context.Background())
	ch := async(ctx, func(ctx context.Context) error { return m.A.SetLk(ctx, ino, a, lk(10, 19, lock.WriteLock), true) })
	settle()
	cancel()
	if err := wait(t, ch, "cancelled F_SETLKW"); !errors.Is(err, syscall.EINTR) {
		t.Fatalf("cancelled F_SETLKW = %v, want EINTR", err)
	}
	pb := setLkW(t, m.B, b, ino, lk(0, 9, lock.WriteLock), "b's wait for a")
	settle()
	select {
	case err := <-pb.ch:
		t.Fatalf("%s returned %v; a no longer waits, so there is no cycle", pb.what, err)
	default:
	}
	set(t, m.A, a, lk(0, 9, lock.Unlock), nil)
	if err := wait(t, pb.ch, pb.what); err != nil {
		t.Fatalf("%s: %v", pb.what, err)
	}
}
