package lock

import (
	"context"
	"testing"
	"time"
)

func TestKind(t *testing.T) {
	for name, want := range map[string]string{"ino-42": "ino", "rename": "rename", "session-cleanup": "session-cleanup",
		"compact-12-3": "compact", "42": "other", "-": "other", "a.b_c": "a.b_c"} {
		if got := Kind(name); got != want {
			t.Errorf("Kind(%q) = %q, want %q", name, got, want)
		}
	}
}

type waits map[string]int

func (w waits) LockWaited(kind string, d time.Duration) { w[kind]++ }

// TestObserveLockers: grants of blocking locks are reported by kind; TryLock, non-blocking file locks, unlocks
// and refusals are not.
func TestObserveLockers(t *testing.T) {
	ctx := context.Background()
	w := waits{}
	l := ObserveLocker(NewLocal(), w)
	defer l.Close()
	lease, err := l.Lock(ctx, "ino-7", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.TryLock(ctx, "ino-7", Exclusive); err == nil {
		t.Fatal("TryLock of a held lock succeeded")
	}
	_ = lease.Unlock(ctx)
	if _, err := l.TryLock(ctx, "rename", Exclusive); err != nil {
		t.Fatal(err)
	}
	f := ObserveFileLocker(NewLocalFiles(), w)
	a, b := Owner{Session: "s", ID: 1}, Owner{Session: "s", ID: 2}
	if err := f.SetLk(ctx, 1, a, FileLock{End: 10, Type: WriteLock}, true); err != nil {
		t.Fatal(err)
	}
	if err := f.SetLk(ctx, 1, b, FileLock{End: 10, Type: WriteLock}, false); err == nil {
		t.Fatal("conflicting SetLk granted")
	}
	if err := f.SetLk(ctx, 1, a, FileLock{End: 10, Type: Unlock}, true); err != nil {
		t.Fatal(err)
	}
	if err := f.Flock(ctx, 1, a, ReadLock, true); err != nil {
		t.Fatal(err)
	}
	if err := f.Flock(ctx, 1, b, ReadLock, false); err != nil {
		t.Fatal(err)
	}
	if want := (waits{"ino": 1, "posix": 1, "flock": 1}); len(w) != len(want) || w["ino"] != 1 || w["posix"] != 1 || w["flock"] != 1 {
		t.Fatalf("reported %v, want %v", w, want)
	}
}

// lossyFiles is a FileLocker that can lose locks (as ZKFiles can).
type lossyFiles struct {
	*LocalFiles
	lost chan struct{}
}

func (l lossyFiles) LockLost(uint64, Owner, bool) <-chan struct{} { return l.lost }

// TestObserveFileLockerKeepsLoss: the observed FileLocker still tells pkg/fusefs when locks are lost (the driver
// wraps ZKFiles in it when it has metrics); one that cannot lose locks does not claim to.
func TestObserveFileLockerKeepsLoss(t *testing.T) {
	l := lossyFiles{NewLocalFiles(), make(chan struct{})}
	loss, ok := ObserveFileLocker(l, waits{}).(FileLockLoss)
	if !ok {
		t.Fatal("ObserveFileLocker hides FileLockLoss")
	}
	if loss.LockLost(1, Owner{}, false) != (<-chan struct{})(l.lost) {
		t.Fatal("LockLost not passed through")
	}
	if _, ok := ObserveFileLocker(NewLocalFiles(), waits{}).(FileLockLoss); ok {
		t.Fatal("an observed LocalFiles claims FileLockLoss")
	}
}
