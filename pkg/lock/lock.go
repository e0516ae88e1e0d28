// Package lock gives CassFS the coordination Cassandra cannot: named exclusive and shared locks with fencing
// tokens, leader election for single-owner background work, and POSIX/BSD file locks shared by every mount of a
// ReadWriteMany volume.
//
// Two implementations share one contract and one conformance suite (locktest.Run): the ZooKeeper one for volumes
// mounted on several nodes, and an in-process one for single-node volumes, which never need ZooKeeper.
package lock

import (
	"context"
	"errors"
)

// Mode is the kind of a named lock.
type Mode int

const (
	Exclusive Mode = iota
	Shared
)

// ErrWouldBlock is returned by TryLock when the lock is held in a conflicting mode.
var ErrWouldBlock = errors.New("lock: held by another owner")

// ErrLost is returned by operations on a Lease whose lock was lost (for example on ZooKeeper session expiry).
var ErrLost = errors.New("lock: lost")

// Locker grants named locks. Names are slash-free strings of [A-Za-z0-9._-]; an implementation scopes them to
// one volume. Locks are not reentrant: a second Lock of a held name by the same Locker waits like any other.
type Locker interface {
	// Lock blocks until the lock is granted in mode, ctx ends (ctx.Err(), nothing left behind) or the Locker
	// fails. Shared holders coexist; an exclusive holder excludes all others. Waiters are granted in arrival order
	// (a shared waiter queued behind an exclusive waiter waits for it).
	Lock(ctx context.Context, name string, mode Mode) (Lease, error)
	// TryLock is Lock without waiting: ErrWouldBlock when the lock is not free for mode.
	TryLock(ctx context.Context, name string, mode Mode) (Lease, error)
	// Close releases every lease this Locker holds (they report lost) and frees its resources.
	Close() error
}

// Lease is a held lock.
type Lease interface {
	// Token is the fencing token: it grows strictly with every grant of the same name, so a stale holder
	// writing after a newer holder can be detected by comparing tokens.
	Token() uint64
	// Lost is closed when the lock can no longer be trusted (session expired, Locker closed). Work that depends
	// on the lock must stop and fail (EIO at the filesystem) rather than go on unprotected.
	Lost() <-chan struct{}
	// Unlock releases the lock. Unlocking twice, or after loss, returns nil.
	Unlock(ctx context.Context) error
}
