package testenv

import (
	"errors"
	"net"
	"sync"
	"time"
)

// CutDialer severs a ZooKeeper client from its servers on demand, as a network partition would: use Dial as the
// client's dialer (lock.ZKConfig.Dialer); Set(true) closes every connection it made and refuses new ones until
// Set(false).
type CutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

// Dial connects like net.DialTimeout, unless the dialer is cut.
func (d *CutDialer) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("testenv: network cut")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

// Set cuts (true) or restores (false) the network.
func (d *CutDialer) Set(cut bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = cut
	if cut {
		for _, c := range d.conns {
			_ = c.Close()
		}
		d.conns = nil
	}
}
