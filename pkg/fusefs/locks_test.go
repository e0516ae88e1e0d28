package fusefs

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFlockTwoMounts: BSD locks taken through one mount exclude the other mount, and go away on close.
func TestFlockTwoMounts(t *testing.T) {
	a, b, _ := mountMemTwice(t)
	writeFile(t, join(a, "f"), nil)
	fa, err := os.Open(join(a, "f"))
	must(t, err)
	fb, err := os.Open(join(b, "f"))
	must(t, err)
	defer fb.Close()
	must(t, unix.Flock(int(fa.Fd()), unix.LOCK_EX|unix.LOCK_NB))
	if err := unix.Flock(int(fb.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Fatalf("flock on B while A holds LOCK_EX: %v, want EWOULDBLOCK", err)
	}
	// A blocking flock on B is granted once A closes its descriptor.
	got := make(chan error, 1)
	go func() { got <- unix.Flock(int(fb.Fd()), unix.LOCK_EX) }()
	select {
	case err := <-got:
		t.Fatalf("blocking flock returned %v while A holds the lock", err)
	case <-time.After(200 * time.Millisecond):
	}
	must(t, fa.Close())
	if err := <-got; err != nil {
		t.Fatalf("blocking flock after A's close: %v", err)
	}
	fa2, err := os.Open(join(a, "f"))
	must(t, err)
	defer fa2.Close()
	if err := unix.Flock(int(fa2.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Errorf("flock on A while B holds LOCK_EX: %v, want EWOULDBLOCK", err)
	}
	must(t, unix.Flock(int(fb.Fd()), unix.LOCK_UN))
	must(t, unix.Flock(int(fa2.Fd()), unix.LOCK_SH|unix.LOCK_NB))
}

// TestFcntlTwoMounts: POSIX record locks through one mount are seen (F_GETLK) and honoured by the other, by
// byte range, and are released by close of any descriptor of the file.
func TestFcntlTwoMounts(t *testing.T) {
	a, b, _ := mountMemTwice(t)
	writeFile(t, join(a, "f"), make([]byte, 1000))
	fa, err := os.OpenFile(join(a, "f"), os.O_RDWR, 0)
	must(t, err)
	fb, err := os.OpenFile(join(b, "f"), os.O_RDWR, 0)
	must(t, err)
	defer fb.Close()
	lk := func(typ int16, start, l int64) *unix.Flock_t {
		return &unix.Flock_t{Type: typ, Whence: 0, Start: start, Len: l}
	}
	must(t, unix.FcntlFlock(fa.Fd(), unix.F_SETLK, lk(unix.F_WRLCK, 0, 100)))
	q := lk(unix.F_RDLCK, 50, 10)
	must(t, unix.FcntlFlock(fb.Fd(), unix.F_GETLK, q))
	if q.Type != unix.F_WRLCK || q.Start != 0 || q.Len != 100 || q.Pid != int32(os.Getpid()) {
		t.Errorf("F_GETLK on B = %+v, want A's write lock [0,100) of pid %d", *q, os.Getpid())
	}
	if err := unix.FcntlFlock(fb.Fd(), unix.F_SETLK, lk(unix.F_RDLCK, 50, 10)); err != syscall.EAGAIN && err != syscall.EACCES {
		t.Errorf("conflicting F_SETLK on B: %v, want EAGAIN", err)
	}
	must(t, unix.FcntlFlock(fb.Fd(), unix.F_SETLK, lk(unix.F_WRLCK, 200, 100)))
	// Splitting: A unlocks the middle of its range; B may lock there but not at either end.
	must(t, unix.FcntlFlock(fa.Fd(), unix.F_SETLK, lk(unix.F_UNLCK, 40, 20)))
	must(t, unix.FcntlFlock(fb.Fd(), unix.F_SETLK, lk(unix.F_WRLCK, 45, 10)))
	if err := unix.FcntlFlock(fb.Fd(), unix.F_SETLK, lk(unix.F_WRLCK, 90, 5)); err != syscall.EAGAIN && err != syscall.EACCES {
		t.Errorf("F_SETLK on the tail of A's split lock: %v, want EAGAIN", err)
	}
	// F_SETLKW waits until A's close releases its locks (close of ANY descriptor of the file, per POSIX).
	got := make(chan error, 1)
	go func() { got <- unix.FcntlFlock(fb.Fd(), unix.F_SETLKW, lk(unix.F_WRLCK, 0, 10)) }()
	select {
	case err := <-got:
		t.Fatalf("F_SETLKW returned %v while A holds the range", err)
	case <-time.After(200 * time.Millisecond):
	}
	other, err := os.Open(join(a, "f"))
	must(t, err)
	must(t, other.Close())
	if err := <-got; err != nil {
		t.Fatalf("F_SETLKW after A closed a descriptor: %v", err)
	}
	must(t, fa.Close())
	q = lk(unix.F_WRLCK, 0, 0)
	fa3, err := os.OpenFile(join(a, "f"), os.O_RDWR, 0)
	must(t, err)
	defer fa3.Close()
	must(t, unix.FcntlFlock(fa3.Fd(), unix.F_GETLK, q))
	if q.Type != unix.F_WRLCK {
		t.Errorf("F_GETLK on A sees no lock of B: %+v", *q)
	}
}

// TestFcntlSameProcess: POSIX record locks belong to the process, so a second descriptor of the same process
// converts the lock instead of conflicting with it, as on ext4; another mount (another owner) still conflicts.
func TestFcntlSameProcess(t *testing.T) {
	a, b, _ := mountMemTwice(t)
	writeFile(t, join(a, "f"), nil)
	f1, err := os.OpenFile(join(a, "f"), os.O_RDWR, 0)
	must(t, err)
	defer f1.Close()
	f2, err := os.OpenFile(join(a, "f"), os.O_RDWR, 0)
	must(t, err)
	defer f2.Close()
	must(t, unix.FcntlFlock(f1.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK}))
	must(t, unix.FcntlFlock(f2.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_RDLCK}))
	fb, err := os.OpenFile(join(b, "f"), os.O_RDWR, 0)
	must(t, err)
	defer fb.Close()
	if err := unix.FcntlFlock(fb.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK}); err != syscall.EAGAIN && err != syscall.EACCES {
		t.Errorf("write lock on B over A's (converted) read lock: %v, want EAGAIN", err)
	}
	must(t, unix.FcntlFlock(fb.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_RDLCK}))
}
