package cassandra

import (
	"context"
	"sync"

	"github.com/cassfs/cassfs/pkg/lock"
)

// localLocker is the in-process lock.Locker used when OpenOptions.Locker is nil (a volume mounted on one node
// only). Every lock is exclusive (Shared is treated as Exclusive, which is stricter); waiters are woken in no
// particular order. It only guards this process: multi-node volumes must pass a ZooKeeper Locker.
type localLocker struct {
	mu     sync.Mutex
	locks  map[string]chan struct{} // a held lock has a channel closed on Unlock
	tokens map[string]uint64
	closed bool
}

func newLocalLocker() *localLocker {
	return &localLocker{locks: map[string]chan struct{}{}, tokens: map[string]uint64{}}
}

var _ lock.Locker = (*localLocker)(nil)

type localLease struct {
	l     *localLocker
	name  string
	token uint64
	ch    chan struct{}
	lost  chan struct{}
	once  sync.Once
}

func (l *localLocker) TryLock(ctx context.Context, name string, mode lock.Mode) (lock.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, lock.ErrLost
	}
	if _, held := l.locks[name]; held {
		return nil, lock.ErrWouldBlock
	}
	ch := make(chan struct{})
	l.locks[name] = ch
	l.tokens[name]++
	return &localLease{l: l, name: name, token: l.tokens[name], ch: ch, lost: make(chan struct{})}, nil
}

func (l *localLocker) Lock(ctx context.Context, name string, mode lock.Mode) (lock.Lease, error) {
	for {
		lease, err := l.TryLock(ctx, name, mode)
		if err != lock.ErrWouldBlock {
			return lease, err
		}
		l.mu.Lock()
		ch := l.locks[name]
		l.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (l *localLocker) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return nil
}

func (s *localLease) Token() uint64         { return s.token }
func (s *localLease) Lost() <-chan struct{} { return s.lost }
func (s *localLease) Unlock(ctx context.Context) error {
	s.once.Do(func() {
		s.l.mu.Lock()
		if s.l.locks[s.name] == s.ch {
			delete(s.l.locks, s.name)
		}
		s.l.mu.Unlock()
		close(s.ch)
	})
	return nil
}
