package cassandra

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// lossSignal is a slog handler that closes lost when the ZooKeeper Locker declares its session lost.
type lossSignal struct {
	once sync.Once
	lost chan struct{}
}

func (h *lossSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h *lossSignal) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "session lost") {
		h.once.Do(func() { close(h.lost) })
	}
	return nil
}
func (h *lossSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lossSignal) WithGroup(string) slog.Handler      { return h }

// TestRenameLockLostBeforeCommit: a directory move whose rename lock is lost (the mount's ZooKeeper session) after
// its intent is written and before its commit point stops there with EIO, leaving the old state, instead of
// moving the directory unprotected; after reconnection the move works.
func TestRenameLockLostBeforeCommit(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	var mu sync.Mutex
	var conns []net.Conn
	cut := false
	dial := func(network, addr string, timeout time.Duration) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		if cut {
			return nil, errors.New("test: network cut")
		}
		conn, err := net.DialTimeout(network, addr, timeout)
		if err == nil {
			conns = append(conns, conn)
		}
		return conn, err
	}
	setCut := func(on bool) {
		mu.Lock()
		defer mu.Unlock()
		cut = on
		if on {
			for _, conn := range conns {
				_ = conn.Close()
			}
			conns = nil
		}
	}
	signal := &lossSignal{lost: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	z, err := lock.NewZK(ctx, lock.ZKConfig{Servers: testenv.RequireZooKeeper(t), Chroot: testenv.ZKChroot(t, "cassfs-renamelock-"),
		Namespace: KeyspaceName(info.Spec.ID), SessionTimeout: 4 * time.Second, Dialer: dial, Logger: slog.New(signal)})
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	v := openVolume(t, c, info.Spec.ID, "renamelock", z)
	bg := context.Background()
	from, err := v.Mknod(bg, store.RootIno, "from", store.NewNode{Type: store.TypeDir, Mode: 0o755})
	if err != nil {
		t.Fatal(err)
	}
	to, err := v.Mknod(bg, store.RootIno, "to", store.NewNode{Type: store.TypeDir, Mode: 0o755})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Mknod(bg, from.Ino, "d", store.NewNode{Type: store.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	failpoint = func(name string) error {
		if name == "rename.intent" {
			setCut(true)
			select {
			case <-signal.lost:
			case <-time.After(time.Minute):
				t.Error("the ZooKeeper session was not declared lost")
			}
		}
		return nil
	}
	t.Cleanup(func() { failpoint = nil; setCut(false) })
	err = v.Rename(bg, from.Ino, "d", to.Ino, "d", 0)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("directory move whose rename lock was lost before the commit: %v, want EIO", err)
	}
	if _, err := v.Lookup(bg, from.Ino, "d"); err != nil {
		t.Errorf("the directory left its old place: %v", err)
	}
	if _, err := v.Lookup(bg, to.Ino, "d"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("the directory reached its new place: %v", err)
	}
	failpoint = nil
	setCut(false)
	start := time.Now()
	for {
		err := v.Rename(bg, from.Ino, "d", to.Ino, "d", 0)
		if err == nil {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("directory move after reconnection: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := v.Lookup(bg, to.Ino, "d"); err != nil {
		t.Errorf("after the move: %v", err)
	}
	rep, err := v.Fsck(bg, false)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Errorf("fsck after the refused and the completed move: %+v", rep)
	}
}
