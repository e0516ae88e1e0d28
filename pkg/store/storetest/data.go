package storetest

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

var dataTests = []test{
	{"DataBasic", testDataBasic},
	{"DataChunkBoundaries", testDataChunkBoundaries},
	{"DataTruncate", testDataTruncate},
	{"DataSparse", testDataSparse},
	{"DataRandom", testDataRandom},
	{"Fallocate", testFallocate},
}

// pattern returns n bytes that differ from those of other seeds and offsets.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7+i/251)
		if b[i] == 0 {
			b[i] = seed | 1
		}
	}
	return b
}

// model is the expected content of a file.
type model []byte

func (m *model) write(off int, data []byte) {
	if end := off + len(data); end > len(*m) {
		*m = append(*m, make([]byte, end-len(*m))...)
	}
	copy((*m)[off:], data)
}

func (m *model) truncate(size int) {
	if size <= len(*m) {
		*m = (*m)[:size]
		return
	}
	*m = append(*m, make([]byte, size-len(*m))...)
}

// expectData compares the whole file with m and a few partial reads with their slices of m.
func (e *env) expectData(s store.Store, ino store.Ino, m model, what string) {
	e.t.Helper()
	got := e.readAll(s, ino)
	if !bytes.Equal(got, m) {
		e.t.Errorf("%s: content differs: %s", what, diffAt(got, m))
	}
}

func diffAt(got, want []byte) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return "first difference at byte " + strconv.Itoa(i) + " (got " + strconv.Itoa(int(got[i])) + ", want " + strconv.Itoa(int(want[i])) + ")"
		}
	}
	return "lengths " + strconv.Itoa(len(got)) + " and " + strconv.Itoa(len(want))
}

// readAt opens the file on s, reads n bytes at off, releases it and returns what came back.
func (e *env) readAt(s store.Store, ino store.Ino, off uint64, n int) []byte {
	e.t.Helper()
	_, err := s.Open(e.ctx, ino)
	e.must(err, "open %d", ino)
	defer func() { e.must(s.Release(e.ctx, ino), "release %d", ino) }()
	buf := make([]byte, n)
	k, err := s.Read(e.ctx, ino, off, buf)
	e.must(err, "read %d at %d", n, off)
	return buf[:k]
}

func testDataBasic(e *env) {
	f := e.mkfile(e.dir, "f")
	if got := e.readAt(e.a, f.Ino, 0, 10); len(got) != 0 {
		e.t.Errorf("read of an empty file returned %d bytes", len(got))
	}
	a := e.write(e.a, f.Ino, 0, []byte("hello, world"))
	if a.Size != 12 || a.Ino != f.Ino {
		e.t.Errorf("write returned %+v", a)
	}
	if got := string(e.readAt(e.b, f.Ino, 7, 100)); got != "world" {
		e.t.Errorf("short read at end of file: %q", got)
	}
	if got := e.readAt(e.a, f.Ino, 12, 10); len(got) != 0 {
		e.t.Errorf("read at end of file returned %q", got)
	}
	if got := e.readAt(e.a, f.Ino, 1000, 10); len(got) != 0 {
		e.t.Errorf("read past end of file returned %q", got)
	}
	a = e.write(e.b, f.Ino, 7, []byte("W"))
	if a.Size != 12 {
		e.t.Errorf("overwrite inside the file changed the size to %d", a.Size)
	}
	a = e.write(e.a, f.Ino, 10, []byte("LD!!"))
	if a.Size != 14 {
		e.t.Errorf("overlapping extension: size %d, want 14", a.Size)
	}
	if got := string(e.readAll(e.b, f.Ino)); got != "hello, WorLD!!" {
		e.t.Errorf("content %q", got)
	}
	a = e.write(e.a, f.Ino, 20, []byte("x"))
	if got := string(e.readAll(e.a, f.Ino)); got != "hello, WorLD!!\x00\x00\x00\x00\x00\x00x" || a.Size != 21 {
		e.t.Errorf("content after a write past the end: %q (size %d)", got, a.Size)
	}
	if got := e.getattr(e.b, f.Ino); got.Size != 21 {
		e.t.Errorf("the other session sees size %d", got.Size)
	}
	// Non-files.
	_, err := e.a.Write(e.ctx, e.dir, 0, []byte("x"))
	e.errno(err, syscall.EISDIR, "write to a directory")
	_, err = e.a.Read(e.ctx, e.dir, 0, make([]byte, 1))
	e.errno(err, syscall.EISDIR, "read of a directory")
	sl := e.mknod(e.a, e.dir, "sl", store.NewNode{Type: store.TypeSymlink, Target: "f"})
	_, err = e.a.Write(e.ctx, sl.Ino, 0, []byte("x"))
	e.errno(err, syscall.EINVAL, "write to a symlink")
	fifo := e.mknod(e.a, e.dir, "fifo", store.NewNode{Type: store.TypeFIFO})
	_, err = e.a.Write(e.ctx, fifo.Ino, 0, []byte("x"))
	e.errno(err, syscall.EINVAL, "write to a fifo")
	_, err = e.a.Read(e.ctx, fifo.Ino, 0, make([]byte, 1))
	e.errno(err, syscall.EINVAL, "read of a fifo")
	_, err = e.a.Write(e.ctx, store.Ino(1<<60), 0, []byte("x"))
	e.errno(err, syscall.ENOENT, "write to a missing inode")
	_, err = e.a.Read(e.ctx, store.Ino(1<<60), 0, make([]byte, 1))
	e.errno(err, syscall.ENOENT, "read of a missing inode")
}

// boundaries returns offsets around the chunk boundaries of the requested chunk size and of common defaults.
func (e *env) boundaries() []int {
	var out []int
	for _, cs := range []int{e.opts.ChunkSize, 64 << 10, 1 << 20} {
		if cs > 0 {
			out = append(out, cs-1, cs, cs+1, 2*cs-5)
		}
	}
	return out
}

func testDataChunkBoundaries(e *env) {
	cs := max(e.opts.ChunkSize, 1)
	for i, off := range e.boundaries() {
		f := e.mkfile(e.dir, "f"+strconv.Itoa(i))
		var m model
		for j, n := range []int{1, 2, 10, cs, cs + 1, 3*cs + 7} {
			data := pattern(byte(j*13+i), n)
			w := off - n/2
			if w < 0 {
				w = 0
			}
			e.write(e.a, f.Ino, uint64(w), data)
			m.write(w, data)
		}
		e.expectData(e.b, f.Ino, m, "writes around offset "+strconv.Itoa(off))
		for _, r := range []int{off - 3, off, off + 1} {
			if r < 0 || r >= len(m) {
				continue
			}
			got := e.readAt(e.b, f.Ino, uint64(r), 2*cs)
			if want := m[r:min(len(m), r+2*cs)]; !bytes.Equal(got, want) {
				e.t.Errorf("read at %d across a boundary: %s", r, diffAt(got, want))
			}
		}
		_, err := e.a.Unlink(e.ctx, e.dir, "f"+strconv.Itoa(i))
		e.must(err, "unlink")
	}
}

func testDataTruncate(e *env) {
	cs := max(e.opts.ChunkSize, 16)
	f := e.mkfile(e.dir, "f")
	var m model
	setSize := func(size int) {
		e.t.Helper()
		a, err := e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetSize, Size: uint64(size)})
		e.must(err, "truncate to %d", size)
		if a.Size != uint64(size) {
			e.t.Errorf("truncate to %d: size %d", size, a.Size)
		}
		m.truncate(size)
	}
	write := func(off int, data []byte) {
		e.t.Helper()
		e.write(e.a, f.Ino, uint64(off), data)
		m.write(off, data)
	}
	write(0, pattern(1, 3*cs+100))
	setSize(cs + cs/2) // shrink into the middle of a chunk
	e.expectData(e.b, f.Ino, m, "shrunk into a chunk")
	setSize(3 * cs) // extend: the cut part reads as zeros
	e.expectData(e.b, f.Ino, m, "shrunk then extended")
	setSize(cs / 4)
	write(2*cs+3, []byte("tail")) // extend by writing: the gap is zeros
	e.expectData(e.b, f.Ino, m, "shrunk then written past the end")
	setSize(cs) // exactly on a boundary
	setSize(cs + 10)
	e.expectData(e.b, f.Ino, m, "boundary shrink then extend")
	setSize(0)
	e.expectData(e.b, f.Ino, m, "truncated to zero")
	setSize(5)
	e.expectData(e.b, f.Ino, m, "zero then extended")
	write(1, []byte("ab"))
	setSize(2)
	setSize(4)
	e.expectData(e.b, f.Ino, m, "small shrink and extend within one chunk")
	setSize(4) // same size
	e.expectData(e.b, f.Ino, m, "truncate to the same size")
}

func testDataSparse(e *env) {
	cs := max(e.opts.ChunkSize, 16)
	f := e.mkfile(e.dir, "f")
	var m model
	for _, off := range []int{3*cs + 10, 7 * cs, 5*cs - 1} {
		data := pattern(byte(off), 20)
		e.write(e.a, f.Ino, uint64(off), data)
		m.write(off, data)
	}
	e.expectData(e.b, f.Ino, m, "sparse writes")
	if got := e.readAt(e.b, f.Ino, uint64(cs), cs); !bytes.Equal(got, make([]byte, cs)) {
		e.t.Errorf("a hole does not read as zeros")
	}
	// A far offset: the file is 1 GiB and 2 bytes, nearly all hole.
	const far = 1 << 30
	g := e.mkfile(e.dir, "g")
	a := e.write(e.a, g.Ino, far, []byte("xy"))
	if a.Size != far+2 {
		e.t.Errorf("size %d after a write at 1 GiB", a.Size)
	}
	if got := string(e.readAt(e.b, g.Ino, far-2, 10)); got != "\x00\x00xy" {
		e.t.Errorf("read around 1 GiB: %q", got)
	}
	if got := e.readAt(e.b, g.Ino, far/2, 3*cs); !bytes.Equal(got, make([]byte, 3*cs)) {
		e.t.Errorf("the middle of a sparse file does not read as zeros")
	}
	_, err := e.a.SetAttr(e.ctx, g.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 3})
	e.must(err, "truncate the sparse file")
	if got := string(e.readAll(e.b, g.Ino)); got != "\x00\x00\x00" {
		e.t.Errorf("truncated sparse file %q", got)
	}
}

// testDataRandom applies random writes and truncations to a 3 MiB file, from two sessions, checking against a model.
func testDataRandom(e *env) {
	const size = 3 << 20
	rng := rand.New(rand.NewPCG(7, 11))
	f := e.mkfile(e.dir, "f")
	var m model
	sessions := []store.Store{e.a, e.b}
	for i := range 150 {
		s := sessions[i%2]
		switch op := rng.IntN(20); {
		case op == 0:
			n := rng.IntN(size)
			_, err := s.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetSize, Size: uint64(n)})
			e.must(err, "truncate to %d", n)
			m.truncate(n)
		case op < 4:
			off, n := rng.IntN(size), 1+rng.IntN(64<<10)
			got := e.readAt(s, f.Ino, uint64(off), n)
			want := []byte{}
			if off < len(m) {
				want = m[off:min(len(m), off+n)]
			}
			if !bytes.Equal(got, want) {
				e.fatalf("op %d: read %d at %d: %s", i, n, off, diffAt(got, want))
			}
		default:
			n := 1 + rng.IntN(64<<10)
			if rng.IntN(4) == 0 {
				n = 1 + rng.IntN(100)
			}
			off := rng.IntN(size - n)
			data := make([]byte, n)
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			a := e.write(s, f.Ino, uint64(off), data)
			m.write(off, data)
			if a.Size != uint64(len(m)) {
				e.fatalf("op %d: write returned size %d, model has %d", i, a.Size, len(m))
			}
		}
	}
	e.expectData(e.a, f.Ino, m, "after random writes (session a)")
	e.expectData(e.b, f.Ino, m, "after random writes (session b)")
}

func testFallocate(e *env) {
	f := e.mkfile(e.dir, "f")
	e.write(e.a, f.Ino, 0, []byte("abc"))
	a, err := e.a.Fallocate(e.ctx, f.Ino, 0, 1, 10000)
	e.must(err, "fallocate")
	if a.Size != 10001 {
		e.t.Errorf("fallocate mode 0: size %d, want 10001", a.Size)
	}
	m := model("abc")
	m.truncate(10001)
	e.expectData(e.b, f.Ino, m, "after fallocate")
	a, err = e.a.Fallocate(e.ctx, f.Ino, 0, 0, 5)
	e.must(err, "fallocate inside")
	if a.Size != 10001 {
		e.t.Errorf("fallocate inside the file changed the size to %d", a.Size)
	}
	a, err = e.a.Fallocate(e.ctx, f.Ino, store.FallocKeepSize, 9000, 50000)
	e.must(err, "fallocate KEEP_SIZE")
	if a.Size != 10001 {
		e.t.Errorf("fallocate KEEP_SIZE changed the size to %d", a.Size)
	}
	if got := e.getattr(e.b, f.Ino); got.Size != 10001 {
		e.t.Errorf("size %d after KEEP_SIZE", got.Size)
	}
	e.write(e.a, f.Ino, 20000, []byte("z"))
	m.write(20000, []byte("z"))
	e.expectData(e.b, f.Ino, m, "write into a KEEP_SIZE range")
	_, err = e.a.Fallocate(e.ctx, f.Ino, 0x02|store.FallocKeepSize, 0, 10) // punch hole
	e.errno(err, syscall.EOPNOTSUPP, "punch hole")
	_, err = e.a.Fallocate(e.ctx, f.Ino, 0x10, 0, 10) // zero range
	e.errno(err, syscall.EOPNOTSUPP, "zero range")
	_, err = e.a.Fallocate(e.ctx, e.dir, 0, 0, 10)
	e.errno(err, syscall.EISDIR, "fallocate of a directory")
	e.expectData(e.b, f.Ino, m, "after rejected fallocates")
}
