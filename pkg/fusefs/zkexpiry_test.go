package fusefs

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/lock"
)

// zkSessionTimeout is the ZooKeeper session timeout of the mounts in these tests: short, so that the server
// expires a cut-off session quickly (the test bed's servers accept 2 s to 60 s).
const zkSessionTimeout = 4 * time.Second

// zkLockerVia is zkLocker with the test's session timeout, connecting through d.
func zkLockerVia(t testing.TB, chroot, id string, d *testenv.CutDialer) *lock.ZK {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	z, err := lock.NewZK(ctx, lock.ZKConfig{Servers: testenv.RequireZooKeeper(t), Chroot: chroot,
		Namespace: cassandra.KeyspaceName(id), SessionTimeout: zkSessionTimeout, Dialer: d.Dial, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("ZooKeeper: %v", err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}

// within runs op and returns its error and duration; it fails the test if op has not returned after limit (a
// hang), leaving op running.
func within(t *testing.T, what string, limit time.Duration, op func() error) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(limit):
		t.Fatalf("%s still blocked after %v", what, limit)
		return 0, nil
	}
}

// until retries op every 50 ms until it returns nil; it fails the test after limit.
func until(t *testing.T, what string, limit time.Duration, op func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := op()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: still %v after %v", what, err, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var wholeFile = unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}

// TestCassandraMountZKSessionExpiry: mount A holds an fcntl lock and a flock through ZooKeeper, mount B waits for
// them, and A is cut off from ZooKeeper until the server expires its session. B is then granted both locks; A's
// holder learns that its locks are gone (writes, fsync and close of the locked files fail with EIO, and what it
// had buffered under them is never uploaded); A's requests that need ZooKeeper (a new lock, a directory move
// under the volume's rename lock) fail with EIO during the outage instead of hanging or going ahead unprotected;
// and once ZooKeeper is reachable again A works on a new session without remounting.
func TestCassandraMountZKSessionExpiry(t *testing.T) {
	c, id := cassVolume(t, 0)
	chroot := testenv.ZKChroot(t, "cassfs-fusefs-")
	cutA := &testenv.CutDialer{}
	za, zb := zkLockerVia(t, chroot, id, cutA), zkLockerVia(t, chroot, id, &testenv.CutDialer{})
	a := mountCass(t, c, id, "mount-a", za, Options{Locks: lock.NewZKFiles(za)})
	b := mountCass(t, c, id, "mount-b", zb, Options{Locks: lock.NewZKFiles(zb)})
	t.Cleanup(func() { cutA.Set(false) }) // first: requests a failed test left blocked can finish, mounts unmount
	const size = 100
	for _, p := range []string{"posix", "flock", "other"} {
		writeFile(t, join(a, p), []byte(strings.Repeat(".", size)))
	}
	must(t, os.MkdirAll(join(a, "from", "moved"), 0o755))
	must(t, os.Mkdir(join(a, "to"), 0o755))

	// A's holder: an fcntl write lock on "posix", a flock on "flock".
	pa, err := os.OpenFile(join(a, "posix"), os.O_RDWR, 0)
	must(t, err)
	defer pa.Close()
	fa, err := os.OpenFile(join(a, "flock"), os.O_RDWR, 0)
	must(t, err)
	defer fa.Close()
	lk := wholeFile
	must(t, unix.FcntlFlock(pa.Fd(), unix.F_SETLK, &lk))
	must(t, unix.Flock(int(fa.Fd()), unix.LOCK_EX|unix.LOCK_NB))
	_, err = pa.WriteAt([]byte("A-synced"), 0)
	must(t, err)
	must(t, pa.Sync())
	_, err = fa.WriteAt([]byte("A-buffered"), 0) // never synced: still in A's write-back buffer at the loss
	must(t, err)

	// B contends for both, then waits for them.
	pb, err := os.OpenFile(join(b, "posix"), os.O_RDWR, 0)
	must(t, err)
	defer pb.Close()
	fb, err := os.OpenFile(join(b, "flock"), os.O_RDWR, 0)
	must(t, err)
	defer fb.Close()
	lk = wholeFile
	if err := unix.FcntlFlock(pb.Fd(), unix.F_SETLK, &lk); err != syscall.EAGAIN {
		t.Fatalf("F_SETLK on B while A holds the file: %v, want EAGAIN", err)
	}
	if err := unix.Flock(int(fb.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Fatalf("flock on B while A holds the file: %v, want EWOULDBLOCK", err)
	}
	posixGranted, flockGranted := make(chan error, 1), make(chan error, 1)
	var posixAt, flockAt time.Time // when B's requests returned
	go func() {
		lk := wholeFile
		err := unix.FcntlFlock(pb.Fd(), unix.F_SETLKW, &lk)
		posixAt = time.Now()
		posixGranted <- err
	}()
	go func() {
		err := unix.Flock(int(fb.Fd()), unix.LOCK_EX)
		flockAt = time.Now()
		flockGranted <- err
	}()

	cutA.Set(true)
	cut := time.Now()
	t.Logf("A cut off from ZooKeeper (session timeout %v)", zkSessionTimeout)

	// A's holder keeps writing through its locked descriptor until it is told the lock is gone.
	var eio time.Duration
	for {
		_, err := pa.WriteAt([]byte("A-LOST"), 50)
		if err != nil {
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("write through A's descriptor after the cut: %v, want EIO", err)
			}
			eio = time.Since(cut)
			break
		}
		if time.Since(cut) > 12*zkSessionTimeout {
			t.Fatalf("writes through A's lost lock still succeed %v after the cut", time.Since(cut))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("MEASURED: cut -> A's write under the lost fcntl lock fails with EIO: %v", eio.Round(time.Millisecond))
	if err := pa.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("fsync of A's descriptor under the lost lock: %v, want EIO", err)
	}
	if _, err := fa.WriteAt([]byte("A-LOST"), 50); !errors.Is(err, syscall.EIO) {
		t.Errorf("write through A's descriptor under the lost flock: %v, want EIO", err)
	}

	// Requests of A that need ZooKeeper fail, and do not hang, while it is unreachable.
	limit := 12 * zkSessionTimeout
	took, err := within(t, "A's new fcntl lock during the outage", limit, func() error {
		f, err := os.OpenFile(join(a, "other"), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		lk := wholeFile
		return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	})
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("A's new fcntl lock during the outage: %v, want EIO", err)
	}
	t.Logf("MEASURED: A's new F_SETLK during the outage fails with EIO after %v", took.Round(time.Millisecond))
	took, err = within(t, "A's directory move during the outage", limit, func() error {
		return os.Rename(join(a, "from", "moved"), join(a, "to", "moved"))
	})
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("A's directory move (needs the rename lock) during the outage: %v, want EIO", err)
	}
	t.Logf("MEASURED: A's directory move during the outage fails with EIO after %v", took.Round(time.Millisecond))
	took, err = within(t, "A's rmdir during the outage", limit, func() error { return os.Remove(join(a, "from", "moved")) })
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("A's rmdir (needs the rename lock) during the outage: %v, want EIO", err)
	}
	t.Logf("MEASURED: A's rmdir during the outage fails with EIO after %v", took.Round(time.Millisecond))
	if _, err := os.Stat(join(a, "from", "moved")); err != nil {
		t.Errorf("the directory A failed to move or remove: %v", err)
	}

	// B is granted both once ZooKeeper expires A's session.
	for _, g := range []struct {
		what string
		ch   chan error
		at   *time.Time
	}{{"F_SETLKW", posixGranted, &posixAt}, {"flock", flockGranted, &flockAt}} {
		select {
		case err := <-g.ch:
			must(t, err)
			t.Logf("MEASURED: cut -> B's blocked %s granted (A's session expired): %v", g.what, g.at.Sub(cut).Round(time.Millisecond))
		case <-time.After(limit):
			t.Fatalf("B's %s not granted %v after A was cut off", g.what, limit)
		}
	}
	for _, f := range []*os.File{pb, fb} {
		_, err := f.WriteAt([]byte("B-wrote!"), 0)
		must(t, err)
		must(t, f.Sync())
	}

	cutA.Set(false)
	healed := time.Now()
	took = until(t, "A's fcntl lock after ZooKeeper is back", limit, func() error {
		f, err := os.OpenFile(join(a, "other"), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		lk := wholeFile
		if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
			return err
		}
		lk.Type = unix.F_UNLCK
		return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	})
	t.Logf("MEASURED: ZooKeeper reachable again -> A's new fcntl lock granted: %v", took.Round(time.Millisecond))
	start := time.Now()
	must(t, os.Rename(join(a, "from", "moved"), join(a, "to", "moved")))
	must(t, os.Remove(join(a, "to", "moved")))
	t.Logf("MEASURED: ZooKeeper reachable again -> A's directory move and rmdir done: %v (the two took %v)",
		time.Since(healed).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// A's lost locks stay lost until A drops them: writes fail, F_GETLK shows B's lock.
	if _, err := pa.WriteAt([]byte("A-LOST"), 50); !errors.Is(err, syscall.EIO) {
		t.Errorf("write through A's descriptor under the lost lock after recovery: %v, want EIO", err)
	}
	q := wholeFile
	must(t, unix.FcntlFlock(pa.Fd(), unix.F_GETLK, &q))
	if q.Type != unix.F_WRLCK {
		t.Errorf("F_GETLK on A: type %d, want F_WRLCK (B's lock)", q.Type)
	}
	// Closing the flock descriptor reports the buffered data it had to drop.
	if err := fa.Close(); !errors.Is(err, syscall.EIO) {
		t.Errorf("close of A's descriptor with data buffered under the lost flock: %v, want EIO", err)
	}
	// Dropping the lost fcntl lock ends the EIOs; A locks again once B lets go.
	q = wholeFile
	q.Type = unix.F_UNLCK
	must(t, unix.FcntlFlock(pa.Fd(), unix.F_SETLK, &q))
	q = wholeFile
	if err := unix.FcntlFlock(pa.Fd(), unix.F_SETLK, &q); err != syscall.EAGAIN {
		t.Errorf("A's F_SETLK while B holds the file: %v, want EAGAIN", err)
	}
	must(t, pb.Close())
	q = wholeFile
	must(t, unix.FcntlFlock(pa.Fd(), unix.F_SETLKW, &q))
	_, err = pa.WriteAt([]byte("A-again"), 20)
	must(t, err)
	must(t, pa.Sync())
	must(t, pa.Close())
	must(t, fb.Close())

	// Nothing A wrote under its lost locks reached the store; B's data and A's later write did.
	for p, want := range map[string]string{
		"posix": "B-wrote!" + strings.Repeat(".", 12) + "A-again" + strings.Repeat(".", size-27),
		"flock": "B-wrote!" + strings.Repeat(".", size-8),
	} {
		got := readFile(t, join(b, p))
		if string(got) != want {
			t.Errorf("%s reads %q, want %q", p, got, want)
		}
	}
}

// TestCassandraMountZKOutage: ZooKeeper unreachable from every mount (as if the ensemble were down), for longer
// than the session timeout. Requests that need it fail with EIO instead of hanging, the holder of a lock learns
// it is lost, closing files does not wait for ZooKeeper, and both mounts work again once it is back.
func TestCassandraMountZKOutage(t *testing.T) {
	c, id := cassVolume(t, 0)
	chroot := testenv.ZKChroot(t, "cassfs-fusefs-")
	cutAll := &testenv.CutDialer{}
	za, zb := zkLockerVia(t, chroot, id, cutAll), zkLockerVia(t, chroot, id, cutAll)
	a := mountCass(t, c, id, "mount-a", za, Options{Locks: lock.NewZKFiles(za)})
	b := mountCass(t, c, id, "mount-b", zb, Options{Locks: lock.NewZKFiles(zb)})
	t.Cleanup(func() { cutAll.Set(false) })
	writeFile(t, join(a, "locked"), []byte("0123456789"))
	writeFile(t, join(a, "plain"), []byte("0123456789"))
	must(t, os.MkdirAll(join(b, "from", "moved"), 0o755))
	must(t, os.Mkdir(join(b, "to"), 0o755))
	fa, err := os.OpenFile(join(a, "locked"), os.O_RDWR, 0)
	must(t, err)
	defer fa.Close()
	lk := wholeFile
	must(t, unix.FcntlFlock(fa.Fd(), unix.F_SETLK, &lk))

	cutAll.Set(true)
	cut := time.Now()
	limit := 12 * zkSessionTimeout
	eio := until(t, "A's write under its lock during the outage", limit, func() error {
		if _, err := fa.WriteAt([]byte("x"), 0); err != nil {
			if errors.Is(err, syscall.EIO) {
				return nil
			}
			t.Fatalf("write under A's lock during the outage: %v, want EIO", err)
		}
		return errors.New("write accepted")
	})
	t.Logf("MEASURED: ZooKeeper unreachable -> A's write under its lost fcntl lock fails with EIO: %v", eio.Round(time.Millisecond))
	took, err := within(t, "B's F_SETLK during the outage", limit, func() error {
		f, err := os.OpenFile(join(b, "locked"), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		lk := wholeFile
		return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	})
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("B's F_SETLK during the outage: %v, want EIO", err)
	}
	t.Logf("MEASURED: B's F_SETLK during the outage fails with EIO after %v", took.Round(time.Millisecond))
	took, err = within(t, "B's directory move during the outage", limit, func() error {
		return os.Rename(join(b, "from", "moved"), join(b, "to", "moved"))
	})
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("B's directory move during the outage: %v, want EIO", err)
	}
	t.Logf("MEASURED: B's directory move during the outage fails with EIO after %v", took.Round(time.Millisecond))
	took, err = within(t, "open, write and close of an unlocked file during the outage", limit, func() error {
		f, err := os.OpenFile(join(a, "plain"), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt([]byte("during"), 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	must(t, err)
	t.Logf("MEASURED: open, write and close of an unlocked file on A during the outage: %v", took.Round(time.Millisecond))
	t.Logf("outage lasted %v", time.Since(cut).Round(time.Millisecond))

	cutAll.Set(false)
	healed := time.Now()
	q := wholeFile
	q.Type = unix.F_UNLCK
	must(t, unix.FcntlFlock(fa.Fd(), unix.F_SETLK, &q)) // drop the lost lock
	took = until(t, "B's F_SETLK after the outage", limit, func() error {
		f, err := os.OpenFile(join(b, "locked"), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		lk := wholeFile
		return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	})
	t.Logf("MEASURED: ZooKeeper back -> B's F_SETLK granted: %v", took.Round(time.Millisecond))
	must(t, os.Rename(join(b, "from", "moved"), join(b, "to", "moved")))
	lk = wholeFile
	must(t, unix.FcntlFlock(fa.Fd(), unix.F_SETLK, &lk))
	_, err = fa.WriteAt([]byte("A"), 0)
	must(t, err)
	must(t, fa.Close())
	t.Logf("MEASURED: ZooKeeper back -> both mounts lock and move directories again: %v", time.Since(healed).Round(time.Millisecond))
	if got := string(readFile(t, join(b, "locked"))); got != "A123456789" {
		t.Errorf("locked file reads %q, want %q", got, "A123456789")
	}
	if got := string(readFile(t, join(b, "plain"))); got != "during6789" {
		t.Errorf("plain file reads %q, want %q", got, "during6789")
	}
}
