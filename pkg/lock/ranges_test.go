package lock

import (
	"math"
	"math/rand"
	"reflect"
	"testing"
)

func rl(s, e uint64, typ FileLockType) FileLock { return FileLock{Start: s, End: e, Type: typ} }

func TestRangesSet(t *testing.T) {
	const max = math.MaxUint64
	cases := []struct {
		name string
		r    Ranges
		lk   FileLock
		want Ranges
	}{
		{"into empty", nil, rl(0, 9, WriteLock), Ranges{rl(0, 9, WriteLock)}},
		{"unlock of nothing", nil, rl(0, 9, Unlock), nil},
		{"split by unlocking the middle", Ranges{rl(0, 99, WriteLock)}, rl(40, 59, Unlock),
			Ranges{rl(0, 39, WriteLock), rl(60, 99, WriteLock)}},
		{"merge adjacent", Ranges{rl(0, 9, ReadLock)}, rl(10, 19, ReadLock), Ranges{rl(0, 19, ReadLock)}},
		{"merge both sides", Ranges{rl(0, 9, ReadLock), rl(20, 29, ReadLock)}, rl(10, 19, ReadLock),
			Ranges{rl(0, 29, ReadLock)}},
		{"no merge across types", Ranges{rl(0, 9, ReadLock)}, rl(10, 19, WriteLock),
			Ranges{rl(0, 9, ReadLock), rl(10, 19, WriteLock)}},
		{"merge overlapping same type", Ranges{rl(0, 9, WriteLock)}, rl(5, 19, WriteLock), Ranges{rl(0, 19, WriteLock)}},
		{"upgrade the middle", Ranges{rl(0, 99, ReadLock)}, rl(40, 59, WriteLock),
			Ranges{rl(0, 39, ReadLock), rl(40, 59, WriteLock), rl(60, 99, ReadLock)}},
		{"downgrade whole", Ranges{rl(0, 99, WriteLock)}, rl(0, 99, ReadLock), Ranges{rl(0, 99, ReadLock)}},
		{"cover several", Ranges{rl(0, 9, ReadLock), rl(20, 29, WriteLock), rl(40, 49, ReadLock)}, rl(5, 44, WriteLock),
			Ranges{rl(0, 4, ReadLock), rl(5, 44, WriteLock), rl(45, 49, ReadLock)}},
		{"to end of file", Ranges{rl(10, max, WriteLock)}, rl(20, max, Unlock), Ranges{rl(10, 19, WriteLock)}},
		{"unlock from 0", Ranges{rl(0, max, ReadLock)}, rl(0, 0, Unlock), Ranges{rl(1, max, ReadLock)}},
		{"adjacent at max", Ranges{rl(0, max, ReadLock)}, rl(max, max, ReadLock), Ranges{rl(0, max, ReadLock)}},
		{"unlock all", Ranges{rl(3, 5, ReadLock), rl(9, 12, WriteLock)}, rl(0, max, Unlock), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := append(Ranges(nil), c.r...)
			got := c.r.Set(c.lk)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Set(%v) on %v = %v, want %v", c.lk, c.r, got, c.want)
			}
			if !reflect.DeepEqual(before, c.r) {
				t.Fatalf("Set changed its receiver")
			}
		})
	}
}

func TestRangeTableConflict(t *testing.T) {
	a, b := Owner{"m1", 1}, Owner{"m2", 1}
	var tb RangeTable
	tb.Set(a, FileLock{Start: 10, End: 20, Type: WriteLock, Pid: 7})
	tb.Set(a, rl(30, 40, ReadLock))
	if got, ok := tb.Conflict(b, rl(0, 100, ReadLock)); !ok || got != (FileLock{10, 20, WriteLock, 7}) {
		t.Fatalf("Conflict = %v %v", got, ok)
	}
	if _, ok := tb.Conflict(b, rl(30, 40, ReadLock)); ok {
		t.Fatalf("two readers conflict")
	}
	if got, ok := tb.Conflict(b, rl(35, 50, WriteLock)); !ok || got.Start != 30 {
		t.Fatalf("writer over a reader: %v %v", got, ok)
	}
	if _, ok := tb.Conflict(a, rl(0, 100, WriteLock)); ok {
		t.Fatalf("an owner conflicts with itself")
	}
	if _, ok := tb.Conflict(b, rl(21, 29, WriteLock)); ok {
		t.Fatalf("gap conflicts")
	}
	tb.ReleaseSession("m1")
	if !tb.Empty() {
		t.Fatalf("ReleaseSession left %v", tb.owners)
	}
}

// TestRangesModel compares Ranges.Set with a byte map over a small file, at random.
func TestRangesModel(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	const size = 64
	for round := 0; round < 2000; round++ {
		var r Ranges
		var model [size]int // -1 none, else type
		for i := range model {
			model[i] = -1
		}
		for op := 0; op < 12; op++ {
			s := uint64(rnd.Intn(size))
			e := s + uint64(rnd.Intn(size-int(s)))
			typ := FileLockType(rnd.Intn(3))
			r = r.Set(FileLock{Start: s, End: e, Type: typ})
			for i := s; i <= e; i++ {
				if typ == Unlock {
					model[i] = -1
				} else {
					model[i] = int(typ)
				}
			}
			// r must be sorted, disjoint, merged and equal to the model.
			var got [size]int
			for i := range got {
				got[i] = -1
			}
			for i, x := range r {
				if i > 0 && (r[i-1].End >= x.Start || (r[i-1].End+1 == x.Start && r[i-1].Type == x.Type)) {
					t.Fatalf("not normalised: %v", r)
				}
				for j := x.Start; j <= x.End; j++ {
					got[j] = int(x.Type)
				}
			}
			if got != model {
				t.Fatalf("round %d: ranges %v disagree with the model", round, r)
			}
		}
	}
}
