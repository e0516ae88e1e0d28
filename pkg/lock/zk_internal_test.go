package lock

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/cassfs/cassfs/internal/testenv"
)

// These tests need the internals of ZK (its connection, test hooks) and the real ZooKeeper.

func internalConfig(t *testing.T, digests ...string) ZKConfig {
	t.Helper()
	servers := testenv.RequireZooKeeper(t)
	cfg := ZKConfig{
		Servers:        servers,
		SessionTimeout: 4 * time.Second,
		Chroot:         "/" + testenv.UniqueName("cassfs-locktest-"),
		Namespace:      testenv.UniqueName("vol-"),
	}
	t.Cleanup(func() {
		c, _, err := zk.Connect(servers, 5*time.Second, zk.WithLogInfo(false))
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer c.Close()
		for _, d := range digests {
			if err := c.AddAuth("digest", []byte(d)); err != nil {
				t.Errorf("cleanup auth: %v", err)
			}
		}
		if err := deleteTree(c, cfg.Chroot); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return cfg
}

func mustZK(t *testing.T, cfg ZKConfig) *ZK {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	z, err := NewZK(ctx, cfg)
	if err != nil {
		t.Fatalf("NewZK: %v", err)
	}
	t.Cleanup(func() { _ = z.Close() })
	return z
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func waitLost(t *testing.T, l Lease) {
	t.Helper()
	select {
	case <-l.Lost():
	case <-time.After(60 * time.Second):
		t.Fatalf("Lost did not close")
	}
	if err := Valid(l); !errors.Is(err, ErrLost) {
		t.Fatalf("Valid after loss = %v, want ErrLost", err)
	}
	if err := l.Unlock(context.Background()); err != nil {
		t.Fatalf("Unlock after loss = %v, want nil", err)
	}
}

// A partitioned mount loses its leases, another mount gets the lock once the server expires the session, and
// the partitioned mount works again on a new session once the network is back.
func TestZKPartitionLosesLeases(t *testing.T) {
	cfg := internalConfig(t)
	d := &testenv.CutDialer{}
	cfgA := cfg
	cfgA.Dialer = d.Dial
	a, b := mustZK(t, cfgA), mustZK(t, cfg)
	x, err := a.Lock(tctx(t), "p", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	sharedWaiter := make(chan error, 1)
	go func() { // a waiter of the partitioned mount starts over on the new session, or gives up if none comes
		l, err := a.Lock(tctx(t), "p2", Shared)
		if err == nil {
			err = l.Unlock(context.Background())
		}
		sharedWaiter <- err
	}()
	d.Set(true)
	waitLost(t, x)
	y, err := b.Lock(tctx(t), "p", Exclusive) // waits for the server to expire a's session
	if err != nil {
		t.Fatal(err)
	}
	if y.Token() <= x.Token() {
		t.Fatalf("token %d after lost lease's %d", y.Token(), x.Token())
	}
	d.Set(false)
	if _, err := a.TryLock(tctx(t), "p", Exclusive); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock after reconnect = %v, want ErrWouldBlock (b holds it)", err)
	}
	z, err := a.Lock(tctx(t), "q", Exclusive)
	if err != nil {
		t.Fatalf("Lock after reconnect: %v", err)
	}
	if err := Valid(z); err != nil {
		t.Fatalf("new lease invalid: %v", err)
	}
	_ = z.Unlock(context.Background())
	_ = y.Unlock(context.Background())
	// Granted before the cut or on the new session; or, when the partition outlasted a session timeout after the
	// loss (as it may here: it lasts until the server expires a's session), ErrNoSession rather than a hang.
	if err := <-sharedWaiter; err != nil && !errors.Is(err, ErrNoSession) {
		t.Fatalf("Lock started before the partition: %v", err)
	} else if err != nil {
		t.Logf("Lock started before the partition: %v (no session for a session timeout)", err)
	}
}

// errRemoteRefused: the server no longer knows the session (an earlier close went through).
var errRemoteRefused = errors.New("server refused to resume the session")

// sessionCredentials returns the id, password and server of z's current session. Read it once, right after the
// session was established (the library rewrites the password on every reconnection, unsynchronised).
func sessionCredentials(z *ZK) (int64, []byte, string) {
	z.mu.Lock()
	conn := z.sess.conn
	z.mu.Unlock()
	passwd := reflect.ValueOf(conn).Elem().FieldByName("passwd").Bytes()
	return conn.SessionID(), append([]byte(nil), passwd...), conn.Server()
}

// closeSessionRemotely ends a session from another TCP connection that resumes it (session id + password)
// and sends closeSession, as a server-side expiry would.
func closeSessionRemotely(sid int64, passwd []byte, server string) error {
	c, err := net.Dial("tcp", server)
	if err != nil {
		return err
	}
	defer c.Close()
	req := binary.BigEndian.AppendUint32(nil, 0)   // protocol version
	req = binary.BigEndian.AppendUint64(req, 0)    // last zxid seen
	req = binary.BigEndian.AppendUint32(req, 4000) // timeout
	req = binary.BigEndian.AppendUint64(req, uint64(sid))
	req = binary.BigEndian.AppendUint32(req, uint32(len(passwd)))
	req = append(req, passwd...)
	closeReq := binary.BigEndian.AppendUint32(nil, 1)                      // xid
	closeReq = binary.BigEndian.AppendUint32(closeReq, uint32(0xfffffff5)) // opClose = -11
	// Both packets in one write: the original client reconnects quickly and would take the session back.
	var out []byte
	for _, pkt := range [][]byte{req, closeReq} {
		out = binary.BigEndian.AppendUint32(out, uint32(len(pkt)))
		out = append(out, pkt...)
	}
	if _, err := c.Write(out); err != nil {
		return err
	}
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return err
	}
	if len(body) < 16 || binary.BigEndian.Uint64(body[8:16]) != uint64(sid) {
		return errRemoteRefused
	}
	_, _ = io.Copy(io.Discard, c) // the close reply, then EOF
	return nil
}

func TestZKSessionExpiry(t *testing.T) {
	cfg := internalConfig(t)
	cfg.SessionTimeout = 20 * time.Second
	a, b := mustZK(t, cfg), mustZK(t, cfg)
	x, err := a.Lock(tctx(t), "e", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Lock(tctx(t), "e2", Shared)
	if err != nil {
		t.Fatal(err)
	}
	// The original client may take its session back before the close is processed: then try again.
	sid, passwd, server := sessionCredentials(a)
	for attempt := 0; ; attempt++ {
		err := closeSessionRemotely(sid, passwd, server)
		if errors.Is(err, errRemoteRefused) {
			break // closed already; the client learns it when its connection times out
		}
		select {
		case <-x.Lost():
		case <-time.After(3 * time.Second):
			if attempt < 10 {
				t.Logf("session still alive after remote close (%v); retrying", err)
				continue
			}
		}
		break
	}
	waitLost(t, x)
	waitLost(t, r)
	y, err := b.Lock(tctx(t), "e", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	_ = y.Unlock(context.Background())
	z, err := a.Lock(tctx(t), "e", Exclusive)
	if err != nil {
		t.Fatalf("Lock on the new session: %v", err)
	}
	if err := Valid(z); err != nil {
		t.Fatal(err)
	}
	_ = z.Unlock(context.Background())
}

// A node of our own live session that no Lock call knows (its create reply was lost and the caller gave up)
// must not block anyone: the next Lock of the name removes it.
func TestZKOrphanOfOwnSessionRemoved(t *testing.T) {
	cfg := internalConfig(t)
	a, b := mustZK(t, cfg), mustZK(t, cfg)
	s, err := a.session(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := a.lockDir("o")
	if _, err := s.conn.CreateContainer(dir, nil, zk.FlagContainer, a.acl); err != nil {
		t.Fatal(err)
	}
	orphan := dir + "/" + sessionPrefix(s) + newGUID() + "-w-"
	if _, err := s.conn.Create(orphan, nil, zk.FlagEphemeral|zk.FlagSequence, a.acl); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryLock(tctx(t), "o", Exclusive); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("b TryLock with the orphan present = %v, want ErrWouldBlock", err)
	}
	x, err := a.Lock(tctx(t), "o", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := a.QueueLen(tctx(t), "o"); n != 1 {
		t.Fatalf("%d nodes after adopting, want 1 (the orphan removed)", n)
	}
	_ = x.Unlock(context.Background())
	y, err := b.TryLock(tctx(t), "o", Exclusive)
	if err != nil {
		t.Fatalf("b after a's orphan was removed: %v", err)
	}
	_ = y.Unlock(context.Background())
}

func sessionPrefix(s *zkSession) string {
	p := ""
	for sid, i := uint64(s.conn.SessionID()), 0; i < 16; i++ {
		p = string("0123456789abcdef"[sid&15]) + p
		sid >>= 4
	}
	return p + "-"
}

// A create whose reply is lost (connection loss) finds its node by GUID instead of creating a second one.
func TestZKProtectedCreate(t *testing.T) {
	cfg := internalConfig(t)
	a := mustZK(t, cfg)
	var calls int
	a.createHook = func(path string, err error) (string, error) {
		if err != nil {
			return path, err
		}
		calls++
		if calls == 1 {
			return "", zk.ErrConnectionClosed // applied, but the reply is "lost"
		}
		return path, nil
	}
	x, err := a.Lock(tctx(t), "pc", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("%d successful creates, want 1", calls)
	}
	if n, _ := a.QueueLen(tctx(t), "pc"); n != 1 {
		t.Fatalf("%d lock nodes, want 1", n)
	}
	_ = x.Unlock(context.Background())
	if n, _ := a.QueueLen(tctx(t), "pc"); n != 0 {
		t.Fatalf("%d lock nodes after Unlock, want 0", n)
	}
}

func TestZKDigestACL(t *testing.T) {
	cfg := internalConfig(t, "alice:secret")
	cfg.Digest = "alice:secret"
	a, a2 := mustZK(t, cfg), mustZK(t, cfg)
	x, err := a.Lock(tctx(t), "acl", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.TryLock(tctx(t), "acl", Exclusive); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("same credentials: TryLock = %v, want ErrWouldBlock", err)
	}
	for _, digest := range []string{"mallory:secret", ""} {
		other := cfg
		other.Digest = digest
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		m, err := NewZK(ctx, other)
		cancel()
		if err == nil {
			t.Cleanup(func() { _ = m.Close() })
			_, err = m.Lock(tctx(t), "acl", Exclusive)
			if err == nil {
				t.Fatalf("digest %q: Lock granted on another volume's nodes", digest)
			}
		}
		if !errors.Is(err, zk.ErrNoAuth) {
			t.Fatalf("digest %q: err = %v, want NoAuth", digest, err)
		}
	}
	// A raw client without the credentials can neither list nor delete the lock node.
	raw, _, err := zk.Connect(cfg.Servers, 5*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, _, err := raw.Children(a.lockDir("acl")); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("Children without credentials = %v, want NoAuth", err)
	}
	if err := raw.Delete(x.(*zkLease).path, -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("Delete without credentials = %v, want NoAuth", err)
	}
	_ = x.Unlock(context.Background())
}

// No herd: with one holder and three queued writers, each lock node is watched by exactly one other session
// (its successor), as the server reports it (4-letter command wchp).
func TestZKWaitersWatchOnlyTheirPredecessor(t *testing.T) {
	cfg := internalConfig(t)
	var ls []*ZK
	for i := 0; i < 4; i++ {
		ls = append(ls, mustZK(t, cfg))
	}
	x, err := ls[0].Lock(tctx(t), "herd", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 3)
	for i := 1; i < 4; i++ {
		go func(l *ZK) {
			lease, err := l.Lock(tctx(t), "herd", Exclusive)
			if err == nil {
				err = lease.Unlock(context.Background())
			}
			results <- err
		}(ls[i])
	}
	dir := ls[0].lockDir("herd")
	var watched map[string]int
	for deadline := time.Now().Add(30 * time.Second); ; {
		watched = watchersUnder(t, cfg.Servers[0], dir)
		if len(watched) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(watched) != 3 {
		t.Fatalf("watched lock nodes %v, want the holder's and the first two waiters'", watched)
	}
	for p, n := range watched {
		if n != 1 {
			t.Fatalf("%s watched by %d sessions, want 1 (herd)", p, n)
		}
	}
	if _, ok := watched[x.(*zkLease).path]; !ok {
		t.Fatalf("the holder's node is not watched: %v", watched)
	}
	_ = x.Unlock(context.Background())
	for i := 0; i < 3; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
}

// watchersUnder asks the server which sessions watch which paths and counts them for children of dir.
func watchersUnder(t *testing.T, server, dir string) map[string]int {
	t.Helper()
	c, err := net.Dial("tcp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("wchp")); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	path := ""
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "/"):
			path = strings.TrimSpace(line)
		case strings.TrimSpace(line) != "" && strings.HasPrefix(path, dir+"/"):
			got[path]++
		}
	}
	return got
}

// A mount that lost its session removes the lock nodes that session left, through its next session, instead of
// leaving every waiter blocked until the server expires the old session: b is granted while the old session is
// still alive on the server (its ephemeral marker node still exists).
func TestZKReapAfterLoss(t *testing.T) {
	cfg := internalConfig(t)
	cfg.SessionTimeout = 20 * time.Second // the server expires the lost session 20 s after the cut
	d := &testenv.CutDialer{}
	cfgA := cfg
	cfgA.Dialer = d.Dial
	a, b := mustZK(t, cfgA), mustZK(t, cfg)
	x, err := a.Lock(tctx(t), "r", Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.session(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	marker := a.root + "/marker"
	if _, err := s.conn.Create(marker, nil, zk.FlagEphemeral, a.acl); err != nil {
		t.Fatal(err)
	}
	granted := make(chan error, 1)
	go func() {
		l, err := b.Lock(tctx(t), "r", Exclusive)
		if err == nil {
			if l.Token() <= x.Token() {
				err = errors.New("token did not grow")
			}
			_ = l.Unlock(context.Background())
		}
		granted <- err
	}()
	cut := time.Now()
	d.Set(true)
	waitLost(t, x)
	d.Set(false) // a opens its next session, which removes the old session's node
	if err := <-granted; err != nil {
		t.Fatalf("b: %v", err)
	}
	t.Logf("MEASURED: b granted %v after a's network was cut (session timeout %v)", time.Since(cut).Round(time.Millisecond), cfg.SessionTimeout)
	ok, _, err := b.sess.conn.Exists(marker)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("the old session had expired before b was granted: its node was not removed by a")
	}
}
