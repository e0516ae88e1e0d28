package memstore

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/cassfs/cassfs/pkg/store"
)

// DefaultChunkSize is the chunk size when Options.ChunkSize is 0.
const DefaultChunkSize = 64 * 1024

// Options configure a Volume.
type Options struct {
	CapacityBytes uint64 // quota on Usage.Bytes; 0 means unlimited
	MaxInodes     uint64 // limit on Usage.Inodes; 0 means unlimited
	ChunkSize     int    // bytes per data chunk; 0 means DefaultChunkSize
	// CacheData makes each session keep the data of a file it reads as it was at that first read, until the
	// session opens the file again or changes it itself: the staleness the Store contract allows between Opens
	// (close-to-open consistency). Tests of the layers above use it to prove that they open before they read.
	CacheData bool
}

// Volume is one in-memory filesystem shared by any number of sessions (see Session).
type Volume struct {
	mu        sync.Mutex
	opts      Options
	chunkSize uint64
	inodes    map[store.Ino]*inode
	nextIno   store.Ino
	bytes     uint64 // sum of file sizes
	lastNow   int64
}

// inode is one inode. Directories have entries and parent; files have chunks.
type inode struct {
	attr    store.Attr
	target  string               // symlinks
	entries map[string]store.Ino // directories
	parent  store.Ino            // directories: the directory holding its entry (the root: itself)
	chunks  map[uint64][]byte    // files: chunk index -> bytes from the chunk's start (shorter means zeros)
	xattrs  map[string][]byte
	opens   int // opens across all sessions
}

// NewVolume returns an empty volume holding only the root directory (mode 0755, owned by root).
func NewVolume(opts Options) *Volume {
	cs := uint64(opts.ChunkSize)
	if cs == 0 {
		cs = DefaultChunkSize
	}
	v := &Volume{opts: opts, chunkSize: cs, inodes: map[store.Ino]*inode{}, nextIno: store.RootIno + 1}
	now := v.now()
	v.inodes[store.RootIno] = &inode{
		attr: store.Attr{Ino: store.RootIno, Type: store.TypeDir, Mode: 0o755, Nlink: 2,
			Atime: now, Mtime: now, Ctime: now, Generation: 1, Version: uint64(now)},
		entries: map[string]store.Ino{},
		parent:  store.RootIno,
		xattrs:  map[string][]byte{},
	}
	return v
}

// Session returns a new session (one mount) of the volume. name is only for diagnostics.
func (v *Volume) Session(name string) *Store {
	return &Store{v: v, name: name, open: map[store.Ino]int{}}
}

// New returns a session of a new, empty volume.
func New(opts Options) *Store {
	return NewVolume(opts).Session("default")
}

// now returns the current time in nanoseconds, strictly increasing across calls. Call with mu held.
func (v *Volume) now() int64 {
	n := time.Now().UnixNano()
	if n <= v.lastNow {
		n = v.lastNow + 1
	}
	v.lastNow = n
	return n
}

// get returns the live inode ino or ENOENT.
func (v *Volume) get(ino store.Ino) (*inode, error) {
	n, ok := v.inodes[ino]
	if !ok {
		return nil, syscall.ENOENT
	}
	return n, nil
}

// dir returns the directory ino: ENOENT if it does not exist, ENOTDIR if it is not a directory.
func (v *Volume) dir(ino store.Ino) (*inode, error) {
	n, err := v.get(ino)
	if err != nil {
		return nil, err
	}
	if n.attr.Type != store.TypeDir {
		return nil, syscall.ENOTDIR
	}
	return n, nil
}

// maybeFree deletes n if it has no name and no session holds it open.
func (v *Volume) maybeFree(n *inode) {
	if n.attr.Nlink > 0 || n.opens > 0 {
		return
	}
	if n.attr.Type == store.TypeFile {
		v.bytes -= n.attr.Size
	}
	delete(v.inodes, n.attr.Ino)
}

// dropLink removes one name of n (already taken out of its directory) at time now.
func (v *Volume) dropLink(n *inode, now int64) {
	if n.attr.Type == store.TypeDir {
		n.attr.Nlink = 0
	} else {
		n.attr.Nlink--
	}
	n.changed(now)
	v.maybeFree(n)
}

// touch sets the mtime and ctime of a directory whose entries changed.
func touch(d *inode, now int64) {
	d.attr.Mtime = now
	d.changed(now)
}

// Store is one session of a Volume. It implements store.Store; all its methods are safe for concurrent use.
type Store struct {
	v      *Volume
	name   string
	open   map[store.Ino]int      // guarded by v.mu
	cache  map[store.Ino]snapshot // guarded by v.mu; only with Options.CacheData
	closed bool                   // guarded by v.mu
}

var _ store.Store = (*Store)(nil)

// begin locks the volume for one operation; the caller unlocks v.mu when begin returns nil.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.v.mu.Lock()
	if s.closed {
		s.v.mu.Unlock()
		return syscall.EIO
	}
	return nil
}

// Volume returns the volume this session belongs to.
func (s *Store) Volume() *Volume { return s.v }

// changed records a change of n at time now (from Volume.now, so unique): ctime and the version.
func (n *inode) changed(now int64) {
	n.attr.Ctime = now
	n.attr.Version = uint64(now)
}
