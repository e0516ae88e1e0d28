package chunks

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Unit tests of the pure logic: no server needed.

// winners is the brute-force model of plan: for every byte of [0, n), the index of the newest slice covering it
// (-1 for none or a zero slice).
func winners(l []slice, n uint64) []int {
	w := make([]int, n)
	for i := range w {
		w[i] = -1
	}
	for i := range l { // oldest first: later ones overwrite
		for x := l[i].pos; x < l[i].end() && x < n; x++ {
			if l[i].zero {
				w[x] = srcZero
			} else {
				w[x] = i
			}
		}
	}
	return w
}

func randomSlices(r *rand.Rand, n int, size uint64) []slice {
	l := make([]slice, n)
	for i := range l {
		pos := r.Uint64N(size)
		l[i] = slice{
			key:   sliceKey{ts: int64(r.IntN(50)), writer: int64(r.IntN(3)), gen: int64(r.IntN(2))},
			pos:   pos,
			bsize: 1 + r.Uint64N(16),
			zero:  r.IntN(5) == 0,
		}
		l[i].length = 1 + r.Uint64N(size-pos)
	}
	sortSlices(l)
	return l
}

func TestPlanMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const size = 200
	for iter := 0; iter < 2000; iter++ {
		l := randomSlices(r, r.IntN(12), size)
		w := winners(l, size)
		a := r.Uint64N(size)
		b := a + r.Uint64N(size-a+1)
		segs := plan(l, a, b)
		next := a
		for k, sg := range segs {
			if sg.off != next || sg.length == 0 {
				t.Fatalf("iter %d: segment %d = %+v, want it to start at %d and be non-empty", iter, k, sg, next)
			}
			if k > 0 && segs[k-1].src == sg.src {
				t.Fatalf("iter %d: neighbouring segments %d and %d not merged", iter, k-1, k)
			}
			for x := sg.off; x < sg.off+sg.length; x++ {
				if w[x] != sg.src {
					t.Fatalf("iter %d: byte %d from %d, model says %d (slices %+v)", iter, x, sg.src, w[x], l)
				}
			}
			next = sg.off + sg.length
		}
		if next != b && a < b {
			t.Fatalf("iter %d: plan of [%d,%d) ends at %d", iter, a, b, next)
		}
		if a == b && len(segs) != 0 {
			t.Fatalf("iter %d: empty range planned %v", iter, segs)
		}
	}
}

func TestPiecesCoverSegment(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 1000; iter++ {
		s := slice{pos: r.Uint64N(100), length: 1 + r.Uint64N(300), bsize: 1 + r.Uint64N(40)}
		off := s.pos + r.Uint64N(s.length)
		sg := segment{off: off, length: 1 + r.Uint64N(s.end()-off)}
		dst := r.Uint64N(50)
		var total uint64
		for _, pc := range pieces(&s, sg, dst) {
			if pc.dst != dst+total {
				t.Fatalf("piece %+v not contiguous (want dst %d)", pc, dst+total)
			}
			// The byte at chunk offset sg.off+total is byte (that - s.pos) of the slice.
			rel := sg.off + total - s.pos
			if uint64(pc.block)*s.bsize+pc.within != rel {
				t.Fatalf("piece %+v maps to slice byte %d, want %d", pc, uint64(pc.block)*s.bsize+pc.within, rel)
			}
			if pc.within+pc.length > s.blockLen(pc.block) {
				t.Fatalf("piece %+v runs past its block (len %d)", pc, s.blockLen(pc.block))
			}
			total += pc.length
		}
		if total != sg.length {
			t.Fatalf("pieces cover %d bytes of %d", total, sg.length)
		}
	}
}

func TestRuns(t *testing.T) {
	segs := []segment{
		{0, 10, srcHole}, {10, 5, 0}, {15, 3, srcZero}, {18, 2, 1}, {20, 50, srcHole}, {70, 1, 2}, {71, 9, srcZero},
		{80, 20, srcHole}, {100, 5, srcZero},
	}
	got := runs(segs, 10)
	want := []run{{10, 20, false}, {70, 71, false}, {71, 80, true}, {100, 105, true}}
	if len(got) != len(want) {
		t.Fatalf("runs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("runs = %v, want %v", got, want)
		}
	}
	if got := runs([]segment{{0, 100, srcHole}}, 10); len(got) != 0 {
		t.Fatalf("runs of a hole = %v", got)
	}
	if got := runs([]segment{{0, 50, srcZero}, {50, 50, srcHole}}, 10); len(got) != 1 || !got[0].zero {
		t.Fatalf("runs of a zero slice = %v", got)
	}
}

func TestWithSliceKeepsOrder(t *testing.T) {
	var l []slice
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 200; i++ {
		old := l
		l = withSlice(l, slice{key: sliceKey{ts: int64(r.IntN(100)), writer: int64(r.IntN(4)), gen: int64(i)}})
		if len(old) == len(l) {
			t.Fatal("withSlice did not grow the list")
		}
	}
	for i := 1; i < len(l); i++ {
		if l[i].key.less(l[i-1].key) {
			t.Fatalf("list out of order at %d", i)
		}
	}
}

func TestHLC(t *testing.T) {
	base := time.Unix(1000, 0)
	var wall atomic.Int64
	wall.Store(base.UnixNano())
	c := hlc{now: func() time.Time { return time.Unix(0, wall.Load()) }}
	a := c.next()
	if a != base.UnixNano() {
		t.Fatalf("first = %d, want the wall clock %d", a, base.UnixNano())
	}
	if b := c.next(); b <= a {
		t.Fatalf("clock did not advance: %d then %d", a, b)
	}
	// A timestamp from a machine an hour ahead: the next value must pass it although our wall clock is behind.
	ahead := base.Add(time.Hour).UnixNano()
	c.observe(ahead)
	if v := c.next(); v <= ahead {
		t.Fatalf("after observing %d, next = %d", ahead, v)
	}
	c.observe(1) // observing the past changes nothing
	if v := c.next(); v <= ahead+1 {
		t.Fatalf("clock went back to %d", v)
	}
	wall.Store(base.Add(2 * time.Hour).UnixNano())
	if v := c.next(); v != wall.Load() {
		t.Fatalf("clock ignores a wall clock that caught up: %d", v)
	}
}

func TestBlockCacheBoundAndSingleFlight(t *testing.T) {
	c := newBlockCache(100)
	var fetches atomic.Int64
	gate := make(chan struct{})
	fetch := func(context.Context) ([]byte, error) {
		fetches.Add(1)
		<-gate
		return make([]byte, 40), nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := c.get(context.Background(), blockID{1, 1}, fetch); err != nil {
				t.Error(err)
			}
		}()
	}
	for c.waiting(blockID{1, 1}) == false {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("8 concurrent misses fetched %d times, want 1", n)
	}
	for i := int64(2); i < 10; i++ {
		if _, _, err := c.get(context.Background(), blockID{1, i}, fetch); err != nil {
			t.Fatal(err)
		}
		if c.bytes() > 100 {
			t.Fatalf("cache holds %d bytes, bound 100", c.bytes())
		}
	}
	if _, hit, _ := c.get(context.Background(), blockID{1, 9}, fetch); !hit {
		t.Fatal("most recent block was evicted")
	}
	if _, hit, _ := c.get(context.Background(), blockID{1, 1}, fetch); hit {
		t.Fatal("least recent block was not evicted")
	}
	big := func(context.Context) ([]byte, error) { return make([]byte, 500), nil }
	if _, _, err := c.get(context.Background(), blockID{2, 0}, big); err != nil || c.bytes() > 100 {
		t.Fatalf("oversized block: err %v, cache %d bytes", err, c.bytes())
	}
	boom := errors.New("boom")
	if _, _, err := c.get(context.Background(), blockID{3, 0}, func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("fetch error = %v", err)
	}
}

func TestListCacheGenerations(t *testing.T) {
	c := newListCache(1000)
	_, ok, gen := c.get(1, 0)
	if ok {
		t.Fatal("empty cache hit")
	}
	// An own write lands while a load is in flight: the load must not be cached.
	c.update(1, 0, func(l []slice) []slice { return l })
	c.put(1, 0, []slice{{}}, gen)
	if _, ok, _ := c.get(1, 0); ok {
		t.Fatal("a load that raced with a write was cached")
	}
	_, _, gen = c.get(1, 0)
	c.invalidate(1)
	c.put(1, 0, []slice{{}}, gen)
	if _, ok, _ := c.get(1, 0); ok {
		t.Fatal("a load that raced with Invalidate was cached")
	}
	_, _, gen = c.get(1, 0)
	c.put(1, 0, []slice{{}}, gen)
	if l, ok, _ := c.get(1, 0); !ok || len(l) != 1 {
		t.Fatal("an undisturbed load was not cached")
	}
	if n := c.update(1, 0, func(l []slice) []slice { return withSlice(l, slice{key: sliceKey{ts: 9}}) }); n != 2 {
		t.Fatalf("update gave %d slices, want 2", n)
	}
	// The bound on slices evicts the least recently used inodes.
	for ino := uint64(2); ino < 50; ino++ {
		_, _, g := c.get(ino, 0)
		c.put(ino, 0, make([]slice, 100), g)
		if c.use > 1000 {
			t.Fatalf("list cache holds %d slices, bound 1000", c.use)
		}
	}
	if _, ok, _ := c.get(1, 0); ok {
		t.Fatal("least recently used inode still cached")
	}
	// One inode with many chunks stays within the bound too.
	for chunk := uint64(0); chunk < 50; chunk++ {
		_, _, g := c.get(99, chunk)
		c.put(99, chunk, make([]slice, 100), g)
		if c.use > 1000 {
			t.Fatalf("list cache holds %d slices, bound 1000", c.use)
		}
	}
	if _, ok, _ := c.get(99, 49); !ok {
		t.Fatal("the chunk just cached was dropped")
	}
}

func TestCodecsRoundTripAndSampling(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	text := bytes.Repeat([]byte("chunk slice block "), 60000)[:1<<20]
	mixed := append(append([]byte{}, random[:600<<10]...), text[:424<<10]...) // compressible past the middle
	for _, name := range []string{"zstd", "s2", "none"} {
		c, err := newCodecs(name, 2)
		if err != nil {
			t.Fatal(err)
		}
		for what, raw := range map[string][]byte{"random": random, "text": text, "mixed": mixed, "small": text[:100]} {
			codec, stored, release := c.encode(raw)
			got, err := c.decode(codec, append([]byte{}, stored...), len(raw))
			release()
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("%s/%s: round trip failed: %v", name, what, err)
			}
			switch {
			case name == "none" || what == "random":
				if codec != codecNone {
					t.Fatalf("%s/%s: codec %d, want none", name, what, codec)
				}
			case what == "text" || what == "mixed":
				if codec == codecNone || len(stored) >= len(raw)*7/10 {
					t.Fatalf("%s/%s: codec %d, %d bytes stored of %d", name, what, codec, len(stored), len(raw))
				}
			}
		}
	}
	c, _ := newCodecs("zstd", 1)
	if _, err := c.decode(codecZstd, []byte("not zstd"), 10); err == nil {
		t.Fatal("corrupt block decoded")
	}
	if _, err := c.decode(9, []byte("x"), 1); err == nil {
		t.Fatal("unknown codec decoded")
	}
	if _, err := c.decode(codecNone, []byte("abc"), 4); err == nil {
		t.Fatal("short block accepted")
	}
}
