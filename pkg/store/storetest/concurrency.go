package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

var concurrencyTests = []test{
	{"ConcurrentCreateOne", testConcurrentCreateOne},
	{"ConcurrentMkdirNlink", testConcurrentMkdirNlink},
	{"ConcurrentDisjointWrites", testConcurrentDisjointWrites},
	{"ConcurrentRenameCycle", testConcurrentRenameCycle},
	{"ConcurrentRenameOneSource", testConcurrentRenameOneSource},
	{"ConcurrentLinkUnlink", testConcurrentLinkUnlink},
	{"ConcurrentStorm", testConcurrentStorm},
}

// parallel runs fn(i) for i in [0, n) on n goroutines started together and waits for them.
func parallel(n int, fn func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			fn(i)
		}()
	}
	start.Done()
	done.Wait()
}

// testConcurrentCreateOne: of goroutines on two sessions creating one name, exactly one wins.
func testConcurrentCreateOne(e *env) {
	const workers, rounds = 8, 6
	sessions := []store.Store{e.a, e.b}
	for round := range rounds {
		name := fmt.Sprintf("n%d", round)
		var mu sync.Mutex
		var winners []store.Ino
		others := map[syscall.Errno]int{}
		parallel(workers, func(i int) {
			n := fileNode
			if (i+round)%3 == 0 {
				n = dirNode
			}
			a, err := sessions[i%2].Mknod(e.ctx, e.dir, name, n)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, a.Ino)
			} else {
				others[store.ToErrno(err)]++
			}
		})
		if len(winners) != 1 || others[syscall.EEXIST] != workers-1 {
			e.t.Errorf("round %d: %d creators won (%v), losers' errors %v", round, len(winners), winners, others)
			continue
		}
		e.expectEntry(e.dir, name, winners[0])
	}
}

// testConcurrentMkdirNlink: concurrent mkdirs and rmdirs in one parent keep its nlink right.
func testConcurrentMkdirNlink(e *env) {
	const workers, each = 6, 5
	sessions := []store.Store{e.a, e.b}
	errs := make(chan error, workers*each*2)
	parallel(workers, func(i int) {
		s := sessions[i%2]
		for j := range each {
			name := fmt.Sprintf("d%d-%d", i, j)
			if _, err := s.Mknod(e.ctx, e.dir, name, dirNode); err != nil {
				errs <- fmt.Errorf("mkdir %s: %w", name, err)
			}
			if j%2 == 1 {
				if err := s.Rmdir(e.ctx, e.dir, name); err != nil {
					errs <- fmt.Errorf("rmdir %s: %w", name, err)
				}
			}
		}
	})
	close(errs)
	for err := range errs {
		e.t.Error(err)
	}
	want := uint32(2 + workers*(each-each/2))
	for _, s := range []store.Store{e.a, e.b} {
		if a := e.getattr(s, e.dir); a.Nlink != want {
			e.t.Errorf("parent nlink %d after concurrent mkdir/rmdir, want %d", a.Nlink, want)
		}
	}
}

// testConcurrentDisjointWrites: writers on two sessions write interleaved disjoint ranges of the same chunks; no
// byte is lost and the size is the largest end.
func testConcurrentDisjointWrites(e *env) {
	const workers, slot, rounds = 8, 100, 6
	f := e.mkfile(e.dir, "f")
	sessions := []store.Store{e.a, e.b}
	stride := workers * slot
	errs := make(chan error, workers*rounds)
	parallel(workers, func(i int) {
		s := sessions[i%2]
		for r := range rounds {
			off := r*stride + i*slot
			if _, err := s.Write(e.ctx, f.Ino, uint64(off), pattern(byte(i*rounds+r+1), slot)); err != nil {
				errs <- err
			}
		}
	})
	close(errs)
	for err := range errs {
		e.t.Error("concurrent write:", err)
	}
	var m model
	for i := range workers {
		for r := range rounds {
			m.write(r*stride+i*slot, pattern(byte(i*rounds+r+1), slot))
		}
	}
	for _, s := range []store.Store{e.a, e.b} {
		e.open(s, f.Ino)
		e.expectData(s, f.Ino, m, "after concurrent disjoint writes")
		e.release(s, f.Ino)
	}
}

// stormErrnos are the errors a namespace operation may legitimately meet when others race with it.
var stormErrnos = map[syscall.Errno]bool{syscall.ENOENT: true, syscall.EEXIST: true, syscall.ENOTEMPTY: true,
	syscall.EISDIR: true, syscall.ENOTDIR: true, syscall.EINVAL: true, syscall.EPERM: true}

// testConcurrentStorm: goroutines on two sessions rename, link, unlink, create and remove in a small tree of
// directories that move into each other; afterwards the tree must be consistent (checked by CheckSubtree at the
// end of the subtest): no loop, no lost directory, every nlink right.
func testConcurrentStorm(e *env) {
	const workers, ops = 6, 60
	dirs := []store.Ino{e.dir}
	for i := range 4 {
		dirs = append(dirs, e.mkdir(e.dir, fmt.Sprintf("d%d", i)).Ino)
	}
	names := []string{"a", "b", "c", "d0", "d1", "d2", "d3"}
	sessions := []store.Store{e.a, e.b}
	var mu sync.Mutex
	unexpected := map[string]int{}
	parallel(workers, func(w int) {
		rng := rand.New(rand.NewPCG(uint64(w), 99))
		s := sessions[w%2]
		for range ops {
			d1, d2 := dirs[rng.IntN(len(dirs))], dirs[rng.IntN(len(dirs))]
			n1, n2 := names[rng.IntN(len(names))], names[rng.IntN(len(names))]
			var err error
			op := rng.IntN(9)
			switch op {
			case 0, 1:
				err = s.Rename(e.ctx, d1, n1, d2, n2, 0)
			case 2:
				err = s.Rename(e.ctx, d1, n1, d2, n2, store.RenameExchange)
			case 3:
				var a store.Attr
				if a, err = s.Lookup(e.ctx, d1, n1); err == nil {
					_, err = s.Link(e.ctx, a.Ino, d2, n2)
				}
			case 4:
				_, err = s.Unlink(e.ctx, d1, n1)
			case 5:
				_, err = s.Mknod(e.ctx, d1, n1, fileNode)
			case 6:
				_, err = s.Mknod(e.ctx, d1, n1, dirNode)
			case 7:
				err = s.Rmdir(e.ctx, d1, n1)
			case 8:
				var a store.Attr
				if a, err = s.Lookup(e.ctx, d1, n1); err == nil && a.Type == store.TypeFile {
					_, err = s.Write(e.ctx, a.Ino, uint64(rng.IntN(8000)), []byte("storm"))
				}
			}
			if errno := store.ToErrno(err); err != nil && !stormErrnos[errno] {
				mu.Lock()
				unexpected[fmt.Sprintf("op %d: %v", op, err)]++
				mu.Unlock()
			}
		}
	})
	for what, k := range unexpected {
		e.t.Errorf("storm: %s (%d times)", what, k)
	}
	// Every directory created at the start is still reachable from this subtest's directory exactly once
	// (CheckSubtree then verifies counts), unless a storm operation removed it.
	found := map[store.Ino]bool{}
	var visit func(store.Ino)
	visit = func(d store.Ino) {
		ents, err := readDirAll(e.ctx, e.a, d, 100)
		e.must(err, "readdir after the storm")
		for _, ent := range ents {
			if ent.Type == store.TypeDir && !found[ent.Ino] {
				found[ent.Ino] = true
				visit(ent.Ino)
			}
		}
	}
	visit(e.dir)
	for _, d := range dirs[1:] {
		if found[d] {
			continue
		}
		if _, err := e.a.GetAttr(e.ctx, d); !isErrno(err, syscall.ENOENT) {
			e.t.Errorf("directory %d exists (%v) but is not reachable: lost in a loop?", d, err)
		}
	}
}

// testConcurrentRenameCycle: two sessions at once move x into y and y into x. Whichever comes second would make
// a loop, so exactly one succeeds and the other gets EINVAL.
func testConcurrentRenameCycle(e *env) {
	for round := range 8 {
		top := e.mkdir(e.dir, fmt.Sprintf("r%d", round))
		x, y := e.mkdir(top.Ino, "x"), e.mkdir(top.Ino, "y")
		errs := make([]error, 2)
		parallel(2, func(i int) {
			if i == 0 {
				errs[0] = e.a.Rename(e.ctx, top.Ino, "x", y.Ino, "x", 0)
			} else {
				errs[1] = e.b.Rename(e.ctx, top.Ino, "y", x.Ino, "y", 0)
			}
		})
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
			} else if !isErrno(err, syscall.EINVAL) {
				e.t.Errorf("round %d: rename %d: %v, want success or EINVAL", round, i, err)
			}
		}
		if ok != 1 {
			e.t.Errorf("round %d: %d of the two crossing renames succeeded (%v)", round, ok, errs)
		}
		if names := e.names(e.a, top.Ino); len(names) != 1 {
			e.t.Errorf("round %d: %q left in the parent, want one of x and y", round, names)
		}
	}
}

// testConcurrentRenameOneSource: goroutines on two sessions rename one file to different names; exactly one
// succeeds, the others get ENOENT, and the file keeps a single name.
func testConcurrentRenameOneSource(e *env) {
	const workers = 6
	sessions := []store.Store{e.a, e.b}
	for round := range 4 {
		f := e.mkfile(e.dir, "src")
		errs := make([]error, workers)
		parallel(workers, func(i int) {
			errs[i] = sessions[i%2].Rename(e.ctx, e.dir, "src", e.dir, fmt.Sprintf("dst%d-%d", round, i), 0)
		})
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
			} else if !isErrno(err, syscall.ENOENT) {
				e.t.Errorf("round %d: rename %d: %v, want success or ENOENT", round, i, err)
			}
		}
		if ok != 1 {
			e.t.Errorf("round %d: %d renames of one source succeeded", round, ok)
		}
		if a := e.getattr(e.b, f.Ino); a.Nlink != 1 {
			e.t.Errorf("round %d: the renamed file has nlink %d", round, a.Nlink)
		}
	}
	if got := len(e.names(e.a, e.dir)); got != 4 {
		e.t.Errorf("%d names after four rounds, want 4", got)
	}
}

// testConcurrentLinkUnlink: goroutines on two sessions add and remove their own hard links to one file; its nlink
// ends equal to the names left.
func testConcurrentLinkUnlink(e *env) {
	const workers, each = 6, 6
	f := e.mkfile(e.dir, "f")
	sessions := []store.Store{e.a, e.b}
	errs := make(chan error, workers*each*2)
	parallel(workers, func(i int) {
		s := sessions[i%2]
		for j := range each {
			name := fmt.Sprintf("l%d-%d", i, j)
			if _, err := s.Link(e.ctx, f.Ino, e.dir, name); err != nil {
				errs <- fmt.Errorf("link %s: %w", name, err)
			}
			if j%2 == 0 {
				if _, err := s.Unlink(e.ctx, e.dir, name); err != nil {
					errs <- fmt.Errorf("unlink %s: %w", name, err)
				}
			}
		}
	})
	close(errs)
	for err := range errs {
		e.t.Error(err)
	}
	want := uint32(1 + workers*(each/2))
	for _, s := range sessions {
		if a := e.getattr(s, f.Ino); a.Nlink != want {
			e.t.Errorf("nlink %d after concurrent links and unlinks, want %d", a.Nlink, want)
		}
	}
}
