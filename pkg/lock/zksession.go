package lock

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// zkSession is one zk.Conn and the single ZooKeeper session it carries. When the session is lost the
// connection is closed and ZK starts a new zkSession: the library's silent switch to a new session after
// expiry is never used, so "same zkSession" always means "same ZooKeeper session".
type zkSession struct {
	z         *ZK
	conn      *zk.Conn // set before ready is closed
	hosts     *fastHostProvider
	ready     chan struct{} // closed once connected (and authenticated)
	lost      chan struct{} // closed when the session is lost or ended
	connected chan struct{} // closed at the first StateHasSession

	mu         sync.Mutex
	hadSession bool
	lossTimer  *time.Timer
	isLost     bool
	stale      map[string]struct{} // lock nodes whose delete failed on a broken connection; retried
	ended      bool
	lockDirs   map[string]*dirNodes // lock directories where this session may have nodes (for reap)
}

// dirNodes counts the nodes a session may have in one lock directory, and the session id their names carry.
type dirNodes struct {
	sid int64
	n   int
}

func (z *ZK) newSession() *zkSession {
	s := &zkSession{
		z:         z,
		ready:     make(chan struct{}),
		lost:      make(chan struct{}),
		connected: make(chan struct{}),
		stale:     make(map[string]struct{}),
		lockDirs:  make(map[string]*dirNodes),
		hosts:     &fastHostProvider{quit: make(chan struct{})},
	}
	dial := z.cfg.Dialer
	if dial == nil {
		dial = net.DialTimeout
	}
	if z.cfg.TLS != nil {
		plain, cfg := dial, z.cfg.TLS
		dial = func(network, addr string, timeout time.Duration) (net.Conn, error) {
			c, err := plain(network, addr, timeout)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, serverName(cfg, addr))
			_ = tc.SetDeadline(time.Now().Add(timeout))
			if err := tc.Handshake(); err != nil {
				_ = c.Close()
				return nil, err
			}
			_ = tc.SetDeadline(time.Time{})
			return tc, nil
		}
	}
	conn, _, err := zk.Connect(z.cfg.Servers, z.cfg.SessionTimeout,
		zk.WithHostProvider(s.hosts),
		zk.WithDialer(dial),
		zk.WithEventCallback(s.event),
		zk.WithLogger(zkLogger{z.log}),
		zk.WithLogInfo(false),
	)
	if err != nil { // only for a malformed server list
		s.conn = nil
		z.log.Error("zookeeper connect", "err", err)
		close(s.lost)
		s.isLost = true
		return s // ready never closes; NewZK's ctx ends the wait
	}
	s.conn = conn
	go s.establish()
	return s
}

// serverName returns cfg, or a copy with ServerName set to addr's host when cfg leaves it empty, so every
// server of the ensemble is verified under its own name (or IP address).
func serverName(cfg *tls.Config, addr string) *tls.Config {
	if cfg.ServerName != "" || cfg.InsecureSkipVerify {
		return cfg
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

// establish waits for the first session and sends the digest credentials before anyone uses the connection.
func (s *zkSession) establish() {
	select {
	case <-s.connected:
	case <-s.lost:
		return
	}
	if s.z.cfg.Digest != "" {
		if err := s.conn.AddAuth("digest", []byte(s.z.cfg.Digest)); err != nil {
			s.z.log.Warn("zookeeper digest authentication failed", "err", err)
			s.lose()
			return
		}
	}
	close(s.ready)
}

// event is the zk.Conn callback; it must not block.
func (s *zkSession) event(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.State {
	case zk.StateHasSession:
		if s.lossTimer != nil {
			s.lossTimer.Stop()
			s.lossTimer = nil
		}
		if !s.hadSession {
			s.hadSession = true
			close(s.connected)
		}
		if len(s.stale) > 0 {
			go s.retryStale()
		}
	case zk.StateExpired:
		go s.lose()
	case zk.StateDisconnected:
		if s.hadSession && s.lossTimer == nil && !s.isLost {
			// The client notices silence only after 2/3 of the timeout; the server may expire the session a
			// third later. Declare loss before that (11/12), so no one else holds the lock while we think we do.
			s.lossTimer = time.AfterFunc(s.z.cfg.SessionTimeout/4, s.lose)
		}
	}
}

// lose marks the session lost: its leases report Lost, the connection is closed (ending the session if the
// server still has it) and the Locker moves on to a new session.
func (s *zkSession) lose() {
	z := s.z
	z.mu.Lock()
	current := z.sess == s
	if current && !z.closed {
		z.sess = z.newSession()
	}
	z.mu.Unlock()
	if s.markLost() {
		z.log.Warn("zookeeper session lost: leases of this session are no longer trusted")
		if current {
			go z.reap(s)
		}
	}
	go s.closeConn()
}

// noteLockNode records that s creates a lock node in dir (before the create, so a node whose reply is lost
// counts); forgetLockNode that one is gone (or was never made). The count is a hint for reap: off by one after
// an orphan, it only makes reap look in a directory for nothing, or leave an orphan to the server's expiry.
func (s *zkSession) noteLockNode(dir string, sid int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.lockDirs[dir]
	if d == nil {
		d = &dirNodes{sid: sid}
		s.lockDirs[dir] = d
	}
	d.n++
}

func (s *zkSession) forgetLockNode(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.lockDirs[dir]; d != nil {
		if d.n--; d.n <= 0 {
			delete(s.lockDirs, dir)
		}
	}
}

// reap deletes, through the next session, the lock nodes that lost session old left behind. The server would
// delete them only when it expires the session, a full session timeout after the ensemble serves again (after a
// leader election, say), and until then they would block every waiter behind them. Our leases in old already
// report Lost; reap waits a twelfth of the session timeout more, the margin the loss detection keeps before the
// server could expire the session, so a holder that checked its lease just before the loss has finished its
// protected step as it would have before an expiry.
func (z *ZK) reap(old *zkSession) {
	old.mu.Lock()
	dirs := make(map[string]int64, len(old.lockDirs))
	for d, nodes := range old.lockDirs {
		dirs[d] = nodes.sid
	}
	old.mu.Unlock()
	if len(dirs) == 0 {
		return
	}
	select {
	case <-time.After(z.cfg.SessionTimeout / 12):
	case <-z.done:
		return
	}
	// The ensemble may take a while to serve again (an election); after it does, the server keeps old for one
	// more session timeout. Give up only long after that: by then the server has expired old.
	ctx, cancel := context.WithTimeout(context.Background(), 6*z.cfg.SessionTimeout)
	defer cancel()
	n := 0
	for dir, sid := range dirs {
		prefix := fmt.Sprintf("%016x-", uint64(sid))
		for {
			s, err := z.session(ctx)
			if err != nil {
				return // closed, or the server has expired old by now
			}
			kids, _, err := s.conn.Children(dir)
			if err == nil {
				for _, k := range kids {
					if strings.HasPrefix(k, prefix) {
						if err := s.conn.Delete(dir+"/"+k, -1); err == nil {
							n++
						}
					}
				}
				break
			}
			if errors.Is(err, zk.ErrNoNode) {
				break
			}
			if err = z.check(ctx, s, err); err != nil && !errors.Is(err, errSessionGone) {
				return
			}
		}
	}
	if n > 0 {
		z.log.Info("removed lock nodes of the lost session", "nodes", n)
	}
}

// end closes the session for good (Locker.Close).
func (s *zkSession) end() {
	s.markLost()
	s.closeConn()
}

func (s *zkSession) markLost() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isLost {
		return false
	}
	s.isLost = true
	if s.lossTimer != nil {
		s.lossTimer.Stop()
	}
	close(s.lost)
	return true
}

func (s *zkSession) closeConn() {
	s.mu.Lock()
	ended := s.ended
	s.ended = true
	s.mu.Unlock()
	if !ended && s.conn != nil {
		close(s.hosts.quit)
		s.conn.Close()
	}
}

func (s *zkSession) isGone() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// deleteNode deletes one of this session's lock nodes. If the connection is broken the delete is retried on
// reconnection (or made moot by the session's end), so a released lock never stays held.
func (s *zkSession) deleteNode(path string) {
	if s.isGone() {
		return
	}
	err := s.conn.Delete(path, -1)
	if err == nil || errors.Is(err, zk.ErrNoNode) {
		s.forgetLockNode(pathDir(path))
		return
	}
	if errors.Is(err, zk.ErrSessionExpired) || !connErr(err) {
		return
	}
	s.z.log.Debug("lock node delete deferred", "err", err)
	s.mu.Lock()
	s.stale[path] = struct{}{}
	s.mu.Unlock()
	go s.retryStale()
}

func (s *zkSession) retryStale() {
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		s.mu.Lock()
		var paths []string
		for p := range s.stale {
			paths = append(paths, p)
		}
		s.mu.Unlock()
		if len(paths) == 0 || s.isGone() {
			return
		}
		for _, p := range paths {
			err := s.conn.Delete(p, -1)
			if err == nil || errors.Is(err, zk.ErrNoNode) {
				s.mu.Lock()
				delete(s.stale, p)
				s.mu.Unlock()
				s.forgetLockNode(pathDir(p))
			}
		}
		select {
		case <-time.After(delay):
		case <-s.lost:
			return
		}
	}
}

func pathDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}
