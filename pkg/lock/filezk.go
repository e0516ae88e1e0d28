package lock

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/go-zookeeper/zk"
)

// ZKFiles is the FileLocker for volumes mounted on several nodes. It lives on a ZK Locker's session:
//
//   - Each owner's locks on an inode are one EPHEMERAL znode,
//     <ns>/files/<ino>/<p|f>-<hex mount session>-<owner id>-<hex ZooKeeper session>,
//     holding its Ranges as JSON ("p" POSIX, "f" flock). A mount whose session dies loses them all at once,
//     so a crashed node never leaves locks behind.
//   - Every check-and-set runs under the named exclusive lock "file.<ino>" and commits in one multi-op that
//     also bumps the data of <ino>'s directory (a container znode).
//   - A blocked SetLk/Flock sets a child watch and a data watch on that directory before it drops the named
//     lock, so any release (or a vanished owner) wakes it to check again: no polling, no lost wake-ups.
//   - A blocked F_SETLKW also publishes what it waits for (an ephemeral wait record under <ns>/waits) and fails
//     with EDEADLK if the records close a cycle through it; see closesCycle.
//   - If the session that held an owner's locks is lost, the next lock request of that owner on that inode
//     fails with EIO (its locks are gone; the application must not assume them), and so does a request whose
//     commit cannot be confirmed. Unlock and release requests still succeed: nothing is held any more.
type ZKFiles struct {
	z *ZK

	mu   sync.Mutex
	held map[heldKey]*zkSession // owner nodes this mount has created, and the session they live in
}

var _ FileLocker = (*ZKFiles)(nil)

type heldKey struct {
	ino   uint64
	kind  byte
	owner Owner
}

// NewZKFiles returns the FileLocker of the volume z is scoped to. Close z to drop every lock of this mount.
func NewZKFiles(z *ZK) *ZKFiles { return &ZKFiles{z: z, held: make(map[heldKey]*zkSession)} }

func (f *ZKFiles) dir(ino uint64) string { return f.z.root + "/files/" + strconv.FormatUint(ino, 10) }

// ownerNode names an owner's node. It carries the ZooKeeper session too: after a session is lost, the node of
// the old session lingers until the server expires it, and must count as another owner's (a ghost that still
// excludes), never be mistaken for ours and updated, since it dies with its session.
func ownerNode(kind byte, o Owner, zkSession int64) string {
	return fmt.Sprintf("%c-%s-%d-%x", kind, hex.EncodeToString([]byte(o.Session)), o.ID, uint64(zkSession))
}

// tableOwner is the owner as the table keys it: the mount's owner within one ZooKeeper session.
func tableOwner(o Owner, zkSession int64) Owner {
	return Owner{Session: fmt.Sprintf("%s\x00%x", o.Session, uint64(zkSession)), ID: o.ID}
}

func parseOwnerNode(name string) (kind byte, o Owner, ok bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 4 || len(parts[0]) != 1 {
		return 0, o, false
	}
	sess, err1 := hex.DecodeString(parts[1])
	id, err2 := strconv.ParseUint(parts[2], 10, 64)
	zsid, err3 := strconv.ParseUint(parts[3], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, o, false
	}
	return parts[0][0], tableOwner(Owner{Session: string(sess), ID: id}, int64(zsid)), true
}

// readTable loads every owner's locks of one kind on the inode.
func (f *ZKFiles) readTable(s *zkSession, dir string, kind byte) (RangeTable, error) {
	var t RangeTable
	kids, _, err := s.conn.Children(dir)
	if errors.Is(err, zk.ErrNoNode) {
		return t, nil
	}
	if err != nil {
		return t, err
	}
	// The owners' nodes are read in parallel: the requests are pipelined on the connection.
	type read struct {
		owner Owner
		name  string
		data  []byte
		err   error
	}
	reads := make(chan read)
	n := 0
	for _, k := range kids {
		kk, owner, ok := parseOwnerNode(k)
		if !ok || kk != kind {
			continue
		}
		n++
		go func() {
			data, _, err := s.conn.Get(dir + "/" + k)
			reads <- read{owner, k, data, err}
		}()
	}
	var firstErr error
	for ; n > 0; n-- {
		r := <-reads
		switch {
		case errors.Is(r.err, zk.ErrNoNode): // its session just ended
		case r.err != nil:
			firstErr = cmp.Or(firstErr, r.err)
		default:
			var rs Ranges
			if err := json.Unmarshal(r.data, &rs); err != nil {
				firstErr = cmp.Or(firstErr, fmt.Errorf("lock: corrupt lock node %s: %w", r.name, err))
				continue
			}
			t.Put(r.owner, rs)
		}
	}
	if firstErr != nil {
		return t, firstErr
	}
	return t, nil
}

func (f *ZKFiles) errno(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return syscall.EINTR
	}
	f.z.log.Warn("file lock failed", "op", op, "err", err)
	return syscall.EIO
}

// GetLk implements FileLocker. It reads without taking the inode's lock: each owner's node is read atomically.
func (f *ZKFiles) GetLk(ctx context.Context, ino uint64, owner Owner, lk FileLock) (FileLock, error) {
	if err := checkFileLock(lk); err != nil {
		return FileLock{}, err
	}
	for {
		s, err := f.z.liveSession(ctx)
		if err != nil {
			return FileLock{}, f.errno(ctx, "getlk", err)
		}
		t, err := f.readTable(s, f.dir(ino), 'p')
		if err != nil {
			if err = f.z.check(ctx, s, err); err == nil || errors.Is(err, errSessionGone) {
				continue
			}
			return FileLock{}, f.errno(ctx, "getlk", err)
		}
		if c, ok := t.Conflict(tableOwner(owner, s.conn.SessionID()), lk); ok {
			return c, nil
		}
		return FileLock{Start: lk.Start, End: lk.End, Type: Unlock}, nil
	}
}

// SetLk implements FileLocker.
func (f *ZKFiles) SetLk(ctx context.Context, ino uint64, owner Owner, lk FileLock, wait bool) error {
	if err := checkFileLock(lk); err != nil {
		return err
	}
	return f.set(ctx, heldKey{ino, 'p', owner}, lk, wait)
}

// Flock implements FileLocker.
func (f *ZKFiles) Flock(ctx context.Context, ino uint64, owner Owner, typ FileLockType, wait bool) error {
	lk := FileLock{Start: 0, End: math.MaxUint64, Type: typ}
	if err := checkFileLock(lk); err != nil {
		return err
	}
	return f.set(ctx, heldKey{ino, 'f', owner}, lk, wait)
}

// ReleaseOwner implements FileLocker.
func (f *ZKFiles) ReleaseOwner(ctx context.Context, ino uint64, owner Owner) error {
	return f.set(ctx, heldKey{ino, 'p', owner}, FileLock{Start: 0, End: math.MaxUint64, Type: Unlock}, false)
}

// ReleaseFlock implements FileLocker.
func (f *ZKFiles) ReleaseFlock(ctx context.Context, ino uint64, owner Owner) error {
	return f.set(ctx, heldKey{ino, 'f', owner}, FileLock{Start: 0, End: math.MaxUint64, Type: Unlock}, false)
}

// LockLost implements FileLockLoss: the lost channel of the session that holds owner's locks of the kind on ino.
func (f *ZKFiles) LockLost(ino uint64, owner Owner, flock bool) <-chan struct{} {
	kind := byte('p')
	if flock {
		kind = 'f'
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.held[heldKey{ino, kind, owner}]; s != nil {
		return s.lost
	}
	return nil
}

// lostHeld reports (and forgets) that key's locks died with their session.
func (f *ZKFiles) lostHeld(key heldKey) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.held[key]
	if s == nil || !s.isGone() {
		return false
	}
	delete(f.held, key)
	return true
}

// mayHold reports whether key may have an owner node: it was committed, or its commit was attempted and not
// confirmed either way.
func (f *ZKFiles) mayHold(key heldKey) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[key] != nil
}

func (f *ZKFiles) setHeld(key heldKey, s *zkSession, holds bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if holds {
		f.held[key] = s
	} else {
		delete(f.held, key)
	}
}

// outcome of one check-and-set round.
type round int

const (
	done round = iota
	again
	blocked
)

func (f *ZKFiles) set(ctx context.Context, key heldKey, lk FileLock, wait bool) error {
	var w *zkWait // the wait record of a blocked F_SETLKW, deleted when the call returns
	defer func() {
		if w != nil {
			w.s.deleteNode(w.path)
		}
	}()
	for {
		if ctx.Err() != nil {
			return syscall.EINTR
		}
		if f.lostHeld(key) {
			if lk.Type != Unlock {
				return syscall.EIO
			}
			return nil // its locks died with the session; it holds none in the current one
		}
		if lk.Type == Unlock && !f.mayHold(key) {
			return nil // nothing to release: no ZooKeeper round trip (close(2) of every file asks)
		}
		lease, err := f.z.Lock(ctx, "file."+strconv.FormatUint(key.ino, 10), Exclusive)
		if err != nil {
			return f.errno(ctx, "lock inode", err)
		}
		r, watches, err := f.tryOnce(ctx, lease.(*zkLease), key, lk, wait, &w)
		_ = lease.Unlock(context.Background())
		switch {
		case err != nil:
			return err
		case r == done:
			return nil
		case r == blocked:
			if !wait {
				return syscall.EAGAIN
			}
			s := lease.(*zkLease).s
			select {
			case <-watches[0]:
			case <-watches[1]:
			case <-s.lost: // start over on the new session (EIO if this owner held locks in the old one)
			case <-ctx.Done():
				return syscall.EINTR
			case <-f.z.done:
				return syscall.EIO
			}
		}
	}
}

// tryOnce checks and commits lk under the inode's lock. When blocked (and wait) it returns the watches to wait on;
// a blocked POSIX request publishes its wait record in *w (once per session) and fails with EDEADLK if it closes
// a cycle.
func (f *ZKFiles) tryOnce(ctx context.Context, lease *zkLease, key heldKey, lk FileLock, wait bool, w **zkWait) (round, [2]<-chan zk.Event, error) {
	var watches [2]<-chan zk.Event
	s, dir := lease.s, f.dir(key.ino)
	retry := func(err error) (round, [2]<-chan zk.Event, error) {
		if err = f.z.check(ctx, s, err); err == nil || errors.Is(err, errSessionGone) {
			return again, watches, nil
		}
		return done, watches, f.errno(ctx, "setlk", err)
	}
	if f.lostHeld(key) {
		if lk.Type != Unlock {
			return done, watches, syscall.EIO
		}
		return done, watches, nil
	}
	t, err := f.readTable(s, dir, key.kind)
	if err != nil {
		return retry(err)
	}
	me := tableOwner(key.owner, s.conn.SessionID())
	if _, busy := t.Conflict(me, lk); busy {
		if !wait {
			return blocked, watches, nil
		}
		// Watches are set while the inode's lock is held: no change can slip in before them.
		_, _, cw, err := s.conn.ChildrenW(dir)
		if err != nil {
			return retry(err)
		}
		_, _, dw, err := s.conn.GetW(dir)
		if err != nil {
			return retry(err)
		}
		watches[0], watches[1] = cw, dw
		if key.kind == 'p' {
			if *w == nil || (*w).s != s {
				nw, err := f.publishWait(s, me, key.ino, lk)
				if err != nil {
					return retry(err)
				}
				*w = nw
			}
			cycle, err := f.closesCycle(s, me, (*w).stamp, t.Blockers(me, lk), map[uint64]*RangeTable{key.ino: &t})
			if err != nil {
				return retry(err)
			}
			if cycle {
				return done, watches, syscall.EDEADLK
			}
		}
		return blocked, watches, nil
	}
	old := t.Get(me)
	next := old.Set(lk)
	path := dir + "/" + ownerNode(key.kind, key.owner, s.conn.SessionID())
	data, err := json.Marshal(next)
	if err != nil {
		return done, watches, f.errno(ctx, "setlk", err)
	}
	var op any
	switch {
	case len(old) > 0 && len(next) == 0:
		op = &zk.DeleteRequest{Path: path, Version: -1}
	case len(old) > 0:
		op = &zk.SetDataRequest{Path: path, Data: data, Version: -1}
	case len(next) > 0:
		op = &zk.CreateRequest{Path: path, Data: data, Acl: f.z.acl, Flags: zk.FlagEphemeral}
	default:
		f.setHeld(key, s, false)
		return done, watches, nil // unlock of nothing
	}
	if err := Valid(lease); err != nil {
		return done, watches, f.errno(ctx, "setlk", err)
	}
	if len(next) > 0 {
		f.setHeld(key, s, true) // before the commit: an unlock must look even if its reply is lost
	}
	_, err = s.conn.Multi(op, &zk.SetDataRequest{Path: dir, Data: nil, Version: -1})
	if errors.Is(err, zk.ErrNoNode) && len(old) == 0 {
		_, err = s.conn.CreateContainer(dir, nil, zk.FlagContainer, f.z.acl)
		if err == nil || errors.Is(err, zk.ErrNodeExists) {
			return again, watches, nil
		}
	}
	if err != nil {
		// Connection trouble: the commit may or may not have happened; the next round reads and redoes it
		// (applying lk is idempotent). A lost session makes it EIO via lostHeld, or a fresh start.
		return retry(err)
	}
	f.setHeld(key, s, len(next) > 0)
	return done, watches, nil
}

// Deadlock detection (EDEADLK). A blocked F_SETLKW publishes what it waits for in an EPHEMERAL znode
// <ns>/waits/p-<hex mount session>-<owner id>-<hex ZooKeeper session> (the owner's name as in the inode
// directories) holding {ino, lock}; it lives as long as the call waits. Whoever reads the records and the inodes'
// tables has the wait-for graph: an owner waits for every owner whose lock conflicts with its request.
//
// The record's mzxid is its stamp. A blocked request looks for a path from its blockers back to itself through
// records with lower stamps only: so the member of a cycle that published last is the one that reports it, and
// it sees the whole cycle, because a ZooKeeper read after one's own write reflects every transaction before it
// (the other records, and the locks their owners took before they blocked). Each cycle is reported once, to the
// request that closed it, as in the kernel, unless a cycle is broken by a grant or cancel at the very moment it
// is checked (then the report may come although the wait would have ended).

// zkWait is a published wait record.
type zkWait struct {
	s     *zkSession
	path  string
	stamp int64 // the record's mzxid
}

type waitRecord struct {
	Ino  uint64   `json:"ino"`
	Lock FileLock `json:"lock"`
}

func (f *ZKFiles) waitsDir() string { return f.z.root + "/waits" }

// waitNode names the wait record of a table owner (see tableOwner).
func waitNode(o Owner) string {
	sess, zsid, _ := strings.Cut(o.Session, "\x00")
	return fmt.Sprintf("p-%s-%d-%s", hex.EncodeToString([]byte(sess)), o.ID, zsid)
}

// publishWait creates (or, left over from an earlier call of the same owner, overwrites) me's wait record.
func (f *ZKFiles) publishWait(s *zkSession, me Owner, ino uint64, lk FileLock) (*zkWait, error) {
	data, err := json.Marshal(waitRecord{Ino: ino, Lock: lk})
	if err != nil {
		return nil, err
	}
	path := f.waitsDir() + "/" + waitNode(me)
	for {
		_, err := s.conn.Create(path, data, zk.FlagEphemeral, f.z.acl)
		switch {
		case errors.Is(err, zk.ErrNoNode): // the container is made on first use (namespaces older than EDEADLK)
			if _, err := s.conn.CreateContainer(f.waitsDir(), nil, zk.FlagContainer, f.z.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
				return nil, err
			}
			continue
		case errors.Is(err, zk.ErrNodeExists):
			st, err := s.conn.Set(path, data, -1)
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return &zkWait{s: s, path: path, stamp: st.Mzxid}, nil
		case err != nil:
			return nil, err
		}
		ok, st, err := s.conn.Exists(path)
		if err != nil {
			return nil, err
		}
		if !ok { // cannot be: it is ours and our session is alive
			return nil, fmt.Errorf("lock: wait record %s vanished", path)
		}
		return &zkWait{s: s, path: path, stamp: st.Mzxid}, nil
	}
}

// closesCycle reports whether a chain of blocked requests with stamps below stamp leads from blockers back to me.
// tables caches the POSIX tables read so far.
func (f *ZKFiles) closesCycle(s *zkSession, me Owner, stamp int64, blockers []Owner, tables map[uint64]*RangeTable) (bool, error) {
	seen := make(map[Owner]bool)
	for len(blockers) > 0 {
		o := blockers[len(blockers)-1]
		blockers = blockers[:len(blockers)-1]
		if o == me {
			return true, nil
		}
		if seen[o] {
			continue
		}
		seen[o] = true
		data, st, err := s.conn.Get(f.waitsDir() + "/" + waitNode(o))
		if errors.Is(err, zk.ErrNoNode) {
			continue // o is not waiting
		}
		if err != nil {
			return false, err
		}
		if st.Mzxid >= stamp {
			continue // o blocked after us: if this is a cycle, o reports it
		}
		var rec waitRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			f.z.log.Warn("ignoring a corrupt wait record", "owner", waitNode(o), "err", err)
			continue
		}
		t := tables[rec.Ino]
		if t == nil {
			rt, err := f.readTable(s, f.dir(rec.Ino), 'p')
			if err != nil {
				return false, err
			}
			t = &rt
			tables[rec.Ino] = t
		}
		blockers = append(blockers, t.Blockers(o, rec.Lock)...)
	}
	return false, nil
}

var _ FileLockLoss = (*ZKFiles)(nil)
