package cassandra

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// TestSparseLargeFile writes ~200 MiB in 200 scattered, unaligned 1 MiB writes (crossing block and chunk
// boundaries) into a 2 GiB sparse file with the volume's default 64 MiB chunks and 1 MiB blocks, then reads
// the whole 2 GiB back from a second session and compares it, buffer by buffer and by SHA-256, with the
// expected content (holes are zeros).
func TestSparseLargeFile(t *testing.T) {
	const (
		size    = 2 << 30
		writes  = 200
		writeSz = 1 << 20
	)
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	a := openVolume(t, c, info.Spec.ID, "writer", nil)
	b := openVolume(t, c, info.Spec.ID, "reader", nil)
	ctx := context.Background()
	f, err := a.Mknod(ctx, 1, "sparse", newFile())
	must(t, err)

	// Non-overlapping write positions: one per 10 MiB slot, at a random unaligned offset inside it.
	rng := rand.New(rand.NewPCG(42, 1))
	type w struct{ off, seed uint64 }
	var ws []w
	slot := uint64(size / writes)
	for i := 0; i < writes; i++ {
		ws = append(ws, w{uint64(i)*slot + rng.Uint64N(slot-writeSz), rng.Uint64()})
	}
	gen := func(seed uint64) []byte {
		buf := make([]byte, writeSz)
		r := rand.New(rand.NewPCG(seed, seed))
		for i := 0; i < len(buf); i += 8 {
			v := r.Uint64()
			for k := 0; k < 8; k++ {
				buf[i+k] = byte(v >> (8 * k))
			}
		}
		return buf
	}
	start := time.Now()
	for _, i := range rng.Perm(len(ws)) { // scattered order
		_, err := a.Write(ctx, f.Ino, ws[i].off, gen(ws[i].seed))
		must(t, err)
	}
	attr, err := a.Write(ctx, f.Ino, size-1, []byte{0x5a})
	must(t, err)
	if attr.Size != size {
		t.Fatalf("size %d", attr.Size)
	}
	t.Logf("wrote %d MiB in %v", writes*writeSz>>20, time.Since(start))

	_, err = b.Open(ctx, f.Ino)
	must(t, err)
	sort.Slice(ws, func(i, j int) bool { return ws[i].off < ws[j].off })
	const bufSz = 16 << 20
	got, want := make([]byte, bufSz), make([]byte, bufSz)
	hGot, hWant := sha256.New(), sha256.New()
	start = time.Now()
	for off := uint64(0); off < size; off += bufSz {
		n, err := b.Read(ctx, f.Ino, off, got)
		must(t, err)
		if n != bufSz {
			t.Fatalf("read at %d returned %d bytes", off, n)
		}
		clear(want)
		for _, x := range ws {
			if x.off+writeSz <= off || x.off >= off+bufSz {
				continue
			}
			data := gen(x.seed)
			lo, hi := max(x.off, off), min(x.off+writeSz, off+bufSz)
			copy(want[lo-off:hi-off], data[lo-x.off:hi-x.off])
		}
		if off+bufSz == size {
			want[bufSz-1] = 0x5a
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("content differs in [%d, %d)", off, off+bufSz)
		}
		hGot.Write(got)
		hWant.Write(want)
	}
	if !bytes.Equal(hGot.Sum(nil), hWant.Sum(nil)) {
		t.Fatal("checksums differ")
	}
	t.Logf("read and checked 2 GiB in %v, sha256 %x", time.Since(start), hGot.Sum(nil))
	u, err := a.StatFS(ctx)
	must(t, err)
	if u.Bytes != size {
		t.Fatalf("usage %d bytes", u.Bytes)
	}
	must(t, b.Release(ctx, f.Ino))
}
