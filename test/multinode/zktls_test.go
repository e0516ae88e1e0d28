//go:build multinode

package multinode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/lock"
)

// TestZKTLS runs a standalone ZooKeeper of its own with a TLS client port (hack/zookeeper.sh with ZK_TLS=1: Netty,
// a keystore made by keytool) and uses pkg/lock over it: named locks and file locks between two sessions, each
// server certificate verified against the CA the script wrote and the host of the server's address (ServerName
// is left empty: pkg/lock fills it in). A client that does not trust the CA, one that expects another name, and
// one that speaks plain text to the TLS port all fail to connect.
func TestZKTLS(t *testing.T) {
	base := freePortBase(t)
	env := []string{"CASSFS_STATE=" + t.TempDir(), "ZK_PORT_BASE=" + strconv.Itoa(base), "ZK_TLS=1"}
	zkScript := func(args ...string) {
		t.Helper()
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command(filepath.Join(filepath.Dir(file), "..", "..", "hack", "zookeeper.sh"), args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("zookeeper.sh %v: %v\n%s", args, err, out)
		}
	}
	start := time.Now()
	zkScript("start", "1")
	t.Cleanup(func() { zkScript("stop") })
	t.Logf("TLS ZooKeeper ready in %v", time.Since(start).Round(100*time.Millisecond))
	pem, err := os.ReadFile(filepath.Join(env[0][len("CASSFS_STATE="):], "zookeeper", "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	secure := fmt.Sprintf("127.0.0.1:%d", base+11)
	cfg := lock.ZKConfig{
		Servers:   []string{secure},
		Chroot:    "/cassfs-tls",
		Namespace: "vol",
		TLS:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}
	connect := func(cfg lock.ZKConfig, wait time.Duration) (*lock.ZK, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		z, err := lock.NewZK(ctx, cfg)
		if err == nil {
			t.Cleanup(func() { _ = z.Close() })
		}
		return z, err
	}
	a, err := connect(cfg, time.Minute)
	if err != nil {
		t.Fatalf("NewZK over TLS: %v", err)
	}
	cfgB := cfg
	cfgB.Servers = []string{fmt.Sprintf("localhost:%d", base+11)} // verified by DNS name this time
	b, err := connect(cfgB, time.Minute)
	if err != nil {
		t.Fatalf("NewZK over TLS as localhost: %v", err)
	}
	ctx := context.Background()
	x, err := a.Lock(ctx, "x", lock.Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryLock(ctx, "x", lock.Exclusive); !errors.Is(err, lock.ErrWouldBlock) {
		t.Fatalf("TryLock while a holds x = %v, want ErrWouldBlock", err)
	}
	_ = x.Unlock(ctx)
	y, err := b.Lock(ctx, "x", lock.Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if y.Token() <= x.Token() {
		t.Fatalf("token %d after %d", y.Token(), x.Token())
	}
	_ = y.Unlock(ctx)
	fa, fb := lock.NewZKFiles(a), lock.NewZKFiles(b)
	oa, ob := lock.Owner{Session: "a", ID: 1}, lock.Owner{Session: "b", ID: 1}
	if err := fa.SetLk(ctx, 7, oa, lock.FileLock{Start: 0, End: 9, Type: lock.WriteLock}, false); err != nil {
		t.Fatal(err)
	}
	if err := fb.SetLk(ctx, 7, ob, lock.FileLock{Start: 5, End: 5, Type: lock.ReadLock}, false); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("conflicting SetLk over TLS = %v, want EAGAIN", err)
	}
	if err := fa.ReleaseOwner(ctx, 7, oa); err != nil {
		t.Fatal(err)
	}
	if err := lock.DeleteZKNamespace(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	// Clients that must not get a session.
	untrusting := cfg
	untrusting.TLS = &tls.Config{RootCAs: x509.NewCertPool()}
	otherName := cfg
	otherName.TLS = &tls.Config{RootCAs: pool, ServerName: "zk.other.example"}
	plain := cfg
	plain.TLS = nil
	for name, c := range map[string]lock.ZKConfig{"untrusted CA": untrusting, "other server name": otherName, "plain text": plain} {
		if _, err := connect(c, 3*time.Second); err == nil {
			t.Errorf("%s: NewZK succeeded against the TLS port", name)
		}
	}
}

// freePortBase returns a ZK_PORT_BASE whose standalone ports (base+1 plain, base+11 TLS) are free: from
// CASSFS_TEST_ZK_TLS_PORT_BASE if set, else the first free one from 2250 up in steps of 20.
func freePortBase(t *testing.T) int {
	if v := os.Getenv("CASSFS_TEST_ZK_TLS_PORT_BASE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("CASSFS_TEST_ZK_TLS_PORT_BASE=%q: %v", v, err)
		}
		return n
	}
	free := func(port int) bool {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		_ = l.Close()
		return true
	}
	for base := 2250; base < 2900; base += 20 {
		if free(base+1) && free(base+11) {
			return base
		}
	}
	t.Fatal("no free port pair for the TLS ZooKeeper")
	return 0
}
