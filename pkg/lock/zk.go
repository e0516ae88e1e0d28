package lock

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZKConfig configures a ZooKeeper Locker.
type ZKConfig struct {
	// Servers are the ensemble's client addresses (host:port).
	Servers []string
	// SessionTimeout is the ZooKeeper session timeout (default 10 s). Keep it inside the server's
	// [minSessionTimeout, maxSessionTimeout] (by default 2 and 20 ticks): a client that has lost its connection
	// declares its leases lost a quarter of it later (about 11/12 of it after the last answer it received),
	// before the server can expire the session.
	SessionTimeout time.Duration
	// Chroot is the per-deployment root znode (default "/cassfs"). It is created with an open ACL.
	Chroot string
	// Namespace is the per-volume znode under Chroot ([A-Za-z0-9._-]); required.
	Namespace string
	// Digest, "user:password", is optional: when set, the namespace and everything below it are created with a
	// digest ACL and can be read or changed only by clients that authenticate with the same credentials.
	Digest string
	// TLS, when set, wraps every connection in TLS (Servers are then the servers' secureClientPorts). Each
	// server's certificate is verified against the host of its address unless ServerName is set. Tested against a
	// real secure port in test/multinode (TestZKTLS).
	TLS *tls.Config
	// Dialer replaces the plain TCP dialer (proxies, tests). TLS, if set, is layered on top.
	Dialer func(network, address string, timeout time.Duration) (net.Conn, error)
	// Logger receives connection events (default slog.Default()). Secrets are never logged.
	Logger *slog.Logger
}

// ZK is the ZooKeeper Locker for volumes mounted on several nodes. One ZK holds one ZooKeeper session at a
// time; when it is lost (expired, or disconnected for a quarter of the session timeout) every lease taken
// in it reports Lost at once and the next call works on a fresh session.
//
// Layout: <Chroot>/<Namespace>/locks/<name>/<session>-<guid>-<w|r>-<seq>. Lock nodes are EPHEMERAL|SEQUENTIAL;
// the <name> nodes are containers, which the server removes once empty. The fencing token is the lock node's
// czxid: ZooKeeper's transaction id, which only grows (across names, parents being recreated and leader
// changes), and lock nodes of one name are granted in creation order, so tokens grow with every grant.
type ZK struct {
	cfg  ZKConfig
	root string // <Chroot>/<Namespace>
	acl  []zk.ACL
	log  *slog.Logger
	done chan struct{}

	mu     sync.Mutex
	sess   *zkSession
	closed bool
	active map[string]struct{} // guids of lock nodes being created, waited on or held

	createHook func(path string, err error) (string, error) // tests: rewrite Create results
}

var _ Locker = (*ZK)(nil)

// NewZK connects to ZooKeeper, creates <Chroot>/<Namespace> if needed and returns the Locker. It fails if no
// session can be established before ctx ends.
func NewZK(ctx context.Context, cfg ZKConfig) (*ZK, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("lock: ZKConfig.Servers is empty")
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Chroot == "" {
		cfg.Chroot = "/cassfs"
	}
	if !strings.HasPrefix(cfg.Chroot, "/") || strings.HasSuffix(cfg.Chroot, "/") || strings.Contains(cfg.Chroot, "//") {
		return nil, fmt.Errorf("lock: ZKConfig.Chroot %q must be an absolute znode path", cfg.Chroot)
	}
	if err := CheckName(cfg.Namespace); err != nil {
		return nil, fmt.Errorf("lock: ZKConfig.Namespace: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	z := &ZK{
		cfg:    cfg,
		root:   cfg.Chroot + "/" + cfg.Namespace,
		acl:    zk.WorldACL(zk.PermAll),
		log:    cfg.Logger.With("component", "lock.zk", "namespace", cfg.Namespace),
		done:   make(chan struct{}),
		active: make(map[string]struct{}),
	}
	if cfg.Digest != "" {
		user, pass, ok := strings.Cut(cfg.Digest, ":")
		if !ok || user == "" {
			return nil, errors.New("lock: ZKConfig.Digest must be user:password")
		}
		z.acl = zk.DigestACL(zk.PermAll, user, pass)
	}
	z.sess = z.newSession()
	s, err := z.session(ctx)
	if err == nil {
		err = z.ensureRoot(s)
	}
	if err != nil {
		_ = z.Close()
		return nil, err
	}
	return z, nil
}

// ensureRoot creates the chroot (open ACL) and the namespace with its locks directory (volume ACL).
func (z *ZK) ensureRoot(s *zkSession) error {
	if ok, _, err := s.conn.Exists(z.root + "/locks"); err == nil && ok {
		return nil
	}
	var path string
	for _, part := range strings.Split(strings.TrimPrefix(z.cfg.Chroot, "/"), "/") {
		path += "/" + part
		if err := createIfMissing(s.conn, path, zk.WorldACL(zk.PermAll)); err != nil {
			return err
		}
	}
	for _, p := range []string{z.root, z.root + "/locks", z.root + "/files"} {
		if err := createIfMissing(s.conn, p, z.acl); err != nil {
			return err
		}
	}
	return nil
}

func createIfMissing(c *zk.Conn, path string, acl []zk.ACL) error {
	_, err := c.Create(path, nil, zk.FlagPersistent, acl)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("lock: create %s: %w", path, err)
	}
	return nil
}

// session returns the current session once it is established.
func (z *ZK) session(ctx context.Context) (*zkSession, error) {
	for {
		z.mu.Lock()
		s, closed := z.sess, z.closed
		z.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-s.ready:
			return s, nil
		case <-s.lost: // lost before it was ready: wait for its successor
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-z.done:
			return nil, ErrClosed
		}
	}
}

// ErrNoSession is returned by Lock, TryLock and the ZKFiles requests when the Locker has had no ZooKeeper session
// for a whole session timeout (the ensemble cannot be reached): a request fails rather than wait through an
// outage of unknown length. The filesystem reports it as EIO.
var ErrNoSession = errors.New("lock: no ZooKeeper session")

// liveSession is session for lock requests: while no session can be established it waits at most one session
// timeout, then fails with ErrNoSession.
func (z *ZK) liveSession(ctx context.Context) (*zkSession, error) {
	wctx, cancel := context.WithTimeout(ctx, z.cfg.SessionTimeout)
	defer cancel()
	s, err := z.session(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, ErrNoSession
	}
	return s, err
}

// Close ends the session: ZooKeeper deletes every lock node of it at once, every lease reports Lost, and
// pending Lock calls fail with ErrClosed.
func (z *ZK) Close() error {
	z.mu.Lock()
	if z.closed {
		z.mu.Unlock()
		return nil
	}
	z.closed = true
	close(z.done)
	s := z.sess
	z.mu.Unlock()
	s.end()
	return nil
}

// DeleteZKNamespace removes <Chroot>/<Namespace> and everything below it (volume deletion, test cleanup).
// Lock nodes of live sessions are deleted too, so call it only when no mount uses the volume.
func DeleteZKNamespace(ctx context.Context, cfg ZKConfig) error {
	z, err := NewZK(ctx, cfg)
	if err != nil {
		return err
	}
	defer z.Close()
	s, err := z.session(ctx)
	if err != nil {
		return err
	}
	return deleteTree(s.conn, z.root)
}

func deleteTree(c *zk.Conn, path string) error {
	kids, _, err := c.Children(path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lock: list %s: %w", path, err)
	}
	for _, k := range kids {
		if err := deleteTree(c, path+"/"+k); err != nil {
			return err
		}
	}
	if err := c.Delete(path, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("lock: delete %s: %w", path, err)
	}
	return nil
}

func (z *ZK) setActive(guid string, on bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if on {
		z.active[guid] = struct{}{}
	} else {
		delete(z.active, guid)
	}
}

func (z *ZK) isActive(guid string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	_, ok := z.active[guid]
	return ok
}

type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }
