package fusefs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/pkg/store/memstore"
)

// The fsx-style test applies one seeded sequence of random operations to a mount and to a directory of the local
// filesystem (the reference) and compares results, errnos, sizes, existence and contents after every step.
//
//	FUSEFS_FSX_SEED=123 FUSEFS_FSX_OPS=5000 go test -run TestFSXMemstore ./pkg/fusefs/
//
// A failure prints the seed, the step and the operations that led to it, so the run can be repeated exactly.

const (
	fsxMaxSize   = 256 << 10 // writes stay below this offset; truncate and fallocate may reach fsxMaxGrow
	fsxMaxGrow   = 384 << 10
	fsxMaxFDs    = 8
	fsxFullEvery = 1000 // every this many steps, every name is reopened and compared in full
)

var fsxNames = []string{"a", "b", "c", "d/e", "d/f", "d/g"}

// fsxHandle is one file opened on both sides by the same open(2) call; direct is a second, O_DIRECT descriptor
// of the same file on the mount (-1 if the file could not be opened again, e.g. it was unlinked).
type fsxHandle struct {
	fd     [2]int // mount, local
	direct int
	name   string
	flags  int
}

type fsx struct {
	t      testing.TB
	seed   int64
	rng    *rand.Rand
	dir    [2]string // mount, local
	other  string    // a second mount of the same volume, or ""
	child  *mmapClient
	fds    []*fsxHandle
	step   int
	recent []string
	counts map[string]int
}

func fsxParams(t testing.TB, defaultOps int) (seed int64, ops int) {
	seed = time.Now().UnixNano()
	if s := os.Getenv("FUSEFS_FSX_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("FUSEFS_FSX_SEED: %v", err)
		}
		seed = v
	}
	ops = defaultOps
	if s := os.Getenv("FUSEFS_FSX_OPS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("FUSEFS_FSX_OPS: %v", err)
		}
		ops = v
	}
	return seed, ops
}

// runFSX runs ops random operations on mnt against a fresh local directory. If other is not empty, it is a
// second mount of mnt's volume, checked at every full check (close-to-open: after fsync of every open file).
func runFSX(t *testing.T, mnt, other string, seed int64, ops int) {
	x := &fsx{t: t, seed: seed, rng: rand.New(rand.NewSource(seed)), dir: [2]string{mnt, t.TempDir()},
		other: other, counts: map[string]int{}}
	t.Logf("fsx: seed %d (FUSEFS_FSX_SEED), %d operations (FUSEFS_FSX_OPS)", seed, ops)
	for _, d := range x.dir {
		must(t, os.Mkdir(join(d, "d"), 0o755))
	}
	x.child = startMmapChild(t)
	t.Cleanup(func() {
		for _, h := range x.fds {
			x.closeHandle(h)
		}
	})
	start := time.Now()
	for x.step = 1; x.step <= ops; x.step++ {
		x.doRandom()
		x.checkNames()
		if x.step%fsxFullEvery == 0 {
			x.checkFull()
		}
	}
	for len(x.fds) > 0 {
		x.closeHandle(x.fds[0])
		x.fds = x.fds[1:]
	}
	x.checkNames()
	x.checkFull()
	took := time.Since(start)
	t.Logf("MEASURED: fsx seed %d: %d operations in %v (%.0f ops/s); counts %v", seed, ops, took.Round(time.Millisecond),
		float64(ops)/took.Seconds(), x.counts)
}

// note records the current operation; the last ones are printed on failure.
func (x *fsx) note(format string, args ...any) {
	s := fmt.Sprintf("%d: "+format, append([]any{x.step}, args...)...)
	x.recent = append(x.recent, s)
	if len(x.recent) > 40 {
		x.recent = x.recent[1:]
	}
}

func (x *fsx) fail(format string, args ...any) {
	x.t.Helper()
	x.t.Fatalf("fsx seed %d (rerun with FUSEFS_FSX_SEED=%d FUSEFS_FSX_OPS=%d), step %d: %s\nlast operations:\n  %s",
		x.seed, x.seed, x.step, x.step, fmt.Sprintf(format, args...), strings.Join(x.recent, "\n  "))
}

// same fails unless the mount's and the local error are the same errno (or both nil); it reports whether both
// succeeded.
func (x *fsx) same(what string, em, el error) bool {
	x.t.Helper()
	if errnoOf(em) != errnoOf(el) {
		x.fail("%s: mount %v, local %v", what, em, el)
	}
	return em == nil
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

func (x *fsx) path(side int, name string) string { return join(x.dir[side], name) }

func (x *fsx) pick() string { return fsxNames[x.rng.Intn(len(fsxNames))] }

// data returns n pseudo-random bytes from the seeded generator.
func (x *fsx) data(n int) []byte {
	b := make([]byte, n)
	x.rng.Read(b)
	return b
}

func (x *fsx) size() int {
	switch r := x.rng.Intn(100); {
	case r < 60:
		return 1 + x.rng.Intn(4096)
	case r < 95:
		return 1 + x.rng.Intn(64<<10)
	default:
		return 1 + x.rng.Intn(160<<10)
	}
}

func (x *fsx) doRandom() {
	if len(x.fds) == 0 {
		x.open()
		return
	}
	h := x.fds[x.rng.Intn(len(x.fds))]
	r := x.rng.Intn(100)
	switch {
	case r < 20:
		x.write(h)
	case r < 24:
		x.writeRun(h)
	case r < 36:
		x.readCached(h)
	case r < 42:
		x.readDirect(h)
	case r < 48:
		x.truncate(h)
	case r < 53:
		x.fallocate(h)
	case r < 60:
		x.open()
	case r < 66:
		x.reopen(h)
	case r < 70:
		x.rename()
	case r < 73:
		x.link()
	case r < 76:
		x.unlink()
	case r < 79:
		x.fsync(h)
	case r < 85:
		x.pathTruncate()
	case r < 92:
		x.mmapRead()
	default:
		x.mmapWrite()
	}
}

func (x *fsx) count(op string) { x.counts[op]++ }

func (x *fsx) open() {
	name := x.pick()
	flags := unix.O_RDWR
	if x.rng.Intn(3) > 0 {
		flags |= unix.O_CREAT
	}
	if x.rng.Intn(20) == 0 {
		flags |= unix.O_TRUNC
	}
	if x.rng.Intn(8) == 0 {
		flags |= unix.O_APPEND
	}
	x.openName(name, flags)
}

func (x *fsx) openName(name string, flags int) {
	x.count("open")
	if len(x.fds) >= fsxMaxFDs {
		i := x.rng.Intn(len(x.fds))
		x.closeHandle(x.fds[i])
		x.fds = append(x.fds[:i], x.fds[i+1:]...)
	}
	x.note("open %s flags %#o", name, flags)
	fm, em := unix.Open(x.path(0, name), flags|unix.O_CLOEXEC, 0o644)
	fl, el := unix.Open(x.path(1, name), flags|unix.O_CLOEXEC, 0o644)
	if !x.same("open "+name, em, el) {
		return
	}
	h := &fsxHandle{fd: [2]int{fm, fl}, name: name, flags: flags}
	h.direct, _ = unix.Open(x.path(0, name), unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	x.fds = append(x.fds, h)
	x.checkHandle(h)
}

func (x *fsx) closeHandle(h *fsxHandle) {
	x.note("close %s", h.name)
	em := unix.Close(h.fd[0])
	el := unix.Close(h.fd[1])
	if h.direct >= 0 {
		_ = unix.Close(h.direct)
	}
	x.same("close "+h.name, em, el)
}

// reopen closes h and opens its name again (close-to-open: the new descriptor must see everything).
func (x *fsx) reopen(h *fsxHandle) {
	x.count("reopen")
	for i, g := range x.fds {
		if g == h {
			x.fds = append(x.fds[:i], x.fds[i+1:]...)
			break
		}
	}
	x.closeHandle(h)
	x.openName(h.name, unix.O_RDWR|(h.flags&unix.O_APPEND))
}

func (x *fsx) write(h *fsxHandle) {
	x.count("write")
	n := x.size()
	off := x.rng.Intn(fsxMaxSize - n)
	b := x.data(n)
	x.note("pwrite %s off %d len %d (flags %#o)", h.name, off, n, h.flags)
	nm, em := unix.Pwrite(h.fd[0], b, int64(off))
	nl, el := unix.Pwrite(h.fd[1], b, int64(off))
	if x.same("pwrite", em, el) && nm != nl {
		x.fail("pwrite wrote %d bytes on the mount, %d locally", nm, nl)
	}
	x.checkHandle(h)
}

// writeRun writes a run of contiguous pieces through h, then checks: sequential writes are gathered by the
// write-back buffer, across its piece boundaries, before anything reads them.
func (x *fsx) writeRun(h *fsxHandle) {
	x.count("write run")
	off := x.rng.Intn(fsxMaxSize / 2)
	n := 2 + x.rng.Intn(30)
	x.note("write run %s from %d, %d writes", h.name, off, n)
	for i := 0; i < n; i++ {
		sz := 1 + x.rng.Intn(16<<10)
		if off+sz > fsxMaxSize {
			break
		}
		b := x.data(sz)
		nm, em := unix.Pwrite(h.fd[0], b, int64(off))
		nl, el := unix.Pwrite(h.fd[1], b, int64(off))
		if x.same("pwrite", em, el) && nm != nl {
			x.fail("pwrite wrote %d bytes on the mount, %d locally", nm, nl)
		}
		off += sz
	}
	x.checkHandle(h)
}

func (x *fsx) readCached(h *fsxHandle) {
	x.count("read")
	off, n := x.rng.Intn(fsxMaxGrow), x.size()
	x.note("pread %s off %d len %d", h.name, off, n)
	x.compareRead(h.fd[0], h.fd[1], off, n, "pread")
}

func (x *fsx) readDirect(h *fsxHandle) {
	if h.direct < 0 {
		return
	}
	x.count("read O_DIRECT")
	off, n := x.rng.Intn(fsxMaxGrow), x.size()
	x.note("pread O_DIRECT %s off %d len %d", h.name, off, n)
	x.compareRead(h.direct, h.fd[1], off, n, "pread O_DIRECT")
}

func (x *fsx) compareRead(fm, fl, off, n int, what string) {
	bm, bl := make([]byte, n), make([]byte, n)
	nm, em := preadFull(fm, bm, off)
	nl, el := preadFull(fl, bl, off)
	if !x.same(what, em, el) {
		return
	}
	if nm != nl || !bytes.Equal(bm[:nm], bl[:nl]) {
		x.fail("%s at %d: mount read %d bytes, local %d; first difference at %d", what, off, nm, nl, firstDiff(bm[:nm], bl[:nl]))
	}
}

// preadFull reads until buf is full or end of file.
func preadFull(fd int, buf []byte, off int) (int, error) {
	got := 0
	for got < len(buf) {
		n, err := unix.Pread(fd, buf[got:], int64(off+got))
		if err != nil {
			return got, err
		}
		if n == 0 {
			break
		}
		got += n
	}
	return got, nil
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) < len(b) {
		return len(a)
	}
	return len(b)
}

func (x *fsx) truncate(h *fsxHandle) {
	x.count("ftruncate")
	sz := x.rng.Intn(fsxMaxGrow)
	x.note("ftruncate %s %d", h.name, sz)
	x.same("ftruncate", unix.Ftruncate(h.fd[0], int64(sz)), unix.Ftruncate(h.fd[1], int64(sz)))
	x.checkHandle(h)
}

func (x *fsx) pathTruncate() {
	x.count("truncate")
	name, sz := x.pick(), x.rng.Intn(fsxMaxGrow)
	x.note("truncate %s %d", name, sz)
	x.same("truncate "+name, unix.Truncate(x.path(0, name), int64(sz)), unix.Truncate(x.path(1, name), int64(sz)))
}

func (x *fsx) fallocate(h *fsxHandle) {
	mode := uint32(0)
	if x.rng.Intn(2) == 0 {
		mode = unix.FALLOC_FL_KEEP_SIZE
	}
	x.count(fmt.Sprintf("fallocate mode %d", mode))
	n := 1 + x.rng.Intn(64<<10)
	off := x.rng.Intn(fsxMaxGrow - n)
	x.note("fallocate %s mode %d off %d len %d", h.name, mode, off, n)
	x.same("fallocate", unix.Fallocate(h.fd[0], mode, int64(off), int64(n)), unix.Fallocate(h.fd[1], mode, int64(off), int64(n)))
	x.checkHandle(h)
}

func (x *fsx) fsync(h *fsxHandle) {
	x.count("fsync")
	x.note("fsync %s", h.name)
	x.same("fsync", unix.Fsync(h.fd[0]), unix.Fsync(h.fd[1]))
}

func (x *fsx) rename() {
	x.count("rename")
	from, to := x.pick(), x.pick()
	x.note("rename %s %s", from, to)
	x.same("rename", unix.Rename(x.path(0, from), x.path(0, to)), unix.Rename(x.path(1, from), x.path(1, to)))
}

func (x *fsx) link() {
	x.count("link")
	from, to := x.pick(), x.pick()
	x.note("link %s %s", from, to)
	x.same("link", unix.Link(x.path(0, from), x.path(0, to)), unix.Link(x.path(1, from), x.path(1, to)))
}

func (x *fsx) unlink() {
	x.count("unlink")
	name := x.pick()
	x.note("unlink %s", name)
	x.same("unlink", unix.Unlink(x.path(0, name)), unix.Unlink(x.path(1, name)))
}

// mmapRange picks an existing, non-empty name and a range inside its size.
func (x *fsx) mmapRange() (name string, off, n int, ok bool) {
	name = x.pick()
	var st unix.Stat_t
	if unix.Stat(x.path(1, name), &st) != nil || st.Size == 0 {
		return "", 0, 0, false
	}
	off = x.rng.Intn(int(st.Size))
	n = 1 + x.rng.Intn(int(st.Size)-off)
	if n > 16<<10 {
		n = 1 + x.rng.Intn(16<<10)
	}
	return name, off, n, true
}

// mmapRead reads a range through a shared mapping: in the child process on the mount, here on the local file.
func (x *fsx) mmapRead() {
	name, off, n, ok := x.mmapRange()
	if !ok {
		return
	}
	x.count("mmap read")
	x.note("mmap read %s off %d len %d", name, off, n)
	rm := x.child.do(mmapRequest{Op: "read", Path: x.path(0, name), Off: off, Len: n})
	bl, el := mmapLocal(x.path(1, name), "read", off, n, nil)
	if x.same("mmap read", rm.err(), el) && !bytes.Equal(rm.Data, bl) {
		x.fail("mmap read %s at %d: mount %d bytes, local %d; first difference at %d", name, off, len(rm.Data), len(bl),
			firstDiff(rm.Data, bl))
	}
}

// mmapWrite writes a range through a MAP_SHARED mapping, then msync and munmap.
func (x *fsx) mmapWrite() {
	name, off, n, ok := x.mmapRange()
	if !ok {
		return
	}
	x.count("mmap write")
	b := x.data(n)
	x.note("mmap write %s off %d len %d", name, off, n)
	rm := x.child.do(mmapRequest{Op: "write", Path: x.path(0, name), Off: off, Len: n, Data: b})
	_, el := mmapLocal(x.path(1, name), "write", off, n, b)
	x.same("mmap write", rm.err(), el)
	x.compareName(name)
}

// checkHandle compares the size and the whole contents of h's file through its descriptors.
func (x *fsx) checkHandle(h *fsxHandle) {
	x.t.Helper()
	var sm, sl unix.Stat_t
	if !x.same("fstat "+h.name, unix.Fstat(h.fd[0], &sm), unix.Fstat(h.fd[1], &sl)) {
		return
	}
	if sm.Size != sl.Size || sm.Nlink != sl.Nlink {
		x.fail("fstat %s (opened as): mount size %d nlink %d, local size %d nlink %d", h.name, sm.Size, sm.Nlink, sl.Size, sl.Nlink)
	}
	x.compareRead(h.fd[0], h.fd[1], 0, int(sl.Size)+1, "read whole "+h.name)
}

// checkNames compares existence, type, size and link count of every name.
func (x *fsx) checkNames() {
	x.t.Helper()
	for _, name := range fsxNames {
		var sm, sl unix.Stat_t
		if !x.same("lstat "+name, unix.Lstat(x.path(0, name), &sm), unix.Lstat(x.path(1, name), &sl)) {
			continue
		}
		if sm.Size != sl.Size || sm.Nlink != sl.Nlink || sm.Mode&unix.S_IFMT != sl.Mode&unix.S_IFMT {
			x.fail("lstat %s: mount size %d nlink %d mode %o, local size %d nlink %d mode %o", name, sm.Size, sm.Nlink,
				sm.Mode, sl.Size, sl.Nlink, sl.Mode)
		}
	}
	for _, h := range x.fds {
		var sm, sl unix.Stat_t
		if x.same("fstat "+h.name, unix.Fstat(h.fd[0], &sm), unix.Fstat(h.fd[1], &sl)) && sm.Size != sl.Size {
			x.fail("fstat of a descriptor opened as %s: mount size %d, local %d", h.name, sm.Size, sl.Size)
		}
	}
}

// compareName opens name afresh on both sides and compares its whole contents.
func (x *fsx) compareName(name string) {
	x.t.Helper()
	fm, em := unix.Open(x.path(0, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	fl, el := unix.Open(x.path(1, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if !x.same("open "+name, em, el) {
		return
	}
	defer unix.Close(fm)
	defer unix.Close(fl)
	x.compareRead(fm, fl, 0, fsxMaxGrow+1, "read whole "+name)
}

// checkFull compares every name's contents through a fresh descriptor and every handle's through its own, and
// through the other mount after fsync of every open file.
func (x *fsx) checkFull() {
	x.t.Helper()
	for _, name := range fsxNames {
		x.compareName(name)
	}
	if x.other != "" {
		for _, h := range x.fds {
			x.same("fsync "+h.name, unix.Fsync(h.fd[0]), nil)
		}
		for _, name := range fsxNames {
			fo, eo := unix.Open(join(x.other, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			fl, el := unix.Open(x.path(1, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if x.same("open on the other mount "+name, eo, el) {
				x.compareRead(fo, fl, 0, fsxMaxGrow+1, "read whole on the other mount "+name)
				unix.Close(fo)
				unix.Close(fl)
			}
		}
	}
	for _, h := range x.fds {
		x.checkHandle(h)
		if h.direct >= 0 {
			x.compareRead(h.direct, h.fd[1], 0, fsxMaxGrow+1, "read whole O_DIRECT "+h.name)
		}
	}
}

// mmapLocal serves a mapping request on a file (the local reference here; the mount's in the child process).
func mmapLocal(path, op string, off, n int, data []byte) ([]byte, error) {
	flags, prot := unix.O_RDONLY, unix.PROT_READ
	if op == "write" {
		flags, prot = unix.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	}
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if int64(off+n) > st.Size {
		return nil, syscall.ERANGE // the caller picked the range from the reference's size: sizes differ
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	var out []byte
	if op == "write" {
		copy(mem[off:off+n], data)
		err = unix.Msync(mem, unix.MS_SYNC)
	} else {
		out = append([]byte(nil), mem[off:off+n]...)
	}
	if e := unix.Munmap(mem); err == nil {
		err = e
	}
	if err == nil {
		err = unix.Close(fd)
		fd = -1
	}
	return out, err
}

// The mmap child: the test binary run again with FUSEFS_FSX_CHILD set, serving mmapRequests read from fd 3
// and answering on fd 4, one JSON document per line.

type mmapRequest struct {
	Op       string
	Path     string
	Off, Len int
	Data     []byte
}

type mmapResponse struct {
	Data  []byte
	Errno int
	Err   string
}

func (r mmapResponse) err() error {
	if r.Errno != 0 {
		return syscall.Errno(r.Errno)
	}
	if r.Err != "" {
		return errors.New(r.Err)
	}
	return nil
}

type mmapClient struct {
	t   testing.TB
	enc *json.Encoder
	dec *json.Decoder
}

func (c *mmapClient) do(req mmapRequest) mmapResponse {
	c.t.Helper()
	if err := c.enc.Encode(req); err != nil {
		c.t.Fatalf("mmap child: send: %v", err)
	}
	var resp mmapResponse
	if err := c.dec.Decode(&resp); err != nil {
		c.t.Fatalf("mmap child: receive: %v", err)
	}
	return resp
}

// startMmapChild starts the child process; it exits when its request pipe closes at the end of the test.
func startMmapChild(t testing.TB) *mmapClient {
	reqR, reqW, err := os.Pipe()
	must(t, err)
	respR, respW, err := os.Pipe()
	must(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFSXMemstore$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FUSEFS_FSX_CHILD=1")
	cmd.ExtraFiles = []*os.File{reqR, respW}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	must(t, cmd.Start())
	reqR.Close()
	respW.Close()
	t.Cleanup(func() {
		reqW.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("mmap child: %v\n%s", err, stderr.String())
		}
		respR.Close()
	})
	return &mmapClient{t: t, enc: json.NewEncoder(reqW), dec: json.NewDecoder(bufio.NewReader(respR))}
}

func serveMmapChild() {
	dec := json.NewDecoder(bufio.NewReader(os.NewFile(3, "requests")))
	enc := json.NewEncoder(os.NewFile(4, "responses"))
	for {
		var req mmapRequest
		if err := dec.Decode(&req); err != nil {
			return
		}
		data, err := mmapLocal(req.Path, req.Op, req.Off, req.Len, req.Data)
		resp := mmapResponse{Data: data}
		if err != nil {
			var e syscall.Errno
			if errors.As(err, &e) {
				resp.Errno = int(e)
			} else {
				resp.Err = err.Error()
			}
		}
		if enc.Encode(resp) != nil {
			return
		}
	}
}

// TestFSXMemstore runs the random-operation test against a mount of an in-memory volume, with small write-back
// pieces and read-ahead windows so that writes and reads cross their boundaries often.
func TestFSXMemstore(t *testing.T) {
	if os.Getenv("FUSEFS_FSX_CHILD") != "" {
		serveMmapChild()
		return
	}
	seed, ops := fsxParams(t, 100000)
	vol := memstore.NewVolume(memstore.Options{})
	dir, _ := mountStore(t, vol.Session("fsx"), Options{WriteBufferBytes: 64 << 10, MaxBackgroundUploads: 2,
		ReadAheadBytes: 64 << 10})
	// The other mount caches names and attributes for 1ns only, so that it sees renames and unlinks at once.
	other, _ := mountStore(t, vol.Session("fsx-other"), Options{AttrTimeout: time.Nanosecond, EntryTimeout: time.Nanosecond})
	runFSX(t, dir, other, seed, ops)
}

// TestFSXCassandra runs the random-operation test against a mount of a real Cassandra volume (fewer operations
// by default: every one is a round trip or more to Cassandra).
func TestFSXCassandra(t *testing.T) {
	seed, ops := fsxParams(t, 2000)
	c, id := cassVolume(t, 0)
	dir := mountCass(t, c, id, "fsx", nil, Options{WriteBufferBytes: 128 << 10, ReadAheadBytes: 128 << 10})
	runFSX(t, dir, "", seed, ops)
}
