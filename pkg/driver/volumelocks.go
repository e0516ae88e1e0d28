package driver

import "sync"

// keyLocks is a set of try-locks, one per key (a volume ID, a name, or volume ID + path). A request that finds
// its key held returns codes.Aborted: the CO retries, and two operations on one volume never interleave.
type keyLocks struct {
	mu   sync.Mutex
	held map[string]struct{}
}

func newKeyLocks() *keyLocks { return &keyLocks{held: make(map[string]struct{})} }

// tryAcquire takes every key or none; it reports false when any key is held.
func (l *keyLocks) tryAcquire(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if _, ok := l.held[k]; ok {
			return false
		}
	}
	for _, k := range keys {
		l.held[k] = struct{}{}
	}
	return true
}

// release frees keys taken by tryAcquire.
func (l *keyLocks) release(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.held, k)
	}
}
