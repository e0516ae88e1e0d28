package cassandra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// Sessions: every Volume has a row in sessions (heartbeat refreshed in the background). A session that holds an
// inode open has a row in opens ((ino), sid) and in session_opens ((sid), ino); an inode whose nlink reaches 0 is
// reclaimed only when opens has no row for it. CleanupStaleSessions removes the rows of sessions whose heartbeat
// is older than the timeout and reclaims what they kept alive.

func (v *Volume) heartbeat(ctx context.Context, first bool) error {
	t := time.Now().UTC()
	var err error
	if first {
		err = v.put(`INSERT INTO {ks}.sessions (sid, started, heartbeat, info) VALUES (?, ?, ?, ?)`,
			v.sid, t, t, sessionInfo{Writer: v.data.WriterID()}.String()).ExecContext(ctx)
	} else {
		err = v.put(`UPDATE {ks}.sessions SET heartbeat = ? WHERE sid = ?`, t, v.sid).ExecContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("cassandra: session heartbeat: %w", err)
	}
	return nil
}

// sessionInfo is the info column of a session row (JSON). Writer is the id of the session's data path
// (chunks.Store.WriterID): the namespace of the blocks it writes, which Fsck must not collect while the
// session lives.
type sessionInfo struct {
	Writer int64 `json:"writer,omitempty"`
}

func (i sessionInfo) String() string {
	b, _ := json.Marshal(i)
	return string(b)
}

func parseSessionInfo(s string) sessionInfo {
	var i sessionInfo
	_ = json.Unmarshal([]byte(s), &i) // older sessions wrote "": no writer known
	return i
}

func (v *Volume) heartbeatLoop(ctx context.Context) {
	defer close(v.done)
	tick := time.NewTicker(v.opts.HeartbeatInterval)
	defer tick.Stop()
	var cleanup <-chan time.Time
	if v.opts.CleanupInterval > 0 {
		ct := time.NewTicker(v.opts.CleanupInterval)
		defer ct.Stop()
		cleanup = ct.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := v.heartbeat(ctx, false); err != nil && ctx.Err() == nil {
				v.log.Warn("heartbeat failed", "err", err)
			}
		case <-cleanup:
			if n, err := v.cleanupStale(ctx, v.opts.SessionTimeout, false); err != nil && ctx.Err() == nil {
				v.log.Warn("stale session cleanup failed", "err", err)
			} else if n > 0 {
				v.log.Info("cleaned stale sessions", "count", n)
			}
		}
	}
}

// Open implements store.Sessions.
func (v *Volume) Open(ctx context.Context, ino store.Ino) (_ store.Attr, err error) {
	defer shape(&err)
	if err := v.checkOpen(); err != nil {
		return store.Attr{}, err
	}
	l := v.openLock(ino)
	l.Lock()
	v.mu.Lock()
	first := v.opens[ino] == 0
	v.opens[ino]++
	v.mu.Unlock()
	if first {
		err := v.putBoth(ctx, `INSERT INTO {ks}.opens (ino, sid) VALUES (?, ?)`, []any{int64(ino), v.sid},
			`INSERT INTO {ks}.session_opens (sid, ino) VALUES (?, ?)`, []any{v.sid, int64(ino)})
		if err != nil {
			v.undoOpen(ino)
			l.Unlock()
			return store.Attr{}, fmt.Errorf("cassandra: record open: %w", err)
		}
	}
	l.Unlock()
	v.data.Invalidate(uint64(ino))
	n, err := v.readInode(ctx, ino, v.serialToSeeCommitted)
	if err != nil {
		_ = v.Release(context.WithoutCancel(ctx), ino)
		return store.Attr{}, err
	}
	return n.Attr, nil
}

func (v *Volume) undoOpen(ino store.Ino) (last bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.opens[ino]--; v.opens[ino] <= 0 {
		delete(v.opens, ino)
		return true
	}
	return false
}

// Release implements store.Sessions. Releasing an inode this session does not hold open is EBADF.
func (v *Volume) Release(ctx context.Context, ino store.Ino) (err error) {
	defer shape(&err)
	if err := v.checkOpen(); err != nil {
		return err
	}
	l := v.openLock(ino)
	l.Lock()
	v.mu.Lock()
	held := v.opens[ino] > 0
	v.mu.Unlock()
	if !held {
		l.Unlock()
		return syscall.EBADF
	}
	if !v.undoOpen(ino) {
		l.Unlock()
		return nil
	}
	err = v.deleteOpenRecord(ctx, v.sid, ino)
	l.Unlock()
	if err != nil {
		return err
	}
	return v.reclaimIfUnlinked(ctx, ino)
}

// openLock returns the lock that orders this session's open-record writes of ino (see Volume.openLocks).
func (v *Volume) openLock(ino store.Ino) *sync.Mutex {
	return &v.openLocks[uint64(ino)%uint64(len(v.openLocks))]
}

// dropOpen removes session sid's open record of ino, then reclaims ino if it has no link and no other holder.
func (v *Volume) dropOpen(ctx context.Context, sid string, ino store.Ino) error {
	if err := v.deleteOpenRecord(ctx, sid, ino); err != nil {
		return err
	}
	return v.reclaimIfUnlinked(ctx, ino)
}

func (v *Volume) deleteOpenRecord(ctx context.Context, sid string, ino store.Ino) error {
	if err := v.putBoth(ctx, `DELETE FROM {ks}.opens WHERE ino = ? AND sid = ?`, []any{int64(ino), sid},
		`DELETE FROM {ks}.session_opens WHERE sid = ? AND ino = ?`, []any{sid, int64(ino)}); err != nil {
		return fmt.Errorf("cassandra: drop open record: %w", err)
	}
	return nil
}

// reclaimIfUnlinked reclaims ino if it has no link left and no session holds it open.
func (v *Volume) reclaimIfUnlinked(ctx context.Context, ino store.Ino) error {
	// An unlink that took the last link committed its nlink update before it looked for open records; if it
	// found ours (deleted just before this read), this read sees its committed update (serialToSeeCommitted).
	n, err := v.readInode(ctx, ino, v.serialToSeeCommitted)
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.Nlink == 0 {
		return v.maybeReclaim(ctx, n)
	}
	return nil
}

// maybeReclaim deletes inode n (nlink 0) and its data unless some session holds it open. Data goes first, the
// inode row last (a crash in between leaves an nlink-0 inode that Fsck or a later release reclaims); only the
// caller whose row delete applies uncounts it, so two concurrent reclaimers count it once.
//
// The check and the reclaim run under the inode's open lock (Volume.openLocks), and an open by this session
// counts even before its record is written: a file this mount opens again while its last name goes (the kernel
// may still resolve the old name) is either kept, or reclaimed before that open reads it (the open then fails
// with ENOENT), never reclaimed under an open that succeeded.
func (v *Volume) maybeReclaim(ctx context.Context, n inode) error {
	l := v.openLock(n.Ino)
	l.Lock()
	defer l.Unlock()
	v.mu.Lock()
	held := v.opens[n.Ino] > 0
	v.mu.Unlock()
	if held {
		return nil // open in this session: its last Release reclaims it
	}
	var sid string
	err := v.read(`SELECT sid FROM {ks}.opens WHERE ino = ? LIMIT 1`, int64(n.Ino)).ScanContext(ctx, &sid)
	if err == nil {
		return nil // still open somewhere: the last Release reclaims it
	}
	if !errors.Is(err, gocql.ErrNotFound) {
		return fmt.Errorf("cassandra: check open records: %w", err)
	}
	return v.reclaim(ctx, n)
}

// reclaim deletes inode n and everything it owns. The row is deleted only if unchanged since it was read (IF
// ver = ?), so the size uncounted is exactly the size deleted, even if a late write through a stale handle raced
// with the removal; only the caller whose delete applies uncounts it. A removed directory's partition keeps its
// static sealed marker (one cell): creates racing with the removal keep failing, and numbers are never reused.
func (v *Volume) reclaim(ctx context.Context, n inode) error {
	ctx = context.WithoutCancel(ctx)
	for attempt := 0; ; attempt++ {
		// The first attempt starts from n as the caller read it (usually the row its own nlink update just
		// wrote): the row delete below applies only if the row is still that version, so a stale n costs a
		// retry, which re-reads through Paxos.
		cur, err := n, error(nil)
		if attempt > 0 || n.ver == 0 {
			cur, err = v.readInode(ctx, n.Ino, true)
		}
		if errors.Is(err, syscall.ENOENT) {
			return nil // reclaimed by someone else
		}
		if err != nil {
			return err
		}
		if cur.Nlink != 0 {
			return nil // linked again (only Fsck relinks): not garbage
		}
		if cur.Type == store.TypeFile {
			if err := v.data.Delete(ctx, uint64(cur.Ino), cur.Size); err != nil {
				return err
			}
		}
		applied, _, err := cas(ctx, v.q(`DELETE FROM {ks}.inodes WHERE ino = ? IF ver = ?`, int64(cur.Ino), cur.ver))
		if err != nil {
			// Unknown outcome: gone means it landed (a concurrent reclaimer at the same moment would make the
			// counters count it twice; Fsck recounts).
			if _, rerr := v.readInode(ctx, cur.Ino, true); !errors.Is(rerr, syscall.ENOENT) {
				if attempt < 5 && rerr == nil {
					continue
				}
				return fmt.Errorf("cassandra: delete inode %d: %w", cur.Ino, err)
			}
			applied = true
		}
		if !applied {
			if attempt == 20 {
				return fmt.Errorf("cassandra: delete inode %d: keeps changing: %w", cur.Ino, syscall.EIO)
			}
			continue
		}
		if err := v.put(`DELETE FROM {ks}.xattrs WHERE ino = ?`, int64(cur.Ino)).ExecContext(ctx); err != nil {
			return fmt.Errorf("cassandra: delete xattrs of %d: %w", cur.Ino, err)
		}
		var bytes int64
		if cur.Type == store.TypeFile {
			bytes = int64(cur.Size)
		}
		v.addUsage(ctx, -bytes, -1)
		return nil
	}
}

// CleanupStaleSessions ends every session (other than this one) whose heartbeat is older than timeout (0: the
// volume's OpenOptions.SessionTimeout): its open records are dropped and the files it kept alive after their last
// unlink are reclaimed. Returns the number of sessions cleaned. Safe to run from several mounts at once.
func (v *Volume) CleanupStaleSessions(ctx context.Context, timeout time.Duration) (int, error) {
	if err := v.checkOpen(); err != nil {
		return 0, err
	}
	if timeout <= 0 {
		timeout = v.opts.SessionTimeout
	}
	return v.cleanupStale(ctx, timeout, true)
}

// cleanupStale is CleanupStaleSessions; without wait it returns (0, nil) when another mount is cleaning.
func (v *Volume) cleanupStale(ctx context.Context, timeout time.Duration, wait bool) (int, error) {
	var lease lock.Lease
	var err error
	if wait {
		lease, err = v.locker.Lock(ctx, "session-cleanup", lock.Exclusive)
	} else {
		lease, err = v.locker.TryLock(ctx, "session-cleanup", lock.Exclusive)
		if errors.Is(err, lock.ErrWouldBlock) {
			return 0, nil
		}
	}
	if err != nil {
		return 0, err
	}
	defer lease.Unlock(context.WithoutCancel(ctx))
	cutoff := time.Now().Add(-timeout)
	live, stale, err := v.sessions(ctx, cutoff)
	if err != nil {
		return 0, err
	}
	_ = live
	cleaned := 0
	for _, sid := range stale {
		if sid == v.sid {
			continue
		}
		if err := v.endSession(ctx, sid); err != nil {
			return cleaned, err
		}
		cleaned++
	}
	return cleaned, nil
}

// sessions lists the session ids whose heartbeat is after cutoff (live) and the others (stale), including ids
// that appear only in session_opens (a session row already gone).
func (v *Volume) sessions(ctx context.Context, cutoff time.Time) (live, stale []string, err error) {
	seen := map[string]bool{}
	iter := v.read(`SELECT sid, heartbeat FROM {ks}.sessions`).WithContext(ctx).Iter()
	var sid string
	var hb time.Time
	for iter.Scan(&sid, &hb) {
		seen[sid] = true
		if hb.After(cutoff) {
			live = append(live, sid)
		} else {
			stale = append(stale, sid)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, nil, fmt.Errorf("cassandra: list sessions: %w", err)
	}
	iter = v.read(`SELECT DISTINCT sid FROM {ks}.session_opens`).WithContext(ctx).Iter()
	for iter.Scan(&sid) {
		if !seen[sid] {
			seen[sid] = true
			stale = append(stale, sid)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, nil, fmt.Errorf("cassandra: list open records: %w", err)
	}
	return live, stale, nil
}

// endSession drops everything stale session sid held and its row.
func (v *Volume) endSession(ctx context.Context, sid string) error {
	iter := v.read(`SELECT ino FROM {ks}.session_opens WHERE sid = ?`, sid).WithContext(ctx).Iter()
	var inos []store.Ino
	var ino int64
	for iter.Scan(&ino) {
		inos = append(inos, store.Ino(ino))
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("cassandra: list open records of %s: %w", sid, err)
	}
	for _, ino := range inos {
		if err := v.dropOpen(ctx, sid, ino); err != nil {
			return err
		}
	}
	if err := v.replayIntents(ctx, sid); err != nil {
		return err
	}
	return v.put(`DELETE FROM {ks}.sessions WHERE sid = ?`, sid).ExecContext(ctx)
}
