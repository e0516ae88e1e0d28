package storetest

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
)

// volumeTests need volumes of their own.
var volumeTests = []struct {
	name string
	fn   func(t *testing.T, newVolume NewVolume)
}{
	{"QuotaBytes", testQuotaBytes},
	{"QuotaInodes", testQuotaInodes},
	{"QuotaConcurrent", testQuotaConcurrent},
	{"QuotaInodesConcurrent", testQuotaInodesConcurrent},
}

func freshEnv(t *testing.T, newVolume NewVolume, opts VolumeOptions) *env {
	vol := newVolume(t, opts)
	e := &env{t: t, ctx: context.Background(), vol: vol, opts: opts, dir: store.RootIno}
	e.a, e.b = vol.Session(t, "a"), vol.Session(t, "b")
	t.Cleanup(func() { CheckTree(t, e.a) })
	return e
}

func testQuotaBytes(t *testing.T, newVolume NewVolume) {
	const capacity = 64 << 10
	e := freshEnv(t, newVolume, VolumeOptions{CapacityBytes: capacity, ChunkSize: ChunkSize})
	if u := e.statfs(e.a); u.CapacityBytes != capacity || u.Bytes != 0 || u.Inodes != 1 {
		t.Errorf("fresh volume statfs %+v", u)
	}
	f := e.mkfile(e.dir, "f")
	g := e.mkfile(e.dir, "g")
	e.write(e.a, f.Ino, 0, pattern(1, capacity-1000))
	var m model
	m.write(0, pattern(1, capacity-1000))
	_, err := e.b.Write(e.ctx, g.Ino, 0, make([]byte, 1001))
	e.errno(err, syscall.ENOSPC, "write past the quota")
	if a := e.getattr(e.a, g.Ino); a.Size != 0 {
		t.Errorf("a failed write changed the size to %d", a.Size)
	}
	_, err = e.a.Write(e.ctx, f.Ino, capacity-1000, make([]byte, 1001))
	e.errno(err, syscall.ENOSPC, "extending write past the quota")
	e.expectData(e.b, f.Ino, m, "after an ENOSPC write")
	// Overwrites inside a file need no new space.
	e.write(e.a, f.Ino, 0, pattern(2, 5000))
	m.write(0, pattern(2, 5000))
	_, err = e.a.SetAttr(e.ctx, g.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 1001})
	e.errno(err, syscall.ENOSPC, "truncate past the quota")
	_, err = e.a.Fallocate(e.ctx, g.Ino, 0, 0, 1001)
	e.errno(err, syscall.ENOSPC, "fallocate past the quota")
	_, err = e.a.Fallocate(e.ctx, g.Ino, store.FallocKeepSize, 0, 1001)
	e.errno(err, syscall.ENOSPC, "fallocate KEEP_SIZE past the quota")
	e.write(e.b, g.Ino, 0, make([]byte, 1000)) // exactly up to the quota
	if u := e.statfs(e.a); u.Bytes != capacity {
		t.Errorf("statfs bytes %d, want %d", u.Bytes, capacity)
	}
	_, err = e.b.Write(e.ctx, g.Ino, 1000, []byte{1})
	e.errno(err, syscall.ENOSPC, "one byte past a full quota")
	// Freeing space makes room again.
	_, err = e.a.SetAttr(e.ctx, f.Ino, store.SetAttrIn{Valid: store.SetSize, Size: 1000})
	e.must(err, "truncate")
	m.truncate(1000)
	e.write(e.b, g.Ino, 1000, make([]byte, 30000))
	_, err = e.a.Unlink(e.ctx, e.dir, "g")
	e.must(err, "unlink")
	if u := e.statfs(e.a); u.Bytes != 1000 {
		t.Errorf("statfs bytes %d after freeing, want 1000", u.Bytes)
	}
	h := e.mkfile(e.dir, "h")
	e.write(e.a, h.Ino, 0, make([]byte, capacity-1000))
	e.expectData(e.a, f.Ino, m, "f after refilling")
}

func testQuotaInodes(t *testing.T, newVolume NewVolume) {
	const maxInodes = 6
	e := freshEnv(t, newVolume, VolumeOptions{MaxInodes: maxInodes, ChunkSize: ChunkSize})
	if u := e.statfs(e.a); u.MaxInodes != maxInodes || u.Inodes != 1 {
		t.Errorf("fresh volume statfs %+v", u)
	}
	d := e.mkdir(e.dir, "d")
	f := e.mkfile(d.Ino, "f")
	e.mknod(e.b, e.dir, "l", store.NewNode{Type: store.TypeSymlink, Target: "d/f"})
	e.mknod(e.b, e.dir, "p", store.NewNode{Type: store.TypeFIFO})
	e.mkfile(e.dir, "last")
	for _, n := range []store.NewNode{fileNode, dirNode, {Type: store.TypeSymlink, Target: "x"}, {Type: store.TypeSocket}} {
		_, err := e.a.Mknod(e.ctx, e.dir, "over", n)
		e.errno(err, syscall.ENOSPC, "create type %d past the inode limit", n.Type)
	}
	if _, err := e.a.Lookup(e.ctx, e.dir, "over"); !isErrno(err, syscall.ENOENT) {
		t.Errorf("a refused create left an entry: %v", err)
	}
	// A hard link needs no inode.
	_, err := e.a.Link(e.ctx, f.Ino, e.dir, "f2")
	e.must(err, "link at the inode limit")
	if u := e.statfs(e.a); u.Inodes != maxInodes {
		t.Errorf("statfs inodes %d, want %d", u.Inodes, maxInodes)
	}
	// An open unlinked file still holds its inode.
	e.open(e.a, f.Ino)
	_, err = e.a.Unlink(e.ctx, d.Ino, "f")
	e.must(err, "unlink")
	_, err = e.a.Unlink(e.ctx, e.dir, "f2")
	e.must(err, "unlink")
	_, err = e.a.Mknod(e.ctx, e.dir, "over", fileNode)
	e.errno(err, syscall.ENOSPC, "create while an unlinked file is open")
	e.release(e.a, f.Ino)
	e.mkfile(e.dir, "again")
	e.must(e.a.Rmdir(e.ctx, e.dir, "d"), "rmdir")
	e.mkdir(e.dir, "again2")
}

// testQuotaConcurrent: writers on two sessions race to fill the quota. Every refusal is ENOSPC, the accounting
// is exact afterwards, and the quota is passed by at most the writes that were in flight together (one per
// writer but the last admitted): a store may check the quota and then write, but must not lose track. Once the
// race is over, growing any file fails.
func testQuotaConcurrent(t *testing.T, newVolume NewVolume) {
	const capacity, workers, each, size = 64 << 10, 8, 4, 4 << 10
	e := freshEnv(t, newVolume, VolumeOptions{CapacityBytes: capacity, ChunkSize: ChunkSize})
	files := make([]store.Ino, workers)
	for i := range files {
		files[i] = e.mkfile(e.dir, fmt.Sprintf("f%d", i)).Ino
	}
	var mu sync.Mutex
	written := map[store.Ino]uint64{}
	parallel(workers, func(i int) {
		s := []store.Store{e.a, e.b}[i%2]
		for j := range each {
			_, err := s.Write(e.ctx, files[i], uint64(j*size), make([]byte, size))
			if err != nil {
				if !isErrno(err, syscall.ENOSPC) {
					t.Errorf("writer %d: %v, want success or ENOSPC", i, err)
				}
				return
			}
			mu.Lock()
			written[files[i]] += size
			mu.Unlock()
		}
	})
	var total uint64
	for _, ino := range files {
		total += written[ino]
		if a := e.getattr(e.a, ino); a.Size != written[ino] {
			t.Errorf("file %d: size %d, but %d bytes were written", ino, a.Size, written[ino])
		}
	}
	u := e.statfs(e.b)
	if u.Bytes != total {
		t.Errorf("statfs bytes %d, files hold %d", u.Bytes, total)
	}
	if total < capacity {
		t.Errorf("only %d of %d bytes admitted: ENOSPC before the quota was reached", total, capacity)
	}
	if total > capacity {
		t.Logf("concurrent writers passed the %d-byte quota by %d bytes", capacity, total-capacity)
	}
	if limit := uint64(capacity + (workers-1)*size); total > limit {
		t.Errorf("%d bytes admitted: more than the quota plus one write per other writer (%d)", total, limit)
	}
	_, err := e.a.Write(e.ctx, files[0], written[files[0]], []byte{1})
	e.errno(err, syscall.ENOSPC, "a growing write after the race")
}

// testQuotaInodesConcurrent: creators on two sessions race to the inode limit, with the same rules as
// testQuotaConcurrent: refusals are ENOSPC, the count is exact, the limit is passed by at most one create per
// other creator, and afterwards creating fails.
func testQuotaInodesConcurrent(t *testing.T, newVolume NewVolume) {
	const maxInodes, workers, each = 10, 6, 4
	e := freshEnv(t, newVolume, VolumeOptions{MaxInodes: maxInodes, ChunkSize: ChunkSize})
	var mu sync.Mutex
	created := 0
	parallel(workers, func(i int) {
		s := []store.Store{e.a, e.b}[i%2]
		for j := range each {
			_, err := s.Mknod(e.ctx, store.RootIno, fmt.Sprintf("n%d-%d", i, j), fileNode)
			if err != nil {
				if !isErrno(err, syscall.ENOSPC) {
					t.Errorf("creator %d: %v, want success or ENOSPC", i, err)
				}
				return
			}
			mu.Lock()
			created++
			mu.Unlock()
		}
	})
	inodes := uint64(1 + created)
	if u := e.statfs(e.a); u.Inodes != inodes {
		t.Errorf("statfs inodes %d, the tree holds %d", u.Inodes, inodes)
	}
	if got := len(e.names(e.b, store.RootIno)); got != created {
		t.Errorf("the root lists %d entries, %d creates succeeded", got, created)
	}
	if inodes < maxInodes {
		t.Errorf("only %d inodes admitted: ENOSPC before the limit of %d", inodes, maxInodes)
	}
	if inodes > maxInodes {
		t.Logf("concurrent creators passed the limit of %d inodes by %d", maxInodes, inodes-maxInodes)
	}
	if limit := uint64(maxInodes + workers - 1); inodes > limit {
		t.Errorf("%d inodes: more than the limit plus one per other creator (%d)", inodes, limit)
	}
	_, err := e.a.Mknod(e.ctx, store.RootIno, "after", dirNode)
	e.errno(err, syscall.ENOSPC, "a create after the race")
}
