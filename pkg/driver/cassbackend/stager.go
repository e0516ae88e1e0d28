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
	"github.com/cassfs/cassfs/pkg/metrics"
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
	claimTTL   time.Duration
	metrics    *metrics.Metrics // nil: nothing measured
	keeper     ConnKeeper       // nil: mounts die with this process
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
	metrics  *metrics.Volume // nil without metrics
	notifier lock.Notifier
	claimed  bool               // this mount holds (and renews) the volume's node claim
	stopRenw context.CancelFunc // stops the claim's renewal; nil when not claimed
	renewed  chan struct{}      // closed when the renewal has stopped
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
	NodeID     string     // part of each mount's session name, and the holder of single-node volumes' claims
	CacheBytes int64      // read cache per mount (cassandra.OpenOptions.CacheBytes)
	// ClaimTTL is how long a claim on a writable single-node volume (cassandra.Volume.ClaimNode) outlives this
	// node's last renewal: after a crash, another node can stage the volume that much later. Default 30 s.
	ClaimTTL time.Duration
	// Metrics, if set, measures every mount: FUSE requests, bytes and cache lookups per volume (series removed
	// when the volume's last mount here is unstaged) and lock waits.
	Metrics *metrics.Metrics
	// Keeper, when set, holds every mount's FUSE connection so that a restarted plugin resumes the mounts
	// (Resume) instead of remounting them: applications see a pause, not an error. See pkg/fdkeeper.
	Keeper ConnKeeper
	Logger *slog.Logger
}

// ConnKeeper is what the Stager needs of a connection keeper (fdkeeper.Client): keep and drop
// (fusefs.ConnKeeper), and get back a kept connection (nil if none).
type ConnKeeper interface {
	fusefs.ConnKeeper
	Get(dir string) (*fusefs.Conn, error)
}

// NewStager returns a Stager.
func NewStager(cfg StagerConfig) *Stager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = 30 * time.Second
	}
	return &Stager{pool: cfg.Pool, zk: cfg.ZooKeeper, nodeID: cfg.NodeID, cacheBytes: cfg.CacheBytes,
		claimTTL: cfg.ClaimTTL, metrics: cfg.Metrics, keeper: cfg.Keeper, log: cfg.Logger, mounts: make(map[string]*staged),
		local: make(map[string]*localLocks)}
}

// Stage opens the volume and mounts it at req.Dir.
func (s *Stager) Stage(ctx context.Context, req driver.StageRequest) error {
	return s.stage(ctx, req, nil)
}

var _ driver.Resumer = (*Stager)(nil)

// Resume serves req.Dir again if the keeper holds its connection: the mount of a process that died, still in
// place with its bind mounts, which applications are waiting on (fusefs.Options.Takeover).
func (s *Stager) Resume(ctx context.Context, req driver.StageRequest) (bool, error) {
	if s.keeper == nil {
		return false, nil
	}
	s.mu.Lock()
	_, served := s.mounts[req.Dir]
	s.mu.Unlock()
	if served {
		return false, nil
	}
	conn, err := s.keeper.Get(req.Dir)
	if err != nil || conn == nil {
		if err != nil {
			s.log.Warn("fdkeeper unreachable: the mount is remounted instead of resumed", "dir", req.Dir, "err", err)
		}
		return false, nil
	}
	defer conn.Dev.Close()
	if err := s.stage(ctx, req, conn); err != nil {
		return false, err
	}
	return true, nil
}

// Leave writes back what every mount has buffered and stops answering requests, leaving the mounts in place
// for the next plugin process to resume (the keeper holds their connections). For a plugin shutdown with a
// keeper; without one it is Close.
func (s *Stager) Leave() error {
	if s.keeper == nil {
		return s.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for d, m := range s.mounts {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.srv.Leave(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

func (s *Stager) stage(ctx context.Context, req driver.StageRequest, takeover *fusefs.Conn) error {
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
	// The volume is read with the request's credentials before anything else happens, so that a role without
	// access to it (or a volume that does not exist) is refused before a ZooKeeper namespace is created for it.
	if _, err := c.GetVolume(ctx, req.VolumeID); err != nil {
		return mapErr(err)
	}
	locks, err := s.locks(ctx, req)
	if err != nil {
		return err
	}
	session := s.session()
	openOpts := cassandra.OpenOptions{Session: session, Locker: locks.names, CacheBytes: s.cacheBytes}
	mountOpts := fusefs.Options{Session: session, Locks: locks.files, ReadOnly: req.ReadOnly, AllowOther: true,
		Logger: s.log.With("volume", req.VolumeID)}
	var vm *metrics.Volume
	if s.metrics != nil {
		vm = s.metrics.Volume(req.VolumeID)
		openOpts.CacheCounters, mountOpts.Observer = vm.CacheCounters(), vm
	}
	release := func() {
		if vm != nil {
			vm.Release()
		}
	}
	vol, err := c.OpenVolume(ctx, req.VolumeID, openOpts)
	if err != nil {
		locks.close()
		release()
		return mapErr(err)
	}
	claimed := req.Sharing == driver.SharingNode && !req.ReadOnly && s.nodeID != ""
	if claimed {
		// kubelet does not keep a ReadWriteOnce volume on one node when the driver needs no attach: the claim
		// does, so that two nodes never write one volume with locks local to each.
		if err := vol.ClaimNode(ctx, s.nodeID, s.claimTTL); err != nil {
			_ = vol.Close()
			locks.close()
			release()
			if errors.Is(err, cassandra.ErrClaimed) {
				return fmt.Errorf("%w: volume %s is single-node and mounted writable on another node: %v",
					driver.ErrPrecondition, req.VolumeID, err)
			}
			return fmt.Errorf("%w: claim volume %s for this node: %v", driver.ErrUnavailable, req.VolumeID, err)
		}
	}
	mountOpts.Notifier = locks.notifier
	mountOpts.Takeover = takeover
	if s.keeper != nil {
		mountOpts.Keeper = s.keeper
	}
	srv, err := fusefs.Mount(req.Dir, vol, mountOpts)
	if err != nil {
		if claimed && !s.servesVolume(req.VolumeID) {
			_ = vol.ReleaseNode(context.WithoutCancel(ctx), s.nodeID)
		}
		_ = vol.Close()
		locks.close()
		release()
		return fmt.Errorf("mount %s: %w", req.Dir, err)
	}
	m := &staged{volumeID: req.VolumeID, vol: vol, srv: srv, locker: locks.names, metrics: vm,
		notifier: locks.notifier, claimed: claimed}
	if claimed {
		s.renewClaim(m)
	}
	s.mu.Lock()
	s.mounts[req.Dir] = m
	s.mu.Unlock()
	s.log.Info("volume staged", "volume", req.VolumeID, "dir", req.Dir, "readOnly", req.ReadOnly, "session", session,
		"resumed", takeover != nil)
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
				return lockSet{}, zkErr(err)
			}
			nt, err := lock.NewZKNotifier(ctx, z, 0)
			if err != nil {
				_ = z.Close()
				return lockSet{}, zkErr(err)
			}
			return s.observed(lockSet{names: z, files: lock.NewZKFiles(z), notifier: nt}, "zookeeper"), nil
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
	return s.observed(lockSet{names: l.names.Share(), files: l.files, notifier: l.notices.Join()}, "local"), nil
}

// observed returns ls with its lock waits measured, when the Stager has metrics.
func (s *Stager) observed(ls lockSet, locker string) lockSet {
	if s.metrics == nil {
		return ls
	}
	o := s.metrics.Locks(locker)
	return lockSet{names: lock.ObserveLocker(ls.names, o), files: lock.ObserveFileLocker(ls.files, o), notifier: ls.notifier}
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
	if m.claimed {
		m.stopRenw()
		<-m.renewed
		s.mu.Lock()
		others := false
		for d, o := range s.mounts {
			others = others || (d != dir && o.volumeID == m.volumeID && o.claimed)
		}
		s.mu.Unlock()
		if !others {
			if err := m.vol.ReleaseNode(ctx, s.nodeID); err != nil {
				s.log.Warn("unstage: releasing the node claim failed; it runs out by itself", "volume", m.volumeID,
					"ttl", s.claimTTL, "err", err)
			}
		}
	}
	err := errors.Join(m.vol.Close(), m.notifier.Close(), m.locker.Close())
	if m.metrics != nil {
		m.metrics.Release()
	}
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

// servesVolume reports whether this Stager serves volume id at some staging directory.
func (s *Stager) servesVolume(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mounts {
		if m.volumeID == id {
			return true
		}
	}
	return false
}

// renewClaim renews m's node claim every third of the claim TTL until m.stopRenw is called. A renewal that fails
// is logged and tried again at the next tick: the mount goes on serving, and another node could take the
// volume only after a whole TTL without a successful renewal.
func (s *Stager) renewClaim(m *staged) {
	ctx, cancel := context.WithCancel(context.Background())
	m.stopRenw, m.renewed = cancel, make(chan struct{})
	go func() {
		defer close(m.renewed)
		t := time.NewTicker(s.claimTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, s.claimTTL/3)
			err := m.vol.ClaimNode(rctx, s.nodeID, s.claimTTL)
			rcancel()
			if err != nil && ctx.Err() == nil {
				s.log.Error("renewing the node claim failed", "volume", m.volumeID, "err", err)
			}
		}
	}()
}
