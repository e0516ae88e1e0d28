package chunks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestRandomOpsAgainstModel runs random writes, reads, truncations, extensions and compactions through two mounts
// (one with a clock an hour behind) and checks every read against an in-memory byte slice. Before a mount acts it
// invalidates the inode if the other mount changed it since (what open does: close-to-open consistency).
func TestRandomOpsAgainstModel(t *testing.T) {
	session, ks := testKeyspace(t)
	cfgA, cfgB := smallConfig(), smallConfig()
	cfgA.ChunkSize, cfgB.ChunkSize = 256<<10, 256<<10
	cfgA.BlockSize, cfgB.BlockSize = 16<<10, 8<<10 // mounts may differ in block size
	cfgB.Codec = "s2"
	cfgB.Now = offsetClock(-time.Hour)
	cfgA.CacheBytes = 200 << 10 // small: evictions happen
	stores := []*Store{newStore(t, session, ks, cfgA), newStore(t, session, ks, cfgB)}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 41))
	ctx := context.Background()
	const ino = 40
	const maxSize = 1200 << 10 // about 5 chunks
	var model []byte
	last := -1
	counts := map[string]int{}
	for op := 0; op < 400; op++ {
		who := r.IntN(2)
		st := stores[who]
		if last != who {
			st.Invalidate(ino)
		}
		size := uint64(len(model))
		where := fmt.Sprintf("op %d (mount %d)", op, who)
		switch k := r.IntN(100); {
		case k < 45: // write
			off := r.IntN(maxSize - 1)
			if r.IntN(3) == 0 && len(model) > 0 {
				off = r.IntN(len(model)) // mostly overwrite
			}
			n := 1 + r.IntN(min(maxSize-off, 100<<10))
			d := randBytes(r, n)
			if r.IntN(2) == 0 {
				d = compressible(r, n)
			}
			mustWrite(t, st, ino, uint64(off), d)
			if off+n > len(model) {
				model = append(model, make([]byte, off+n-len(model))...)
			}
			copy(model[off:], d)
			counts["write"]++
			last = who
		case k < 80: // read
			if size == 0 {
				continue
			}
			off := r.IntN(len(model))
			n := 1 + r.IntN(len(model)-off+1000)
			got := mustRead(t, st, ino, uint64(off), n, size)
			want := model[off:min(len(model), off+n)]
			expectEqual(t, where+fmt.Sprintf(" read [%d,+%d)", off, n), got, want)
			counts["read"]++
		case k < 88: // truncate down
			if size == 0 {
				continue
			}
			newSize := r.IntN(len(model))
			if err := st.Truncate(ctx, ino, size, uint64(newSize)); err != nil {
				t.Fatalf("%s: Truncate: %v", where, err)
			}
			model = model[:newSize]
			counts["truncate"]++
			last = who
		case k < 93: // extend (the inode layer raises the size; nothing is stored)
			newSize := len(model) + r.IntN(maxSize-len(model)+1)
			model = append(model, make([]byte, newSize-len(model))...)
			counts["extend"]++
		default: // compact a chunk
			chunk := uint64(r.IntN(5))
			if err := st.Compact(ctx, ino, chunk); err != nil {
				t.Fatalf("%s: Compact chunk %d: %v", where, chunk, err)
			}
			counts["compact"]++
			last = who
		}
	}
	t.Logf("ops: %v", counts)
	for i, st := range stores {
		st.Invalidate(ino)
		expectEqual(t, fmt.Sprintf("final read by mount %d", i), mustRead(t, st, ino, 0, len(model), uint64(len(model))), model)
	}
	if err := stores[0].Delete(ctx, ino, maxSize); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, session, ks, "blocks"); n != 0 {
		t.Fatalf("%d blocks left after Delete", n)
	}
	if n := countRows(t, session, ks, "slices"); n != 0 {
		t.Fatalf("%d slices left after Delete", n)
	}
	if n := countRows(t, session, ks, "file_chunks"); n != 0 {
		t.Fatalf("%d chunk index rows left after Delete", n)
	}
}
