package chunks

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// LockFunc takes the caller's per-inode lock (for instance a ZooKeeper lock) and returns its release.
type LockFunc func(ctx context.Context, ino uint64) (unlock func(), err error)

// Compactor runs Compact in the background for the chunks that Write reported through OnManySlices. A hint is
// acted on once CompactSettle has passed (so the slices that caused it are settled); hints for a chunk already
// queued are merged. One chunk is compacted at a time, under lock if one is given.
//
//	comp := chunks.NewCompactor(lock, log)
//	cfg.OnManySlices = comp.Hint
//	s, err := chunks.New(session, ks, cfg)
//	comp.Start(s)
//	defer comp.Close()
type Compactor struct {
	lock LockFunc
	log  *slog.Logger

	run     sync.Mutex // held while taking and compacting a batch (Drain waits for the worker's batch)
	mu      sync.Mutex
	s       *Store
	pending map[[2]uint64]time.Time // (ino, chunk) -> due
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// compactTimeout bounds one background compaction.
const compactTimeout = 5 * time.Minute

// NewCompactor returns a Compactor that is not started yet; lock may be nil, log may be nil (slog.Default).
func NewCompactor(lock LockFunc, log *slog.Logger) *Compactor {
	if log == nil {
		log = slog.Default()
	}
	return &Compactor{lock: lock, log: log, pending: map[[2]uint64]time.Time{}, wake: make(chan struct{}, 1)}
}

// Hint queues (ino, chunk) for compaction; it never blocks, so it can serve as Config.OnManySlices.
func (c *Compactor) Hint(ino, chunk uint64, slices int) {
	c.mu.Lock()
	k := [2]uint64{ino, chunk}
	if _, ok := c.pending[k]; !ok {
		due := time.Now()
		if c.s != nil {
			due = due.Add(c.s.cfg.CompactSettle)
		} else {
			due = due.Add(DefaultCompactSettle)
		}
		c.pending[k] = due
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Start runs the background worker on s until Close.
func (c *Compactor) Start(s *Store) {
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.s, c.cancel, c.done = s, cancel, make(chan struct{})
	c.mu.Unlock()
	go c.loop(ctx)
}

// Close stops the worker and waits for it; queued hints are dropped (a later write hints again).
func (c *Compactor) Close() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Drain compacts every queued chunk now, whether due or not, after the worker's batch in progress if any, and
// returns the first error. The Compactor must have been started.
func (c *Compactor) Drain(ctx context.Context) error {
	c.run.Lock()
	defer c.run.Unlock()
	var first error
	for _, k := range c.take(time.Time{}) {
		if err := c.compact(ctx, k); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// take removes and returns the queued chunks due by now (all of them if now is zero).
func (c *Compactor) take(now time.Time) [][2]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][2]uint64
	for k, due := range c.pending {
		if now.IsZero() || !due.After(now) {
			out = append(out, k)
			delete(c.pending, k)
		}
	}
	return out
}

// next returns how long until the earliest queued chunk is due.
func (c *Compactor) next() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	wait := time.Hour
	for _, due := range c.pending {
		wait = min(wait, time.Until(due))
	}
	return max(wait, 0)
}

func (c *Compactor) loop(ctx context.Context) {
	defer close(c.done)
	for {
		c.run.Lock()
		for _, k := range c.take(time.Now()) {
			if err := c.compact(ctx, k); err != nil && ctx.Err() == nil {
				if errors.Is(err, ErrCompactRace) {
					c.Hint(k[0], k[1], 0)
					continue
				}
				c.log.Warn("chunks: background compaction failed", "ino", k[0], "chunk", k[1], "err", err)
			}
		}
		c.run.Unlock()
		t := time.NewTimer(c.next())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (c *Compactor) compact(ctx context.Context, k [2]uint64) error {
	c.mu.Lock()
	s := c.s
	c.mu.Unlock()
	if s == nil {
		return errors.New("chunks: compactor not started")
	}
	ctx, cancel := context.WithTimeout(ctx, compactTimeout)
	defer cancel()
	if c.lock != nil {
		unlock, err := c.lock(ctx, k[0])
		if err != nil {
			return err
		}
		defer unlock()
	}
	return s.Compact(ctx, k[0], k[1])
}
