package driver

import "sync"

// keyLocks is a set of try-locks, one per key (a volume ID, or a target path). A request that finds its key
// held returns codes.Aborted: the CO retries, and two conflicting operations never interleave. A key is held
// exclusively (stage, unstage, create, delete) or shared (publish and unpublish hold their volume shared, so
// one volume can be published on several targets at once but not while it is being staged or unstaged).
type keyLocks struct {
	mu   sync.Mutex
	held map[string]int // -1: exclusive; n > 0: n shared holders
}

func newKeyLocks() *keyLocks { return &keyLocks{held: make(map[string]int)} }

// tryLock takes every key of exclusive exclusively and every key of shared shared, or nothing; it reports
// whether it did.
func (l *keyLocks) tryLock(exclusive, shared []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range exclusive {
		if l.held[k] != 0 {
			return false
		}
	}
	for _, k := range shared {
		if l.held[k] < 0 {
			return false
		}
	}
	for _, k := range exclusive {
		l.held[k] = -1
	}
	for _, k := range shared {
		l.held[k]++
	}
	return true
}

// unlock releases what tryLock took.
func (l *keyLocks) unlock(exclusive, shared []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range exclusive {
		delete(l.held, k)
	}
	for _, k := range shared {
		if l.held[k]--; l.held[k] <= 0 {
			delete(l.held, k)
		}
	}
}

// tryAcquire takes every key exclusively, or none.
func (l *keyLocks) tryAcquire(keys ...string) bool { return l.tryLock(keys, nil) }

// release frees keys taken by tryAcquire.
func (l *keyLocks) release(keys ...string) { l.unlock(keys, nil) }
