package cassandra

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"syscall"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/store"
)

// inode is one row of the inodes table.
type inode struct {
	store.Attr
	ver    int64     // compare-and-set token: a random nonce per change
	parent store.Ino // directories: the directory holding its entry
	target string    // symlinks
}

const inodeCols = `ino, ver, type, mode, uid, gid, nlink, size, atime, mtime, ctime, rdev, target, generation, parent`

// failpoint, set only by tests, is called between the steps of multi-partition operations; an error it returns
// aborts the operation there, as a crash would.
var failpoint func(name string) error

func fail(name string) error {
	if failpoint != nil {
		if err := failpoint(name); err != nil {
			return fmt.Errorf("failpoint %s: %w: %w", name, errCrashed, err)
		}
	}
	return nil
}

var errNotFound = gocql.ErrNotFound

func now() int64 { return time.Now().UnixNano() }

// nonce returns a random non-zero version (0 means "not read" to touchDirFrom).
func nonce() int64 {
	for {
		if n := rand.Int64(); n != 0 {
			return n
		}
	}
}

// readInode reads ino; serial reads through Paxos (needed after a lost compare-and-set). ENOENT if missing.
func (v *Volume) readInode(ctx context.Context, ino store.Ino, serial bool) (inode, error) {
	q := v.read(`SELECT `+inodeCols+` FROM {ks}.inodes WHERE ino = ?`, int64(ino))
	if serial {
		q = v.qs(`SELECT `+inodeCols+` FROM {ks}.inodes WHERE ino = ?`, int64(ino))
	}
	var (
		n                                         inode
		i, uid, gid, size, a, m, c, rdev, gen, pa int64
		typ, mode, nlink                          int
	)
	err := q.ScanContext(ctx, &i, &n.ver, &typ, &mode, &uid, &gid, &nlink, &size, &a, &m, &c, &rdev, &n.target, &gen, &pa)
	if errors.Is(err, gocql.ErrNotFound) {
		return inode{}, syscall.ENOENT
	}
	if err != nil {
		return inode{}, fmt.Errorf("cassandra: read inode %d: %w", ino, err)
	}
	n.Attr = store.Attr{Ino: store.Ino(i), Type: store.FileType(typ), Mode: uint32(mode), Uid: uint32(uid),
		Gid: uint32(gid), Nlink: uint32(nlink), Size: uint64(size), Atime: a, Mtime: m, Ctime: c,
		Rdev: uint32(rdev), Generation: uint64(gen), Version: uint64(n.ver)}
	n.parent = store.Ino(pa)
	return n, nil
}

// insertInode creates the row of a freshly allocated inode. It is a plain write, not an LWT, with the write time
// freshTimestamp: numbers are never reused and no entry names the inode yet, so no one else writes the row
// before the caller's entry makes it reachable (Fsck repair, which could, runs only on a quiescent volume).
// Every later change of the row is an LWT, whose Paxos write time is always above freshTimestamp, so the
// insert can never shadow a later change whatever the clocks say (the reason metadata is otherwise LWT only,
// docs/design.md). The write is idempotent (the same values, the same write time), so a timeout is retried.
func (v *Volume) insertInode(ctx context.Context, n *inode) error {
	n.ver = nonce()
	n.Version = uint64(n.ver)
	for attempt := 0; ; attempt++ {
		err := v.put(`INSERT INTO {ks}.inodes (`+inodeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
			?, ?, ?, ?, ?) USING TIMESTAMP `+strconv.Itoa(freshTimestamp), inodeValues(n)...).ExecContext(ctx)
		if err == nil {
			return nil
		}
		if attempt == 2 || ctx.Err() != nil {
			return fmt.Errorf("cassandra: create inode %d: %w", n.Ino, err)
		}
	}
}

// freshTimestamp is the write time of a new inode row: below every Paxos ballot (microseconds since 1970).
const freshTimestamp = 1

func inodeValues(n *inode) []any {
	return []any{int64(n.Ino), n.ver, int(n.Type), int(n.Mode), int64(n.Uid), int64(n.Gid), int(n.Nlink),
		int64(n.Size), n.Atime, n.Mtime, n.Ctime, int64(n.Rdev), n.target, int64(n.Generation), int64(n.parent)}
}

// errNoChange, returned by an update function, ends updateInode without writing.
var errNoChange = errors.New("no change")

// updateInode applies fn to the current row of ino and writes the result with `IF ver = ?`, retrying on
// conflict. fn may be called several times; an error from it aborts (errNoChange: return the row unchanged).
// A write whose outcome is unknown (timeout) is resolved by reading back: the nonce tells whether it landed.
func (v *Volume) updateInode(ctx context.Context, ino store.Ino, fn func(n *inode) error) (inode, error) {
	return v.updateInodeFrom(ctx, ino, nil, fn)
}

// updateInodeFrom is updateInode whose first attempt starts from first (a row just read), saving a read.
func (v *Volume) updateInodeFrom(ctx context.Context, ino store.Ino, first *inode, fn func(n *inode) error) (inode, error) {
	serial := false
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return inode{}, err
		}
		var n inode
		var err error
		if attempt == 0 && first != nil {
			n = *first
		} else {
			n, err = v.readInode(ctx, ino, serial)
		}
		if err != nil {
			return inode{}, err
		}
		serial = true
		old := n.ver
		if err := fn(&n); err != nil {
			if err == errNoChange {
				return n, nil
			}
			return inode{}, err
		}
		n.ver = nonce()
		n.Version = uint64(n.ver)
		applied, _, err := cas(ctx, v.q(`UPDATE {ks}.inodes SET ver = ?, mode = ?, uid = ?, gid = ?, nlink = ?, size = ?, atime = ?,
			mtime = ?, ctime = ?, parent = ? WHERE ino = ? IF ver = ?`, n.ver, int(n.Mode), int64(n.Uid), int64(n.Gid),
			int(n.Nlink), int64(n.Size), n.Atime, n.Mtime, n.Ctime, int64(n.parent), int64(ino), old))
		if err != nil {
			cur, rerr := v.readInode(ctx, ino, true)
			if rerr == nil && cur.ver == n.ver {
				return n, nil
			}
			if attempt >= 5 {
				return inode{}, fmt.Errorf("cassandra: update inode %d: %w", ino, err)
			}
			continue
		}
		if applied {
			return n, nil
		}
		if attempt > 50 {
			return inode{}, fmt.Errorf("cassandra: update inode %d: too much contention: %w", ino, syscall.EIO)
		}
	}
}

// deleteInode removes the inode row (and its xattrs). Idempotent.
func (v *Volume) deleteInode(ctx context.Context, ino store.Ino) error {
	if _, _, err := cas(ctx, v.q(`DELETE FROM {ks}.inodes WHERE ino = ? IF EXISTS`, int64(ino))); err != nil {
		return fmt.Errorf("cassandra: delete inode %d: %w", ino, err)
	}
	if err := v.put(`DELETE FROM {ks}.xattrs WHERE ino = ?`, int64(ino)).ExecContext(ctx); err != nil {
		return fmt.Errorf("cassandra: delete xattrs of %d: %w", ino, err)
	}
	return nil
}

// cas runs a conditional statement; cur holds the current values when it did not apply.
func cas(ctx context.Context, q *gocql.Query) (applied bool, cur map[string]any, err error) {
	if ferr := fail("cas.send"); ferr != nil { // tests: the statement failed before it reached a replica
		return false, nil, ferr
	}
	cur = map[string]any{}
	applied, err = q.MapScanCASContext(ctx, cur)
	if err == nil {
		if ferr := fail("cas.reply"); ferr != nil { // tests: the write happened, its reply was lost
			return false, nil, ferr
		}
	}
	return applied, cur, err
}

// initVolumeRows creates the root directory and the inode allocator (migration 1).
func initVolumeRows(ctx context.Context, s *gocql.Session, ks string) error {
	t := now()
	root := inode{Attr: store.Attr{Ino: store.RootIno, Type: store.TypeDir, Mode: 0o755, Nlink: 2, Atime: t,
		Mtime: t, Ctime: t, Generation: 1}, ver: nonce(), parent: store.RootIno}
	if _, err := s.Query(cql(ks, `INSERT INTO {ks}.inodes (`+inodeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
		?, ?) IF NOT EXISTS`), inodeValues(&root)...).MapScanCASContext(ctx, map[string]any{}); err != nil {
		return fmt.Errorf("cassandra: create root of %s: %w", ks, err)
	}
	if _, err := s.Query(cql(ks, `INSERT INTO {ks}.alloc (name, next) VALUES ('ino', 2) IF NOT EXISTS`)).
		MapScanCASContext(ctx, map[string]any{}); err != nil {
		return fmt.Errorf("cassandra: create allocator of %s: %w", ks, err)
	}
	return nil
}

// SetFailpoint installs fn as the fault-injection hook and returns a function that removes it. It is for fault
// tests only (such as those of the fsck command): fn is called with the name of each step of the multi-partition
// operations (docs/design.md, "Crash safety") and of the data path ("data.write.blocks": blocks stored, slices
// not yet), and an error it returns stops the operation there as a crash would. Not safe to call while
// operations run.
func SetFailpoint(fn func(step string) error) (restore func()) {
	failpoint = fn
	return func() { failpoint = nil }
}
