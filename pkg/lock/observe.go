package lock

import (
	"context"
	"time"
)

// WaitObserver is told how long each blocking lock acquisition took, from the call to the grant. Only granted
// locks are reported (a wait that ends in an error or a cancelled context is not). It runs on the caller's
// goroutine after the grant, so it must be cheap.
type WaitObserver interface {
	// LockWaited reports a grant: kind is Kind of the lock name for named locks, "posix" for fcntl locks and
	// "flock" for BSD locks.
	LockWaited(kind string, d time.Duration)
}

// Kind returns the kind of a lock name: its leading run of letters, '.', '_' and '-', without a trailing '-'
// ("ino-42" is "ino", "rename" is "rename", "session-cleanup" is "session-cleanup"). Names carry numbers where
// they name one instance, so the kinds are as few as the names in the code; a name without such a prefix is
// "other".
func Kind(name string) string {
	i := 0
	for i < len(name) {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			break
		}
		i++
	}
	for i > 0 && name[i-1] == '-' {
		i--
	}
	if i == 0 {
		return "other"
	}
	return name[:i]
}

// ObserveLocker returns l with every Lock timed and reported to o. TryLock never waits and is not reported.
func ObserveLocker(l Locker, o WaitObserver) Locker { return observedLocker{l, o} }

type observedLocker struct {
	Locker
	o WaitObserver
}

func (l observedLocker) Lock(ctx context.Context, name string, mode Mode) (Lease, error) {
	t := time.Now()
	lease, err := l.Locker.Lock(ctx, name, mode)
	if err == nil {
		l.o.LockWaited(Kind(name), time.Since(t))
	}
	return lease, err
}

// ObserveFileLocker returns l with every blocking SetLk and Flock that takes a lock timed and reported to o.
// The result implements FileLockLoss when l does.
func ObserveFileLocker(l FileLocker, o WaitObserver) FileLocker {
	if loss, ok := l.(FileLockLoss); ok {
		return observedLossyFileLocker{observedFileLocker{l, o}, loss}
	}
	return observedFileLocker{l, o}
}

type observedFileLocker struct {
	FileLocker
	o WaitObserver
}

type observedLossyFileLocker struct {
	observedFileLocker
	FileLockLoss
}

func (l observedFileLocker) SetLk(ctx context.Context, ino uint64, owner Owner, lk FileLock, wait bool) error {
	t := time.Now()
	err := l.FileLocker.SetLk(ctx, ino, owner, lk, wait)
	if err == nil && wait && lk.Type != Unlock {
		l.o.LockWaited("posix", time.Since(t))
	}
	return err
}

func (l observedFileLocker) Flock(ctx context.Context, ino uint64, owner Owner, typ FileLockType, wait bool) error {
	t := time.Now()
	err := l.FileLocker.Flock(ctx, ino, owner, typ, wait)
	if err == nil && wait && typ != Unlock {
		l.o.LockWaited("flock", time.Since(t))
	}
	return err
}
