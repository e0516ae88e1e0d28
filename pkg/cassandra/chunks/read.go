package chunks

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// readAttempts bounds how often a Read reloads slice lists after finding a block gone (deleted by a concurrent
// compaction or truncation on another mount).
const readAttempts = 4

// Read fills buf from offset off of ino, reading only below size (the file size the caller knows), and returns
// the number of bytes read: min(len(buf), size-off), 0 at or after size. Holes, ranges never written and zero
// slices read as zeros; where slices overlap the newest wins.
func (s *Store) Read(ctx context.Context, ino uint64, off uint64, buf []byte, size uint64) (int, error) {
	if off >= size {
		return 0, nil
	}
	n := min(uint64(len(buf)), size-off)
	buf = buf[:n]
	var err error
	for attempt := 0; attempt < readAttempts; attempt++ {
		var chunks []uint64
		chunks, err = s.readOnce(ctx, ino, off, buf)
		if err == nil {
			return int(n), nil
		}
		if !errors.Is(err, errBlockMissing) {
			return 0, err
		}
		for _, c := range chunks {
			s.lists.dropChunk(ino, c)
		}
	}
	return 0, fmt.Errorf("chunks: inode %d: blocks keep disappearing: %v: %w", ino, err, syscall.EIO)
}

// blockTask is every piece of buf that comes from one block.
type blockTask struct {
	id     blockID
	rawLen uint64
	parts  []blockPiece // dst relative to buf
}

// readOnce plans and performs one read; it returns the chunks it planned (to drop their lists on a retry).
func (s *Store) readOnce(ctx context.Context, ino uint64, off uint64, buf []byte) ([]uint64, error) {
	cs := s.cfg.ChunkSize
	end := off + uint64(len(buf))
	var chunks []uint64
	var tasks []*blockTask
	index := map[blockID]*blockTask{}
	for p := off; p < end; {
		chunk := p / cs
		base := chunk * cs
		a, b := p-base, min(cs, end-base)
		chunks = append(chunks, chunk)
		l, err := s.list(ctx, ino, chunk)
		if err != nil {
			return chunks, err
		}
		for _, sg := range plan(l, a, b) {
			dst := base + sg.off - off
			if sg.src < 0 {
				clear(buf[dst : dst+sg.length])
				continue
			}
			sl := &l[sg.src]
			for _, pc := range pieces(sl, sg, dst) {
				id := sl.block(pc.block)
				t := index[id]
				if t == nil {
					t = &blockTask{id: id, rawLen: sl.blockLen(pc.block)}
					index[id] = t
					tasks = append(tasks, t)
				}
				t.parts = append(t.parts, pc)
			}
		}
		p = base + b
	}
	err := parallel(ctx, len(tasks), s.cfg.Parallelism, func(ctx context.Context, i int) error {
		t := tasks[i]
		data, err := s.block(ctx, t.id, t.rawLen)
		if err != nil {
			return err
		}
		for _, pc := range t.parts {
			copy(buf[pc.dst:pc.dst+pc.length], data[pc.within:pc.within+pc.length])
		}
		return nil
	})
	return chunks, err
}

// SliceCount returns the number of slice records of (ino, chunk), from the cache or Cassandra.
func (s *Store) SliceCount(ctx context.Context, ino, chunk uint64) (int, error) {
	l, err := s.list(ctx, ino, chunk)
	return len(l), err
}
