package memstore

import (
	"context"
	"fmt"

	"github.com/cassfs/cassfs/pkg/store"
)

// Fsck verifies the volume's internal invariants and returns one line per problem found: every entry names a
// live inode; named inodes are reachable from the root, unnamed ones are open; nlink counts names (directories:
// 2 + subdirectories); each directory's parent pointer matches the entry naming it; the byte count equals the
// sum of file sizes; file chunks lie within the size. There is nothing to repair in memory: repair is ignored.
func (s *Store) Fsck(ctx context.Context, repair bool) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	names := map[store.Ino]uint32{}
	subdirs := map[store.Ino]uint32{}
	for ino, n := range v.inodes {
		for name, child := range n.entries {
			c, ok := v.inodes[child]
			if !ok {
				report("entry %d/%q names missing inode %d", ino, name, child)
				continue
			}
			names[child]++
			if c.attr.Type == store.TypeDir {
				subdirs[ino]++
				if c.parent != ino {
					report("dir %d is named in %d but its parent is %d", child, ino, c.parent)
				}
			}
		}
	}
	var bytes uint64
	for ino, n := range v.inodes {
		if n.attr.Type == store.TypeDir {
			want := 2 + subdirs[ino]
			if ino != store.RootIno && names[ino] != 1 {
				report("dir %d has %d names", ino, names[ino])
			}
			if n.attr.Nlink != want {
				report("dir %d nlink %d, want %d", ino, n.attr.Nlink, want)
			}
			continue
		}
		if n.attr.Nlink != names[ino] {
			report("inode %d nlink %d, but %d names", ino, n.attr.Nlink, names[ino])
		}
		if names[ino] == 0 && n.opens == 0 {
			report("inode %d is neither named nor open", ino)
		}
		if n.attr.Type == store.TypeFile {
			bytes += n.attr.Size
			for idx, c := range n.chunks {
				if idx*v.chunkSize+uint64(len(c)) > n.attr.Size {
					report("inode %d chunk %d extends past size %d", ino, idx, n.attr.Size)
				}
			}
		}
	}
	reached := map[store.Ino]bool{store.RootIno: true}
	for queue := []store.Ino{store.RootIno}; len(queue) > 0; queue = queue[1:] {
		for _, child := range v.inodes[queue[0]].entries {
			c, ok := v.inodes[child]
			if !ok || reached[child] {
				continue
			}
			reached[child] = true
			if c.attr.Type == store.TypeDir {
				queue = append(queue, child)
			}
		}
	}
	for ino, n := range v.inodes {
		if !reached[ino] && (n.attr.Type == store.TypeDir || names[ino] > 0) {
			report("inode %d has names but is not reachable from the root", ino)
		}
	}
	if bytes != v.bytes {
		report("usage bytes %d, files hold %d", v.bytes, bytes)
	}
	return problems, nil
}
