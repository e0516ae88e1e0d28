package chunks

import (
	"context"
	"fmt"
	"slices"
	"syscall"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// maxFileSize keeps every byte offset representable as a CQL bigint.
const maxFileSize = 1 << 62

// piece is the part of one Write that falls into one chunk.
type piece struct {
	chunk uint64
	pos   uint64 // offset in the chunk
	data  []byte
	sl    slice
}

// Write stores data at offset off of inode ino. When it returns nil, the bytes are durable at the configured
// consistency: first every block is written (immutable, compressed, in parallel), then one slice record per
// chunk touched is appended. Nothing stored is ever rewritten, so writers of disjoint ranges (on any mounts)
// never lose each other's bytes. A failed Write may leave some of its chunks written and others not, and
// blocks that no slice refers to (garbage, not corruption).
//
// Before its first write to a chunk since the last Invalidate, the Store reads the chunk's slice list, so that
// its clock passes every slice already there: a write always sorts after every write it could have seen.
func (s *Store) Write(ctx context.Context, ino uint64, off uint64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	end := off + uint64(len(data))
	if end < off || end > maxFileSize {
		return fmt.Errorf("chunks: write past %d: %w", uint64(maxFileSize), syscall.EFBIG)
	}
	cs := s.cfg.ChunkSize
	bs := uint64(s.cfg.BlockSize)
	var ps []piece
	for p := off; p < end; {
		chunk := p / cs
		cend := min(end, (chunk+1)*cs)
		pc := piece{chunk: chunk, pos: p - chunk*cs, data: data[p-off : cend-off]}
		n := (uint64(len(pc.data)) + bs - 1) / bs
		pc.sl = slice{pos: pc.pos, length: uint64(len(pc.data)), bwriter: s.writer, bsize: bs}
		pc.sl.bseq = s.seq.Add(int64(n)) - int64(n)
		ps = append(ps, pc)
		p = cend
	}
	// Observe every chunk's list (usually cached already). A chunk without slices gets its index row (with the
	// blocks, before its first slice).
	type job struct {
		pc *piece
		i  int // block number, or -1 for the chunk's index row
	}
	var jobs []job
	for k, pc := range ps {
		l, err := s.list(ctx, ino, pc.chunk)
		if err != nil {
			return err
		}
		if len(l) == 0 {
			jobs = append(jobs, job{&ps[k], -1})
		}
	}
	for k := range ps {
		for i := 0; i < ps[k].sl.nblocks(); i++ {
			jobs = append(jobs, job{&ps[k], i})
		}
	}
	err := parallel(ctx, len(jobs), s.cfg.Parallelism, func(ctx context.Context, j int) error {
		pc, i := jobs[j].pc, jobs[j].i
		if i < 0 {
			return s.indexChunk(ctx, ino, pc.chunk)
		}
		raw := pc.data[uint64(i)*bs : uint64(i)*bs+pc.sl.blockLen(i)]
		return s.putBlock(ctx, ino, pc.sl.block(i), raw, s.clock.next())
	})
	if err != nil {
		return err
	}
	if err := s.fault("write.blocks"); err != nil {
		return err
	}
	// Then append the slices, each stamped just before its insert.
	return parallel(ctx, len(ps), s.cfg.Parallelism, func(ctx context.Context, k int) error {
		_, err := s.appendSlice(ctx, ino, ps[k].chunk, ps[k].sl)
		return err
	})
}

// putBlock compresses and stores one block, with Cassandra write time ts (in HLC nanoseconds): no later than
// the key of the slice that will refer to it (see cellTime).
func (s *Store) putBlock(ctx context.Context, ino uint64, id blockID, raw []byte, ts int64) error {
	codec, stored, release := s.codecs.encode(raw)
	defer release()
	err := s.query(ctx, s.q.insertBlock, id.writer, id.seq, int64(ino), int8(codec), int32(len(raw)), stored).
		WithTimestamp(cellTime(ts)).Exec()
	if err != nil {
		return fmt.Errorf("chunks: write block: %w", err)
	}
	s.blocksWritten.Add(1)
	s.bytesWritten.Add(int64(len(raw)))
	s.bytesStored.Add(int64(len(stored)))
	return nil
}

// indexChunk records that chunk of ino has slices (idempotent).
func (s *Store) indexChunk(ctx context.Context, ino, chunk uint64) error {
	err := s.query(ctx, s.q.insertIndex, int64(ino), int64(chunk)).WithTimestamp(cellTime(s.clock.next())).Exec()
	if err != nil {
		return fmt.Errorf("chunks: index chunk %d of inode %d: %w", chunk, ino, err)
	}
	return nil
}

// indexed returns the chunks of ino in [from, to) that have (or had) slices, in order.
func (s *Store) indexed(ctx context.Context, ino, from, to uint64) ([]uint64, error) {
	it := s.query(ctx, s.q.selectIndex, int64(ino), int64(from), int64(min(to, 1<<63-1))).Iter()
	var out []uint64
	var c int64
	for it.Scan(&c) {
		out = append(out, uint64(c))
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("chunks: list chunks of inode %d: %w", ino, err)
	}
	return out, nil
}

// appendSlice stamps sl with a fresh key of this Store (gen 0), inserts it, adds it to the cached list and
// returns the key.
func (s *Store) appendSlice(ctx context.Context, ino, chunk uint64, sl slice) (sliceKey, error) {
	if d := s.cfg.CompactSettle / 2; d > 0 {
		// Bound the time between the slice's stamp and its acknowledgement (see CompactSettle).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	sl.key = sliceKey{ts: s.clock.next(), writer: s.writer}
	if err := s.insertSlice(ctx, ino, chunk, sl); err != nil {
		return sliceKey{}, err
	}
	n := s.lists.update(ino, chunk, func(l []slice) []slice { return withSlice(l, sl) })
	if n > s.cfg.CompactThreshold && s.cfg.OnManySlices != nil {
		s.cfg.OnManySlices(ino, chunk, n)
	}
	return sl.key, nil
}

func (s *Store) insertSlice(ctx context.Context, ino, chunk uint64, sl slice) error {
	err := s.query(ctx, s.q.insertSlice, int64(ino), int64(chunk), sl.key.ts, sl.key.writer, sl.key.gen,
		int32(sl.pos), int32(sl.length), sl.zero, sl.bwriter, sl.bseq, int32(sl.bsize)).WithTimestamp(cellTime(sl.key.ts)).Exec()
	if err != nil {
		return fmt.Errorf("chunks: write slice of inode %d chunk %d: %w", ino, chunk, err)
	}
	s.slicesWritten.Add(1)
	return nil
}

// Truncate makes [newSize, oldSize) of ino read as zeros from now on, so that a later extension reads zeros:
// the chunk holding newSize gets a zero slice from newSize to its end, and every chunk wholly at or past newSize
// (up to the one holding oldSize-1) gets a zero slice over the whole chunk, after which the slices that were
// there before and their blocks are deleted. Only chunks in the inode's chunk index are visited (the others hold
// nothing). Nothing happens when newSize >= oldSize.
//
// The zero slices stay as markers: a compaction that read the chunk before the truncation and lands its result
// afterwards writes slices that sort below the marker, so the truncated bytes never come back. Callers
// serialise Truncate with other writers of ino (a write racing with a truncation may survive it).
func (s *Store) Truncate(ctx context.Context, ino uint64, oldSize, newSize uint64) error {
	if newSize >= oldSize {
		return nil
	}
	if oldSize > maxFileSize {
		oldSize = maxFileSize
	}
	cs := s.cfg.ChunkSize
	first := newSize / cs
	chunks, err := s.indexed(ctx, ino, first, (oldSize+cs-1)/cs)
	if err != nil {
		return err
	}
	return parallel(ctx, len(chunks), s.cfg.Parallelism, func(ctx context.Context, i int) error {
		from := uint64(0)
		if chunks[i] == first {
			from = newSize % cs
		}
		return s.zeroChunk(ctx, ino, chunks[i], from)
	})
}

// zeroChunk makes chunk bytes [from, ChunkSize) read as zeros with a zero slice that sorts after every slice there
// now (the list is read afresh, not from the cache, so other mounts' slices count too). When from is 0 it then
// deletes the slices it read (by exact key: slices written later survive) and their blocks; a crash in between
// leaks blocks, never leaves a visible slice without its blocks.
func (s *Store) zeroChunk(ctx context.Context, ino, chunk, from uint64) error {
	l, err := s.refresh(ctx, ino, chunk)
	if err != nil {
		return err
	}
	if from == 0 && len(l) == 0 {
		return nil // nothing to hide
	}
	z, err := s.appendSlice(ctx, ino, chunk, slice{pos: from, length: s.cfg.ChunkSize - from, zero: true})
	if err != nil {
		return err
	}
	if from != 0 || len(l) == 0 {
		return nil
	}
	if err := s.deleteSlices(ctx, ino, chunk, l, z.ts); err != nil {
		return err
	}
	s.lists.update(ino, chunk, func(cur []slice) []slice { return without(cur, l) })
	return s.deleteBlocks(ctx, l)
}

// deleteSlices deletes the slice rows l of one partition: every row stamped before below with one range
// deletion (one tombstone, however many rows: a hot chunk compacted over and over does not pile up row
// tombstones), and the rows of l stamped at or after below one by one. A row that lands late with a stamp before
// below is deleted as well; it could only be hidden under what replaces l anyway (a merged slice or a zero
// marker stamped at or after below). All in single-partition unlogged batches: atomic there, one round trip.
func (s *Store) deleteSlices(ctx context.Context, ino, chunk uint64, l []slice, below int64) error {
	const perBatch = 64
	var rows []slice
	for _, sl := range l {
		if sl.key.ts >= below {
			rows = append(rows, sl)
		}
	}
	rangeDone := false
	for i := 0; i < len(rows) || !rangeDone; i += perBatch {
		b := s.session.Batch(gocql.UnloggedBatch).WithContext(ctx).Consistency(s.cfg.Consistency).
			WithTimestamp(s.deleteTime())
		// Deletions with an explicit write time: applying the batch twice changes nothing (idempotent, so the
		// driver may retry it on another node).
		if !rangeDone {
			b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: s.q.deleteBefore,
				Args: []any{int64(ino), int64(chunk), below}, Idempotent: true})
			rangeDone = true
		}
		for _, sl := range rows[min(i, len(rows)):min(len(rows), i+perBatch)] {
			b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: s.q.deleteSlice,
				Args: []any{int64(ino), int64(chunk), sl.key.ts, sl.key.writer, sl.key.gen}, Idempotent: true})
		}
		s.roundTrips.Add(1)
		if err := b.Exec(); err != nil {
			return fmt.Errorf("chunks: delete slices of inode %d chunk %d: %w", ino, chunk, err)
		}
	}
	return nil
}

// deleteBlocks deletes every block of the given slices and forgets them in the cache.
func (s *Store) deleteBlocks(ctx context.Context, l []slice) error {
	var ids []blockID
	for k := range l {
		for i := 0; i < l[k].nblocks(); i++ {
			ids = append(ids, l[k].block(i))
		}
	}
	s.blocks.remove(ids)
	at := s.deleteTime()
	return parallel(ctx, len(ids), s.cfg.Parallelism, func(ctx context.Context, i int) error {
		if err := s.query(ctx, s.q.deleteBlock, ids[i].writer, ids[i].seq).WithTimestamp(at).Exec(); err != nil {
			return fmt.Errorf("chunks: delete block: %w", err)
		}
		return nil
	})
}

// without returns l minus the slices whose keys are in gone (a new array).
func without(l, gone []slice) []slice {
	drop := make(map[sliceKey]bool, len(gone))
	for _, g := range gone {
		drop[g.key] = true
	}
	out := make([]slice, 0, len(l))
	for _, sl := range l {
		if !drop[sl.key] {
			out = append(out, sl)
		}
	}
	return out
}

// Delete removes every slice and block of ino, and its chunk index; it is idempotent. The chunks to visit come
// from the chunk index, so size (the last known size) is not needed and a sparse file costs what it holds.
// Blocks go first, then the slice partitions, then the index, so a Delete cut short can simply run again.
func (s *Store) Delete(ctx context.Context, ino uint64, size uint64) error {
	return s.deleteChunks(ctx, ino, nil)
}

// deleteChunks deletes the blocks and slices of the indexed chunks of ino and of the extra chunks, then the
// index.
func (s *Store) deleteChunks(ctx context.Context, ino uint64, extra []uint64) error {
	defer s.lists.invalidate(ino)
	chunks, err := s.indexed(ctx, ino, 0, 1<<63-1)
	if err != nil {
		return err
	}
	for _, c := range extra {
		if !slices.Contains(chunks, c) {
			chunks = append(chunks, c)
		}
	}
	err = parallel(ctx, len(chunks), s.cfg.Parallelism, func(ctx context.Context, i int) error {
		l, err := s.loadList(ctx, ino, chunks[i])
		if err != nil {
			return err
		}
		if err := s.deleteBlocks(ctx, l); err != nil {
			return err
		}
		if err := s.query(ctx, s.q.dropAll, int64(ino), int64(chunks[i])).WithTimestamp(s.deleteTime()).Exec(); err != nil {
			return fmt.Errorf("chunks: delete slices of inode %d chunk %d: %w", ino, chunks[i], err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.query(ctx, s.q.dropIndex, int64(ino)).WithTimestamp(s.deleteTime()).Exec(); err != nil {
		return fmt.Errorf("chunks: delete chunk index of inode %d: %w", ino, err)
	}
	return nil
}

// cellTime converts an HLC timestamp (ns) to a Cassandra write time (µs). Rows are never updated, so write times
// matter only against deletions: a slice row carries its own key's time, a block row a time no later than that of
// the slice that refers to it, and a deletion the time of this Store's clock after reading what it deletes
// (deleteTime), so a deletion always shadows what it was meant to delete, whatever the skew between the clocks
// of the mounts involved. (With the driver's default client-side times, a mount whose clock is behind would
// write tombstones older than the rows they target, and the rows would survive.)
func cellTime(ts int64) int64 { return ts / 1000 }

// deleteTime is the write time of a deletion issued now: past every slice this Store has read.
func (s *Store) deleteTime() int64 { return cellTime(s.clock.next()) + 1 }
