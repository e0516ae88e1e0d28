package cassbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
	"github.com/cassfs/cassfs/pkg/fusefs"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// Stager implements driver.Stager: each staged volume is a cassandra.Volume served by a fusefs.Server of this
// process, with a ZooKeeper Locker and change Notifier for volumes shared between nodes and in-process ones
// otherwise (shared by this process's mounts of the volume).
type Stager struct {
	pool       *Pool
	zk         *ZooKeeper // nil: no ZooKeeper; writable multi-node volumes are refused
	nodeID     string
	cacheBytes int64
	log        *slog.Logger

	mu     sync.Mutex
	mounts map[string]*staged     // by staging directory
	local  map[string]*localLocks // by volume ID: in-process locks shared by this process's mounts of a volume
}

// localLocks are the in-process locks and change notices of one volume, shared by its mounts in this process.
type localLocks struct {
	names   *lock.Local
	files   *lock.LocalFiles
	notices *lock.LocalNotifiers
}

var _ driver.Stager = (*Stager)(nil)

type staged struct {
	volumeID string
	vol      *cassandra.Volume
	srv      *fusefs.Server
	locker   lock.Locker
	notifier lock.Notifier
}

// lockSet is what one mount locks with: named locks for the store, file locks for fcntl and flock, and the
// Notifier that tells the volume's other mounts what this one changed.
type lockSet struct {
	names    lock.Locker
	files    lock.FileLocker
	notifier lock.Notifier
}

func (l lockSet) close() {
	_ = l.notifier.Close()
	_ = l.names.Close()
}

// StagerConfig configures a Stager.
type StagerConfig struct {
	Pool       *Pool
	ZooKeeper  *ZooKeeper // optional
	NodeID     string     // part of each mount's session name
	CacheBytes int64      // read cache per mount (cassandra.OpenOptions.CacheBytes)
	Logger     *slog.Logger
}

// NewStager returns a Stager.
func NewStager(cfg StagerConfig) *Stager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Stager{pool: cfg.Pool, zk: cfg.ZooKeeper, nodeID: cfg.NodeID, cacheBytes: cfg.CacheBytes, log: cfg.Logger,
		mounts: make(map[string]*staged), local: make(map[string]*localLocks)}
}

// Stage opens the volume and mounts it at req.Dir.
func (s *Stager) Stage(ctx context.Context, req driver.StageRequest) error {
	s.mu.Lock()
	if _, ok := s.mounts[req.Dir]; ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s is already served", driver.ErrPrecondition, req.Dir)
	}
	s.mu.Unlock()
	c, err := s.pool.Get(ctx, req.Cred)
	if err != nil {
		return err
	}
	locks, err := s.locks(ctx, req)
	if err != nil {
		return err
	}
	session := s.session()
	vol, err := c.OpenVolume(ctx, req.VolumeID, cassandra.OpenOptions{Session: session, Locker: locks.names, CacheBytes: s.cacheBytes})
	if err != nil {
		locks.close()
		return mapErr(err)
	}
	srv, err := fusefs.Mount(req.Dir, vol, fusefs.Options{Session: session, Locks: locks.files, ReadOnly: req.ReadOnly,
		AllowOther: true, Notifier: locks.notifier, Logger: s.log.With("volume", req.VolumeID)})
	if err != nil {
		_ = vol.Close()
		locks.close()
		return fmt.Errorf("mount %s: %w", req.Dir, err)
	}
	s.mu.Lock()
	s.mounts[req.Dir] = &staged{volumeID: req.VolumeID, vol: vol, srv: srv, locker: locks.names, notifier: locks.notifier}
	s.mu.Unlock()
	s.log.Info("volume staged", "volume", req.VolumeID, "dir", req.Dir, "readOnly", req.ReadOnly, "session", session)
	return nil
}

// locks picks the lock service: ZooKeeper for volumes mounted on several nodes, in-process otherwise (shared by
// every mount of the volume in this process). A read-only multi-node mount without ZooKeeper gets in-process
// locks: its locks are then only seen on this node.
func (s *Stager) locks(ctx context.Context, req driver.StageRequest) (lockSet, error) {
	if req.Sharing == driver.SharingCluster {
		if s.zk != nil {
			z, err := lock.NewZK(ctx, s.zk.config(req.VolumeID, req.Cred.ZooKeeperDigest))
			if err != nil {
				return lockSet{}, fmt.Errorf("%w: zookeeper: %v", driver.ErrUnavailable, err)
			}
			nt, err := lock.NewZKNotifier(ctx, z, 0)
			if err != nil {
				_ = z.Close()
				return lockSet{}, fmt.Errorf("%w: zookeeper: %v", driver.ErrUnavailable, err)
			}
			return lockSet{names: z, files: lock.NewZKFiles(z), notifier: nt}, nil
		}
		if !req.ReadOnly {
			return lockSet{}, fmt.Errorf("%w: volume %s is writable from several nodes, which needs ZooKeeper (--zookeeper)", driver.ErrPrecondition, req.VolumeID)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.local[req.VolumeID]
	if !ok {
		l = &localLocks{names: lock.NewLocal(), files: lock.NewLocalFiles(), notices: lock.NewLocalNotifiers(0)}
		s.local[req.VolumeID] = l
	}
	return lockSet{names: l.names.Share(), files: l.files, notifier: l.notices.Join()}, nil
}

func (s *Stager) session() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return s.nodeID + "-" + hex.EncodeToString(b)
}

// Unstage writes back, unmounts and closes the volume served at dir; a dir not served is not an error.
func (s *Stager) Unstage(ctx context.Context, dir string) error {
	s.mu.Lock()
	m, ok := s.mounts[dir]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	// fusefs writes back, unmounts and then waits until the kernel lets go of the filesystem, which it does only
	// when no other mount of it (a bind mount left behind, a copy in another mount namespace) remains.
	done := make(chan error, 1)
	go func() { done <- m.srv.Unmount() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("unstage %s: %w", dir, err)
		}
	case <-ctx.Done():
		return fmt.Errorf("%w: unmount of %s is waiting for other mounts of the volume to go: %v", driver.ErrUnavailable, dir, ctx.Err())
	}
	err := errors.Join(m.vol.Close(), m.notifier.Close(), m.locker.Close())
	s.mu.Lock()
	delete(s.mounts, dir)
	last := true
	for _, o := range s.mounts {
		last = last && o.volumeID != m.volumeID
	}
	if last {
		delete(s.local, m.volumeID)
	}
	s.mu.Unlock()
	s.log.Info("volume unstaged", "volume", m.volumeID, "dir", dir)
	if err != nil {
		s.log.Warn("unstage: closing the volume session failed", "volume", m.volumeID, "err", err)
	}
	return nil
}

// Usage reports the usage of the volume served at dir.
func (s *Stager) Usage(ctx context.Context, dir string) (store.Usage, error) {
	s.mu.Lock()
	m, ok := s.mounts[dir]
	s.mu.Unlock()
	if !ok {
		return store.Usage{}, fmt.Errorf("%w: nothing served at %s", driver.ErrNotFound, dir)
	}
	u, err := m.vol.StatFS(ctx)
	if err != nil {
		return store.Usage{}, fmt.Errorf("%w: %v", driver.ErrUnavailable, err)
	}
	return u, nil
}

// Close unstages everything (writing back buffered data), for a clean shutdown. A volume whose staging mount
// is still bind-mounted somewhere is written back but not waited for longer than 10 seconds.
func (s *Stager) Close() error {
	s.mu.Lock()
	dirs := make([]string, 0, len(s.mounts))
	for d := range s.mounts {
		dirs = append(dirs, d)
	}
	s.mu.Unlock()
	var errs []error
	for _, d := range dirs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, s.Unstage(ctx, d))
		cancel()
	}
	return errors.Join(errs...)
}
