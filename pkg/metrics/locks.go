package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cassfs/cassfs/pkg/lock"
)

// LockWaits records lock waits of one locker as a lock.WaitObserver (see lock.ObserveLocker and
// lock.ObserveFileLocker). Kinds are resolved to their series once.
type LockWaits struct {
	vec    *prometheus.HistogramVec
	locker string

	mu     sync.RWMutex
	byKind map[string]prometheus.Observer
}

var _ lock.WaitObserver = (*LockWaits)(nil)

// maxLockKinds bounds the kinds of one locker; kinds beyond it are counted as "other".
const maxLockKinds = 64

// LockWaited implements lock.WaitObserver.
func (l *LockWaits) LockWaited(kind string, d time.Duration) {
	l.mu.RLock()
	o := l.byKind[kind]
	l.mu.RUnlock()
	if o == nil {
		l.mu.Lock()
		if o = l.byKind[kind]; o == nil {
			if len(l.byKind) >= maxLockKinds {
				kind = "other"
			}
			o = l.vec.WithLabelValues(kind, l.locker)
			l.byKind[kind] = o
		}
		l.mu.Unlock()
	}
	o.Observe(d.Seconds())
}
