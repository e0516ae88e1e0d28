package fusefs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// Defaults applied by Mount to zero Options fields.
const (
	DefaultAttrTimeout  = time.Second
	DefaultEntryTimeout = time.Second
	// DefaultNotifiedTimeout replaces both when the mount has a Notifier: other mounts' changes then reach the
	// kernel as invalidations within milliseconds, so the timeouts only bound what a lost notice can leave stale
	// (a lost ZooKeeper session invalidates everything anyway). NFS's default acregmax is also 60s, without
	// any invalidation.
	DefaultNotifiedTimeout      = 60 * time.Second
	DefaultWriteBufferBytes     = 4 << 20
	DefaultMaxBackgroundUploads = 8
	DefaultReadAheadBytes       = 4 << 20
	maxWrite                    = 1 << 20 // the largest FUSE write request
)

// Options configure a mount.
type Options struct {
	// Kernel cache lifetimes: how long the kernel may trust attributes, names and missing names without asking.
	// Zero AttrTimeout and EntryTimeout mean 1s, or DefaultNotifiedTimeout (60s) when Notifier is set;
	// NegativeTimeout 0 means missing names are never cached. Without a Notifier, changes made on other mounts
	// may go unseen for this long (opening a file always refreshes it: close-to-open).
	AttrTimeout, EntryTimeout, NegativeTimeout time.Duration
	// ReadOnly mounts read-only (MS_RDONLY). AllowOther lets users other than the mounting one in (allow_other);
	// permission checks are always the kernel's (default_permissions).
	ReadOnly, AllowOther bool
	// FsName is the source shown in /proc/mounts (default "cassfs"); Subtype the type suffix (fuse.<Subtype>).
	FsName, Subtype string
	// Locks holds fcntl and flock locks. Mounts that must see each other's locks share one FileLocker (ZooKeeper
	// for several nodes). nil means a FileLocker private to this mount.
	Locks lock.FileLocker
	// Session identifies this mount as a lock owner; it must be unique among mounts sharing Locks.
	// Empty: a random one.
	Session string
	// WriteBufferBytes is the size of one write-back piece: writes are gathered per file into pieces of this
	// size (aligned to it) and uploaded in the background. Default 4 MiB.
	WriteBufferBytes int64
	// MaxBackgroundUploads bounds the pieces being uploaded at once across the mount (default 8); with
	// WriteBufferBytes it bounds the memory held by writes.
	MaxBackgroundUploads int
	// ReadAheadBytes is the window read ahead for sequential readers, per open file (default 4 MiB; negative
	// disables read-ahead).
	ReadAheadBytes int64
	// Observer, if set, is told about every request the mount serves, the bytes it reads and writes, and
	// read-ahead hits (see Observer). nil: nothing is measured and requests take no detour.
	Observer Observer
	// Notifier, when set, tells the other mounts of the volume what this mount changes and makes this mount's
	// kernel drop what it caches of their changes at once (see notify.go), so that attribute and entry
	// timeouts can be long. Mounts of one volume must all use the same kind (lock.NewZKNotifier across nodes,
	// lock.LocalNotifiers within a process). The caller closes it after Unmount. nil: changes made on other
	// mounts are seen at open and when the kernel's caches expire.
	Notifier lock.Notifier
	// Logger receives diagnostics (default slog.Default()). Debug logs every FUSE request.
	Logger *slog.Logger
	Debug  bool
	// Keeper, when set, is given the mount's FUSE connection (Conn) so that the mount outlives this process:
	// Mount then mounts with mount(2) itself (CAP_SYS_ADMIN) and fails if Keep fails; Unmount drops it.
	Keeper ConnKeeper
	// Takeover serves an existing mount's connection (kept by a Keeper for a process that died) instead of
	// mounting: dir must be its mount point. Mount duplicates Takeover.Dev; the caller still owns it.
	Takeover *Conn
}

func (o *Options) setDefaults() {
	attr, entry := DefaultAttrTimeout, DefaultEntryTimeout
	if o.Notifier != nil {
		attr, entry = DefaultNotifiedTimeout, DefaultNotifiedTimeout
	}
	if o.AttrTimeout == 0 {
		o.AttrTimeout = attr
	}
	if o.EntryTimeout == 0 {
		o.EntryTimeout = entry
	}
	if o.FsName == "" {
		o.FsName = "cassfs"
	}
	if o.Subtype == "" {
		o.Subtype = "cassfs"
	}
	if o.WriteBufferBytes <= 0 {
		o.WriteBufferBytes = DefaultWriteBufferBytes
	}
	if o.WriteBufferBytes < 64<<10 {
		o.WriteBufferBytes = 64 << 10
	}
	if o.MaxBackgroundUploads <= 0 {
		o.MaxBackgroundUploads = DefaultMaxBackgroundUploads
	}
	if o.ReadAheadBytes == 0 {
		o.ReadAheadBytes = DefaultReadAheadBytes
	}
	if o.ReadAheadBytes < 0 {
		o.ReadAheadBytes = 0
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Session == "" {
		o.Session = "fusefs-" + randomSession()
	}
}

// Server is a mounted filesystem.
type Server struct {
	dir    string
	fsys   *fsys
	server *fuse.Server
	own    bool // mounted (or taken over) by us with mount(2): go-fuse cannot unmount it
	rv     *reviveFS
	keeper ConnKeeper
	once   sync.Once
	err    error
}

// Mount mounts st on dir and serves it until Unmount (or an external umount). The store stays owned by the
// caller: Mount never closes it.
func Mount(dir string, st store.Store, opts Options) (*Server, error) {
	if st == nil {
		return nil, errors.New("fusefs: nil store")
	}
	opts.setDefaults()
	fsys := newFsys(st, opts)
	root := &node{fsys: fsys}
	fsys.root = root

	attr, entry, neg := opts.AttrTimeout, opts.EntryTimeout, opts.NegativeTimeout
	mountOpts := fuse.MountOptions{
		AllowOther:           opts.AllowOther,
		Options:              []string{"default_permissions"},
		MaxWrite:             maxWrite,
		FsName:               opts.FsName,
		Name:                 opts.Subtype,
		Debug:                opts.Debug,
		EnableLocks:          true,
		DirectMount:          true,
		MaxBackground:        64,
		DisableXAttrs:        false,
		IgnoreSecurityLabels: false,
		Logger:               log.New(slogWriter{opts.Logger}, "", 0),
	}
	if opts.ReadOnly {
		mountOpts.Options = append(mountOpts.Options, "ro")
	}
	fsOpts := &fs.Options{
		MountOptions:    mountOpts,
		AttrTimeout:     &attr,
		EntryTimeout:    &entry,
		NegativeTimeout: &neg,
		NullPermissions: true,
		ExternalNodeID:  true,
		RootStableAttr:  &fs.StableAttr{Ino: uint64(store.RootIno), Gen: 1},
		Logger:          log.New(slogWriter{opts.Logger}, "", 0),
	}
	epoch := uint16(1)
	if opts.Takeover != nil {
		epoch = nextEpoch(opts.Takeover.Epoch)
	}
	rv := newReviveFS(fs.NewNodeFS(root, fsOpts), epoch, opts.Takeover != nil)
	rv.log = opts.Logger
	var raw fuse.RawFileSystem = &rawFS{RawFileSystem: rv, fsys: fsys}
	if opts.Observer != nil {
		raw = &observedFS{RawFileSystem: raw, obs: opts.Observer}
	}
	if opts.Takeover != nil || opts.Keeper != nil {
		return serveConn(dir, raw, rv, fsys, &fsOpts.MountOptions, epoch, opts)
	}
	server, err := fuse.NewServer(raw, dir, &fsOpts.MountOptions)
	if err != nil {
		fsys.close()
		return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		_ = server.Unmount()
		fsys.close()
		return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
	}
	fsys.server.Store(server)
	if opts.Notifier != nil {
		opts.Notifier.Subscribe(fsys.receive)
	}
	opts.Logger.Info("mounted", "dir", dir, "fsname", opts.FsName, "readOnly", opts.ReadOnly, "session", opts.Session)
	return &Server{dir: dir, fsys: fsys, server: server, rv: rv}, nil
}

// Leave hands the mount over to a successor process instead of unmounting it: requests stop being answered
// (they wait, and the successor gets them again), then buffered data is written back. The mount stays, kept
// alive by Options.Keeper; the process must exit soon after (the waiting requests hold goroutines). A write
// that was already past the gate when Leave began can still be lost if it lands after the write-back
// (docs/design.md, "Node plugin restarts").
func (s *Server) Leave(ctx context.Context) error {
	s.rv.leaving.Store(true)
	return s.fsys.flushAll(ctx)
}

// Unmount writes back buffered data, unmounts and stops serving. It returns the first error among the
// write-back and the unmount; calling it again returns the same result.
func (s *Server) Unmount() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		flushErr := s.fsys.flushAll(ctx)
		s.fsys.unmounted.Store(true)
		var err error
		for i := 0; i < 20; i++ {
			if s.own {
				err = syscall.Unmount(s.dir, 0)
			} else {
				err = s.server.Unmount()
			}
			if err == nil || !strings.Contains(err.Error(), "busy") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			err = fmt.Errorf("fusefs: unmount %s: %w", s.dir, err)
		} else {
			s.server.Wait()
		}
		s.fsys.close()
		var dropErr error
		if s.keeper != nil && err == nil {
			dropErr = s.keeper.Drop(s.dir)
		}
		s.err = errors.Join(flushErr, err, dropErr)
	})
	return s.err
}

// Wait blocks until the filesystem is unmounted (by Unmount or externally).
func (s *Server) Wait() { s.server.Wait() }

// Dir returns the mount point.
func (s *Server) Dir() string { return s.dir }

// rawFS intercepts the two requests whose lock owner go-fuse's node API drops: FLUSH carries the POSIX lock
// owner whose locks close(2) releases, RELEASE carries the flock owner of the closed open file description.
// With ExternalNodeID, NodeId is the store inode number.
type rawFS struct {
	fuse.RawFileSystem
	fsys *fsys
}

func (r *rawFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	st := r.RawFileSystem.Flush(cancel, in)
	r.fsys.releasePosixLocks(in.NodeId, in.LockOwner)
	return st
}

func (r *rawFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	r.RawFileSystem.Release(cancel, in)
	if in.ReleaseFlags&fuse.FUSE_RELEASE_FLOCK_UNLOCK != 0 {
		r.fsys.releaseFlock(in.NodeId, in.LockOwner)
	}
}

// slogWriter turns go-fuse's log.Logger lines into slog records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"), "component", "go-fuse")
	return len(p), nil
}
