package cassandra

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/storetest"
)

// TestLostLWTReplies: for each operation, the reply of its k-th lightweight transaction is lost after the
// write was applied (as when a coordinator times out after Paxos committed), for every k the operation reaches.
// The operation must resolve the unknown outcome by reading back and succeed exactly once; the tree stays
// consistent (Fsck clean, CheckTree).
func TestLostLWTReplies(t *testing.T) { checkEachLWTFailing(t, "cas.reply", "reply lost") }

// TestLWTsNotSent fails each LWT of each operation in turn before it reaches a replica (failpoint cas.send), as
// when the coordinator dies with the request: the caller's SERIAL read-back finds it did not land and sends it
// again; the operation succeeds once and Fsck finds nothing.
func TestLWTsNotSent(t *testing.T) { checkEachLWTFailing(t, "cas.send", "not sent") }

// checkEachLWTFailing runs each namespace operation once per LWT it makes, with the k-th LWT failing at
// failpoint point, and checks the operation succeeds and Fsck finds nothing.
func checkEachLWTFailing(t *testing.T, point, what string) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	v := openVolume(t, c, info.Spec.ID, "lost", nil)
	ctx := context.Background()
	v.alloc.batch = 1 // every create reserves its number: the allocator's LWT is among the lost replies
	ops := []struct {
		name string
		op   func(d, o store.Ino) error
	}{
		{"mknod", func(d, o store.Ino) error { _, err := v.Mknod(ctx, d, "n", newFile()); return err }},
		{"mkdir", func(d, o store.Ino) error { _, err := v.Mknod(ctx, d, "sub", newDir()); return err }},
		{"link", func(d, o store.Ino) error {
			f, err := v.Lookup(ctx, d, "f")
			if err != nil {
				return err
			}
			_, err = v.Link(ctx, f.Ino, o, "l")
			return err
		}},
		{"unlink", func(d, o store.Ino) error { _, err := v.Unlink(ctx, d, "f"); return err }},
		{"rmdir", func(d, o store.Ino) error { return v.Rmdir(ctx, d, "empty") }},
		{"rename-same-dir", func(d, o store.Ino) error { return v.Rename(ctx, d, "f", d, "g", 0) }},
		{"rename-across", func(d, o store.Ino) error { return v.Rename(ctx, d, "f", o, "g", 0) }},
		{"rename-dir-across", func(d, o store.Ino) error { return v.Rename(ctx, d, "empty", o, "e", 0) }},
		{"exchange", func(d, o store.Ino) error { return v.Rename(ctx, d, "f", o, "x", store.RenameExchange) }},
		{"exchange-same-dir", func(d, o store.Ino) error { return v.Rename(ctx, d, "f", d, "empty", store.RenameExchange) }},
		{"exchange-dir", func(d, o store.Ino) error {
			return v.Rename(ctx, o, "x", d, "empty", store.RenameExchange)
		}},
		{"setattr", func(d, o store.Ino) error {
			f, err := v.Lookup(ctx, d, "f")
			if err != nil {
				return err
			}
			_, err = v.SetAttr(ctx, f.Ino, store.SetAttrIn{Valid: store.SetMode | store.SetSize, Mode: 0o600, Size: 3})
			return err
		}},
		{"write", func(d, o store.Ino) error {
			f, err := v.Lookup(ctx, d, "f")
			if err != nil {
				return err
			}
			_, err = v.Write(ctx, f.Ino, 100, []byte("more"))
			return err
		}},
	}
	n := 0
	for _, tc := range ops {
		for k := 1; ; k++ {
			n++
			top, err := v.Mknod(ctx, store.RootIno, fmt.Sprintf("t%d", n), newDir())
			must(t, err)
			d, err := v.Mknod(ctx, top.Ino, "d", newDir())
			must(t, err)
			o, err := v.Mknod(ctx, top.Ino, "o", newDir())
			must(t, err)
			f, err := v.Mknod(ctx, d.Ino, "f", newFile())
			must(t, err)
			_, err = v.Write(ctx, f.Ino, 0, []byte("data"))
			must(t, err)
			_, err = v.Mknod(ctx, d.Ino, "empty", newDir())
			must(t, err)
			_, err = v.Mknod(ctx, o.Ino, "x", newFile())
			must(t, err)

			calls, hit := 0, false
			failpoint = func(name string) error {
				if name != point {
					return nil
				}
				if calls++; calls == k {
					hit = true
					return errors.New(what)
				}
				return nil
			}
			err = tc.op(d.Ino, o.Ino)
			failpoint = nil
			if err != nil {
				t.Errorf("%s, LWT %d %s: %v", tc.name, k, what, err)
			}
			if r, ferr := v.Fsck(ctx, false); ferr != nil || !r.Clean() {
				t.Errorf("%s, LWT %d %s: fsck %q, %v", tc.name, k, what, r.Problems, ferr)
				_, _ = v.Fsck(ctx, true)
			}
			if !hit {
				t.Logf("%s: %d LWTs, each %s once", tc.name, k-1, what)
				break
			}
		}
	}
	storetest.CheckTree(t, v)
}
