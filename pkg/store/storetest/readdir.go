package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

var readDirTests = []test{
	{"ReadDirOrder", testReadDirOrder},
	{"ReadDirPaging", testReadDirPaging},
	{"ReadDirStable", testReadDirStable},
}

func testReadDirOrder(e *env) {
	ents, err := e.a.ReadDir(e.ctx, e.dir, "", 10)
	e.must(err, "readdir of an empty dir")
	if len(ents) != 0 {
		e.t.Errorf("empty directory lists %v", ents)
	}
	names := []string{"b", "a", "B", "A", "a0", "a.", "~", "\x01", "\xff\xfe", "é", "Z", "aa", "a-b", "zz", "0", "10", "9"}
	kinds := map[string]store.Ino{}
	for i, name := range names {
		var a store.Attr
		switch i % 3 {
		case 0:
			a = e.mkfile(e.dir, name)
		case 1:
			a = e.mkdir(e.dir, name)
		case 2:
			a = e.mknod(e.a, e.dir, name, store.NewNode{Type: store.TypeSymlink, Target: "t"})
		}
		kinds[name] = a.Ino
	}
	want := slices.Clone(names)
	slices.Sort(want) // Go compares strings bytewise
	for _, s := range []store.Store{e.a, e.b} {
		ents, err := s.ReadDir(e.ctx, e.dir, "", 1000)
		e.must(err, "readdir")
		got := make([]string, len(ents))
		for i, d := range ents {
			got[i] = d.Name
			a := e.getattr(e.a, d.Ino)
			if d.Ino != kinds[d.Name] || d.Type != a.Type {
				e.t.Errorf("entry %q: ino %d type %d, want ino %d type %d", d.Name, d.Ino, d.Type, kinds[d.Name], a.Type)
			}
		}
		if !slices.Equal(got, want) {
			e.t.Errorf("readdir order\n got %q\nwant %q", got, want)
		}
	}
	// Resuming after a name that does not exist, or that sorts before or after everything.
	for _, after := range []string{"a00", "", "\x00", "\xff\xff", "M"} {
		ents, err := e.a.ReadDir(e.ctx, e.dir, after, 1000)
		e.must(err, "readdir after %q", after)
		var exp []string
		for _, n := range want {
			if n > after {
				exp = append(exp, n)
			}
		}
		got := []string{}
		for _, d := range ents {
			got = append(got, d.Name)
		}
		if !slices.Equal(got, exp) && !(len(got) == 0 && len(exp) == 0) {
			e.t.Errorf("readdir after %q: got %q, want %q", after, got, exp)
		}
	}
	f := e.lookup(e.dir, "b") // a file
	_, err = e.a.ReadDir(e.ctx, f.Ino, "", 10)
	e.errno(err, syscall.ENOTDIR, "readdir of a file")
	_, err = e.a.ReadDir(e.ctx, store.Ino(1<<60), "", 10)
	e.errno(err, syscall.ENOENT, "readdir of a missing directory")
}

func testReadDirPaging(e *env) {
	const n = 150
	var want []string
	for i := range n {
		name := fmt.Sprintf("entry-%03d", (i*37)%n)
		e.mkfile(e.dir, name)
		want = append(want, name)
	}
	slices.Sort(want)
	for _, page := range []int{1, 2, 7, 64, 149, 150, 151, 1000} {
		ents, err := readDirAll(e.ctx, e.b, e.dir, page)
		e.must(err, "readdir pages of %d", page)
		got := make([]string, len(ents))
		for i, d := range ents {
			got[i] = d.Name
		}
		if !slices.Equal(got, want) {
			e.t.Errorf("pages of %d: got %d names, want %d (first diff near %q)", page, len(got), len(want), firstDiff(got, want))
		}
		first, err := e.a.ReadDir(e.ctx, e.dir, "", page)
		e.must(err, "one page")
		if len(first) != min(page, n) {
			e.t.Errorf("one page of limit %d returned %d entries", page, len(first))
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i]
		}
	}
	return "<end>"
}

// testReadDirStable lists a directory in small pages while another session adds and removes other entries:
// entries that exist throughout appear exactly once, and nothing appears twice.
func testReadDirStable(e *env) {
	const stable = 60
	for i := range stable {
		e.mkfile(e.dir, fmt.Sprintf("s%03d", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	churn := map[string]bool{}
	step := 0
	mutate := func() {
		for range 3 {
			step++
			name := fmt.Sprintf("c%03d", rng.IntN(80))
			if rng.IntN(2) == 0 {
				name = fmt.Sprintf("s%03d.%d", rng.IntN(stable), step)
			}
			if churn[name] {
				_, err := e.b.Unlink(e.ctx, e.dir, name)
				e.must(err, "churn unlink")
				delete(churn, name)
			} else {
				_, err := e.b.Mknod(e.ctx, e.dir, name, fileNode)
				e.must(err, "churn create")
				churn[name] = true
			}
		}
	}
	for round := range 3 {
		seen := map[string]int{}
		after := ""
		for {
			ents, err := e.a.ReadDir(e.ctx, e.dir, after, 5)
			e.must(err, "readdir")
			for _, d := range ents {
				if d.Name <= after {
					e.t.Errorf("round %d: %q listed after %q", round, d.Name, after)
				}
				seen[d.Name]++
			}
			if len(ents) < 5 {
				break
			}
			after = ents[len(ents)-1].Name
			mutate()
		}
		for i := range stable {
			if name := fmt.Sprintf("s%03d", i); seen[name] != 1 {
				e.t.Errorf("round %d: stable entry %q listed %d times", round, name, seen[name])
			}
		}
		for name, k := range seen {
			if k > 1 {
				e.t.Errorf("round %d: %q listed %d times", round, name, k)
			}
		}
	}
}
