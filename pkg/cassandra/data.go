package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"

	"github.com/cassfs/cassfs/pkg/cassandra/chunks"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// dataPath is what the Volume needs of the data path (*chunks.Store).
type dataPath interface {
	Write(ctx context.Context, ino, off uint64, data []byte) error
	Read(ctx context.Context, ino, off uint64, buf []byte, size uint64) (int, error)
	Truncate(ctx context.Context, ino, oldSize, newSize uint64) error
	Delete(ctx context.Context, ino, size uint64) error
	Invalidate(ino uint64)

	// For Fsck (see chunks/gc.go).
	WriterID() int64
	ScanBlocks(ctx context.Context) (map[chunks.BlockID]uint64, error)
	ScanSlices(ctx context.Context) (chunks.DataScan, error)
	HasData(ctx context.Context, ino uint64, chunks []uint64) (bool, error)
	Purge(ctx context.Context, ino uint64, extra []uint64) error
	DeleteBlocks(ctx context.Context, ids []chunks.BlockID) error
	BlockExists(ctx context.Context, id chunks.BlockID) (bool, error)
}

var _ dataPath = (*chunks.Store)(nil)

func chunkSchema(ks string) []string { return chunks.Schema(ks) }

// newDataPath connects the data path, with a background Compactor that merges a chunk's slices under the
// inode's lock (the Volume's Locker: ZooKeeper for multi-node volumes).
func newDataPath(v *Volume, opts OpenOptions) (dataPath, error) {
	v.comp = chunks.NewCompactor(v.lockInode, v.log)
	s, err := chunks.New(v.s, v.ks, chunks.Config{ChunkSize: v.spec.ChunkSize, BlockSize: v.spec.BlockSize,
		Codec: v.spec.Compression, CacheBytes: opts.CacheBytes, Consistency: v.cons, OnManySlices: v.comp.Hint,
		Counters: opts.CacheCounters,
		Fault:    func(step string) error { return fail("data." + step) }})
	if err != nil {
		return nil, err
	}
	v.comp.Start(s)
	return s, nil
}

// lockInode takes the per-inode lock that serialises compaction and shrinking truncation of one file.
func (v *Volume) lockInode(ctx context.Context, ino uint64) (func(), error) {
	lease, err := v.locker.Lock(ctx, "ino-"+strconv.FormatUint(ino, 10), lock.Exclusive)
	if err != nil {
		return nil, fmt.Errorf("cassandra: inode lock: %w", err)
	}
	return func() { _ = lease.Unlock(context.WithoutCancel(ctx)) }, nil
}

// file reads regular file ino: EISDIR for a directory, EINVAL for other types.
func (v *Volume) file(ctx context.Context, ino store.Ino) (inode, error) {
	if err := v.checkOpen(); err != nil {
		return inode{}, err
	}
	n, err := v.readInode(ctx, ino, false)
	if err != nil {
		return inode{}, err
	}
	switch n.Type {
	case store.TypeFile:
		v.observe(n)
		return n, nil
	case store.TypeDir:
		return inode{}, syscall.EISDIR
	default:
		return inode{}, syscall.EINVAL
	}
}

// Write implements store.Data: quota check, the data (immutable blocks plus a slice record), then size and
// mtime on the inode (compare-and-set, retried) and the usage counter. A crash after the data and before the
// inode update leaves bytes past the recorded size: invisible, and leaked until the file is deleted.
func (v *Volume) Write(ctx context.Context, ino store.Ino, off uint64, data []byte) (_ store.Attr, err error) {
	defer shape(&err)
	n, err := v.file(ctx, ino)
	if err != nil {
		return store.Attr{}, err
	}
	if len(data) == 0 {
		return n.Attr, nil
	}
	end := off + uint64(len(data))
	if end < off || end > 1<<62 {
		return store.Attr{}, syscall.EFBIG
	}
	if end > n.Size {
		if err := v.checkQuota(ctx, end-n.Size); err != nil {
			return store.Attr{}, err
		}
	}
	if err := v.data.Write(ctx, uint64(ino), off, data); err != nil {
		return store.Attr{}, err
	}
	return v.setSize(ctx, &n, end, now())
}

// setSize records a size (never below the current one) and mtime/ctime t on file cur (as just read) and counts
// the growth in usage. A session's concurrent size updates of one file (the write-back uploads several pieces of
// a file at once) are committed in groups: while one compare-and-set of the file's row is in flight, the callers
// that arrive wait, and the next one covers them all (the largest size, the latest time). Without that they
// raced on the row's version, and each piece cost several Paxos rounds (TestRoundTrips). A caller returns only
// once a committed update covers its size.
func (v *Volume) setSize(ctx context.Context, cur *inode, size uint64, t int64) (store.Attr, error) {
	g := v.sizeGroup(cur.Ino, 1)
	defer v.sizeGroup(cur.Ino, -1)
	g.mu.Lock()
	b := g.pending
	if b == nil {
		b = &sizeBatch{done: make(chan struct{})}
		g.pending = b
	}
	b.size, b.t = max(b.size, size), max(b.t, t)
	g.mu.Unlock()
	select {
	case <-b.done: // committed by another caller
		return b.n.Attr, b.err
	case g.run <- struct{}{}:
	}
	defer func() { <-g.run }()
	select {
	case <-b.done:
		return b.n.Attr, b.err
	default:
	}
	g.mu.Lock()
	if g.pending == b {
		g.pending = nil // later callers start the next group
	}
	first := cur
	if g.last.ver != 0 {
		first = &g.last // this session's latest write of the row: newer than cur unless another mount wrote
	}
	g.mu.Unlock()
	// The data is stored: the update is finished even if this caller gives up (the others wait for it).
	n, err := v.setSizeOnce(context.WithoutCancel(ctx), first, b.size, b.t)
	g.mu.Lock()
	g.last = n // zero on error: the next group starts from what its caller read
	g.mu.Unlock()
	b.n, b.err = n, err
	close(b.done)
	return n.Attr, err
}

// setSizeOnce is one compare-and-set loop of setSize, starting from first.
func (v *Volume) setSizeOnce(ctx context.Context, first *inode, size uint64, t int64) (inode, error) {
	var delta, base int64
	n, err := v.updateInodeFrom(ctx, first.Ino, first, func(n *inode) error {
		delta, base = 0, n.ver
		sz := max(size, n.Size)
		delta = int64(sz) - int64(n.Size)
		n.Size = sz
		n.Mtime, n.Ctime = max(n.Mtime, t), max(n.Ctime, t)
		return nil
	})
	if err != nil {
		return inode{}, err
	}
	v.sawOwn(first.ver, base, n)
	v.addUsage(ctx, delta, 0)
	return n, nil
}

// sizeGroup gathers one file's size updates in this session (see setSize).
type sizeGroup struct {
	users int           // callers of setSize for the file (under Volume.mu)
	run   chan struct{} // a token: held by the caller whose compare-and-set is in flight
	mu    sync.Mutex
	// pending is the group that callers join while an update runs; nil when none waits.
	pending *sizeBatch
	last    inode // the row as the last update of this session wrote it; zero: unknown
}

type sizeBatch struct {
	size uint64
	t    int64
	done chan struct{} // closed once n and err are set
	n    inode
	err  error
}

// sizeGroup returns ino's group after adding d to its users; the group is dropped when it has none.
func (v *Volume) sizeGroup(ino store.Ino, d int) *sizeGroup {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.sizes[ino]
	if g == nil {
		g = &sizeGroup{run: make(chan struct{}, 1)}
		v.sizes[ino] = g
	}
	if g.users += d; g.users <= 0 {
		delete(v.sizes, ino)
	}
	return g
}

// observe drops the data path's cached view of file n if the inode changed since this session last saw it:
// every write and truncation changes the inode's version, so a session reads what other mounts wrote before
// (and not only at Open).
func (v *Volume) observe(n inode) {
	v.mu.Lock()
	last, ok := v.seen[n.Ino]
	v.mu.Unlock()
	if !ok || last != n.ver {
		v.data.Invalidate(uint64(n.Ino))
		v.saw(n)
	}
}

// sawOwn records the version of file n after this session changed its inode. observed is the version the
// session's cached view was checked against before the change (observe), base the version the change was
// applied to: if they differ, another mount changed the file in between (a compare-and-set retry) and the cached
// view is dropped, or this session would take its own new version for one that includes the other mount's change.
func (v *Volume) sawOwn(observed, base int64, n inode) {
	if base != observed {
		v.data.Invalidate(uint64(n.Ino))
	}
	v.saw(n)
}

// saw records the inode version this session's cached view of the file corresponds to.
func (v *Volume) saw(n inode) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) > 1<<16 {
		clear(v.seen)
	}
	v.seen[n.Ino] = n.ver
}

// Read implements store.Data.
func (v *Volume) Read(ctx context.Context, ino store.Ino, off uint64, buf []byte) (_ int, err error) {
	defer shape(&err)
	n, err := v.file(ctx, ino)
	if err != nil {
		return 0, err
	}
	if off >= n.Size || len(buf) == 0 {
		return 0, nil
	}
	return v.data.Read(ctx, uint64(ino), off, buf, n.Size)
}

// Fallocate implements store.Data. Nothing is stored: unwritten ranges read as zeros. With FallocKeepSize the
// range is only checked against the quota.
func (v *Volume) Fallocate(ctx context.Context, ino store.Ino, mode uint32, off, length uint64) (_ store.Attr, err error) {
	defer shape(&err)
	if mode&^store.FallocKeepSize != 0 {
		return store.Attr{}, syscall.EOPNOTSUPP
	}
	if length == 0 {
		return store.Attr{}, syscall.EINVAL
	}
	n, err := v.file(ctx, ino)
	if err != nil {
		return store.Attr{}, err
	}
	end := off + length
	if end < off || end > 1<<62 {
		return store.Attr{}, syscall.EFBIG
	}
	if end <= n.Size {
		return n.Attr, nil
	}
	if err := v.checkQuota(ctx, end-n.Size); err != nil {
		return store.Attr{}, err
	}
	if mode&store.FallocKeepSize != 0 {
		return n.Attr, nil
	}
	return v.setSize(ctx, &n, end, now())
}

// SetAttr implements store.Namespace. A shrinking size zeroes the data past the new end first, then records the
// size (a crash in between leaves the old size with zeros past the new end).
func (v *Volume) SetAttr(ctx context.Context, ino store.Ino, in store.SetAttrIn) (_ store.Attr, err error) {
	defer shape(&err)
	if in.Valid&store.SetMode != 0 && in.Mode&^uint32(0o7777) != 0 {
		return store.Attr{}, syscall.EINVAL
	}
	if err := v.checkOpen(); err != nil {
		return store.Attr{}, err
	}
	cur, err := v.readInode(ctx, ino, false)
	if err != nil {
		return store.Attr{}, err
	}
	if cur.Type == store.TypeFile {
		// Before truncating with, and before recording the version after, this change: the cached view must
		// not predate another mount's writes.
		v.observe(cur)
	}
	if in.Valid&store.SetSize != 0 {
		switch cur.Type {
		case store.TypeFile:
		case store.TypeDir:
			return store.Attr{}, syscall.EISDIR
		default:
			return store.Attr{}, syscall.EINVAL
		}
		if in.Size > 1<<62 {
			return store.Attr{}, syscall.EFBIG
		}
		if in.Size > cur.Size {
			if err := v.checkQuota(ctx, in.Size-cur.Size); err != nil {
				return store.Attr{}, err
			}
		}
		if in.Size < cur.Size {
			unlock, err := v.lockInode(ctx, uint64(ino))
			if err != nil {
				return store.Attr{}, err
			}
			err = v.data.Truncate(ctx, uint64(ino), cur.Size, in.Size)
			unlock()
			if err != nil {
				return store.Attr{}, err
			}
		}
	}
	t := now()
	var delta, base int64
	n, err := v.updateInodeFrom(ctx, ino, &cur, func(n *inode) error {
		delta, base = 0, n.ver
		if in.Valid&store.SetSize != 0 {
			delta = int64(in.Size) - int64(n.Size)
			n.Size = in.Size
			n.Mtime = t
		}
		if in.Valid&store.SetMode != 0 {
			n.Mode = in.Mode
		}
		if in.Valid&store.SetUid != 0 {
			n.Uid = in.Uid
		}
		if in.Valid&store.SetGid != 0 {
			n.Gid = in.Gid
		}
		if in.Valid&store.SetAtime != 0 {
			n.Atime = in.Atime
		}
		if in.Valid&store.SetMtime != 0 {
			n.Mtime = in.Mtime
		}
		n.Ctime = t
		if in.Valid&store.SetCtime != 0 {
			n.Ctime = in.Ctime
		}
		return nil
	})
	if err != nil {
		return store.Attr{}, err
	}
	if n.Type == store.TypeFile {
		v.sawOwn(cur.ver, base, n)
	}
	v.addUsage(ctx, delta, 0)
	return n.Attr, nil
}

// Usage returns the volume's accounting: counters (statistics, cheap to read) plus the root, and the quota.
func (v *Volume) Usage(ctx context.Context) (_ store.Usage, err error) {
	defer shape(&err)
	if err := v.checkOpen(); err != nil {
		return store.Usage{}, err
	}
	var bytes, inodes, capacity int64
	capErr := make(chan error, 1) // the two reads in parallel: one round trip
	go func() {
		capErr <- v.read(`SELECT capacity FROM {ks}.meta WHERE k = ?`, metaKey).ScanContext(ctx, &capacity)
	}()
	err = v.read(`SELECT bytes, inodes FROM {ks}.usage WHERE k = 'total'`).ScanContext(ctx, &bytes, &inodes)
	cerr := <-capErr
	if err != nil && !errors.Is(err, errNotFound) {
		return store.Usage{}, fmt.Errorf("cassandra: read usage: %w", err)
	}
	if cerr != nil {
		return store.Usage{}, fmt.Errorf("cassandra: read capacity: %w", cerr)
	}
	return store.Usage{Bytes: uint64(max(bytes, 0)), Inodes: uint64(max(inodes, 0)) + 1,
		CapacityBytes: uint64(capacity), MaxInodes: v.spec.MaxInodes}, nil
}

// StatFS implements store.Store.
func (v *Volume) StatFS(ctx context.Context) (store.Usage, error) { return v.Usage(ctx) }

// addUsage adds to the usage counters. Counters are statistics: a failed update is logged, and Fsck recounts.
func (v *Volume) addUsage(ctx context.Context, bytes, inodes int64) {
	if bytes == 0 && inodes == 0 {
		return
	}
	err := v.q(`UPDATE {ks}.usage SET bytes = bytes + ?, inodes = inodes + ? WHERE k = 'total'`, bytes, inodes).
		ExecContext(context.WithoutCancel(ctx))
	if err != nil {
		v.log.Warn("usage counter update failed; fsck recounts", "err", err)
	}
}

// checkQuota fails with ENOSPC if growing by add bytes would pass the capacity.
func (v *Volume) checkQuota(ctx context.Context, add uint64) error {
	u, err := v.Usage(ctx)
	if err != nil {
		return err
	}
	if u.CapacityBytes > 0 && u.Bytes+add > u.CapacityBytes {
		return syscall.ENOSPC
	}
	return nil
}

// checkInodeQuota fails with ENOSPC if one more inode would pass MaxInodes.
func (v *Volume) checkInodeQuota(ctx context.Context) error {
	if v.spec.MaxInodes == 0 {
		return nil
	}
	u, err := v.Usage(ctx)
	if err != nil {
		return err
	}
	if u.Inodes >= u.MaxInodes {
		return syscall.ENOSPC
	}
	return nil
}
