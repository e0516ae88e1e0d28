package chunks

import (
	"context"
	"errors"
	"fmt"
	"slices"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Offline checks and garbage collection (used by pkg/cassandra's Fsck).
//
// A block becomes garbage when its writer stores it and then fails (or crashes) before inserting the slice that
// names it, or when a compaction is cut short between its merged blocks and its merged slices. Only the Store
// that wrote a block ever creates a slice naming it (Write and Compact name their own new blocks; nothing copies
// a reference), so once that Store is gone, a block no slice names stays unnamed forever and may be deleted. While
// the writer lives, its unnamed blocks may be a Write in flight: the caller must leave them alone.
//
// The scans read whole tables; they are for maintenance, not for the I/O path. ScanBlocks must run before the
// caller decides which writers are gone, and ScanSlices after: a block seen by the first scan whose writer was
// gone at the decision has every slice naming it in place before the second scan starts.

// BlockID names one stored block: the id of the Store that wrote it (WriterID) and its sequence number there.
type BlockID struct{ Writer, Seq int64 }

// ScanBlocks lists every stored block with the inode it was written for.
func (s *Store) ScanBlocks(ctx context.Context) (map[BlockID]uint64, error) {
	it := s.query(ctx, fmt.Sprintf(`SELECT writer, seq, ino FROM %s.blocks`, s.ks)).PageSize(200).Iter()
	out := map[BlockID]uint64{}
	var id BlockID
	var ino int64
	for it.Scan(&id.Writer, &id.Seq, &ino) {
		out[id] = uint64(ino)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("chunks: scan blocks: %w", err)
	}
	return out, nil
}

// DataScan is what ScanSlices finds: the blocks some slice names, and per inode the chunks that have slices or a
// chunk index row (sorted).
type DataScan struct {
	Named  map[BlockID]bool
	Chunks map[uint64][]uint64
}

// ScanSlices reads every slice record and chunk index row.
func (s *Store) ScanSlices(ctx context.Context) (DataScan, error) {
	d := DataScan{Named: map[BlockID]bool{}, Chunks: map[uint64][]uint64{}}
	seen := map[[2]uint64]bool{}
	add := func(ino, chunk uint64) {
		if k := [2]uint64{ino, chunk}; !seen[k] {
			seen[k] = true
			d.Chunks[ino] = append(d.Chunks[ino], chunk)
		}
	}
	it := s.query(ctx, fmt.Sprintf(`SELECT ino, chunk, len, zero, bwriter, bseq, bsize FROM %s.slices`, s.ks)).
		PageSize(1000).Iter()
	var (
		ino, chunk    int64
		length, bsize int32
		zero          bool
		bwriter, bseq int64
	)
	for it.Scan(&ino, &chunk, &length, &zero, &bwriter, &bseq, &bsize) {
		add(uint64(ino), uint64(chunk))
		sl := slice{length: uint64(length), zero: zero, bwriter: bwriter, bseq: bseq, bsize: uint64(bsize)}
		if !sl.zero && sl.bsize == 0 {
			continue // corrupt; names nothing readable
		}
		for i := 0; i < sl.nblocks(); i++ {
			b := sl.block(i)
			d.Named[BlockID{b.writer, b.seq}] = true
		}
	}
	if err := it.Close(); err != nil {
		return DataScan{}, fmt.Errorf("chunks: scan slices: %w", err)
	}
	it = s.query(ctx, fmt.Sprintf(`SELECT ino, chunk FROM %s.file_chunks`, s.ks)).PageSize(1000).Iter()
	for it.Scan(&ino, &chunk) {
		add(uint64(ino), uint64(chunk))
	}
	if err := it.Close(); err != nil {
		return DataScan{}, fmt.Errorf("chunks: scan chunk index: %w", err)
	}
	for _, cs := range d.Chunks {
		slices.Sort(cs)
	}
	return d, nil
}

// HasData reports whether ino has a chunk index row, or slices in one of the given chunks (read afresh).
func (s *Store) HasData(ctx context.Context, ino uint64, chunks []uint64) (bool, error) {
	idx, err := s.indexed(ctx, ino, 0, 1<<63-1)
	if err != nil {
		return false, err
	}
	if len(idx) > 0 {
		return true, nil
	}
	for _, c := range chunks {
		l, err := s.loadList(ctx, ino, c)
		if err != nil {
			return false, err
		}
		if len(l) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// Purge is Delete for data whose inode is gone: it removes the blocks and slices of the indexed chunks of ino
// and of the extra chunks given (chunks with slices but no index row), then the index. Idempotent.
func (s *Store) Purge(ctx context.Context, ino uint64, extra []uint64) error {
	return s.deleteChunks(ctx, ino, extra)
}

// DeleteBlocks deletes the given blocks. The caller has made sure that no slice names them and none ever will
// (their writers are gone).
func (s *Store) DeleteBlocks(ctx context.Context, ids []BlockID) error {
	l := make([]slice, len(ids))
	for i, id := range ids {
		l[i] = slice{length: 1, bsize: 1, bwriter: id.Writer, bseq: id.Seq}
	}
	return s.deleteBlocks(ctx, l)
}

// BlockExists reports whether block id is still stored (read at the configured consistency).
func (s *Store) BlockExists(ctx context.Context, id BlockID) (bool, error) {
	var ino int64
	err := s.query(ctx, fmt.Sprintf(`SELECT ino FROM %s.blocks WHERE writer = ? AND seq = ?`, s.ks), id.Writer, id.Seq).
		Scan(&ino)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("chunks: read block: %w", err)
	}
	return true, nil
}
