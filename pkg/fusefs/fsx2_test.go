package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store/memstore"
)

// The two-mount random-operation test (fsx2): one seeded sequence of random operations, each sent to mount A
// or mount B of the same volume at random (each mount with its own session, kernel caches of an hour and
// driver caches, the mounts joined by change notices), and applied to a directory of the local filesystem
// (the reference). After every step the results, errnos, names, types, sizes and link counts are compared
// through both mounts, and contents through the descriptor the step used and through a descriptor of the
// other mount.
//
//	FUSEFS_FSX2_SEED=123 FUSEFS_FSX2_OPS=1000000 go test -v -timeout 0 -run TestFSX2Memstore ./pkg/fusefs/
//
// What is compared is exactly what the package promises between mounts (doc.go, "Consistency"):
//
//   - Close-to-open plus change notices. Every change a mount makes is published once the store has it, and
//     the other mount turns the notice into kernel invalidations. The test does not sleep for that: after
//     every step it publishes a marker through the acting mount's Notifier and waits until the other mount
//     has applied the batch holding it (markers follow the step's own notices, and one publisher's batches
//     arrive in order). So "right after" means "once the notices sent so far are applied"; the kernels'
//     attribute, entry and negative timeouts are an hour, so only the notices can make the comparisons hold.
//   - Writes are buffered per mount (write-back) until fsync, close, truncate, fallocate or an O_APPEND write
//     of the file on that mount: another mount may see none, some or all of them before that (as with NFS).
//     The test tracks, per file (the reference's inode), which mount holds unflushed writes; other mounts'
//     size and content comparisons of that file are skipped (counted as "deferred") until it is flushed.
//     Before a step touches the file's data through the other mount, the test does what an application must
//     (fsync on the writing mount), so the reference's sequential order is the order the store sees.
//
// A failure prints the seed, the step and the operations that led to it.

const (
	fsx2MaxFDs    = 10
	fsx2FullEvery = 1000
	fsx2Marker    = 1 << 62 // marker changes name inode numbers from here on: no kernel knows them
)

// fsx2Idle counts draws that found nothing to do (an mmap step on a name that is not a non-empty file, an
// O_DIRECT read where the file could not be opened O_DIRECT); the step then draws again.
const fsx2Idle = "draws without an operation (drawn again)"

// Names the steps use: files and directories may appear under any of them ("d" is a directory at the start).
var fsx2Names = []string{"a", "b", "c", "d", "d/e", "d/f", "d/g"}

// fsx2Handle is one file opened by one open(2) on a mount and on the reference.
type fsx2Handle struct {
	m      int // the mount: 0 (A) or 1 (B)
	fd     int // on the mount
	ref    int // on the reference
	direct int // a second, O_DIRECT descriptor on the same mount, or -1
	name   string
	flags  int
	ino    uint64 // the reference's inode number: which file this is
}

// markedNotifier wraps a mount's Notifier: the test publishes markers through it, and the other mount's
// wrapper records which markers it has applied (after the mount's receive returned for their batch).
type markedNotifier struct {
	lock.Notifier
	peer *markedNotifier

	mu      sync.Mutex
	cond    *sync.Cond
	sent    uint64 // markers this mount published
	applied uint64 // highest marker of the peer applied here
	all     int    // batches with All received
}

func newMarkedNotifier(n lock.Notifier) *markedNotifier {
	m := &markedNotifier{Notifier: n}
	m.cond = sync.NewCond(&m.mu)
	return m
}

func (n *markedNotifier) Subscribe(fn func(lock.Batch)) {
	n.Notifier.Subscribe(func(b lock.Batch) {
		var peerSent uint64
		if b.All {
			// Everything this batch invalidates is current as of now: every marker the peer published before
			// counts as applied, even if All replaced the marker's own batch.
			n.peer.mu.Lock()
			peerSent = n.peer.sent
			n.peer.mu.Unlock()
		}
		fn(b)
		max := peerSent
		for _, c := range b.Changes {
			if c.Kind == lock.ChangeAttr && c.Ino >= fsx2Marker && c.Ino-fsx2Marker > max {
				max = c.Ino - fsx2Marker
			}
		}
		n.mu.Lock()
		if b.All {
			n.all++
		}
		if max > n.applied {
			n.applied = max
			n.cond.Broadcast()
		}
		n.mu.Unlock()
	})
}

// mark publishes a marker after everything this mount published so far and returns its number.
func (n *markedNotifier) mark() uint64 {
	n.mu.Lock()
	n.sent++
	seq := n.sent
	n.mu.Unlock()
	n.Notifier.Publish(lock.Change{Kind: lock.ChangeAttr, Ino: fsx2Marker + seq})
	return seq
}

// waitApplied waits until marker seq of the peer has been applied here; false after timeout.
func (n *markedNotifier) waitApplied(seq uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, func() { n.mu.Lock(); n.cond.Broadcast(); n.mu.Unlock() })
	defer t.Stop()
	n.mu.Lock()
	defer n.mu.Unlock()
	for n.applied < seq {
		if time.Now().After(deadline) {
			return false
		}
		n.cond.Wait()
	}
	return true
}

type fsx2 struct {
	t      testing.TB
	seed   int64
	rng    *rand.Rand
	mnt    [2]string
	ref    string
	notes  [2]*markedNotifier
	child  *mmapClient
	fds    []*fsx2Handle
	dirty  map[uint64]int // reference inode -> the mount holding unflushed writes of it
	step   int
	recent []string
	counts map[string]int

	deferred, flushes, settles int
	settleTime                 time.Duration
}

func fsx2Params(t testing.TB, defaultOps int) (seed int64, ops int) {
	seed = time.Now().UnixNano()
	if s := os.Getenv("FUSEFS_FSX2_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("FUSEFS_FSX2_SEED: %v", err)
		}
		seed = v
	}
	ops = defaultOps
	if s := os.Getenv("FUSEFS_FSX2_OPS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("FUSEFS_FSX2_OPS: %v", err)
		}
		ops = v
	}
	return seed, ops
}

// runFSX2 runs ops random operations on mounts a and b of one volume, whose Notifiers are na and nb.
func runFSX2(t *testing.T, a, b string, na, nb *markedNotifier, seed int64, ops int) {
	x := &fsx2{t: t, seed: seed, rng: rand.New(rand.NewSource(seed)), mnt: [2]string{a, b}, ref: t.TempDir(),
		notes: [2]*markedNotifier{na, nb}, dirty: map[uint64]int{}, counts: map[string]int{}}
	t.Logf("fsx2: seed %d (FUSEFS_FSX2_SEED), %d operations (FUSEFS_FSX2_OPS)", seed, ops)
	must(t, os.Mkdir(join(a, "d"), 0o755))
	must(t, os.Mkdir(join(x.ref, "d"), 0o755))
	x.settle(0)
	x.child = startMmapChild(t)
	t.Cleanup(func() {
		for _, h := range x.fds {
			x.closeFDs(h)
		}
	})
	start, last := time.Now(), time.Now()
	progress := ops / 20
	if progress < 1000 {
		progress = 1000
	}
	for x.step = 1; x.step <= ops; x.step++ {
		var m int
		for idle := x.counts[fsx2Idle]; ; idle = x.counts[fsx2Idle] {
			if m = x.doRandom(); x.counts[fsx2Idle] == idle {
				break // every step does an operation
			}
		}
		x.settle(m)
		x.checkNames()
		x.checkOther(1 - m)
		if x.step%fsx2FullEvery == 0 {
			x.checkFull()
		}
		if x.step%progress == 0 {
			t.Logf("fsx2 seed %d: step %d of %d, %v (last %d in %v); %d comparisons deferred, %d flushes for the other mount, "+
				"%d calls failed alike, %d descriptors open", seed, x.step, ops, time.Since(start).Round(time.Second), progress,
				time.Since(last).Round(time.Millisecond), x.deferred, x.flushes, x.counts["failed alike (same errno)"], len(x.fds))
			last = time.Now()
		}
	}
	x.step = ops
	for len(x.fds) > 0 {
		x.closeHandle(x.fds[0])
	}
	x.settle(0)
	x.settle(1)
	x.checkNames()
	x.checkFull()
	took := time.Since(start)
	t.Logf("MEASURED: fsx2 seed %d: %d operations on two mounts in %v (%.0f ops/s), 0 mismatches; "+
		"%d marker waits (mean %v); %d comparisons deferred (unflushed writes on the other mount), %d fsyncs before "+
		"touching a file through the other mount; All batches received %d/%d; counts %v",
		seed, ops, took.Round(time.Millisecond), float64(ops)/took.Seconds(), x.settles,
		(x.settleTime / time.Duration(max(x.settles, 1))).Round(time.Microsecond), x.deferred, x.flushes,
		na.all, nb.all, x.counts)
}

func (x *fsx2) note(format string, args ...any) {
	s := fmt.Sprintf("%d: "+format, append([]any{x.step}, args...)...)
	x.recent = append(x.recent, s)
	if len(x.recent) > 60 {
		x.recent = x.recent[1:]
	}
}

func (x *fsx2) fail(format string, args ...any) {
	x.t.Helper()
	x.t.Fatalf("fsx2 seed %d (rerun with FUSEFS_FSX2_SEED=%d FUSEFS_FSX2_OPS=%d), step %d: %s\nlast operations:\n  %s",
		x.seed, x.seed, x.step, x.step, fmt.Sprintf(format, args...), strings.Join(x.recent, "\n  "))
}

// same fails unless the mount's and the reference's errors are the same errno (or both nil).
func (x *fsx2) same(m int, what string, em, el error) bool {
	x.t.Helper()
	if errnoOf(em) != errnoOf(el) {
		x.fail("%s on %s: mount %v, reference %v", what, mountName(m), em, el)
	}
	if em != nil {
		x.counts["failed alike (same errno)"]++
	}
	return em == nil
}

func mountName(m int) string { return string(rune('A' + m)) }

func (x *fsx2) path(m int, name string) string { return join(x.mnt[m], name) }
func (x *fsx2) refPath(name string) string     { return join(x.ref, name) }
func (x *fsx2) pick() string                   { return fsx2Names[x.rng.Intn(len(fsx2Names))] }
func (x *fsx2) count(m int, op string)         { x.counts[op]++; x.counts["on "+mountName(m)]++ }

func (x *fsx2) data(n int) []byte {
	b := make([]byte, n)
	x.rng.Read(b)
	return b
}

func (x *fsx2) size() int {
	switch r := x.rng.Intn(100); {
	case r < 60:
		return 1 + x.rng.Intn(4096)
	case r < 95:
		return 1 + x.rng.Intn(64<<10)
	default:
		return 1 + x.rng.Intn(160<<10)
	}
}

// settle waits until the other mount has applied every notice mount m published so far.
func (x *fsx2) settle(m int) {
	x.t.Helper()
	start := time.Now()
	seq := x.notes[m].mark()
	if !x.notes[1-m].waitApplied(seq, 2*time.Minute) {
		x.fail("mount %s has not applied %s's notices two minutes after they were published", mountName(1-m), mountName(m))
	}
	x.settles++
	x.settleTime += time.Since(start)
}

// refIno returns the reference's inode number of name, if name is a regular file.
func (x *fsx2) refIno(name string) (uint64, bool) {
	var st unix.Stat_t
	if unix.Stat(x.refPath(name), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, false
	}
	return st.Ino, true
}

// dirtyElsewhere reports whether a mount other than m holds unflushed writes of file ino.
func (x *fsx2) dirtyElsewhere(ino uint64, m int) bool {
	d, ok := x.dirty[ino]
	return ok && d != m
}

// prepare makes file ino safe to touch through mount m: unflushed writes of it on the other mount are fsynced
// there and their notices applied here (what an application does before it hands a file to another node).
func (x *fsx2) prepare(ino uint64, m int) {
	x.t.Helper()
	if !x.dirtyElsewhere(ino, m) {
		return
	}
	o := x.dirty[ino]
	for _, h := range x.fds {
		if h.m == o && h.ino == ino {
			x.note("fsync on %s of %s before using it on %s", mountName(o), h.name, mountName(m))
			x.same(o, "fsync "+h.name, unix.Fsync(h.fd), nil)
			delete(x.dirty, ino)
			x.flushes++
			x.settle(o)
			return
		}
	}
	x.fail("test bug: file %d has unflushed writes on %s but no descriptor there", ino, mountName(o))
}

func (x *fsx2) prepareName(name string, m int) {
	if ino, ok := x.refIno(name); ok {
		x.prepare(ino, m)
	}
}

// clean records that mount m has no unflushed writes of ino any more.
func (x *fsx2) clean(ino uint64, m int) {
	if d, ok := x.dirty[ino]; ok && d == m {
		delete(x.dirty, ino)
	}
}

// doRandom runs one random operation and returns the mount it used.
func (x *fsx2) doRandom() int {
	m := x.rng.Intn(2)
	r := x.rng.Intn(100)
	if len(x.fds) == 0 {
		// Without descriptors, operations on names still run: if only opens did, a tree whose names are all
		// directories (every open fails with EISDIR) would never change again.
		if handleOp := r < 42 || r >= 49 && r < 57 || r >= 71 && r < 75; handleOp {
			x.open(m)
			return m
		}
	}
	var h *fsx2Handle
	if len(x.fds) > 0 {
		h = x.fds[x.rng.Intn(len(x.fds))]
	}
	switch {
	case r < 17:
		x.write(h)
	case r < 20:
		x.writeRun(h)
	case r < 29:
		x.readCached(h)
	case r < 33:
		x.readDirect(h)
	case r < 38:
		x.truncate(h)
	case r < 42:
		x.fallocate(h)
	case r < 49:
		x.open(m)
		return m
	case r < 54:
		x.reopen(h, m)
		return m
	case r < 57:
		x.closeHandle(h)
	case r < 61:
		x.rename(m)
		return m
	case r < 64:
		x.link(m)
		return m
	case r < 67:
		x.unlink(m)
		return m
	case r < 69:
		x.mkdir(m)
		return m
	case r < 71:
		x.rmdir(m)
		return m
	case r < 75:
		x.fsync(h)
	case r < 80:
		x.pathTruncate(m)
		return m
	case r < 87:
		x.mmapRead(m)
		return m
	default:
		x.mmapWrite(m)
		return m
	}
	return h.m
}

func (x *fsx2) open(m int) {
	flags := unix.O_RDWR
	if x.rng.Intn(3) > 0 {
		flags |= unix.O_CREAT
		if x.rng.Intn(10) == 0 {
			flags |= unix.O_EXCL
		}
	}
	if x.rng.Intn(20) == 0 {
		flags |= unix.O_TRUNC
	}
	if x.rng.Intn(8) == 0 {
		flags |= unix.O_APPEND
	}
	x.openName(m, x.pick(), flags)
}

func (x *fsx2) openName(m int, name string, flags int) {
	x.count(m, "open")
	if len(x.fds) >= fsx2MaxFDs {
		x.closeHandle(x.fds[x.rng.Intn(len(x.fds))])
	}
	x.prepareName(name, m)
	x.note("open on %s %s flags %#o", mountName(m), name, flags)
	fm, em := unix.Open(x.path(m, name), flags|unix.O_CLOEXEC, 0o644)
	fl, el := unix.Open(x.refPath(name), flags|unix.O_CLOEXEC, 0o644)
	if !x.same(m, "open "+name, em, el) {
		return
	}
	var st unix.Stat_t
	must(x.t, unix.Fstat(fl, &st))
	h := &fsx2Handle{m: m, fd: fm, ref: fl, name: name, flags: flags, ino: st.Ino}
	h.direct, _ = unix.Open(x.path(m, name), unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	x.fds = append(x.fds, h)
	x.checkHandle(h)
}

func (x *fsx2) closeFDs(h *fsx2Handle) (em, el error) {
	em = unix.Close(h.fd)
	el = unix.Close(h.ref)
	if h.direct >= 0 {
		_ = unix.Close(h.direct)
	}
	return em, el
}

func (x *fsx2) closeHandle(h *fsx2Handle) {
	x.count(h.m, "close")
	for i, g := range x.fds {
		if g == h {
			x.fds = append(x.fds[:i], x.fds[i+1:]...)
			break
		}
	}
	x.note("close on %s %s", mountName(h.m), h.name)
	em, el := x.closeFDs(h)
	x.same(h.m, "close "+h.name, em, el)
	x.clean(h.ino, h.m) // close uploads everything the mount buffered for the file
}

// reopen closes h and opens its name again on mount m (close-to-open, possibly across mounts).
func (x *fsx2) reopen(h *fsx2Handle, m int) {
	x.count(m, "reopen")
	x.closeHandle(h)
	x.settle(h.m)
	x.openName(m, h.name, unix.O_RDWR|(h.flags&unix.O_APPEND))
}

func (x *fsx2) written(h *fsx2Handle) {
	if h.flags&unix.O_APPEND != 0 {
		x.clean(h.ino, h.m) // appends upload the file's buffer and write through
	} else {
		x.dirty[h.ino] = h.m
	}
}

func (x *fsx2) write(h *fsx2Handle) {
	x.count(h.m, "write")
	x.prepare(h.ino, h.m)
	n := x.size()
	off := x.rng.Intn(fsxMaxSize - n)
	b := x.data(n)
	x.note("pwrite on %s %s off %d len %d (flags %#o)", mountName(h.m), h.name, off, n, h.flags)
	nm, em := unix.Pwrite(h.fd, b, int64(off))
	nl, el := unix.Pwrite(h.ref, b, int64(off))
	if x.same(h.m, "pwrite", em, el) && nm != nl {
		x.fail("pwrite wrote %d bytes on the mount, %d on the reference", nm, nl)
	}
	x.written(h)
	x.checkHandle(h)
}

func (x *fsx2) writeRun(h *fsx2Handle) {
	x.count(h.m, "write run")
	x.prepare(h.ino, h.m)
	off := x.rng.Intn(fsxMaxSize / 2)
	n := 2 + x.rng.Intn(30)
	x.note("write run on %s %s from %d, %d writes (flags %#o)", mountName(h.m), h.name, off, n, h.flags)
	for i := 0; i < n; i++ {
		sz := 1 + x.rng.Intn(16<<10)
		if off+sz > fsxMaxSize {
			break
		}
		b := x.data(sz)
		nm, em := unix.Pwrite(h.fd, b, int64(off))
		nl, el := unix.Pwrite(h.ref, b, int64(off))
		if x.same(h.m, "pwrite", em, el) && nm != nl {
			x.fail("pwrite wrote %d bytes on the mount, %d on the reference", nm, nl)
		}
		off += sz
	}
	x.written(h)
	x.checkHandle(h)
}

func (x *fsx2) readCached(h *fsx2Handle) {
	x.count(h.m, "read")
	x.prepare(h.ino, h.m)
	off, n := x.rng.Intn(fsxMaxGrow), x.size()
	x.note("pread on %s %s off %d len %d", mountName(h.m), h.name, off, n)
	x.compareRead(h.m, h.fd, h.ref, off, n, "pread")
}

func (x *fsx2) readDirect(h *fsx2Handle) {
	if h.direct < 0 {
		x.counts[fsx2Idle]++
		return
	}
	x.count(h.m, "read O_DIRECT")
	x.prepare(h.ino, h.m)
	off, n := x.rng.Intn(fsxMaxGrow), x.size()
	x.note("pread O_DIRECT on %s %s off %d len %d", mountName(h.m), h.name, off, n)
	x.compareRead(h.m, h.direct, h.ref, off, n, "pread O_DIRECT")
}

func (x *fsx2) compareRead(m, fm, fl, off, n int, what string) {
	x.t.Helper()
	bm, bl := make([]byte, n), make([]byte, n)
	nm, em := preadFull(fm, bm, off)
	nl, el := preadFull(fl, bl, off)
	if !x.same(m, what, em, el) {
		return
	}
	if nm != nl || !bytes.Equal(bm[:nm], bl[:nl]) {
		x.fail("%s on %s at %d: mount read %d bytes, reference %d; first difference at %d", what, mountName(m), off,
			nm, nl, firstDiff(bm[:nm], bl[:nl]))
	}
}

func (x *fsx2) truncate(h *fsx2Handle) {
	x.count(h.m, "ftruncate")
	x.prepare(h.ino, h.m)
	sz := x.rng.Intn(fsxMaxGrow)
	x.note("ftruncate on %s %s %d", mountName(h.m), h.name, sz)
	x.same(h.m, "ftruncate", unix.Ftruncate(h.fd, int64(sz)), unix.Ftruncate(h.ref, int64(sz)))
	x.clean(h.ino, h.m)
	x.checkHandle(h)
}

func (x *fsx2) pathTruncate(m int) {
	x.count(m, "truncate")
	name, sz := x.pick(), x.rng.Intn(fsxMaxGrow)
	ino, isFile := x.refIno(name)
	if isFile {
		x.prepare(ino, m)
	}
	x.note("truncate on %s %s %d", mountName(m), name, sz)
	if x.same(m, "truncate "+name, unix.Truncate(x.path(m, name), int64(sz)), unix.Truncate(x.refPath(name), int64(sz))) && isFile {
		x.clean(ino, m)
	}
}

func (x *fsx2) fallocate(h *fsx2Handle) {
	x.prepare(h.ino, h.m)
	n := 1 + x.rng.Intn(64<<10)
	off := x.rng.Intn(fsxMaxGrow - n)
	if x.rng.Intn(10) == 0 {
		// Punching holes is not supported (doc of store.Store.Fallocate): EOPNOTSUPP, and nothing changes.
		x.count(h.m, "fallocate punch hole")
		x.note("fallocate punch hole on %s %s off %d len %d", mountName(h.m), h.name, off, n)
		err := unix.Fallocate(h.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(off), int64(n))
		x.same(h.m, "fallocate punch hole", err, unix.EOPNOTSUPP)
		x.checkHandle(h)
		return
	}
	mode := uint32(0)
	if x.rng.Intn(2) == 0 {
		mode = unix.FALLOC_FL_KEEP_SIZE
	}
	x.count(h.m, fmt.Sprintf("fallocate mode %d", mode))
	x.note("fallocate on %s %s mode %d off %d len %d", mountName(h.m), h.name, mode, off, n)
	x.same(h.m, "fallocate", unix.Fallocate(h.fd, mode, int64(off), int64(n)), unix.Fallocate(h.ref, mode, int64(off), int64(n)))
	x.clean(h.ino, h.m)
	x.checkHandle(h)
}

func (x *fsx2) fsync(h *fsx2Handle) {
	x.count(h.m, "fsync")
	x.note("fsync on %s %s", mountName(h.m), h.name)
	x.same(h.m, "fsync", unix.Fsync(h.fd), unix.Fsync(h.ref))
	x.clean(h.ino, h.m)
}

func (x *fsx2) rename(m int) {
	x.count(m, "rename")
	from, to := x.pick(), x.pick()
	x.note("rename on %s %s %s", mountName(m), from, to)
	x.same(m, "rename "+from+" "+to, unix.Rename(x.path(m, from), x.path(m, to)), unix.Rename(x.refPath(from), x.refPath(to)))
}

func (x *fsx2) link(m int) {
	x.count(m, "link")
	from, to := x.pick(), x.pick()
	x.note("link on %s %s %s", mountName(m), from, to)
	x.same(m, "link "+from+" "+to, unix.Link(x.path(m, from), x.path(m, to)), unix.Link(x.refPath(from), x.refPath(to)))
}

func (x *fsx2) unlink(m int) {
	x.count(m, "unlink")
	name := x.pick()
	x.note("unlink on %s %s", mountName(m), name)
	x.same(m, "unlink "+name, unix.Unlink(x.path(m, name)), unix.Unlink(x.refPath(name)))
}

func (x *fsx2) mkdir(m int) {
	x.count(m, "mkdir")
	name := x.pick()
	x.note("mkdir on %s %s", mountName(m), name)
	x.same(m, "mkdir "+name, unix.Mkdir(x.path(m, name), 0o755), unix.Mkdir(x.refPath(name), 0o755))
}

func (x *fsx2) rmdir(m int) {
	x.count(m, "rmdir")
	name := x.pick()
	x.note("rmdir on %s %s", mountName(m), name)
	x.same(m, "rmdir "+name, unix.Rmdir(x.path(m, name)), unix.Rmdir(x.refPath(name)))
}

// mmapRange picks an existing, non-empty regular file and a range inside its size.
func (x *fsx2) mmapRange() (name string, ino uint64, off, n int, ok bool) {
	name = x.pick()
	var st unix.Stat_t
	if unix.Stat(x.refPath(name), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size == 0 {
		return "", 0, 0, 0, false
	}
	off = x.rng.Intn(int(st.Size))
	n = 1 + x.rng.Intn(int(st.Size)-off)
	if n > 16<<10 {
		n = 1 + x.rng.Intn(16<<10)
	}
	return name, st.Ino, off, n, true
}

// mmapRead reads a range through a shared mapping of a fresh descriptor (in the child process on the mount).
func (x *fsx2) mmapRead(m int) {
	name, ino, off, n, ok := x.mmapRange()
	if !ok {
		x.counts[fsx2Idle]++
		return
	}
	x.count(m, "mmap read")
	x.prepare(ino, m)
	x.note("mmap read on %s %s off %d len %d", mountName(m), name, off, n)
	rm := x.child.do(mmapRequest{Op: "read", Path: x.path(m, name), Off: off, Len: n})
	bl, el := mmapLocal(x.refPath(name), "read", off, n, nil)
	if x.same(m, "mmap read", rm.err(), el) && !bytes.Equal(rm.Data, bl) {
		x.fail("mmap read on %s %s at %d: mount %d bytes, reference %d; first difference at %d", mountName(m), name, off,
			len(rm.Data), len(bl), firstDiff(rm.Data, bl))
	}
	x.clean(ino, m) // the child's close uploaded the mount's buffer of the file
}

// mmapWrite writes a range through a MAP_SHARED mapping, then msync, munmap and close.
func (x *fsx2) mmapWrite(m int) {
	name, ino, off, n, ok := x.mmapRange()
	if !ok {
		x.counts[fsx2Idle]++
		return
	}
	x.count(m, "mmap write")
	x.prepare(ino, m)
	b := x.data(n)
	x.note("mmap write on %s %s off %d len %d", mountName(m), name, off, n)
	rm := x.child.do(mmapRequest{Op: "write", Path: x.path(m, name), Off: off, Len: n, Data: b})
	_, el := mmapLocal(x.refPath(name), "write", off, n, b)
	x.same(m, "mmap write", rm.err(), el)
	x.clean(ino, m)
	x.compareName(m, name)
}

// checkHandle compares the size, link count and whole contents of h's file through h.
func (x *fsx2) checkHandle(h *fsx2Handle) {
	x.t.Helper()
	if x.dirtyElsewhere(h.ino, h.m) {
		x.deferred++
		return
	}
	var sm, sl unix.Stat_t
	if !x.same(h.m, "fstat "+h.name, unix.Fstat(h.fd, &sm), unix.Fstat(h.ref, &sl)) {
		return
	}
	if sm.Size != sl.Size || sm.Nlink != sl.Nlink {
		x.fail("fstat on %s of %s (opened as): mount size %d nlink %d, reference size %d nlink %d", mountName(h.m),
			h.name, sm.Size, sm.Nlink, sl.Size, sl.Nlink)
	}
	x.compareRead(h.m, h.fd, h.ref, 0, int(sl.Size)+1, "read whole "+h.name)
}

// checkOther compares one random descriptor of mount m (the one the step did not use) in full: the step's
// change must have reached it through the notices, even though it was opened before.
func (x *fsx2) checkOther(m int) {
	var hs []*fsx2Handle
	for _, h := range x.fds {
		if h.m == m {
			hs = append(hs, h)
		}
	}
	if len(hs) > 0 {
		x.checkHandle(hs[x.rng.Intn(len(hs))])
	}
}

// checkNames compares existence, type, link count and (for files) size of every name through both mounts,
// and size and link count through every descriptor.
func (x *fsx2) checkNames() {
	x.t.Helper()
	for _, name := range fsx2Names {
		var sl unix.Stat_t
		el := unix.Lstat(x.refPath(name), &sl)
		for m := range x.mnt {
			var sm unix.Stat_t
			if !x.same(m, "lstat "+name, unix.Lstat(x.path(m, name), &sm), el) {
				continue
			}
			file := sl.Mode&unix.S_IFMT == unix.S_IFREG
			sizeOK := !file || sm.Size == sl.Size
			if file && x.dirtyElsewhere(sl.Ino, m) {
				x.deferred++
				sizeOK = true
			}
			if !sizeOK || sm.Nlink != sl.Nlink || sm.Mode&unix.S_IFMT != sl.Mode&unix.S_IFMT {
				x.fail("lstat on %s of %s: mount size %d nlink %d mode %o, reference size %d nlink %d mode %o",
					mountName(m), name, sm.Size, sm.Nlink, sm.Mode, sl.Size, sl.Nlink, sl.Mode)
			}
		}
	}
	for _, h := range x.fds {
		var sm, sl unix.Stat_t
		if !x.same(h.m, "fstat "+h.name, unix.Fstat(h.fd, &sm), unix.Fstat(h.ref, &sl)) {
			continue
		}
		sizeOK := sm.Size == sl.Size
		if x.dirtyElsewhere(h.ino, h.m) {
			x.deferred++
			sizeOK = true
		}
		if !sizeOK || sm.Nlink != sl.Nlink {
			x.fail("fstat on %s of a descriptor opened as %s: mount size %d nlink %d, reference size %d nlink %d",
				mountName(h.m), h.name, sm.Size, sm.Nlink, sl.Size, sl.Nlink)
		}
	}
}

// compareName opens name afresh on mount m and on the reference and compares the whole contents.
func (x *fsx2) compareName(m int, name string) {
	x.t.Helper()
	if ino, ok := x.refIno(name); ok && x.dirtyElsewhere(ino, m) {
		x.deferred++
		return
	}
	fm, em := unix.Open(x.path(m, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	fl, el := unix.Open(x.refPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if !x.same(m, "open "+name, em, el) {
		return
	}
	defer unix.Close(fl)
	var st unix.Stat_t
	if must(x.t, unix.Fstat(fl, &st)); st.Mode&unix.S_IFMT == unix.S_IFREG {
		x.compareRead(m, fm, fl, 0, fsxMaxGrow+1, "read whole "+name)
	}
	x.same(m, "close "+name, unix.Close(fm), nil)
	if ino, ok := x.refIno(name); ok {
		x.clean(ino, m)
	}
}

// checkFull fsyncs every descriptor, waits for both mounts' notices, and compares every name through fresh
// descriptors on both mounts and every descriptor in full.
func (x *fsx2) checkFull() {
	x.t.Helper()
	x.note("full check")
	for _, h := range x.fds {
		x.same(h.m, "fsync "+h.name, unix.Fsync(h.fd), nil)
		x.clean(h.ino, h.m)
	}
	if len(x.dirty) != 0 {
		x.fail("test bug: unflushed writes recorded after fsync of every descriptor: %v", x.dirty)
	}
	x.settle(0)
	x.settle(1)
	for _, name := range fsx2Names {
		for m := range x.mnt {
			x.compareName(m, name)
		}
	}
	x.settle(0)
	x.settle(1)
	for _, h := range x.fds {
		x.checkHandle(h)
		if h.direct >= 0 {
			x.compareRead(h.m, h.direct, h.ref, 0, fsxMaxGrow+1, "read whole O_DIRECT "+h.name)
		}
	}
}

// fsx2Options: small write-back pieces and read-ahead windows, so that writes and reads cross their
// boundaries often, and kernel caches of an hour, so that only change notices keep the mounts current.
func fsx2Options(session string, n lock.Notifier) Options {
	return Options{Session: session, Notifier: n, WriteBufferBytes: 64 << 10, MaxBackgroundUploads: 2,
		ReadAheadBytes: 64 << 10, AttrTimeout: time.Hour, EntryTimeout: time.Hour, NegativeTimeout: time.Hour}
}

// TestFSX2Memstore runs the two-mount random-operation test on two mounts of one in-memory volume, joined by
// an in-process Notifier group (a short batch delay, so that the wait after every step stays short; the
// contract is the same at any delay).
func TestFSX2Memstore(t *testing.T) {
	seed, ops := fsx2Params(t, 20000)
	vol := memstore.NewVolume(memstore.Options{})
	t.Cleanup(func() { // last: after the unmounts
		problems, err := vol.Session("fsck").Fsck(bg, false)
		must(t, err)
		for _, p := range problems {
			t.Errorf("fsck after the run: %s", p)
		}
	})
	g := lock.NewLocalNotifiers(50 * time.Microsecond)
	na, nb := newMarkedNotifier(g.Join()), newMarkedNotifier(g.Join())
	na.peer, nb.peer = nb, na
	t.Cleanup(func() { _ = na.Close(); _ = nb.Close() }) // after the unmounts (cleanups run last first)
	locks := newLocalFileLocker()
	oa, ob := fsx2Options("fsx2-a", na), fsx2Options("fsx2-b", nb)
	oa.Locks, ob.Locks = locks, locks
	a, _ := mountStore(t, vol.Session("fsx2-a"), oa)
	b, _ := mountStore(t, vol.Session("fsx2-b"), ob)
	runFSX2(t, a, b, na, nb, seed, ops)
}

// TestFSX2Cassandra runs the two-mount random-operation test on two mounts of one real Cassandra volume, each
// with its own ZooKeeper session for locks and change notices, as two nodes have.
func TestFSX2Cassandra(t *testing.T) {
	seed, ops := fsx2Params(t, 300)
	c, id := cassVolume(t, 0)
	cfg := zkVolumeConfig(t)
	var ns [2]*markedNotifier
	var dirs [2]string
	for i, session := range []string{"fsx2-a", "fsx2-b"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		z, err := lock.NewZK(ctx, cfg)
		if err != nil {
			cancel()
			t.Fatalf("NewZK: %v", err)
		}
		t.Cleanup(func() { _ = z.Close() })
		nt, err := lock.NewZKNotifier(ctx, z, time.Millisecond)
		if err != nil {
			cancel()
			t.Fatalf("NewZKNotifier: %v", err)
		}
		ns[i] = newMarkedNotifier(nt)
		t.Cleanup(func() { _ = nt.Close() })
		v, err := c.OpenVolume(ctx, id, cassandra.OpenOptions{Session: session, Locker: z})
		cancel()
		if err != nil {
			t.Fatalf("open volume: %v", err)
		}
		t.Cleanup(func() {
			if err := v.Close(); err != nil {
				t.Errorf("close volume session: %v", err)
			}
		})
		opts := fsx2Options(session, ns[i])
		opts.Locks = lock.NewZKFiles(z)
		opts.WriteBufferBytes, opts.ReadAheadBytes = 128<<10, 128<<10
		dirs[i], _ = mountStore(t, v, opts)
	}
	ns[0].peer, ns[1].peer = ns[1], ns[0]
	runFSX2(t, dirs[0], dirs[1], ns[0], ns[1], seed, ops)
}
