package chunks

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Two Stores are two mounts of one volume.

func TestTwoMountsDisjointConcurrentWrites(t *testing.T) {
	session, ks := testKeyspace(t)
	cfgA, cfgB := smallConfig(), smallConfig()
	cfgB.Now = offsetClock(-time.Hour) // skew must not matter for disjoint ranges
	a := newStore(t, session, ks, cfgA)
	b := newStore(t, session, ks, cfgB)
	const ino, piece = 20, 10000
	const pieces = 40 // 400 KB in one 1 MiB chunk, interleaved between the mounts
	r := rand.New(rand.NewPCG(21, 22))
	model := randBytes(r, pieces*piece)
	// Both mounts have read the (empty) chunk first, as an open would.
	mustRead(t, a, ino, 0, 10, 10)
	mustRead(t, b, ino, 0, 10, 10)
	var wg sync.WaitGroup
	errs := make(chan error, pieces)
	for i := 0; i < pieces; i++ {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func(st *Store, i int) {
			defer wg.Done()
			errs <- st.Write(context.Background(), ino, uint64(i*piece), model[i*piece:(i+1)*piece])
		}(st, i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	size := uint64(len(model))
	for _, st := range []*Store{a, b, newStore(t, session, ks, smallConfig())} {
		st.Invalidate(ino)
		expectEqual(t, "after concurrent disjoint writes", mustRead(t, st, ino, 0, len(model), size), model)
	}
}

func TestCausalOrderingDespiteClockSkew(t *testing.T) {
	session, ks := testKeyspace(t)
	cfgB := smallConfig()
	cfgB.Now = offsetClock(-time.Hour) // B's clock is an hour behind A's
	a := newStore(t, session, ks, smallConfig())
	b := newStore(t, session, ks, cfgB)
	r := rand.New(rand.NewPCG(23, 24))
	const ino = 21
	x, y := randBytes(r, 100000), randBytes(r, 100000)
	mustWrite(t, a, ino, 0, x)
	size := uint64(len(x))
	// B opens (invalidates), reads A's bytes, then overwrites them.
	b.Invalidate(ino)
	expectEqual(t, "B sees A's write", mustRead(t, b, ino, 0, len(x), size), x)
	mustWrite(t, b, ino, 0, y)
	expectEqual(t, "B reads its own overwrite", mustRead(t, b, ino, 0, len(y), size), y)
	a.Invalidate(ino)
	expectEqual(t, "A reads B's overwrite", mustRead(t, a, ino, 0, len(y), size), y)
	// The same holds for a blind overwrite (no read first) by a third mount that just opened the file.
	cfgC := smallConfig()
	cfgC.Now = offsetClock(-2 * time.Hour)
	c := newStore(t, session, ks, cfgC)
	z := randBytes(r, 50000)
	mustWrite(t, c, ino, 25000, z)
	want := append(append(append([]byte{}, y[:25000]...), z...), y[75000:]...)
	for name, st := range map[string]*Store{"A": a, "B": b, "C": c} {
		st.Invalidate(ino)
		expectEqual(t, name+" reads C's blind overwrite", mustRead(t, st, ino, 0, len(want), size), want)
	}
	// And the ordering is what made it so: C's slice sorts last although its clock is two hours behind.
	l, err := a.loadList(context.Background(), ino, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := l[len(l)-1].key.writer; last != c.WriterID() {
		t.Fatalf("newest slice is by writer %d, want C (%d)", last, c.WriterID())
	}
	if wall := time.Now().Add(-2 * time.Hour).UnixNano(); l[len(l)-1].key.ts <= wall {
		t.Fatalf("C's slice has its own (skewed) wall time %d: the clock did not advance past what it read", l[len(l)-1].key.ts)
	}
}

// A mount whose cached slice list predates another mount's compaction finds the old blocks gone, reloads the
// list and still reads the right bytes.
func TestStaleReaderAfterCompaction(t *testing.T) {
	session, ks := testKeyspace(t)
	cfgR := smallConfig()
	cfgR.CacheBytes = -1 // no block cache, so the reader must fetch the (deleted) old blocks
	reader := newStore(t, session, ks, cfgR)
	writer := newStore(t, session, ks, smallConfig())
	r := rand.New(rand.NewPCG(25, 26))
	const ino = 22
	model := make([]byte, 600<<10)
	for i := 0; i < 12; i++ {
		off := r.IntN(len(model) - 50000)
		d := randBytes(r, 50000)
		mustWrite(t, writer, ino, uint64(off), d)
		copy(model[off:], d)
	}
	mustWrite(t, writer, ino, uint64(len(model)-1), []byte{1})
	model[len(model)-1] = 1
	size := uint64(len(model))
	expectEqual(t, "before compaction", mustRead(t, reader, ino, 0, len(model), size), model)
	if err := writer.Compact(context.Background(), ino, 0); err != nil {
		t.Fatal(err)
	}
	// No Invalidate: the reader's list is stale and names deleted blocks.
	expectEqual(t, "stale reader after compaction", mustRead(t, reader, ino, 0, len(model), size), model)
}

// Deletions by a mount whose clock is behind the writer's must still take effect (tombstones are stamped past
// what the deleting mount has read, not with its wall clock).
func TestLaggingMountTruncatesAndDeletes(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	cfgLag := smallConfig()
	cfgLag.Now = offsetClock(-time.Hour)
	a := newStore(t, session, ks, cfg)
	lag := newStore(t, session, ks, cfgLag)
	r := rand.New(rand.NewPCG(27, 28))
	ctx := context.Background()
	const ino = 23
	data := randBytes(r, int(2*cfg.ChunkSize))
	mustWrite(t, a, ino, 0, data)
	size := uint64(len(data))
	lag.Invalidate(ino)
	if err := lag.Truncate(ctx, ino, size, 1000); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, data[:1000]...), make([]byte, size-1000)...)
	fresh := newStore(t, session, ks, cfg)
	expectEqual(t, "truncated by a lagging mount, then extended", mustRead(t, fresh, ino, 0, int(size), size), want)
	if n := dataSlices(t, fresh, ino, 1); n != 0 {
		t.Fatalf("chunk 1 keeps %d data slices after truncation by a lagging mount", n)
	}
	if err := lag.Delete(ctx, ino, size); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, session, ks, "slices"); n != 0 {
		t.Fatalf("%d slices left after Delete by a lagging mount", n)
	}
	if n := countRows(t, session, ks, "blocks"); n != 0 {
		t.Fatalf("%d blocks left after Delete by a lagging mount", n)
	}
	if n := countRows(t, session, ks, "file_chunks"); n != 0 {
		t.Fatalf("%d chunk index rows left after Delete by a lagging mount", n)
	}
}

// Two mounts keep overwriting their own (interleaved) stripes of one chunk while a third compacts it over and
// over, with a real settle window: at the end every stripe holds the last bytes its owner wrote.
func TestConcurrentWritersAndCompactor(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	cfg.CompactSettle = 3 * time.Second
	writers := []*Store{newStore(t, session, ks, cfg), newStore(t, session, ks, cfg)}
	compactor := newStore(t, session, ks, cfg)
	const ino, stripe, stripes, rounds = 24, 16 << 10, 48, 100
	model := make([]byte, stripe*stripes)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for w, st := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 29))
			for i := 0; i < rounds; i++ {
				k := 2*r.IntN(stripes/2) + w // this writer's stripes
				d := randBytes(r, stripe)
				if err := st.Write(ctx, ino, uint64(k*stripe), d); err != nil {
					errs <- err
					return
				}
				copy(model[k*stripe:], d)         // stripes are disjoint: no lock needed
				time.Sleep(60 * time.Millisecond) // pace the writes past the settle window (speed changes nothing else)
			}
		}()
	}
	stop := make(chan struct{})
	compacted := 0
	go func() {
		defer close(errs)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := compactor.Compact(ctx, ino, 0); err != nil && !errors.Is(err, ErrCompactRace) {
				errs <- err
				return
			}
			compacted++
			time.Sleep(20 * time.Millisecond) // spare the shared server
		}
	}()
	wg.Wait()
	close(stop)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d compaction passes, %d merged slices written", compacted, compactor.Stats().SlicesWritten)
	size := uint64(len(model))
	for name, st := range map[string]*Store{"writer 0": writers[0], "writer 1": writers[1], "compactor": compactor} {
		st.Invalidate(ino)
		expectEqual(t, name+" after concurrent writers and compactor", mustRead(t, st, ino, 0, len(model), size), model)
	}
}

// Close-to-open: a mount keeps its cached view until Invalidate, then sees the other mount's write.
func TestInvalidateShowsOtherMountsWrites(t *testing.T) {
	session, ks := testKeyspace(t)
	a := newStore(t, session, ks, smallConfig())
	b := newStore(t, session, ks, smallConfig())
	const ino = 25
	mustWrite(t, a, ino, 0, []byte("first"))
	expectEqual(t, "b reads", mustRead(t, b, ino, 0, 5, 5), []byte("first"))
	mustWrite(t, a, ino, 0, []byte("again"))
	expectEqual(t, "b before Invalidate (cached list)", mustRead(t, b, ino, 0, 5, 5), []byte("first"))
	b.Invalidate(ino)
	expectEqual(t, "b after Invalidate", mustRead(t, b, ino, 0, 5, 5), []byte("again"))
}

// Sequential reads cost one fetch per block and one list load per chunk; reading again costs nothing.
func TestReadRoundTripsAndCache(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig() // 64 KiB blocks, 1 MiB chunks
	w := newStore(t, session, ks, cfg)
	r := rand.New(rand.NewPCG(51, 52))
	const ino = 26
	data := randBytes(r, 1<<20)
	mustWrite(t, w, ino, 0, data)
	s := newStore(t, session, ks, cfg)
	for off := 0; off < len(data); off += 128 << 10 {
		expectEqual(t, "sequential read", mustRead(t, s, ino, uint64(off), 128<<10, uint64(len(data))), data[off:off+128<<10])
	}
	st := s.Stats()
	if st.RoundTrips != 1+16 || st.CacheMisses != 16 || st.ListMisses != 1 {
		t.Fatalf("first pass: %+v; want 17 round trips (1 list + 16 blocks)", st)
	}
	for off := 0; off < len(data); off += 4096 {
		mustRead(t, s, ino, uint64(off), 4096, uint64(len(data)))
	}
	if st2 := s.Stats(); st2.RoundTrips != st.RoundTrips || st2.CacheHits < 256 {
		t.Fatalf("second pass: %+v; want no round trips and 256 cache hits", st2)
	}
}
