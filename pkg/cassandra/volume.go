package cassandra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/cassandra/chunks"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// OpenOptions configure one mount session of a volume.
type OpenOptions struct {
	Session string // the mount session's name, unique per mount; empty: a random one
	// Locker grants the volume-scoped locks (rename, per-inode, session cleanup). Every mount of the volume must
	// use the same lock space: a ZooKeeper Locker for volumes mounted on several nodes, handles of one
	// lock.Local (Share) for several mounts in one process. nil: a lock table private to this Volume, correct
	// only while it is the volume's only mount.
	Locker     lock.Locker
	CacheBytes int64 // the data path's read cache
	// CacheCounters count the data path's cache hits and misses as they happen (metrics); nil fields count
	// nothing.
	CacheCounters chunks.CacheCounters

	HeartbeatInterval time.Duration // how often the session row is refreshed; default 10s
	SessionTimeout    time.Duration // a session whose heartbeat is older is stale; default 6 heartbeats
	// CleanupInterval: how often this session looks for stale sessions to clean (CleanupStaleSessions, one
	// mount at a time through the Locker); default SessionTimeout, negative disables.
	CleanupInterval time.Duration
}

// Volume is one open volume seen by one mount session. It implements store.Store.
type Volume struct {
	c      *Cluster
	s      *gocql.Session
	ks     string
	spec   VolumeSpec
	cons   gocql.Consistency
	serial gocql.Consistency
	// serialToSeeCommitted: a read at cons may miss an LWT that has committed (cons is not a quorum level, or
	// Paxos is cross-DC while cons is LOCAL_QUORUM), so reads that must see every committed change go through
	// Paxos. False for the default LOCAL_QUORUM / LOCAL_SERIAL: an LWT commits at cons before it answers, so a
	// read at cons sees it.
	serialToSeeCommitted bool
	sid                  string
	opts                 OpenOptions
	locker               lock.Locker
	data                 dataPath
	comp                 *chunks.Compactor
	alloc                allocator

	mu    sync.Mutex
	opens map[store.Ino]int // this session's open counts
	// openLocks order a session's open-record writes per inode (striped by number): the count in opens and
	// the opens row change together, so a RELEASE that the kernel sends late cannot delete the row that the
	// next OPEN of the file wrote.
	openLocks [64]sync.Mutex
	seen      map[store.Ino]int64      // inode version each file's cached data corresponds to
	sizes     map[store.Ino]*sizeGroup // files with size updates in progress (setSize)
	closed    bool
	stop      context.CancelFunc
	done      chan struct{}
	log       *slog.Logger
}

var _ store.Store = (*Volume)(nil)

// errClosed is returned by a closed Volume (EIO at the filesystem edge).
var errClosed = fmt.Errorf("cassandra: volume closed: %w", syscall.EIO)

// OpenVolume opens volume id for one mount session: it registers the session (heartbeat in the background) and
// connects the data path. Close ends the session.
func (c *Cluster) OpenVolume(ctx context.Context, id string, opts OpenOptions) (*Volume, error) {
	info, err := c.GetVolume(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.SchemaVersion < SchemaVersion {
		if _, err := migrate(ctx, c.session, info.Keyspace); err != nil {
			return nil, err
		}
	}
	if opts.Session == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		opts.Session = "s-" + hex.EncodeToString(b)
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 10 * time.Second
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 6 * opts.HeartbeatInterval
	}
	if opts.CleanupInterval == 0 {
		opts.CleanupInterval = opts.SessionTimeout
	}
	cons, err := gocql.ParseConsistencyWrapper(info.Spec.Consistency)
	if err != nil {
		return nil, err
	}
	serial, err := gocql.ParseConsistencyWrapper(info.Spec.SerialConsistency)
	if err != nil {
		return nil, err
	}
	v := &Volume{c: c, s: c.session, ks: info.Keyspace, spec: info.Spec, cons: cons, serial: serial,
		serialToSeeCommitted: !quorumSeesCommitted(cons, serial),
		sid:                  opts.Session, opts: opts, locker: opts.Locker, opens: map[store.Ino]int{},
		seen: map[store.Ino]int64{}, sizes: map[store.Ino]*sizeGroup{},
		log: slog.Default().With("volume", id, "session", opts.Session)}
	if v.locker == nil {
		v.locker = lock.NewLocal()
	}
	v.alloc = allocator{v: v, name: "ino", batch: inoBatch}
	v.data, err = newDataPath(v, opts)
	if err != nil {
		return nil, err
	}
	if err := v.heartbeat(ctx, true); err != nil {
		v.comp.Close()
		return nil, err
	}
	hctx, cancel := context.WithCancel(context.Background())
	v.stop, v.done = cancel, make(chan struct{})
	go v.heartbeatLoop(hctx)
	return v, nil
}

// SessionID is this mount's session name.
func (v *Volume) SessionID() string { return v.sid }

// Spec returns the volume's spec (CapacityBytes as of opening).
func (v *Volume) Spec() VolumeSpec { return v.spec }

// Close releases every inode this session holds open, deregisters the session and stops background work.
func (v *Volume) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	opens := v.opens
	v.opens = map[store.Ino]int{}
	v.mu.Unlock()
	v.stop()
	<-v.done
	v.comp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for ino := range opens {
		errs = append(errs, v.dropOpen(ctx, v.sid, ino))
	}
	errs = append(errs, v.put(`DELETE FROM {ks}.sessions WHERE sid = ?`, v.sid).ExecContext(ctx))
	return errors.Join(errs...)
}

func (v *Volume) checkOpen() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return errClosed
	}
	return nil
}

// Statements are built by one of four helpers, and the helper says whether the driver may retry the statement
// on another node after a failure (gocql retries only statements marked idempotent; see Connect):
//
//   - q: not idempotent, never retried by the driver: lightweight transactions (their callers resolve an
//     unknown outcome by reading back) and counter updates (a retry could count twice).
//   - read: a plain read at the volume's consistency; idempotent.
//   - qs: a read through Paxos (SERIAL); idempotent (running it twice commits nothing new).
//   - put: a plain write or delete whose repetition leaves the same row (immutable rows, rows keyed by the
//     caller's own unique id, overwrites of a cell with the same value, deletions); idempotent.

// q prepares a statement on the volume keyspace with the volume's consistency levels, not idempotent.
func (v *Volume) q(stmt string, args ...any) *gocql.Query {
	return v.s.Query(cql(v.ks, stmt), args...).Consistency(v.cons).SerialConsistency(v.serial).Idempotent(false)
}

// read prepares a plain read (idempotent).
func (v *Volume) read(stmt string, args ...any) *gocql.Query {
	return v.q(stmt, args...).Idempotent(true)
}

// put prepares a plain write that may safely be applied twice (idempotent).
func (v *Volume) put(stmt string, args ...any) *gocql.Query {
	return v.q(stmt, args...).Idempotent(true)
}

// quorumSeesCommitted tells whether a read at consistency cons sees every LWT committed by a writer using cons
// and serial: the commit is written at cons, so cons must be a level whose reads overlap its writes in every
// data center that Paxos spans (QUORUM, ALL, or LOCAL_QUORUM when Paxos is local too).
func quorumSeesCommitted(cons, serial gocql.Consistency) bool {
	switch cons {
	case gocql.Quorum, gocql.All:
		return true
	case gocql.LocalQuorum:
		return serial == gocql.LocalSerial
	}
	return false
}

// putBoth runs two put statements (plain, idempotent writes, possibly on different partitions) as one unlogged
// batch: one round trip instead of two. An unlogged batch gives no atomicity across partitions, which none of
// its callers needs (each row is written as if alone, and a failure is reported as the failure of both).
func (v *Volume) putBoth(ctx context.Context, stmt1 string, args1 []any, stmt2 string, args2 []any) error {
	b := v.s.Batch(gocql.UnloggedBatch).WithContext(ctx).Consistency(v.cons)
	b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: cql(v.ks, stmt1), Args: args1, Idempotent: true},
		gocql.BatchEntry{Stmt: cql(v.ks, stmt2), Args: args2, Idempotent: true})
	return b.ExecContext(ctx)
}

// qs prepares a read that must see every committed LWT (SERIAL read; idempotent).
func (v *Volume) qs(stmt string, args ...any) *gocql.Query {
	return v.s.Query(cql(v.ks, stmt), args...).Consistency(v.serial).Idempotent(true)
}
