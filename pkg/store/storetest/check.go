package storetest

import (
	"context"
	"testing"

	"github.com/cassfs/cassfs/pkg/store"
)

// Tree summarises a walk of a volume or subtree.
type Tree struct {
	Dirs   int    // directories found, the starting one included
	Inodes int    // distinct inodes found, the starting directory included
	Bytes  uint64 // sum of the sizes of the distinct regular files found
}

// CheckTree walks the whole volume from the root and reports as test errors every invariant that does not hold:
// every entry's inode exists with the entry's type; the nlink of every non-directory equals the number of entries
// naming it; every directory's nlink is 2 plus its subdirectories; no directory is reachable twice; StatFS's
// Inodes equals the inodes found and its Bytes the sum of file sizes (so call it when no unlinked file is held
// open). If s implements Checker, its Fsck must report no problem.
func CheckTree(t testing.TB, s store.Store) Tree {
	t.Helper()
	ctx := context.Background()
	tree, ok := walk(t, s, store.RootIno)
	if !ok {
		return tree
	}
	u, err := s.StatFS(ctx)
	if err != nil {
		t.Errorf("statfs: %v", err)
		return tree
	}
	if u.Inodes != uint64(tree.Inodes) {
		t.Errorf("statfs counts %d inodes, the tree holds %d", u.Inodes, tree.Inodes)
	}
	if u.Bytes != tree.Bytes {
		t.Errorf("statfs counts %d bytes, the files hold %d", u.Bytes, tree.Bytes)
	}
	if c, ok := s.(Checker); ok {
		problems, err := c.Fsck(ctx, false)
		if err != nil {
			t.Errorf("fsck: %v", err)
		}
		for _, p := range problems {
			t.Errorf("fsck: %s", p)
		}
	}
	return tree
}

// CheckSubtree checks the invariants of CheckTree that hold within the subtree rooted at directory dir, assuming
// no file in it has a name outside it. It does not check usage.
func CheckSubtree(t testing.TB, s store.Store, dir store.Ino) Tree {
	t.Helper()
	tree, _ := walk(t, s, dir)
	return tree
}

// walk visits the subtree at dir; ok is false if the walk itself failed.
func walk(t testing.TB, s store.Store, dir store.Ino) (Tree, bool) {
	t.Helper()
	ctx := context.Background()
	var tree Tree
	root, err := s.GetAttr(ctx, dir)
	if err != nil {
		t.Errorf("check: getattr of start %d: %v", dir, err)
		return tree, false
	}
	seenDir := map[store.Ino]bool{dir: true}
	names := map[store.Ino]uint32{}
	attrs := map[store.Ino]store.Attr{}
	queue := []store.Attr{root}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		tree.Dirs++
		ents, err := readDirAll(ctx, s, d.Ino, 256)
		if err != nil {
			t.Errorf("check: readdir %d: %v", d.Ino, err)
			return tree, false
		}
		subdirs := uint32(0)
		for i, ent := range ents {
			if i > 0 && ents[i-1].Name >= ent.Name {
				t.Errorf("check: dir %d lists %q after %q", d.Ino, ent.Name, ents[i-1].Name)
			}
			a, err := s.GetAttr(ctx, ent.Ino)
			if err != nil {
				t.Errorf("check: entry %d/%q names inode %d: %v", d.Ino, ent.Name, ent.Ino, err)
				continue
			}
			if a.Type != ent.Type {
				t.Errorf("check: entry %d/%q has type %d, inode %d has %d", d.Ino, ent.Name, ent.Type, a.Ino, a.Type)
			}
			if a.Type != store.TypeDir {
				names[a.Ino]++
				attrs[a.Ino] = a
				continue
			}
			subdirs++
			if seenDir[a.Ino] {
				t.Errorf("check: directory %d reachable twice (again as %d/%q)", a.Ino, d.Ino, ent.Name)
				continue
			}
			seenDir[a.Ino] = true
			queue = append(queue, a)
		}
		if d.Nlink != 2+subdirs {
			t.Errorf("check: directory %d has nlink %d, but %d subdirectories", d.Ino, d.Nlink, subdirs)
		}
	}
	for ino, n := range names {
		a := attrs[ino]
		if a.Nlink != n {
			t.Errorf("check: inode %d has nlink %d, but %d names", ino, a.Nlink, n)
		}
		if a.Type == store.TypeFile {
			tree.Bytes += a.Size
		}
	}
	tree.Inodes = len(seenDir) + len(names)
	return tree, true
}
