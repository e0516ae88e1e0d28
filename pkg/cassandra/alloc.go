package cassandra

import (
	"context"
	"fmt"
	"sync"
)

// inoBatch is how many inode numbers a session reserves at a time.
const inoBatch = 1024

// allocator hands out numbers from ranges reserved in the alloc table with an LWT (`SET next = ? IF next = ?`).
// Numbers are never reused; a session that ends leaves the rest of its range unused.
type allocator struct {
	v     *Volume
	name  string
	batch uint64

	mu        sync.Mutex
	next, end uint64
}

func (a *allocator) get(ctx context.Context) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == a.end {
		for attempt := 0; ; attempt++ {
			var cur int64
			if err := a.v.qs(`SELECT next FROM {ks}.alloc WHERE name = ?`, a.name).ScanContext(ctx, &cur); err != nil {
				return 0, fmt.Errorf("cassandra: read allocator %s: %w", a.name, err)
			}
			end := uint64(cur) + a.batch
			applied, _, err := cas(ctx, a.v.q(`UPDATE {ks}.alloc SET next = ? WHERE name = ? IF next = ?`,
				int64(end), a.name, cur))
			if err != nil {
				// Outcome unknown: the range may or may not be ours. Never use it (a leak of numbers, never a
				// reuse): the next attempt reads the current value again.
				if attempt < 3 && ctx.Err() == nil {
					continue
				}
				return 0, fmt.Errorf("cassandra: reserve %s numbers: %w", a.name, err)
			}
			if applied {
				a.next, a.end = uint64(cur), end
				break
			}
		}
	}
	n := a.next
	a.next++
	return n, nil
}
