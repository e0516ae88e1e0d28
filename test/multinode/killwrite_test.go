//go:build multinode

package multinode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/cassandra/chunks"
	"github.com/cassfs/cassfs/pkg/fusefs"
	"github.com/cassfs/cassfs/pkg/store"
)

// Knobs of TestKillNodeDuringWrite, overridable for longer runs.
var (
	killWriteBytes = envInt("CASSFS_KILLWRITE_MIB", 1024) << 20 // file size
	killVictim     = envInt("CASSFS_KILLWRITE_NODE", 2)         // node to SIGKILL (1-3)
)

const (
	killWriteBlock = 1 << 20  // bytes per write(2)
	killSyncEvery  = 64 << 20 // fsync after this many bytes
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestKillNodeDuringWrite writes 1 GiB through a real CassFS mount of a volume replicated three times (QUORUM
// and SERIAL), with an fsync every 64 MiB, and SIGKILLs one Cassandra node a quarter of the way in. Every node
// is a contact point and a replica of everything, so the driver's connections to the killed node reset
// mid-request and its statements must go to the others. The application must see no error; the file's SHA-256
// must match with the node down (read through a fresh mount), and again after the node is back and the other
// nodes' hints have been replayed to it, read at ONE with the returned node as the only coordinator.
func TestKillNodeDuringWrite(t *testing.T) {
	if !allAnswer(cassandraHosts) {
		hack(t, "cassandra.sh", "start", "3") // idempotent: brings back any node an earlier run left down
	}
	if killVictim < 1 || killVictim > len(cassandraHosts) {
		t.Fatalf("CASSFS_KILLWRITE_NODE=%d: want 1..%d", killVictim, len(cassandraHosts))
	}
	victim := strconv.Itoa(killVictim)
	victimHost := cassandraHosts[killVictim-1]
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	testStart := time.Now()

	c, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: cassandraHosts, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	id, info, flushed := killTestVolume(t, c, "killwrite", killVictim)

	mnt := mountVolume(t, c, id, "killwrite-writer", log)
	path := filepath.Join(mnt, "big")

	// The application: write, fsync every 64 MiB, close. It reports how far it got so the kill lands mid-way.
	progress := make(chan int64, 1)
	type result struct {
		sum  string
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	var finished atomic.Bool // the application returned from close
	go func() {
		start := time.Now()
		sum, err := writeRandom(path, int64(killWriteBytes), func(n int64) {
			select {
			case progress <- n:
			default:
			}
		})
		finished.Store(true)
		done <- result{sum, err, time.Since(start)}
	}()
	var killedAt time.Duration
	var killedAfter int64
	killed := false
	var res result
wait:
	for {
		select {
		case n := <-progress:
			if !killed && n >= int64(killWriteBytes)/4 {
				if msg, bad := <-flushed; bad {
					t.Fatalf("flush system_schema on node%d: %s", killVictim, msg)
				}
				if finished.Load() {
					t.Fatalf("the application finished before node%d could be killed (flush of its schema took too long)", killVictim)
				}
				t0 := time.Now()
				hack(t, "cassandra.sh", "kill", victim)
				killed, killedAt, killedAfter = true, time.Since(testStart), n
				t.Logf("MEASURED: node%d (%s) SIGKILLed after %d MiB written (%v into the test; kill took %v)",
					killVictim, victimHost, n>>20, killedAt.Round(100*time.Millisecond), time.Since(t0).Round(10*time.Millisecond))
			}
		case res = <-done:
			break wait
		}
	}
	if !killed {
		t.Fatalf("the write finished before the kill (%v)", res.err)
	}
	if res.err != nil {
		t.Fatalf("the application saw an error with node%d killed: %v", killVictim, res.err)
	}
	t.Logf("MEASURED: %d MiB written with fsync every %d MiB in %v (%.1f MiB/s), node%d killed at %d MiB; no error",
		killWriteBytes>>20, killSyncEvery>>20, res.took.Round(100*time.Millisecond),
		float64(killWriteBytes>>20)/res.took.Seconds(), killVictim, killedAfter>>20)

	// With the node down: a fresh mount (no cache of the writer's) reads the same bytes.
	t0 := time.Now()
	mnt2 := mountVolume(t, c, id, "killwrite-reader", log)
	if got := sumFile(t, filepath.Join(mnt2, "big")); got != res.sum {
		t.Fatalf("with node%d down, a fresh mount reads SHA-256 %s, the application wrote %s", killVictim, got, res.sum)
	}
	t.Logf("MEASURED: read back through a fresh mount with node%d down in %v: SHA-256 matches", killVictim,
		time.Since(t0).Round(100*time.Millisecond))

	// The node returns; the others replay the writes it missed (hints).
	t0 = time.Now()
	hack(t, "cassandra.sh", "start-node", victim)
	restarted := time.Since(t0)
	t0 = time.Now()
	waitHintsDrained(t, 3*time.Minute)
	t.Logf("MEASURED: node%d answered CQL %v after the restart began; hints drained %v later", killVictim,
		restarted.Round(100*time.Millisecond), time.Since(t0).Round(100*time.Millisecond))

	// Read at ONE through the returned node alone: its replicas hold every block and slice.
	v, err := c.OpenVolume(ctx, id, cassandra.OpenOptions{Session: "killwrite-check"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, err := v.Lookup(ctx, store.RootIno, "big")
	if err != nil || a.Size != uint64(killWriteBytes) {
		t.Fatalf("lookup after the return: %+v, %v", a, err)
	}
	t0 = time.Now()
	if got := sumStore(t, v, a); got != res.sum {
		t.Fatalf("after node%d returned, the volume (QUORUM) reads SHA-256 %s, want %s", killVictim, got, res.sum)
	}
	t.Logf("MEASURED: read at QUORUM after the return in %v: SHA-256 matches", time.Since(t0).Round(100*time.Millisecond))
	// A replica that was SIGKILLed can miss writes that hints do not bring back: those it acknowledged before its
	// commit log was synced (periodic sync), and those that were in flight to it when it died. Reads at QUORUM
	// never depend on it (above); a read from it alone does only after an anti-entropy repair, as an operator
	// runs after a node crash.
	if got := sumAtOne(t, victimHost, info, a); got != res.sum {
		t.Logf("MEASURED: before repair, node%d alone at ONE reads SHA-256 %s (not the data: it missed writes in the crash)", killVictim, got)
	} else {
		t.Logf("MEASURED: before repair, node%d alone at ONE reads the same SHA-256", killVictim)
	}
	t0 = time.Now()
	hack(t, "cassandra.sh", "nodetool-node", victim, "repair", "-full", info.Keyspace)
	t.Logf("MEASURED: nodetool repair -full of the volume's keyspace on node%d: %v", killVictim,
		time.Since(t0).Round(100*time.Millisecond))
	t0 = time.Now()
	if got := sumAtOne(t, victimHost, info, a); got != res.sum {
		t.Fatalf("after repair, node%d alone at ONE reads SHA-256 %s, want %s", killVictim, got, res.sum)
	}
	t.Logf("MEASURED: after repair, read at ONE with node%d as the only coordinator in %v: SHA-256 matches", killVictim,
		time.Since(t0).Round(100*time.Millisecond))
	// The usage counters are statistics: a counter update that timed out while the node died is not retried
	// (a retry could count twice) and Fsck recounts it. Anything else is a fault.
	r, err := v.Fsck(ctx, false)
	if err != nil {
		t.Fatalf("fsck: %v", err)
	}
	if r.UsageFixed {
		t.Logf("fsck: usage counters off (a counter update was lost with the node): %q", r.Problems)
	}
	if n := len(r.Problems); r.UsageFixed && n != 1 || !r.UsageFixed && n != 0 {
		t.Errorf("fsck: %q", r.Problems)
	}
	t.Logf("MEASURED: whole test %v", time.Since(testStart).Round(time.Second))
}

// allAnswer reports whether every host accepts connections on the CQL port.
func allAnswer(hosts []string) bool {
	for _, h := range hosts {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h, "9042"), 2*time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

// hintThrottleKiB reads host's hinted_handoff_throttle (system_views.settings), in KiB/s; 0 if unreadable.
func hintThrottleKiB(t *testing.T, host string) int {
	cc := gocql.NewCluster(host)
	cc.HostFilter = gocql.WhiteListHostFilter(host)
	cc.Timeout = 10 * time.Second
	s, err := cc.CreateSession()
	if err != nil {
		t.Logf("hint throttle of %s: %v", host, err)
		return 0
	}
	defer s.Close()
	var v string
	if err := s.Query(`SELECT value FROM system_views.settings WHERE name = 'hinted_handoff_throttle'`).
		Consistency(gocql.One).Scan(&v); err != nil {
		t.Logf("hint throttle of %s: %v", host, err)
		return 0
	}
	for suffix, mul := range map[string]int{"KiB": 1, "MiB": 1 << 10, "GiB": 1 << 20} {
		if n, err := strconv.Atoi(strings.TrimSuffix(v, suffix)); err == nil && strings.HasSuffix(v, suffix) {
			return n * mul
		}
	}
	return 0
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// mountVolume opens a session of volume id and mounts it on a fresh directory until the test ends.
func mountVolume(t *testing.T, c *cassandra.Cluster, id, session string, log *slog.Logger) string {
	t.Helper()
	v, err := c.OpenVolume(context.Background(), id, cassandra.OpenOptions{Session: session})
	if err != nil {
		t.Fatalf("open volume: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	dir := t.TempDir()
	srv, err := fusefs.Mount(dir, v, fusefs.Options{Session: session, Logger: log})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// writeRandom writes size pseudo-random bytes to path as an application would (write, fsync every
// killSyncEvery bytes and at the end, close) and returns their SHA-256.
func writeRandom(path string, size int64, progress func(int64)) (string, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	rng := rand.NewChaCha8([32]byte{'k', 'i', 'l', 'l'})
	h := sha256.New()
	buf := make([]byte, killWriteBlock)
	for n := int64(0); n < size; {
		_, _ = rng.Read(buf)
		h.Write(buf)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return "", fmt.Errorf("write at %d: %w", n, err)
		}
		n += int64(len(buf))
		if n%killSyncEvery == 0 || n == size {
			if err := f.Sync(); err != nil {
				f.Close()
				return "", fmt.Errorf("fsync at %d: %w", n, err)
			}
		}
		progress(n)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sumFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 4<<20)); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sumStore reads file a through the store API of v.
func sumStore(t *testing.T, v *cassandra.Volume, a store.Attr) string {
	t.Helper()
	ctx := context.Background()
	if _, err := v.Open(ctx, a.Ino); err != nil {
		t.Fatal(err)
	}
	defer v.Release(ctx, a.Ino)
	return sumReads(t, a.Size, func(off uint64, buf []byte) (int, error) { return v.Read(ctx, a.Ino, off, buf) })
}

// sumAtOne reads file a with the data path alone, at consistency ONE, through a session that may use host only.
func sumAtOne(t *testing.T, host string, info cassandra.VolumeInfo, a store.Attr) string {
	t.Helper()
	cc := gocql.NewCluster(host)
	cc.HostFilter = gocql.WhiteListHostFilter(host)
	cc.Timeout = 20 * time.Second
	s, err := cc.CreateSession()
	if err != nil {
		t.Fatalf("connect to %s alone: %v", host, err)
	}
	defer s.Close()
	st, err := chunks.New(s, info.Keyspace, chunks.Config{ChunkSize: info.Spec.ChunkSize, BlockSize: info.Spec.BlockSize,
		Consistency: gocql.One, CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	return sumReads(t, a.Size, func(off uint64, buf []byte) (int, error) {
		return st.Read(ctx, uint64(a.Ino), off, buf, a.Size)
	})
}

func sumReads(t *testing.T, size uint64, read func(off uint64, buf []byte) (int, error)) string {
	t.Helper()
	var h hash.Hash = sha256.New()
	buf := make([]byte, 4<<20)
	for off := uint64(0); off < size; {
		n, err := read(off, buf[:min(uint64(len(buf)), size-off)])
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if n == 0 {
			t.Fatalf("short read at %d of %d", off, size)
		}
		h.Write(buf[:n])
		off += uint64(n)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// waitHintsDrained waits until no node has hints pending for another (system_views.pending_hints, a node-local
// virtual table, read through a session pinned to each node).
func waitHintsDrained(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pending := 0
		var last error
		for _, h := range cassandraHosts {
			n, err := pendingHints(h)
			if err != nil {
				last = err
				pending++
				continue
			}
			pending += n
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hints still pending after %v (%d hint files; last error %v)", timeout, pending, last)
		}
		time.Sleep(time.Second)
	}
}

func pendingHints(host string) (int, error) {
	cc := gocql.NewCluster(host)
	cc.HostFilter = gocql.WhiteListHostFilter(host)
	cc.Timeout = 10 * time.Second
	cc.DisableInitialHostLookup = true
	s, err := cc.CreateSession()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	it := s.Query(`SELECT files FROM system_views.pending_hints`).Consistency(gocql.One).Iter()
	total, files := 0, 0
	for it.Scan(&files) {
		total += files
	}
	return total, it.Close()
}

// killTestVolume prepares a node-kill test: an RF=3 volume at QUORUM/SERIAL made through admin (deleted at the end,
// once the victim node is back and the hints for it have drained: dropping a keyspace while hints for it are
// replayed loses the table's schema on the receiving node for good; the drop is retried, since dropping GiBs of
// replicas can outlast a request timeout). The bed runs with -Dcassandra.unsafesystem (schema tables are not
// flushed as they change), so the schema is flushed on the victim, as a production node would have it, for it
// to come back knowing the volume: nodetool is a slow-starting JVM, so this runs in the background and flushed
// yields an error message if it failed (closed when done; wait for it before the kill). The survivors' hint
// throttle is raised so that they replay quickly (beds started before hack/cassandra.sh raised the default).
func killTestVolume(t *testing.T, admin *cassandra.Cluster, prefix string, victimNode int) (string, cassandra.VolumeInfo, <-chan string) {
	t.Helper()
	ctx := context.Background()
	victim := strconv.Itoa(victimNode)
	id := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	spec, err := cassandra.ParseVolumeSpec(id, 0, map[string]string{"replicationFactor": "3",
		"consistency": "QUORUM", "serialConsistency": "SERIAL"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := admin.CreateVolume(ctx, spec)
	if err != nil {
		t.Fatalf("create volume: %v", err)
	}
	t.Cleanup(func() {
		hack(t, "cassandra.sh", "start-node", victim)
		waitHintsDrained(t, 3*time.Minute)
		var err error
		for attempt := 1; attempt <= 4; attempt++ {
			if err = admin.DeleteVolume(context.Background(), id); err == nil {
				break
			}
			t.Logf("delete volume, attempt %d: %v", attempt, err)
			time.Sleep(5 * time.Second)
		}
		if err != nil {
			t.Errorf("delete volume: %v", err)
		}
	})
	if err := admin.Session().AwaitSchemaAgreement(ctx); err != nil {
		t.Fatalf("schema agreement: %v", err)
	}
	flushed := make(chan string, 1)
	go func() {
		out, err := exec.Command(hackPath("cassandra.sh"), "nodetool-node", victim, "flush", "system_schema").CombinedOutput()
		if err != nil {
			flushed <- fmt.Sprintf("%v: %s", err, out)
		}
		close(flushed)
	}()
	for i, h := range cassandraHosts {
		if i+1 != victimNode && hintThrottleKiB(t, h) < 65536 {
			hack(t, "cassandra.sh", "nodetool-node", strconv.Itoa(i+1), "sethintedhandoffthrottlekb", "65536")
		}
	}
	return id, info, flushed
}
