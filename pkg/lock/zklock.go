package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// errSessionGone makes Lock start over on the next session: the attempt's node is gone with its session.
var errSessionGone = errors.New("lock: session lost during the attempt")

// Lock implements Locker.
func (z *ZK) Lock(ctx context.Context, name string, mode Mode) (Lease, error) {
	return z.lock(ctx, name, mode, true)
}

// TryLock implements Locker.
func (z *ZK) TryLock(ctx context.Context, name string, mode Mode) (Lease, error) {
	return z.lock(ctx, name, mode, false)
}

// QueueLen reports how many holders and waiters name has (for tests and diagnostics).
func (z *ZK) QueueLen(ctx context.Context, name string) (int, error) {
	s, err := z.session(ctx)
	if err != nil {
		return 0, err
	}
	kids, _, err := s.conn.Children(z.lockDir(name))
	if errors.Is(err, zk.ErrNoNode) {
		return 0, nil
	}
	return len(kids), err
}

func (z *ZK) lockDir(name string) string { return z.root + "/locks/" + name }

func (z *ZK) lock(ctx context.Context, name string, mode Mode, wait bool) (Lease, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := z.liveSession(ctx)
		if err != nil {
			return nil, err
		}
		lease, err := z.attempt(ctx, s, z.lockDir(name), mode, wait)
		if errors.Is(err, errSessionGone) {
			continue
		}
		return lease, err
	}
}

// node is a parsed lock node name: <session hex>-<guid>-<w|r>-<seq>.
type node struct {
	name    string
	session int64
	guid    string
	write   bool
	seq     int64
}

func parseNode(name string) (node, bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 4 || (parts[2] != "w" && parts[2] != "r") {
		return node{}, false
	}
	sid, err1 := strconv.ParseUint(parts[0], 16, 64)
	seq, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return node{}, false
	}
	return node{name: name, session: int64(sid), guid: parts[1], write: parts[2] == "w", seq: seq}, true
}

// predecessor returns the node that me must wait for: a writer waits for the next lower node of any kind,
// a reader only for the next lower writer. ok is false when me holds the lock.
func predecessor(nodes []node, me node) (node, bool) {
	var pred node
	found := false
	for _, n := range nodes {
		if n.seq >= me.seq {
			break
		}
		if me.write || n.write {
			pred, found = n, true
		}
	}
	return pred, found
}

func newGUID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// connErr reports errors after which the request may or may not have been applied.
func connErr(err error) bool {
	var netErr net.Error
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionMoved) || errors.As(err, &netErr) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// check sorts a ZooKeeper error into: nil (retry the step on the same session), errSessionGone, or final.
func (z *ZK) check(ctx context.Context, s *zkSession, err error) error {
	switch {
	case errors.Is(err, zk.ErrSessionExpired):
		s.lose()
		return errSessionGone
	case errors.Is(err, zk.ErrClosing):
		if s.isGone() {
			return errSessionGone
		}
		return ErrClosed
	case connErr(err):
		select {
		case <-time.After(20 * time.Millisecond):
			return nil
		case <-s.lost:
			return errSessionGone
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("lock: zookeeper: %w", err)
}

// attempt runs the recipe once on session s. On any failure it leaves no node of its own behind.
func (z *ZK) attempt(ctx context.Context, s *zkSession, dir string, mode Mode, wait bool) (lease Lease, err error) {
	guid := newGUID()
	z.setActive(guid, true)
	var path string
	defer func() {
		if err != nil {
			if path != "" {
				s.deleteNode(path)
			}
			z.setActive(guid, false) // an unfound node is now an orphan that the next Lock removes
		}
	}()
	path, err = z.create(ctx, s, dir, guid, mode)
	if err != nil {
		return nil, err
	}
	me, _ := parseNode(path[len(dir)+1:])
	// The token (czxid) is read in parallel with the first listing: requests are pipelined on the connection.
	type stat struct {
		exists bool
		st     *zk.Stat
		err    error
	}
	statCh := make(chan stat, 1)
	go func() {
		exists, st, err := s.conn.Exists(path)
		statCh <- stat{exists, st, err}
	}()
	for {
		kids, _, err := s.conn.Children(dir)
		if err != nil {
			if err = z.check(ctx, s, err); err != nil {
				return nil, err
			}
			continue
		}
		nodes, mine := z.sortNodes(s, dir, kids, guid)
		if !mine {
			return nil, errSessionGone // our node vanished: its session ended
		}
		pred, blocked := predecessor(nodes, me)
		if !blocked {
			break
		}
		if !wait {
			return nil, ErrWouldBlock
		}
		exists, _, ch, err := s.conn.ExistsW(dir + "/" + pred.name)
		if err != nil {
			if err = z.check(ctx, s, err); err != nil {
				return nil, err
			}
			continue
		}
		if !exists {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.lost:
			return nil, errSessionGone
		case <-z.done:
			return nil, ErrClosed
		}
	}
	first := <-statCh
	for {
		exists, st, err := first.exists, first.st, first.err
		if err != nil || !exists { // look again: the first answer may predate a reconnection
			exists, st, err = s.conn.Exists(path)
		}
		if err == nil && !exists {
			return nil, errSessionGone
		}
		if err == nil {
			return &zkLease{s: s, z: z, path: path, guid: guid, token: uint64(st.Czxid)}, nil
		}
		if err = z.check(ctx, s, err); err != nil {
			return nil, err
		}
	}
}

// sortNodes parses and sorts the children, deleting orphans: nodes of our own live session that no Lock call of
// ours knows (a create whose reply was lost and whose caller gave up). mine reports whether guid's node exists.
func (z *ZK) sortNodes(s *zkSession, dir string, kids []string, guid string) (nodes []node, mine bool) {
	sid := s.conn.SessionID()
	for _, k := range kids {
		n, ok := parseNode(k)
		if !ok {
			continue
		}
		if n.guid == guid {
			mine = true
		} else if n.session == sid && !z.isActive(n.guid) {
			z.log.Info("removing orphaned lock node of this session", "node", k)
			s.deleteNode(dir + "/" + k)
			continue
		}
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].seq < nodes[j].seq })
	return nodes, mine
}

// create makes the EPHEMERAL|SEQUENTIAL lock node. If the reply is lost, it looks for its node by guid before
// creating another, so a lost reply never leaves a second node (on which it would wait forever).
func (z *ZK) create(ctx context.Context, s *zkSession, dir, guid string, mode Mode) (string, error) {
	kind := "w"
	if mode == Shared {
		kind = "r"
	}
	sid := s.conn.SessionID()
	prefix := fmt.Sprintf("%016x-%s-%s-", uint64(sid), guid, kind)
	s.noteLockNode(dir, sid)
	path, err := z.createNode(ctx, s, dir, guid, prefix)
	if path == "" {
		s.forgetLockNode(dir)
	}
	return path, err
}

func (z *ZK) createNode(ctx context.Context, s *zkSession, dir, guid, prefix string) (string, error) {
	for {
		path, err := s.conn.Create(dir+"/"+prefix, nil, zk.FlagEphemeral|zk.FlagSequence, z.acl)
		if z.createHook != nil {
			path, err = z.createHook(path, err)
		}
		switch {
		case err == nil:
			return path, nil
		case errors.Is(err, zk.ErrNoNode):
			_, err = s.conn.CreateContainer(dir, nil, zk.FlagContainer, z.acl)
			if err != nil && !errors.Is(err, zk.ErrNodeExists) {
				if err = z.check(ctx, s, err); err != nil {
					return "", err
				}
			}
			continue
		case connErr(err):
			if found, err := z.findByGUID(ctx, s, dir, guid); found != "" || err != nil {
				return found, err
			}
			continue
		}
		if err = z.check(ctx, s, err); err != nil {
			return "", err
		}
	}
}

func (z *ZK) findByGUID(ctx context.Context, s *zkSession, dir, guid string) (string, error) {
	for {
		if err := z.check(ctx, s, zk.ErrConnectionClosed); err != nil { // pause, unless the session is gone
			return "", err
		}
		kids, _, err := s.conn.Children(dir)
		if err == nil || errors.Is(err, zk.ErrNoNode) {
			for _, k := range kids {
				if n, ok := parseNode(k); ok && n.guid == guid {
					return dir + "/" + k, nil
				}
			}
			return "", nil
		}
		if !connErr(err) {
			if err = z.check(ctx, s, err); err != nil {
				return "", err
			}
		}
	}
}

type zkLease struct {
	z     *ZK
	s     *zkSession
	path  string
	guid  string
	token uint64
	once  sync.Once
}

func (l *zkLease) Token() uint64         { return l.token }
func (l *zkLease) Lost() <-chan struct{} { return l.s.lost }

// Unlock deletes the lock node. If the connection is down the delete is retried in the background until it
// succeeds or the session ends; either way the lock is released, so Unlock returns nil.
func (l *zkLease) Unlock(context.Context) error {
	l.once.Do(func() {
		l.s.deleteNode(l.path)
		l.z.setActive(l.guid, false)
	})
	return nil
}
