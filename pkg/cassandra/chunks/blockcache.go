package chunks

import (
	"container/list"
	"context"
	"errors"
	"sync"
)

// blockCache is an LRU of decoded blocks bounded in bytes, with single flight: concurrent misses of one block
// share one fetch. Blocks are immutable, so an entry is valid for as long as it is cached.
type blockCache struct {
	mu       sync.Mutex
	max, use int64
	ll       *list.List // of *cacheEntry, most recent first
	m        map[blockID]*list.Element
	inflight map[blockID]*fetchCall
}

type cacheEntry struct {
	id   blockID
	data []byte
}

type fetchCall struct {
	done chan struct{}
	data []byte
	err  error
}

func newBlockCache(max int64) *blockCache {
	return &blockCache{max: max, ll: list.New(), m: map[blockID]*list.Element{}, inflight: map[blockID]*fetchCall{}}
}

// get returns block id from the cache, or fetches it (once, however many callers ask at the same time) and
// caches it. hit reports whether no fetch was needed by this caller. The returned bytes must not be modified.
func (c *blockCache) get(ctx context.Context, id blockID, fetch func(context.Context) ([]byte, error)) (data []byte, hit bool, err error) {
	for {
		c.mu.Lock()
		if e, ok := c.m[id]; ok {
			c.ll.MoveToFront(e)
			c.mu.Unlock()
			return e.Value.(*cacheEntry).data, true, nil
		}
		if call, ok := c.inflight[id]; ok {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
			// The leader's context may have ended without ours ending: try again ourselves.
			if call.err != nil && (errors.Is(call.err, context.Canceled) || errors.Is(call.err, context.DeadlineExceeded)) && ctx.Err() == nil {
				continue
			}
			return call.data, true, call.err
		}
		call := &fetchCall{done: make(chan struct{})}
		c.inflight[id] = call
		c.mu.Unlock()

		call.data, call.err = fetch(ctx)
		c.mu.Lock()
		delete(c.inflight, id)
		if call.err == nil {
			c.addLocked(id, call.data)
		}
		c.mu.Unlock()
		close(call.done)
		return call.data, false, call.err
	}
}

func (c *blockCache) addLocked(id blockID, data []byte) {
	size := int64(len(data))
	if size > c.max {
		return
	}
	if _, ok := c.m[id]; ok {
		return
	}
	c.m[id] = c.ll.PushFront(&cacheEntry{id, data})
	c.use += size
	for c.use > c.max {
		e := c.ll.Back()
		ce := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.m, ce.id)
		c.use -= int64(len(ce.data))
	}
}

// remove drops blocks that were deleted.
func (c *blockCache) remove(ids []blockID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if e, ok := c.m[id]; ok {
			c.ll.Remove(e)
			delete(c.m, id)
			c.use -= int64(len(e.Value.(*cacheEntry).data))
		}
	}
}

func (c *blockCache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.use
}

// waiting reports whether a fetch of id is in flight (tests).
func (c *blockCache) waiting(id blockID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight[id] != nil
}
