package chunks

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// listCache caches the slice lists of chunks per inode until Invalidate, bounded by the total number of slice
// records (least recently used inodes go first). Lists it hands out are never modified (copy on write).
//
// Every inode entry carries a generation, taken from one counter and renewed whenever the entry changes
// (own write, invalidation, truncation). A load remembers the generation it started under and caches its
// result only if the generation is still the same, so a load that raced with an own write or an Invalidate
// never caches a list that misses that write or predates that invalidation.
type listCache struct {
	mu    sync.Mutex
	max   int
	use   int
	ll    *list.List // of *inoLists, most recent first
	m     map[uint64]*list.Element
	gens  atomic.Int64
	hits  atomic.Int64
	miss  atomic.Int64
	evict atomic.Int64
}

// maxCachedInodes bounds the number of inode entries (which may hold no list at all).
const maxCachedInodes = 1 << 14

type inoLists struct {
	ino    uint64
	gen    int64
	chunks map[uint64][]slice
}

func newListCache(max int) *listCache {
	return &listCache{max: max, ll: list.New(), m: map[uint64]*list.Element{}}
}

// entryLocked returns ino's entry, creating it.
func (c *listCache) entryLocked(ino uint64) *inoLists {
	if e, ok := c.m[ino]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*inoLists)
	}
	il := &inoLists{ino: ino, gen: c.gens.Add(1), chunks: map[uint64][]slice{}}
	c.m[ino] = c.ll.PushFront(il)
	for c.ll.Len() > maxCachedInodes {
		c.dropLocked(c.ll.Back().Value.(*inoLists))
		c.evict.Add(1)
	}
	return il
}

// get returns the cached list of (ino, chunk), or the generation a load must present to put.
func (c *listCache) get(ino, chunk uint64) (l []slice, ok bool, gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	il := c.entryLocked(ino)
	l, ok = il.chunks[chunk]
	if ok {
		c.hits.Add(1)
	} else {
		c.miss.Add(1)
	}
	return l, ok, il.gen
}

// put caches a loaded list if ino's generation is still gen.
func (c *listCache) put(ino, chunk uint64, l []slice, gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[ino]
	if !ok {
		return
	}
	il := e.Value.(*inoLists)
	if il.gen != gen {
		return
	}
	c.ll.MoveToFront(e)
	c.setLocked(il, chunk, l)
}

func (c *listCache) setLocked(il *inoLists, chunk uint64, l []slice) {
	c.use += len(l) - len(il.chunks[chunk])
	il.chunks[chunk] = l
	for c.use > c.max && c.ll.Len() > 1 {
		e := c.ll.Back()
		old := e.Value.(*inoLists)
		if old == il {
			break
		}
		c.dropLocked(old)
		c.evict.Add(1)
	}
	// One huge inode alone: drop its other chunks' lists.
	for k, other := range il.chunks {
		if c.use <= c.max {
			break
		}
		if k != chunk {
			c.use -= len(other)
			delete(il.chunks, k)
			c.evict.Add(1)
		}
	}
}

func (c *listCache) dropLocked(il *inoLists) {
	for _, l := range il.chunks {
		c.use -= len(l)
	}
	c.ll.Remove(c.m[il.ino])
	delete(c.m, il.ino)
}

// update applies fn to the cached list of (ino, chunk), if any, and renews ino's generation either way (so that
// loads in flight do not cache a list that misses the change). fn must return a new array, not modify its input.
// It returns the length of the new list, or -1 if none was cached.
func (c *listCache) update(ino, chunk uint64, fn func([]slice) []slice) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	il := c.entryLocked(ino)
	il.gen = c.gens.Add(1)
	l, ok := il.chunks[chunk]
	if !ok {
		return -1
	}
	nl := fn(l)
	c.setLocked(il, chunk, nl)
	return len(nl)
}

// dropChunk forgets the list of (ino, chunk) and renews ino's generation.
func (c *listCache) dropChunk(ino, chunk uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	il := c.entryLocked(ino)
	il.gen = c.gens.Add(1)
	c.use -= len(il.chunks[chunk])
	delete(il.chunks, chunk)
}

// invalidate forgets every list of ino; loads in flight for ino will not be cached.
func (c *listCache) invalidate(ino uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[ino]; ok {
		c.dropLocked(e.Value.(*inoLists))
	}
	// A new entry with a new generation stops loads that started before.
	c.entryLocked(ino)
}

// withSlice returns l plus s, in order (a new array).
func withSlice(l []slice, s slice) []slice {
	nl := make([]slice, 0, len(l)+1)
	i := len(l)
	for i > 0 && s.key.less(l[i-1].key) {
		i--
	}
	nl = append(nl, l[:i]...)
	nl = append(nl, s)
	return append(nl, l[i:]...)
}
