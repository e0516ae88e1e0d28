package chunks

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// ErrCompactRace is returned (wrapped, with EAGAIN) when a concurrent compaction or truncation removed blocks
// that Compact was merging. Compact then removes what it wrote; nothing is lost and it may simply run again.
var ErrCompactRace = errors.New("chunks: concurrent compaction or truncation")

// Compact merges the settled slices of (ino, chunk) into as few new slices as the data's extents allow (runs of
// data separated by at least BlockSize of zeros stay apart; ranges where a zero slice wins stay zero slices),
// then deletes the replaced slice rows and their blocks. It does nothing when that would not reduce the count.
//
// A slice is settled when its timestamp is older than this Store's wall clock minus CompactSettle; every slice of
// the chunk with a smaller timestamp has been inserted by then (see the package documentation), so the merged
// slices, which take the key of the newest settled slice they replace (with a random gen > 0 to sort just after
// it), hide exactly what the merged ones hid: every write that is newer than them, landed or still in flight,
// stays newer. Callers run Compact under a per-inode lock, but concurrent compactions of one chunk are safe too:
// merged results with one base key show the same bytes, one with an older base key is deleted or hidden by the
// newer one, and a compaction whose source blocks disappear gives up (ErrCompactRace).
func (s *Store) Compact(ctx context.Context, ino uint64, chunk uint64) error {
	l, err := s.loadList(ctx, ino, chunk)
	if err != nil {
		return err
	}
	cut := s.cfg.Now().UnixNano() - int64(s.cfg.CompactSettle)
	n := 0
	for n < len(l) && l[n].key.ts < cut {
		n++
	}
	old := l[:n]
	if len(old) < 2 {
		return nil
	}
	bs := uint64(s.cfg.BlockSize)
	rs := runs(plan(old, 0, s.cfg.ChunkSize), bs)
	if len(rs) >= len(old) {
		return nil // nothing to gain
	}
	top := old[len(old)-1].key
	merged := make([]slice, len(rs))
	for k, r := range rs {
		m := slice{key: sliceKey{ts: top.ts, writer: top.writer, gen: randomID()}, pos: r.a, length: r.b - r.a, zero: r.zero}
		if !r.zero {
			nb := (m.length + bs - 1) / bs
			m.bwriter, m.bseq, m.bsize = s.writer, s.seq.Add(int64(nb))-int64(nb), bs
		}
		merged[k] = m
	}
	if err := s.writeMerged(ctx, ino, old, merged); err != nil {
		// Blocks of the merged slices are not referenced yet: remove them (best effort).
		_ = s.deleteBlocks(context.WithoutCancel(ctx), merged)
		if errors.Is(err, errBlockMissing) {
			return fmt.Errorf("%w: inode %d chunk %d: %w", ErrCompactRace, ino, chunk, syscall.EAGAIN)
		}
		return err
	}
	if s.afterCompactRead != nil {
		s.afterCompactRead()
	}
	for _, m := range merged {
		if err := s.insertSlice(ctx, ino, chunk, m); err != nil {
			return err
		}
	}
	// The merged slices are in place and hide the old ones: readers see the same bytes with or without them.
	s.lists.update(ino, chunk, func(cur []slice) []slice {
		out := without(cur, old)
		for _, m := range merged {
			out = withSlice(out, m)
		}
		return out
	})
	if err := s.deleteSlices(ctx, ino, chunk, old, top.ts); err != nil {
		return err
	}
	return s.deleteBlocks(ctx, old)
}

// writeMerged fills and stores the blocks of the merged slices from the old slices, one block at a time per
// worker, so memory stays at Parallelism blocks (plus the bounded cache).
func (s *Store) writeMerged(ctx context.Context, ino uint64, old, merged []slice) error {
	type job struct {
		m *slice
		i int
	}
	var jobs []job
	for k := range merged {
		for i := 0; i < merged[k].nblocks(); i++ {
			jobs = append(jobs, job{&merged[k], i})
		}
	}
	return parallel(ctx, len(jobs), s.cfg.Parallelism, func(ctx context.Context, j int) error {
		m, i := jobs[j].m, jobs[j].i
		a := m.pos + uint64(i)*m.bsize
		buf := make([]byte, m.blockLen(i))
		for _, sg := range plan(old, a, a+uint64(len(buf))) {
			if sg.src < 0 {
				continue // fresh buffer: already zeros
			}
			sl := &old[sg.src]
			for _, pc := range pieces(sl, sg, sg.off-a) {
				data, err := s.block(ctx, sl.block(pc.block), sl.blockLen(pc.block))
				if err != nil {
					return err
				}
				copy(buf[pc.dst:pc.dst+pc.length], data[pc.within:pc.within+pc.length])
			}
		}
		return s.putBlock(ctx, ino, m.block(i), buf, m.key.ts)
	})
}
