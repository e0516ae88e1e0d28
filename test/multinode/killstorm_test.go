//go:build multinode

package multinode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/cassandra/chunks"
	"github.com/cassfs/cassfs/pkg/fusefs"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// Knobs of TestKillNodeDuringMetadataStorm, overridable for longer runs.
var (
	stormWorkers = envInt("CASSFS_KILLSTORM_WORKERS", 4)                                // goroutines, one subtree each
	stormVictim  = envInt("CASSFS_KILLSTORM_NODE", 2)                                   // node to SIGKILL (1-3)
	stormBefore  = time.Duration(envInt("CASSFS_KILLSTORM_BEFORE_S", 15)) * time.Second // storm before the kill
	stormDown    = time.Duration(envInt("CASSFS_KILLSTORM_DOWN_S", 20)) * time.Second   // storm with the node down, before its restart begins
	stormAfter   = time.Duration(envInt("CASSFS_KILLSTORM_AFTER_S", 15)) * time.Second  // storm after it answers again
	stormSeed    = uint64(envInt("CASSFS_KILLSTORM_SEED", int(time.Now().UnixNano()&0x7fffffff)))
)

// TestKillNodeDuringMetadataStorm runs a metadata storm through a real CassFS mount of a volume replicated three
// times (QUORUM and SERIAL), with ZooKeeper locks and change notices as the node plugin mounts it, and SIGKILLs
// one Cassandra node in the middle. Every node is a contact point of the driver, so the killed node is never its
// only way in. Several workers, each in a subtree of its own, create and write small files, overwrite and append,
// mkdir, rename within and across directories (files, symlinks and directories, and over existing files), unlink,
// rmdir, chmod, symlink, list directories and read files back, checking each result against a model of what must
// exist. The storm goes on while the node is down, while it restarts and after it answers again.
//
// Asserted: no system call fails (the first error of a worker fails the test with the operation and its errno),
// and every listing and read-back agrees with the model as the storm runs; afterwards the tree (names, types,
// modes, sizes, SHA-256 of contents, symlink targets) equals the model through the storm's mount, through a fresh
// mount, and, after nodetool repair, read at ONE through the returned node alone; Fsck finds nothing but
// (possibly) usage counters a lost counter update left off.
func TestKillNodeDuringMetadataStorm(t *testing.T) {
	if !allAnswer(cassandraHosts) {
		hack(t, "cassandra.sh", "start", "3") // idempotent: brings back any node an earlier run left down
	}
	if stormVictim < 1 || stormVictim > len(cassandraHosts) {
		t.Fatalf("CASSFS_KILLSTORM_NODE=%d: want 1..%d", stormVictim, len(cassandraHosts))
	}
	testenv.RequireZooKeeper(t)
	victim := strconv.Itoa(stormVictim)
	victimHost := cassandraHosts[stormVictim-1]
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	testStart := time.Now()
	t.Logf("seed %d (CASSFS_KILLSTORM_SEED), %d workers, victim node%d (%s)", stormSeed, stormWorkers, stormVictim, victimHost)

	// The statements that failed on some attempt (the driver retries idempotent ones on the next node): counted
	// and sampled for the log, so that a failure shows what Cassandra answered.
	obs := &attemptObserver{}
	c, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: cassandraHosts, QueryObserver: obs})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	// The mounts use the node plugin's settings (above: every node a contact point, the default 10 s request
	// timeout). Creating, dropping and checking the volume use a connection with a long timeout: DDL can
	// outlast 10 s on a loaded machine.
	admin, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: cassandraHosts, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(admin.Close)
	id, info, flushed := killTestVolume(t, admin, "killstorm", stormVictim)

	chroot := fmt.Sprintf("/cassfs-killstorm-%d", time.Now().UnixNano())
	t.Cleanup(func() { testenv.DeleteZKTree(t, zkServers, chroot) })
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	mnt := mountZK(t, c, id, chroot, "killstorm-storm", log)

	// The storm.
	stop := make(chan struct{})
	workers := make([]*stormWorker, stormWorkers)
	var wg sync.WaitGroup
	for i := range workers {
		w := &stormWorker{id: i, root: filepath.Join(mnt, fmt.Sprintf("w%d", i)), rel: fmt.Sprintf("w%d", i),
			rng: rand.New(rand.NewPCG(stormSeed, uint64(i))), model: map[string]*mnode{}}
		workers[i] = w
		wg.Add(1)
		go func() { defer wg.Done(); w.run(stop) }()
	}
	stopStorm := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	t.Cleanup(stopStorm)
	failed := func() bool {
		for _, w := range workers {
			if w.failure() != nil {
				return true
			}
		}
		return false
	}
	// sleep lets the storm run for d; false if a worker failed (no point going on).
	sleep := func(d time.Duration) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if failed() {
				return false
			}
		}
		return true
	}
	var killAt, restartAt, upAt time.Time
	if sleep(stormBefore) {
		if msg, bad := <-flushed; bad {
			stopStorm()
			t.Fatalf("flush system_schema on node%d: %s", stormVictim, msg)
		}
		killAt = time.Now()
		hack(t, "cassandra.sh", "kill", victim)
		t.Logf("MEASURED: node%d (%s) SIGKILLed %v into the storm (%d ops done)", stormVictim, victimHost,
			killAt.Sub(testStart).Round(100*time.Millisecond), countOps(workers, time.Time{}, killAt))
		if sleep(stormDown) {
			restartAt = time.Now()
			// start-node returns when the node answers CQL; the storm goes on meanwhile.
			// start-node waits 4 minutes for CQL; on a loaded machine a start can take longer, and a second
			// start-node finds the process running and waits again.
			out, err := exec.Command(hackPath("cassandra.sh"), "start-node", victim).CombinedOutput()
			if err != nil {
				t.Logf("restart node%d: %v\n%s", stormVictim, err, out)
				out, err = exec.Command(hackPath("cassandra.sh"), "start-node", victim).CombinedOutput()
			}
			if err != nil {
				stopStorm()
				t.Fatalf("restart node%d: %v\n%s\nworkers: %v", stormVictim, err, out, workerErrors(workers))
			}
			upAt = time.Now()
			t.Logf("MEASURED: node%d down %v (kill to CQL answering again; restart took %v)", stormVictim,
				upAt.Sub(killAt).Round(100*time.Millisecond), upAt.Sub(restartAt).Round(100*time.Millisecond))
			sleep(stormAfter)
		}
	}
	stormEnd := time.Now()
	stopStorm()
	t.Logf("driver: %d statement attempts failed during the storm (retried or resolved by the caller):\n%s",
		obs.failed.Load(), strings.Join(obs.samples(), "\n"))
	if errs := workerErrors(workers); len(errs) > 0 {
		t.Fatalf("the application saw errors (node%d killed at %v, up at %v):\n%s", stormVictim,
			offset(testStart, killAt), offset(testStart, upAt), strings.Join(errs, "\n"))
	}
	if killAt.IsZero() || upAt.IsZero() {
		t.Fatal("the storm ended before the node was killed and restarted")
	}
	logStormFigures(t, workers, testStart, killAt, upAt, stormEnd)

	// The model of the whole tree.
	want := map[string]*mnode{}
	for _, w := range workers {
		maps.Copy(want, w.model)
	}
	t0 := time.Now()
	compareTree(t, "the storm's mount", mountTree(t, mnt, workers), want)
	t.Logf("MEASURED: the storm's mount matches the model (%d entries) in %v", len(want), time.Since(t0).Round(100*time.Millisecond))
	t0 = time.Now()
	mnt2 := mountZK(t, c, id, chroot, "killstorm-reader", log)
	compareTree(t, "a fresh mount", mountTree(t, mnt2, workers), want)
	t.Logf("MEASURED: a fresh mount after the node returned matches the model in %v", time.Since(t0).Round(100*time.Millisecond))

	// Repair, then read everything at ONE through the returned node alone.
	t0 = time.Now()
	waitHintsDrained(t, 3*time.Minute)
	t.Logf("MEASURED: hints drained %v after the storm", time.Since(t0).Round(100*time.Millisecond))
	t0 = time.Now()
	hack(t, "cassandra.sh", "nodetool-node", victim, "repair", "-full", info.Keyspace)
	t.Logf("MEASURED: nodetool repair -full of the volume's keyspace on node%d: %v", stormVictim,
		time.Since(t0).Round(100*time.Millisecond))
	t0 = time.Now()
	compareTree(t, fmt.Sprintf("node%d alone at ONE after repair", stormVictim), treeAtOne(t, victimHost, info, workers), want)
	t.Logf("MEASURED: node%d alone at ONE after repair matches the model in %v", stormVictim, time.Since(t0).Round(100*time.Millisecond))

	v, err := admin.OpenVolume(ctx, id, cassandra.OpenOptions{Session: "killstorm-fsck", CleanupInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
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
	t.Logf("fsck: %d inodes, %d entries, notes %q", r.Inodes, r.Entries, r.Notes)
	t.Logf("MEASURED: whole test %v", time.Since(testStart).Round(time.Second))
}

// workerErrors returns the workers' failures.
func workerErrors(workers []*stormWorker) []string {
	var errs []string
	for _, w := range workers {
		if err := w.failure(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	return errs
}

func offset(start, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "+" + t.Sub(start).Round(100*time.Millisecond).String()
}

// mountZK opens a session of volume id with a ZooKeeper Locker, file locks and change Notifier in chroot (as
// the node plugin and csi-driver mount --zookeeper do) and mounts it on a fresh directory until the test ends.
func mountZK(t *testing.T, c *cassandra.Cluster, id, chroot, session string, log *slog.Logger) string {
	t.Helper()
	ctx := context.Background()
	z, err := lock.NewZK(ctx, lock.ZKConfig{Servers: zkServers, Chroot: chroot, Namespace: "vol", Logger: log})
	if err != nil {
		t.Fatalf("zookeeper: %v", err)
	}
	t.Cleanup(func() { z.Close() })
	nt, err := lock.NewZKNotifier(ctx, z, 0)
	if err != nil {
		t.Fatalf("zookeeper notifier: %v", err)
	}
	t.Cleanup(func() { nt.Close() })
	v, err := c.OpenVolume(ctx, id, cassandra.OpenOptions{Session: session, Locker: z, CacheBytes: 64 << 20})
	if err != nil {
		t.Fatalf("open volume: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	dir := t.TempDir()
	srv, err := fusefs.Mount(dir, v, fusefs.Options{Session: session, Logger: log, Locks: lock.NewZKFiles(z), Notifier: nt})
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

// attemptObserver counts statement attempts that failed, by error, keeping the first of each kind.
type attemptObserver struct {
	failed atomic.Int64
	mu     sync.Mutex
	kinds  map[string]int
	first  map[string]string
}

func (o *attemptObserver) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	if q.Err == nil {
		return
	}
	o.failed.Add(1)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kinds == nil {
		o.kinds, o.first = map[string]int{}, map[string]string{}
	}
	kind := fmt.Sprintf("%T: %s", q.Err, q.Err)
	if len(kind) > 100 {
		kind = kind[:100]
	}
	if o.kinds[kind]++; o.kinds[kind] == 1 && len(o.first) < 20 {
		stmt := strings.Join(strings.Fields(q.Statement), " ")
		if len(stmt) > 70 {
			stmt = stmt[:70]
		}
		host := "?"
		if q.Host != nil {
			host = q.Host.ConnectAddress().String()
		}
		o.first[kind] = fmt.Sprintf("%s attempt %d on %s of %q", q.End.Format("15:04:05.000"), q.Attempt, host, stmt)
	}
}

func (o *attemptObserver) samples() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for k, n := range o.kinds {
		out = append(out, fmt.Sprintf("%d x %s (first: %s)", n, k, o.first[k]))
	}
	sort.Strings(out)
	return out
}

// mnode is the model of one name: what must be found there.
type mnode struct {
	typ    store.FileType
	mode   uint32 // permission bits
	data   []byte // files
	target string // symlinks
}

// stormOp is one operation of a worker: when it started and how long it took.
type stormOp struct {
	start time.Time
	took  time.Duration
	kind  string
}

// stormWorker runs operations in its own subtree (root, "w<id>" relative to the mount) and keeps the model of
// what must exist there (paths relative to the mount).
type stormWorker struct {
	id    int
	root  string
	rel   string
	rng   *rand.Rand
	model map[string]*mnode
	seq   int
	kind  string // of the operation running

	mu  sync.Mutex
	ops []stormOp
	err error
}

func (w *stormWorker) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *stormWorker) run(stop <-chan struct{}) {
	if err := os.Mkdir(w.root, 0o755); err != nil {
		w.fail("mkdir", w.rel, err)
		return
	}
	w.model[w.rel] = &mnode{typ: store.TypeDir, mode: 0o755}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		start := time.Now()
		if err := w.step(); err != nil {
			w.mu.Lock()
			w.err = fmt.Errorf("worker %d, operation %d at %s: %w", w.id, n, start.Format("15:04:05.000"), err)
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		w.ops = append(w.ops, stormOp{start, time.Since(start), w.kind})
		w.mu.Unlock()
	}
}

func (w *stormWorker) fail(op, p string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = opError(op, p, err)
}

// opError names the operation, the path and the errno.
func opError(op, p string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("%s %s: errno %d (%s): %w", op, p, int(errno), errnoName(errno), err)
	}
	return fmt.Errorf("%s %s: %w", op, p, err)
}

func errnoName(e syscall.Errno) string {
	for _, n := range []struct {
		e    syscall.Errno
		name string
	}{{syscall.EIO, "EIO"}, {syscall.ENOENT, "ENOENT"}, {syscall.EEXIST, "EEXIST"}, {syscall.ENOTEMPTY, "ENOTEMPTY"},
		{syscall.EINTR, "EINTR"}, {syscall.EAGAIN, "EAGAIN"}, {syscall.ENOTCONN, "ENOTCONN"}, {syscall.ESTALE, "ESTALE"},
		{syscall.EACCES, "EACCES"}, {syscall.EPERM, "EPERM"}, {syscall.ENOSPC, "ENOSPC"}, {syscall.EINVAL, "EINVAL"},
		{syscall.ENOTDIR, "ENOTDIR"}, {syscall.EISDIR, "EISDIR"}} {
		if n.e == e {
			return n.name
		}
	}
	return e.Error()
}

func (w *stormWorker) abs(rel string) string { return filepath.Join(w.root, "..", rel) }

func (w *stormWorker) name(prefix string) string {
	w.seq++
	return fmt.Sprintf("%s%d", prefix, w.seq)
}

// pick returns a random path of the model whose node satisfies ok, in a stable order; "" if none.
func (w *stormWorker) pick(ok func(p string, n *mnode) bool) string {
	var c []string
	for p, n := range w.model {
		if ok(p, n) {
			c = append(c, p)
		}
	}
	if len(c) == 0 {
		return ""
	}
	sort.Strings(c)
	return c[w.rng.IntN(len(c))]
}

func isDir(_ string, n *mnode) bool          { return n.typ == store.TypeDir }
func isFile(_ string, n *mnode) bool         { return n.typ == store.TypeFile }
func notDir(_ string, n *mnode) bool         { return n.typ != store.TypeDir }
func (w *stormWorker) notRoot(p string) bool { return p != w.rel }

// children returns the names directly under dir in the model.
func (w *stormWorker) children(dir string) map[string]*mnode {
	out := map[string]*mnode{}
	for p, n := range w.model {
		if path.Dir(p) == dir && p != dir {
			out[path.Base(p)] = n
		}
	}
	return out
}

func (w *stormWorker) content() []byte {
	b := make([]byte, 1+w.rng.IntN(24<<10))
	for i := range b {
		b[i] = byte(w.rng.Uint32())
	}
	return b
}

var (
	fileModes = []uint32{0o600, 0o640, 0o644, 0o664, 0o755}
	dirModes  = []uint32{0o700, 0o750, 0o755, 0o775}
)

// stormMaxEntries: above this many names in its subtree, a worker mostly removes (keeps the checks short).
const stormMaxEntries = 50

// step runs one random operation and checks it against the model.
func (w *stormWorker) step() error {
	entries := len(w.model)
	r := w.rng.IntN(100)
	if entries > stormMaxEntries && r < 40 {
		r += 60 // shrink: unlink and rmdir
	}
	switch {
	case r < 14: // create and write a small file
		w.kind = "create+write"
		dir := w.pick(isDir)
		p := path.Join(dir, w.name("f"))
		data := w.content()
		f, err := os.OpenFile(w.abs(p), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return opError("create", p, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return opError("write", p, err)
		}
		if w.rng.IntN(2) == 0 {
			if err := f.Sync(); err != nil {
				f.Close()
				return opError("fsync", p, err)
			}
		}
		if err := f.Close(); err != nil {
			return opError("close", p, err)
		}
		w.model[p] = &mnode{typ: store.TypeFile, mode: 0o644, data: data}
	case r < 20: // overwrite or append
		w.kind = "overwrite/append"
		p := w.pick(isFile)
		if p == "" {
			return nil
		}
		n := w.model[p]
		if n.mode&0o200 == 0 {
			return nil
		}
		data := w.content()
		flag := os.O_WRONLY | os.O_TRUNC
		if w.rng.IntN(2) == 0 {
			flag = os.O_WRONLY | os.O_APPEND
		}
		f, err := os.OpenFile(w.abs(p), flag, 0)
		if err != nil {
			return opError("open for writing", p, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return opError("write", p, err)
		}
		if err := f.Close(); err != nil {
			return opError("close", p, err)
		}
		if flag&os.O_APPEND != 0 {
			n.data = append(slices.Clone(n.data), data...)
		} else {
			n.data = data
		}
	case r < 28: // mkdir
		w.kind = "mkdir"
		if w.depth() > 40 {
			return nil
		}
		dir := w.pick(isDir)
		p := path.Join(dir, w.name("d"))
		if err := os.Mkdir(w.abs(p), 0o755); err != nil {
			return opError("mkdir", p, err)
		}
		w.model[p] = &mnode{typ: store.TypeDir, mode: 0o755}
	case r < 34: // symlink
		w.kind = "symlink"
		dir := w.pick(isDir)
		p := path.Join(dir, w.name("l"))
		target := fmt.Sprintf("../t%d/%x", w.rng.IntN(100), w.rng.Uint64())
		if err := os.Symlink(target, w.abs(p)); err != nil {
			return opError("symlink", p, err)
		}
		w.model[p] = &mnode{typ: store.TypeSymlink, mode: 0o777, target: target}
	case r < 42: // rename a file or symlink within its directory
		w.kind = "rename in dir"
		p := w.pick(notDir)
		if p == "" {
			return nil
		}
		return w.rename(p, path.Join(path.Dir(p), w.name("r")))
	case r < 50: // rename a file or symlink to another directory
		w.kind = "rename across dirs"
		p := w.pick(notDir)
		if p == "" {
			return nil
		}
		return w.rename(p, path.Join(w.pick(isDir), w.name("x")))
	case r < 54: // rename a directory to another directory (never below itself)
		w.kind = "rename dir"
		p := w.pick(func(p string, n *mnode) bool { return n.typ == store.TypeDir && w.notRoot(p) })
		if p == "" {
			return nil
		}
		to := w.pick(func(q string, n *mnode) bool { return n.typ == store.TypeDir && q != p && !strings.HasPrefix(q, p+"/") })
		return w.rename(p, path.Join(to, w.name("m")))
	case r < 58: // rename a file over another file
		w.kind = "rename over file"
		p := w.pick(isFile)
		q := w.pick(func(q string, n *mnode) bool { return n.typ == store.TypeFile && q != p })
		if p == "" || q == "" {
			return nil
		}
		return w.rename(p, q)
	case r < 64: // chmod
		w.kind = "chmod"
		p := w.pick(func(p string, n *mnode) bool { return n.typ != store.TypeSymlink })
		n := w.model[p]
		mode := fileModes[w.rng.IntN(len(fileModes))]
		if n.typ == store.TypeDir {
			mode = dirModes[w.rng.IntN(len(dirModes))]
		}
		if err := os.Chmod(w.abs(p), fs.FileMode(mode)); err != nil {
			return opError("chmod", p, err)
		}
		n.mode = mode
	case r < 74: // list a directory
		w.kind = "readdir"
		dir := w.pick(isDir)
		ents, err := os.ReadDir(w.abs(dir))
		if err != nil {
			return opError("readdir", dir, err)
		}
		want := w.children(dir)
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
			n, ok := want[e.Name()]
			if !ok {
				return fmt.Errorf("readdir %s: %q is listed, the model has no such name", dir, e.Name())
			}
			if wt := modeType(n.typ); e.Type() != wt {
				return fmt.Errorf("readdir %s: %q has type %v, want %v", dir, e.Name(), e.Type(), wt)
			}
		}
		if len(got) != len(want) {
			return fmt.Errorf("readdir %s: %d names %q, the model has %d", dir, len(got), got, len(want))
		}
	case r < 82: // read back a file or a symlink, stat it
		w.kind = "read back"
		p := w.pick(func(string, *mnode) bool { return true })
		return w.check(p, w.model[p])
	case r < 94: // unlink a file or symlink
		w.kind = "unlink"
		p := w.pick(notDir)
		if p == "" {
			return nil
		}
		if err := os.Remove(w.abs(p)); err != nil {
			return opError("unlink", p, err)
		}
		delete(w.model, p)
	default: // rmdir an empty directory
		w.kind = "rmdir"
		p := w.pick(func(p string, n *mnode) bool {
			return n.typ == store.TypeDir && w.notRoot(p) && len(w.children(p)) == 0
		})
		if p == "" {
			return nil
		}
		if err := syscall.Rmdir(w.abs(p)); err != nil {
			return opError("rmdir", p, err)
		}
		delete(w.model, p)
	}
	return nil
}

func (w *stormWorker) depth() int {
	d := 0
	for p := range w.model {
		d = max(d, strings.Count(p, "/"))
	}
	return d
}

// rename moves from to to (replacing a file at to) and updates the model, descendants included.
func (w *stormWorker) rename(from, to string) error {
	if err := os.Rename(w.abs(from), w.abs(to)); err != nil {
		return opError("rename", from+" -> "+to, err)
	}
	moved := map[string]*mnode{}
	for p, n := range w.model {
		if p == from || strings.HasPrefix(p, from+"/") {
			moved[to+strings.TrimPrefix(p, from)] = n
			delete(w.model, p)
		}
	}
	maps.Copy(w.model, moved)
	return nil
}

// check compares one name through the mount with its model.
func (w *stormWorker) check(p string, n *mnode) error {
	fi, err := os.Lstat(w.abs(p))
	if err != nil {
		return opError("lstat", p, err)
	}
	if err := sameAttrs(p, fi, n); err != nil {
		return err
	}
	switch n.typ {
	case store.TypeFile:
		b, err := os.ReadFile(w.abs(p))
		if err != nil {
			return opError("read", p, err)
		}
		if !bytes.Equal(b, n.data) {
			return fmt.Errorf("read %s: %d bytes (SHA-256 %s), the model has %d (%s)", p, len(b), sum(b), len(n.data), sum(n.data))
		}
	case store.TypeSymlink:
		got, err := os.Readlink(w.abs(p))
		if err != nil {
			return opError("readlink", p, err)
		}
		if got != n.target {
			return fmt.Errorf("readlink %s = %q, want %q", p, got, n.target)
		}
	}
	return nil
}

func modeType(t store.FileType) fs.FileMode {
	switch t {
	case store.TypeDir:
		return fs.ModeDir
	case store.TypeSymlink:
		return fs.ModeSymlink
	}
	return 0
}

func sameAttrs(p string, fi fs.FileInfo, n *mnode) error {
	if got, want := fi.Mode().Type(), modeType(n.typ); got != want {
		return fmt.Errorf("lstat %s: type %v, want %v", p, got, want)
	}
	if n.typ != store.TypeSymlink && uint32(fi.Mode().Perm()) != n.mode {
		return fmt.Errorf("lstat %s: mode %o, want %o", p, fi.Mode().Perm(), n.mode)
	}
	if n.typ == store.TypeFile && fi.Size() != int64(len(n.data)) {
		return fmt.Errorf("lstat %s: size %d, want %d", p, fi.Size(), len(n.data))
	}
	return nil
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:8]) }

// treeNode is one name as found in the volume: type, permission bits, size, content digest, symlink target.
type treeNode struct {
	typ    store.FileType
	mode   uint32
	size   int64
	sum    string
	target string
}

func (n treeNode) String() string {
	return fmt.Sprintf("type %d mode %o size %d sha %s target %q", n.typ, n.mode, n.size, n.sum, n.target)
}

func modelNode(n *mnode) treeNode {
	t := treeNode{typ: n.typ, mode: n.mode, target: n.target}
	if n.typ == store.TypeFile {
		t.size, t.sum = int64(len(n.data)), sum(n.data)
	}
	if n.typ == store.TypeSymlink {
		t.mode = 0
	}
	return t
}

// compareTree fails the test unless got equals the model, listing the first differences.
func compareTree(t *testing.T, where string, got map[string]treeNode, want map[string]*mnode) {
	t.Helper()
	var diffs []string
	for p, n := range want {
		g, ok := got[p]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing (want %v)", p, modelNode(n)))
		} else if w := modelNode(n); g != w {
			diffs = append(diffs, fmt.Sprintf("%s: %v, want %v", p, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: not in the model (%v)", p, g))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Fatalf("%s differs from the model in %d names:\n%s", where, len(diffs), strings.Join(diffs[:min(len(diffs), 30)], "\n"))
	}
}

// mountTree walks the workers' subtrees through the mount at mnt, one goroutine per subtree.
func mountTree(t *testing.T, mnt string, workers []*stormWorker) map[string]treeNode {
	t.Helper()
	out := map[string]treeNode{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = filepath.WalkDir(filepath.Join(mnt, w.rel), func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(mnt, p)
				fi, err := os.Lstat(p)
				if err != nil {
					return opError("lstat", rel, err)
				}
				n := treeNode{typ: store.TypeFile, mode: uint32(fi.Mode().Perm())}
				switch {
				case fi.IsDir():
					n.typ = store.TypeDir
				case fi.Mode()&fs.ModeSymlink != 0:
					n.typ, n.mode = store.TypeSymlink, 0
					if n.target, err = os.Readlink(p); err != nil {
						return opError("readlink", rel, err)
					}
				default:
					b, err := os.ReadFile(p)
					if err != nil {
						return opError("read", rel, err)
					}
					n.size, n.sum = int64(len(b)), sum(b)
					if fi.Size() != n.size {
						return fmt.Errorf("%s: stat says %d bytes, read gave %d", rel, fi.Size(), n.size)
					}
				}
				mu.Lock()
				out[rel] = n
				mu.Unlock()
				return nil
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("walk %s: %v", mnt, err)
	}
	return out
}

// treeAtOne reads the workers' subtrees from the tables at consistency ONE, through a session that may use host
// only: entries and inodes with plain CQL, file contents with the data path.
func treeAtOne(t *testing.T, host string, info cassandra.VolumeInfo, workers []*stormWorker) map[string]treeNode {
	t.Helper()
	cc := gocql.NewCluster(host)
	cc.HostFilter = gocql.WhiteListHostFilter(host)
	cc.Timeout = 20 * time.Second
	cc.Consistency = gocql.One
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
	ks := info.Keyspace
	type dent struct {
		name string
		ino  int64
		typ  int
	}
	list := func(dir int64) []dent {
		it := s.Query(`SELECT name, ino, type FROM `+ks+`.dentries WHERE parent = ?`, dir).Iter()
		var out []dent
		var name []byte
		var ino int64
		var typ int
		for it.Scan(&name, &ino, &typ) {
			if ino != 0 {
				out = append(out, dent{string(name), ino, typ})
			}
		}
		if err := it.Close(); err != nil {
			t.Fatalf("list directory %d at ONE: %v", dir, err)
		}
		return out
	}
	out := map[string]treeNode{}
	var walk func(rel string, d dent)
	walk = func(rel string, d dent) {
		var typ, mode int
		var size int64
		var target string
		if err := s.Query(`SELECT type, mode, size, target FROM `+ks+`.inodes WHERE ino = ?`, d.ino).
			Scan(&typ, &mode, &size, &target); err != nil {
			t.Fatalf("inode %d of %s at ONE: %v", d.ino, rel, err)
		}
		if typ != d.typ {
			t.Fatalf("%s: entry says type %d, inode %d says %d", rel, d.typ, d.ino, typ)
		}
		n := treeNode{typ: store.FileType(typ), mode: uint32(mode) & 0o777}
		switch n.typ {
		case store.TypeDir:
			for _, c := range list(d.ino) {
				walk(path.Join(rel, c.name), c)
			}
		case store.TypeSymlink:
			n.mode, n.target = 0, target
		case store.TypeFile:
			buf := make([]byte, size)
			for off := 0; off < len(buf); {
				k, err := st.Read(ctx, uint64(d.ino), uint64(off), buf[off:], uint64(size))
				if err != nil || k == 0 {
					t.Fatalf("read %s (inode %d) at %d at ONE: %d, %v", rel, d.ino, off, k, err)
				}
				off += k
			}
			n.size, n.sum = size, sum(buf)
		}
		out[rel] = n
	}
	roots := map[string]dent{}
	for _, d := range list(int64(store.RootIno)) {
		roots[d.name] = d
	}
	for _, w := range workers {
		d, ok := roots[w.rel]
		if !ok {
			t.Fatalf("at ONE on %s: the root has no %s", host, w.rel)
		}
		walk(w.rel, d)
	}
	return out
}

// countOps counts the operations that started in [from, to) (zero times: unbounded).
func countOps(workers []*stormWorker, from, to time.Time) int {
	n := 0
	for _, w := range workers {
		w.mu.Lock()
		for _, o := range w.ops {
			if (from.IsZero() || !o.start.Before(from)) && (to.IsZero() || o.start.Before(to)) {
				n++
			}
		}
		w.mu.Unlock()
	}
	return n
}

// logStormFigures logs the operations done before, during and after the outage, their rates, and the longest
// operations.
func logStormFigures(t *testing.T, workers []*stormWorker, start, killAt, upAt, end time.Time) {
	t.Helper()
	phase := func(name string, from, to time.Time) {
		var n int
		var longest stormOp
		for _, w := range workers {
			for _, o := range w.ops {
				if !o.start.Before(from) && o.start.Before(to) {
					n++
					if o.took > longest.took {
						longest = o
					}
				}
			}
		}
		secs := to.Sub(from).Seconds()
		t.Logf("MEASURED: %s: %d operations in %.1f s (%.1f ops/s), longest %v (%s at %s)", name, n, secs,
			float64(n)/secs, longest.took.Round(time.Millisecond), longest.kind, offset(start, longest.start))
	}
	phase("before the kill", start, killAt)
	phase("node down (kill to CQL answering again)", killAt, upAt)
	phase("after the node returned", upAt, end)
	// The operations in flight at the kill (started before it, ended after it) wait for the dead connections.
	var inflight int
	var longest time.Duration
	for _, w := range workers {
		for _, o := range w.ops {
			if o.start.Before(killAt) && o.start.Add(o.took).After(killAt) {
				inflight++
				longest = max(longest, o.took)
			}
		}
	}
	t.Logf("MEASURED: %d operations in flight at the kill, longest %v", inflight, longest.Round(time.Millisecond))
}
