package chunks

import (
	"sync"
	"time"
)

// hlc is a hybrid logical clock in nanoseconds: every value it hands out is larger than the wall clock's reading
// at that moment (unless the wall clock went backwards), than every value it handed out before and than every
// value it was told about with observe. Observing the timestamps of slices read from Cassandra therefore orders
// this Store's later writes after them, whatever the skew between the machines' clocks.
type hlc struct {
	mu   sync.Mutex
	now  func() time.Time
	last int64
}

func (c *hlc) next() int64 {
	wall := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if wall > c.last {
		c.last = wall
	} else {
		c.last++
	}
	return c.last
}

func (c *hlc) observe(ts int64) {
	c.mu.Lock()
	if ts > c.last {
		c.last = ts
	}
	c.mu.Unlock()
}

func (c *hlc) current() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
