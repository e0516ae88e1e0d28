package chunks

import (
	"context"
	"math/rand/v2"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

func TestRoundTrip(t *testing.T) {
	session, ks := testKeyspace(t)
	for _, codec := range []string{"zstd", "s2", "none"} {
		t.Run(codec, func(t *testing.T) {
			cfg := smallConfig()
			cfg.Codec = codec
			s := newStore(t, session, ks, cfg)
			r := rand.New(rand.NewPCG(1, 2))
			ino := uint64(100 + len(codec))
			data := append(compressible(r, 300<<10), randBytes(r, 200<<10)...)
			mustWrite(t, s, ino, 0, data)
			size := uint64(len(data))
			expectEqual(t, "read back (cached list)", mustRead(t, s, ino, 0, len(data), size), data)
			fresh := newStore(t, session, ks, cfg)
			expectEqual(t, "read back (fresh store)", mustRead(t, fresh, ino, 0, len(data), size), data)
			expectEqual(t, "middle", mustRead(t, fresh, ino, 12345, 100000, size), data[12345:112345])
			if got := mustRead(t, fresh, ino, size-10, 100, size); len(got) != 10 {
				t.Fatalf("read across EOF returned %d bytes, want 10", len(got))
			}
			if got := mustRead(t, fresh, ino, size, 100, size); len(got) != 0 {
				t.Fatalf("read at EOF returned %d bytes, want 0", len(got))
			}
			st := s.Stats()
			if codec != "none" && st.BytesStored >= st.BytesWritten {
				t.Errorf("codec %s stored %d bytes for %d written", codec, st.BytesStored, st.BytesWritten)
			}
			if codec == "none" && st.BytesStored != st.BytesWritten {
				t.Errorf("codec none stored %d bytes for %d written", st.BytesStored, st.BytesWritten)
			}
		})
	}
}

func TestPartialOverwritesAndHoles(t *testing.T) {
	session, ks := testKeyspace(t)
	s := newStore(t, session, ks, smallConfig())
	r := rand.New(rand.NewPCG(11, 12))
	const ino = 7
	model := make([]byte, 900<<10)
	write := func(off int, data []byte) {
		mustWrite(t, s, ino, uint64(off), data)
		copy(model[off:], data)
	}
	write(100<<10, randBytes(r, 300<<10))    // leaves a hole [0, 100 KiB)
	write(150<<10, randBytes(r, 10))         // tiny overwrite inside one block
	write(64<<10-3, randBytes(r, 70<<10))    // straddles block boundaries of the first slice
	write(390<<10, compressible(r, 100<<10)) // overlaps the first slice's end
	write(800<<10, randBytes(r, 100<<10))    // hole [490 KiB, 800 KiB)
	size := uint64(len(model))
	expectEqual(t, "own view", mustRead(t, s, ino, 0, len(model), size), model)
	other := newStore(t, session, ks, smallConfig())
	expectEqual(t, "other mount", mustRead(t, other, ino, 0, len(model), size), model)
	for i := 0; i < 50; i++ {
		off := r.IntN(len(model))
		n := 1 + r.IntN(len(model)-off)
		expectEqual(t, "random range", mustRead(t, other, ino, uint64(off), n, size), model[off:off+n])
	}
	// A never-written inode reads as zeros up to the size the caller knows.
	expectEqual(t, "never written", mustRead(t, other, 999, 0, 5000, 4000), make([]byte, 4000))
}

func TestChunkSpanningWrite(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	s := newStore(t, session, ks, cfg)
	r := rand.New(rand.NewPCG(13, 14))
	const ino = 8
	off := uint64(cfg.ChunkSize - 100<<10)
	data := randBytes(r, int(2*cfg.ChunkSize)+300<<10) // touches 4 chunks
	mustWrite(t, s, ino, off, data)
	size := off + uint64(len(data))
	want := append(make([]byte, off), data...)
	fresh := newStore(t, session, ks, cfg)
	expectEqual(t, "whole file", mustRead(t, fresh, ino, 0, int(size), size), want)
	expectEqual(t, "across a boundary", mustRead(t, fresh, ino, 2*cfg.ChunkSize-10, 20, size), want[2*cfg.ChunkSize-10:2*cfg.ChunkSize+10])
	for c := uint64(0); c < 4; c++ {
		n, err := fresh.SliceCount(context.Background(), ino, c)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("chunk %d has %d slices, want 1", c, n)
		}
	}
	// Every slice stays inside its chunk.
	for c := uint64(0); c < 4; c++ {
		l, err := fresh.loadList(context.Background(), ino, c)
		if err != nil {
			t.Fatal(err)
		}
		if l[0].end() > cfg.ChunkSize {
			t.Fatalf("chunk %d slice ends at %d, past the chunk", c, l[0].end())
		}
	}
}

func TestTruncateThenExtendReadsZeros(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	s := newStore(t, session, ks, cfg)
	r := rand.New(rand.NewPCG(15, 16))
	ctx := context.Background()
	const ino = 9
	data := randBytes(r, int(3*cfg.ChunkSize)) // 3 full chunks
	mustWrite(t, s, ino, 0, data)
	size := uint64(len(data))
	newSize := cfg.ChunkSize + 1234 // inside chunk 1
	if err := s.Truncate(ctx, ino, size, newSize); err != nil {
		t.Fatal(err)
	}
	// Extend back to the old size (the inode layer just raises the size): the tail must read as zeros.
	want := append(append([]byte{}, data[:newSize]...), make([]byte, size-newSize)...)
	expectEqual(t, "after truncate+extend (own)", mustRead(t, s, ino, 0, int(size), size), want)
	other := newStore(t, session, ks, cfg)
	expectEqual(t, "after truncate+extend (other mount)", mustRead(t, other, ino, 0, int(size), size), want)
	// Chunk 2 lies wholly past the new size: its data slices and blocks are gone, a zero marker remains.
	if n := dataSlices(t, other, ino, 2); n != 0 {
		t.Fatalf("chunk 2 keeps %d data slices", n)
	}
	// A write after the truncation, past it, reads back; the gap between stays zero.
	tail := randBytes(r, 5000)
	mustWrite(t, s, ino, 2*cfg.ChunkSize+10, tail)
	copy(want[2*cfg.ChunkSize+10:], tail)
	other.Invalidate(ino)
	expectEqual(t, "after truncate+write", mustRead(t, other, ino, 0, int(size), size), want)
	// Truncation at a chunk boundary to zero.
	if err := s.Truncate(ctx, ino, size, 0); err != nil {
		t.Fatal(err)
	}
	other.Invalidate(ino)
	expectEqual(t, "truncated to 0 and extended", mustRead(t, other, ino, 0, int(size), size), make([]byte, size))
	if n := countRows(t, session, ks, "blocks"); n != 0 {
		t.Fatalf("%d blocks left after truncating to 0", n)
	}
}

// dataSlices counts the stored slices of (ino, chunk) that hold data, and checks that the rest are zero slices.
func dataSlices(t testing.TB, s *Store, ino, chunk uint64) int {
	t.Helper()
	l, err := s.loadList(context.Background(), ino, chunk)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sl := range l {
		if !sl.zero {
			n++
		}
	}
	return n
}

// countRows counts the rows of a table of the test keyspace.
func countRows(t testing.TB, session *gocql.Session, ks, table string) int {
	t.Helper()
	var n int64
	if err := session.Query(`SELECT COUNT(*) FROM ` + ks + `.` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return int(n)
}

func TestDeleteRemovesRows(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	s := newStore(t, session, ks, cfg)
	r := rand.New(rand.NewPCG(17, 18))
	ctx := context.Background()
	const ino, keep = 10, 11
	mustWrite(t, s, keep, 0, randBytes(r, 1000))
	mustWrite(t, s, ino, 0, randBytes(r, int(cfg.ChunkSize)+5000))
	mustWrite(t, s, ino, 3000, randBytes(r, 300<<10))
	size := cfg.ChunkSize + 5000
	if countRows(t, session, ks, "blocks") < 10 {
		t.Fatal("expected blocks before Delete")
	}
	if err := s.Delete(ctx, ino, size); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ino, size); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if n := countRows(t, session, ks, "slices"); n != 1 {
		t.Fatalf("%d slices left, want only the other inode's 1", n)
	}
	if n := countRows(t, session, ks, "blocks"); n != 1 {
		t.Fatalf("%d blocks left, want only the other inode's 1", n)
	}
	if n := countRows(t, session, ks, "file_chunks"); n != 1 {
		t.Fatalf("%d chunk index rows left, want only the other inode's 1", n)
	}
	expectEqual(t, "deleted inode", mustRead(t, s, ino, 0, 100, 100), make([]byte, 100))
}

// A sparse file costs what it holds: truncating and deleting a file with bytes at 0 and at 1 TiB visits two
// chunks, not a million.
func TestSparseFileTruncateAndDelete(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig() // 1 MiB chunks: 1 TiB is 2^20 chunks
	s := newStore(t, session, ks, cfg)
	ctx := context.Background()
	const ino = 12
	const far = uint64(1) << 40
	mustWrite(t, s, ino, 0, []byte("head"))
	mustWrite(t, s, ino, far, []byte("tail"))
	size := far + 4
	if got := mustRead(t, s, ino, far-2, 10, size); string(got) != "\x00\x00tail" {
		t.Fatalf("read near 1 TiB = %q", got)
	}
	before := s.Stats().RoundTrips
	if err := s.Truncate(ctx, ino, size, 2); err != nil {
		t.Fatal(err)
	}
	if trips := s.Stats().RoundTrips - before; trips > 20 {
		t.Fatalf("truncating a 2-chunk sparse file took %d round trips", trips)
	}
	other := newStore(t, session, ks, cfg)
	if got := mustRead(t, other, ino, 0, 10, 10); string(got) != "he\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("after truncation to 2 and extension: %q", got)
	}
	if got := mustRead(t, other, ino, far-2, 10, size); string(got) != "\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("after truncation, near 1 TiB: %q", got)
	}
	before = s.Stats().RoundTrips
	if err := s.Delete(ctx, ino, size); err != nil {
		t.Fatal(err)
	}
	if trips := s.Stats().RoundTrips - before; trips > 20 {
		t.Fatalf("deleting a 2-chunk sparse file took %d round trips", trips)
	}
	for _, table := range []string{"slices", "blocks", "file_chunks"} {
		if n := countRows(t, session, ks, table); n != 0 {
			t.Fatalf("%d rows left in %s", n, table)
		}
	}
}
