package cassandra

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/storetest"
)

var errInjected = errors.New("injected crash")

// crashAt makes the named failpoint fail (once) for the rest of the test.
func crashAt(t *testing.T, name string) *bool {
	hit := new(bool)
	failpoint = func(n string) error {
		if n == name && !*hit {
			*hit = true
			return errInjected
		}
		return nil
	}
	t.Cleanup(func() { failpoint = nil })
	return hit
}

// TestCrashThenFsckRepair stops each multi-partition operation between two of its steps (as a crash would),
// then checks that Fsck finds the damage, repairs it, and that afterwards the tree is consistent, no entry
// dangles, no file is lost (its data reads back under the name the operation left) and usage is right.
func TestCrashThenFsckRepair(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, map[string]string{"chunkSize": "4096", "blockSize": "4096"})
	v := openVolume(t, c, info.Spec.ID, "crash", nil)
	ctx := context.Background()
	content := []byte("precious data")

	type env struct {
		dir, other store.Ino
		file       store.Attr
	}
	cases := []struct {
		point  string
		damage bool // Fsck without repair must report a problem
		op     func(e env) error
		// after repair: names that must exist (in dir unless prefixed "other/") and names that must not
		exist, gone []string
	}{
		{"mknod.inode", true, func(e env) error { _, err := v.Mknod(ctx, e.dir, "new", newFile()); return err },
			[]string{"f"}, []string{"new"}},
		{"mknod.entry", true, func(e env) error { _, err := v.Mknod(ctx, e.dir, "sub", newDir()); return err },
			[]string{"sub"}, nil},
		{"link.nlink", true, func(e env) error { _, err := v.Link(ctx, e.file.Ino, e.dir, "l"); return err },
			[]string{"f"}, []string{"l"}},
		{"unlink.entry", true, func(e env) error { _, err := v.Unlink(ctx, e.dir, "f"); return err },
			nil, []string{"f"}},
		{"rmdir.entry", true, func(e env) error { return v.Rmdir(ctx, e.dir, "empty") },
			[]string{"f"}, []string{"empty"}},
		{"rmdir.parent", true, func(e env) error { return v.Rmdir(ctx, e.dir, "empty") },
			[]string{"f"}, []string{"empty"}},
		{"rename.intent", true, func(e env) error { return v.Rename(ctx, e.dir, "f", e.other, "g", 0) },
			[]string{"f"}, []string{"other/g"}},
		{"rename.new", true, func(e env) error { return v.Rename(ctx, e.dir, "f", e.other, "g", 0) },
			[]string{"other/g"}, []string{"f"}},
		{"rename.old", true, func(e env) error { return v.Rename(ctx, e.dir, "f", e.other, "g", 0) },
			[]string{"other/g"}, []string{"f"}},
		{"rename.new", true, func(e env) error { return v.Rename(ctx, e.dir, "empty", e.other, "moved", 0) },
			[]string{"other/moved", "f"}, []string{"empty"}},
		{"rename.old", true, func(e env) error { return v.Rename(ctx, e.dir, "empty", e.other, "moved", 0) },
			[]string{"other/moved", "f"}, []string{"empty"}},
		{"rename.parents", true, func(e env) error { return v.Rename(ctx, e.dir, "f", e.other, "victim", 0) },
			[]string{"other/victim"}, []string{"f"}},
		{"rename.indir", true, func(e env) error { return v.Rename(ctx, e.dir, "f", e.dir, "victim2", 0) },
			[]string{"victim2"}, []string{"f"}},
		{"exchange.new", true, func(e env) error {
			return v.Rename(ctx, e.dir, "f", e.other, "victim", store.RenameExchange)
		}, []string{"f", "other/victim"}, nil},
		// A file and a directory: the directory is written into the file's slot first.
		{"exchange.new", true, func(e env) error {
			return v.Rename(ctx, e.other, "victim", e.dir, "empty", store.RenameExchange)
		}, []string{"empty", "other/victim", "f"}, nil},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%02d-%s", i, tc.point), func(t *testing.T) {
			top, err := v.Mknod(ctx, store.RootIno, fmt.Sprintf("case%02d", i), newDir())
			must(t, err)
			dir, err := v.Mknod(ctx, top.Ino, "d", newDir())
			must(t, err)
			other, err := v.Mknod(ctx, top.Ino, "o", newDir())
			must(t, err)
			f, err := v.Mknod(ctx, dir.Ino, "f", newFile())
			must(t, err)
			_, err = v.Write(ctx, f.Ino, 0, content)
			must(t, err)
			_, err = v.Mknod(ctx, dir.Ino, "empty", newDir())
			must(t, err)
			for _, victim := range []struct {
				d    store.Ino
				name string
			}{{other.Ino, "victim"}, {dir.Ino, "victim2"}} {
				vf, err := v.Mknod(ctx, victim.d, victim.name, newFile())
				must(t, err)
				_, err = v.Write(ctx, vf.Ino, 0, []byte("victim"))
				must(t, err)
			}
			if r, err := v.Fsck(ctx, false); err != nil || !r.Clean() {
				t.Fatalf("fsck before the crash: %+v, %v", r.Problems, err)
			}

			hit := crashAt(t, tc.point)
			err = tc.op(env{dir.Ino, other.Ino, f})
			failpoint = nil
			if !*hit || !errors.Is(err, errInjected) {
				t.Fatalf("the failpoint was not reached (hit %v): %v", *hit, err)
			}
			r, err := v.Fsck(ctx, false)
			must(t, err)
			if tc.damage && r.Clean() {
				t.Errorf("fsck found nothing after a crash at %s", tc.point)
			}
			t.Logf("found: %q", r.Problems)
			r, err = v.Fsck(ctx, true)
			must(t, err)
			t.Logf("repair: intents %d, dangling %d, nlink %d, orphans %d", r.IntentsReplayed, r.DanglingEntries,
				r.NlinkFixed, r.Orphans)
			if r, err := v.Fsck(ctx, false); err != nil || !r.Clean() {
				t.Fatalf("fsck after repair: %q, %v", r.Problems, err)
			}
			storetest.CheckTree(t, v) // walk invariants, usage; no dangling entries
			lookup := func(name string) (store.Attr, error) {
				d := dir.Ino
				if len(name) > 6 && name[:6] == "other/" {
					d, name = other.Ino, name[6:]
				}
				return v.Lookup(ctx, d, name)
			}
			for _, name := range tc.exist {
				a, err := lookup(name)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if a.Ino == f.Ino {
					buf := make([]byte, 100)
					n, err := v.Read(ctx, a.Ino, 0, buf)
					if err != nil || string(buf[:n]) != string(content) {
						t.Errorf("%s: data %q, %v", name, buf[:n], err)
					}
				}
			}
			if i == len(cases)-1 { // the file/directory exchange finished: the two swapped
				a, err1 := lookup("empty")
				b, err2 := lookup("other/victim")
				if err1 != nil || err2 != nil || a.Type != store.TypeFile || b.Type != store.TypeDir {
					t.Errorf("after the exchange: %+v %v / %+v %v", a, err1, b, err2)
				}
			}
			for _, name := range tc.gone {
				if _, err := lookup(name); !errors.Is(err, syscall.ENOENT) {
					t.Errorf("%s still exists (%v)", name, err)
				}
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
