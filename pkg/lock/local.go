package lock

import (
	"context"
	"sync"
)

// Local is the in-process Locker for volumes mounted on one node only. Every handle made by Share uses the same
// lock table, so two handles behave like two mounts of one volume: they exclude each other, and closing one
// releases only its own leases.
type Local struct {
	t *localTable

	mu     sync.Mutex
	leases map[*localLease]struct{}
	closed bool
}

var _ Locker = (*Local)(nil)

// NewLocal returns a Locker backed by a new, empty in-process lock table.
func NewLocal() *Local {
	return newLocalHandle(&localTable{queues: make(map[string][]*localWaiter)})
}

// Share returns another handle on the same lock table (another "mount" of the same volume).
func (l *Local) Share() *Local { return newLocalHandle(l.t) }

func newLocalHandle(t *localTable) *Local {
	return &Local{t: t, leases: make(map[*localLease]struct{})}
}

// localTable holds, per name, the queue of holders and waiters in arrival order. Granted entries form a prefix:
// either one exclusive entry, or a run of shared ones.
type localTable struct {
	mu     sync.Mutex
	queues map[string][]*localWaiter
	token  uint64 // one counter for all names: strictly increasing per name too
}

type localWaiter struct {
	mode    Mode
	granted bool
	token   uint64
	ready   chan struct{} // closed when granted
}

// enqueue appends w to name's queue and grants whatever became grantable. Caller holds t.mu.
func (t *localTable) enqueue(name string, w *localWaiter) {
	t.queues[name] = append(t.queues[name], w)
	t.grant(name)
}

// remove drops w from name's queue (granted or not) and grants its successors. Caller holds t.mu.
func (t *localTable) remove(name string, w *localWaiter) {
	q := t.queues[name]
	for i, x := range q {
		if x == w {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(t.queues, name)
		return
	}
	t.queues[name] = q
	t.grant(name)
}

func (t *localTable) grant(name string) {
	q := t.queues[name]
	for i, w := range q {
		if i > 0 && (w.mode == Exclusive || q[i-1].mode == Exclusive) {
			return
		}
		if !w.granted {
			t.token++
			w.granted, w.token = true, t.token
			close(w.ready)
		}
	}
}

// Lock implements Locker.
func (l *Local) Lock(ctx context.Context, name string, mode Mode) (Lease, error) {
	return l.lock(ctx, name, mode, true)
}

// TryLock implements Locker.
func (l *Local) TryLock(ctx context.Context, name string, mode Mode) (Lease, error) {
	return l.lock(ctx, name, mode, false)
}

func (l *Local) lock(ctx context.Context, name string, mode Mode, wait bool) (Lease, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &localWaiter{mode: mode, ready: make(chan struct{})}
	lease := &localLease{h: l, name: name, w: w, lost: make(chan struct{})}
	// Registering first lets Close find (and fail) a waiter too.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	l.leases[lease] = struct{}{}
	l.mu.Unlock()

	l.t.mu.Lock()
	l.t.enqueue(name, w)
	granted := w.granted
	if !granted && !wait {
		l.t.remove(name, w)
	}
	l.t.mu.Unlock()
	if !granted && !wait {
		l.forget(lease)
		return nil, ErrWouldBlock
	}
	select {
	case <-w.ready:
	case <-ctx.Done():
	case <-lease.lost:
	}
	l.t.mu.Lock()
	granted = w.granted
	ok := granted && ctx.Err() == nil
	if !ok {
		l.t.remove(name, w) // nothing left behind, even if granted in the same instant
	}
	l.t.mu.Unlock()
	if ok {
		select {
		case <-lease.lost:
			ok = false
		default:
			lease.token = w.token
			return lease, nil
		}
	}
	l.forget(lease)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrClosed
}

func (l *Local) forget(lease *localLease) {
	l.mu.Lock()
	delete(l.leases, lease)
	l.mu.Unlock()
}

// Close releases every lease and wakes every waiter of this handle; their Lost channels close. Other handles
// on the same table are unaffected.
func (l *Local) Close() error {
	l.mu.Lock()
	l.closed = true
	leases := l.leases
	l.leases = make(map[*localLease]struct{})
	l.mu.Unlock()
	for lease := range leases {
		lease.release(true)
	}
	return nil
}

type localLease struct {
	h     *Local
	name  string
	w     *localWaiter
	token uint64
	lost  chan struct{}
	once  sync.Once
}

func (s *localLease) Token() uint64         { return s.token }
func (s *localLease) Lost() <-chan struct{} { return s.lost }

func (s *localLease) Unlock(context.Context) error {
	s.release(false)
	s.h.forget(s)
	return nil
}

func (s *localLease) release(lost bool) {
	s.once.Do(func() {
		s.h.t.mu.Lock()
		s.h.t.remove(s.name, s.w)
		s.h.t.mu.Unlock()
		if lost {
			close(s.lost)
		}
	})
}

// QueueLen reports how many holders and waiters name has (for tests and diagnostics).
func (l *Local) QueueLen(_ context.Context, name string) (int, error) {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	return len(l.t.queues[name]), nil
}
