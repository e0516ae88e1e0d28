package lock

import (
	"net"
	"sync"
	"time"
)

// fastHostProvider is a zk.HostProvider that, unlike the library's default, does not sleep a full second after
// trying every server once: it backs off from 50 ms to 1 s, and resets once a connection succeeds. (The library
// sleeps only when Next reports retryStart, which this provider reports only once quit is closed: the
// library then notices its Close, which it checks only there, and fails requests still waiting to be sent.)
type fastHostProvider struct {
	quit chan struct{} // closed when the connection is being closed

	mu      sync.Mutex
	servers []string
	next    int
	tried   int // servers tried since the last success
	backoff time.Duration
}

const (
	minReconnectBackoff = 50 * time.Millisecond
	maxReconnectBackoff = time.Second
)

func (h *fastHostProvider) Init(servers []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.servers = nil
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return err
		}
		h.servers = append(h.servers, s)
	}
	h.backoff = minReconnectBackoff
	return nil
}

func (h *fastHostProvider) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.servers)
}

func (h *fastHostProvider) Next() (string, bool) {
	h.mu.Lock()
	var sleep time.Duration
	if h.tried >= len(h.servers) {
		sleep = h.backoff
		h.backoff = min(2*h.backoff, maxReconnectBackoff)
		h.tried = 0
	}
	s := h.servers[h.next]
	h.next = (h.next + 1) % len(h.servers)
	h.tried++
	h.mu.Unlock()
	select {
	case <-h.quit:
		return s, true
	default:
	}
	if sleep > 0 {
		select {
		case <-time.After(sleep):
		case <-h.quit:
			return s, true
		}
	}
	return s, false
}

func (h *fastHostProvider) Connected() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tried = 0
	h.backoff = minReconnectBackoff
}
