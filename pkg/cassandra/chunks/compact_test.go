package chunks

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// writeRandom writes n random overlapping pieces into chunk 0 of ino and returns the model.
func writeRandom(t *testing.T, s *Store, ino uint64, r *rand.Rand, n, span int) []byte {
	t.Helper()
	model := make([]byte, span)
	for i := 0; i < n; i++ {
		off := r.IntN(span - 1)
		l := 1 + r.IntN(min(span-off, 80000))
		d := compressible(r, l)
		if i%2 == 0 {
			d = randBytes(r, l)
		}
		mustWrite(t, s, ino, uint64(off), d)
		copy(model[off:], d)
	}
	return model
}

// mergedCount is the number of slices a compaction of chunk 0 of ino should produce now (one per run).
func mergedCount(t *testing.T, s *Store, ino uint64) int {
	t.Helper()
	l, err := s.loadList(context.Background(), ino, 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(runs(plan(l, 0, s.cfg.ChunkSize), uint64(s.cfg.BlockSize)))
}

func TestCompactPreservesContentAndReducesSlices(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	var hinted []int
	cfg.CompactThreshold = 20
	cfg.OnManySlices = func(ino, chunk uint64, n int) { hinted = append(hinted, n) }
	s := newStore(t, session, ks, cfg)
	r := rand.New(rand.NewPCG(31, 32))
	ctx := context.Background()
	const ino = 30
	model := writeRandom(t, s, ino, r, 30, 900<<10)
	if err := s.Truncate(ctx, ino, uint64(len(model)), 800<<10); err != nil { // adds a zero slice
		t.Fatal(err)
	}
	clear(model[800<<10:])
	size := uint64(len(model))
	before, _ := s.SliceCount(ctx, ino, 0)
	if before != 31 {
		t.Fatalf("%d slices before compaction, want 31", before)
	}
	if len(hinted) == 0 || hinted[0] != 21 {
		t.Fatalf("OnManySlices calls %v, want the first at 21 slices", hinted)
	}
	blocksBefore := countRows(t, session, ks, "blocks")
	want := mergedCount(t, s, ino)
	if err := s.Compact(ctx, ino, 0); err != nil {
		t.Fatal(err)
	}
	after, _ := s.SliceCount(ctx, ino, 0)
	fresh := newStore(t, session, ks, cfg)
	freshCount, _ := fresh.SliceCount(ctx, ino, 0)
	if after != want || freshCount != after || after > 3 {
		t.Fatalf("after compaction: %d slices cached, %d stored; want %d (at most 3)", after, freshCount, want)
	}
	if n := countRows(t, session, ks, "blocks"); n >= blocksBefore || n > 13 {
		t.Fatalf("blocks: %d before, %d after compaction (want at most 13 for 800 KiB)", blocksBefore, n)
	}
	expectEqual(t, "own view after compaction", mustRead(t, s, ino, 0, len(model), size), model)
	expectEqual(t, "fresh view after compaction", mustRead(t, fresh, ino, 0, len(model), size), model)
	// Compacting again changes nothing.
	if err := s.Compact(ctx, ino, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.SliceCount(ctx, ino, 0); n != after {
		t.Fatalf("second compaction: %d slices, want %d", n, after)
	}
}

func TestCompactKeepsConcurrentWrites(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	s := newStore(t, session, ks, cfg)
	other := newStore(t, session, ks, cfg)
	r := rand.New(rand.NewPCG(33, 34))
	ctx := context.Background()
	const ino = 31
	model := writeRandom(t, s, ino, r, 20, 700<<10)
	size := uint64(len(model))
	merged := mergedCount(t, s, ino)
	w1, w2 := randBytes(r, 30000), randBytes(r, 20000)
	s.afterCompactRead = func() {
		// Writes that land while the compaction runs: one by the compacting mount, one by another mount.
		mustWrite(t, s, ino, 100000, w1)
		mustWrite(t, other, ino, 400000, w2)
	}
	if err := s.Compact(ctx, ino, 0); err != nil {
		t.Fatal(err)
	}
	s.afterCompactRead = nil
	copy(model[100000:], w1)
	copy(model[400000:], w2)
	for name, st := range map[string]*Store{"compactor": s, "other": other, "fresh": newStore(t, session, ks, cfg)} {
		st.Invalidate(ino)
		expectEqual(t, name+" after compaction with concurrent writes", mustRead(t, st, ino, 0, len(model), size), model)
	}
	if n, _ := s.SliceCount(ctx, ino, 0); n != merged+2 {
		t.Fatalf("%d slices, want the %d merged ones plus the 2 concurrent writes", n, merged)
	}
}

func TestCompactLeavesUnsettledSlices(t *testing.T) {
	session, ks := testKeyspace(t)
	cfgOld := smallConfig()
	cfgOld.Now = offsetClock(-2 * time.Hour) // writes stamped two hours ago
	cfg := smallConfig()
	cfg.CompactSettle = time.Hour
	old := newStore(t, session, ks, cfgOld)
	s := newStore(t, session, ks, cfg)
	r := rand.New(rand.NewPCG(35, 36))
	ctx := context.Background()
	const ino = 32
	model := writeRandom(t, old, ino, r, 10, 500<<10)
	// Recent writes by s: they must stay as they are (they are not settled).
	merged := mergedCount(t, s, ino)
	s.Invalidate(ino)
	for i := 0; i < 3; i++ {
		d := randBytes(r, 20000)
		off := 50000 * (i + 1)
		mustWrite(t, s, ino, uint64(off), d)
		copy(model[off:], d)
	}
	if err := s.Compact(ctx, ino, 0); err != nil {
		t.Fatal(err)
	}
	l, err := s.loadList(ctx, ino, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != merged+3 {
		t.Fatalf("%d slices after compaction, want %d merged + 3 recent", len(l), merged)
	}
	for _, sl := range l[merged:] {
		if sl.key.writer != s.WriterID() || sl.key.gen != 0 {
			t.Fatalf("recent slice %+v was touched", sl.key)
		}
	}
	size := uint64(len(model))
	expectEqual(t, "content after partial compaction", mustRead(t, newStore(t, session, ks, cfg), ino, 0, len(model), size), model)
}

func TestConcurrentCompactions(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	a := newStore(t, session, ks, cfg)
	b := newStore(t, session, ks, cfg)
	r := rand.New(rand.NewPCG(37, 38))
	ctx := context.Background()
	const ino = 33
	model := writeRandom(t, a, ino, r, 25, 800<<10)
	size := uint64(len(model))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, st := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Compact(ctx, ino, 0)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrCompactRace) {
			t.Fatal(err)
		}
	}
	for name, st := range map[string]*Store{"a": a, "b": b, "fresh": newStore(t, session, ks, cfg)} {
		st.Invalidate(ino)
		expectEqual(t, name+" after concurrent compactions", mustRead(t, st, ino, 0, len(model), size), model)
	}
	if err := a.Compact(ctx, ino, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.SliceCount(ctx, ino, 0); n != 1 {
		t.Fatalf("%d slices after a final compaction, want 1", n)
	}
	expectEqual(t, "after final compaction", mustRead(t, b, ino, 0, len(model), size), model)
}

// A compaction that read the chunk before a truncation (or before another compaction that merged a truncation)
// and lands its merged slice afterwards must not bring the truncated bytes back.
func TestLateCompactionResultStaysHidden(t *testing.T) {
	for _, tc := range []struct {
		name     string
		truncate uint64 // new size, inside chunk 0 (0: the whole chunk)
		compact  bool   // another mount compacts after truncating
	}{
		{"truncate whole chunk", 0, false},
		{"truncate inside chunk", 300 << 10, false},
		{"truncate then another compaction", 300 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			session, ks := testKeyspace(t)
			cfg := smallConfig()
			slow := newStore(t, session, ks, cfg)
			other := newStore(t, session, ks, cfg)
			r := rand.New(rand.NewPCG(39, uint64(tc.truncate)))
			ctx := context.Background()
			const ino = 34
			model := writeRandom(t, slow, ino, r, 15, 900<<10)
			size := uint64(len(model))
			slow.afterCompactRead = func() {
				other.Invalidate(ino)
				if err := other.Truncate(ctx, ino, size, tc.truncate); err != nil {
					t.Error(err)
				}
				if tc.compact {
					if err := other.Compact(ctx, ino, 0); err != nil {
						t.Error(err)
					}
				}
			}
			if err := slow.Compact(ctx, ino, 0); err != nil {
				t.Fatal(err)
			}
			clear(model[tc.truncate:])
			// The file is extended back to its old size: the tail must read as zeros on every mount.
			for name, st := range map[string]*Store{"slow": slow, "other": other, "fresh": newStore(t, session, ks, cfg)} {
				st.Invalidate(ino)
				expectEqual(t, name+" after a late compaction", mustRead(t, st, ino, 0, len(model), size), model)
			}
		})
	}
}

func TestCompactorCompactsHintedChunks(t *testing.T) {
	session, ks := testKeyspace(t)
	cfg := smallConfig()
	cfg.CompactThreshold = 10
	var mu sync.Mutex
	var locked []uint64
	comp := NewCompactor(func(ctx context.Context, ino uint64) (func(), error) {
		mu.Lock()
		defer mu.Unlock()
		locked = append(locked, ino)
		return func() {}, nil
	}, nil)
	cfg.OnManySlices = comp.Hint
	s := newStore(t, session, ks, cfg)
	comp.Start(s)
	defer comp.Close()
	r := rand.New(rand.NewPCG(43, 44))
	ctx := context.Background()
	const ino = 35
	model := writeRandom(t, s, ino, r, 14, 500<<10)
	if err := comp.Drain(ctx); err != nil { // whatever the worker has not done yet
		t.Fatal(err)
	}
	mu.Lock()
	if len(locked) == 0 {
		t.Fatal("the compactor never took the inode lock")
	}
	for _, ino2 := range locked {
		if ino2 != ino {
			t.Fatalf("lock taken for inode %d", ino2)
		}
	}
	mu.Unlock()
	if n, _ := s.SliceCount(ctx, ino, 0); n > 10 {
		t.Fatalf("%d slices after the compactor ran", n)
	}
	expectEqual(t, "after background compaction", mustRead(t, newStore(t, session, ks, cfg), ino, 0, len(model), uint64(len(model))), model)
}
