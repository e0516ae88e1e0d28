package cassandra

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/cassfs/cassfs/pkg/cassandra/chunks"
	"github.com/cassfs/cassfs/pkg/store"
)

// Fsck's check of file data (package chunks' tables) against the inodes, and its garbage collection of blocks.
//
// Two kinds of garbage exist. Data of an inode that no longer exists: slices and blocks left when a reclaim was
// cut short after the inode row went, or written through a stale handle after it. And blocks no slice names:
// a Write that stored its blocks and died before its slice records, or a compaction cut short. A block can be
// collected only once its writer (a mount session's data path, recorded in the session row) is gone, since a
// live writer's unnamed blocks may be a Write in flight.
//
// Fsck may run beside live mounts (without repair), so what one scan sees may be a moment of an operation in
// progress: a file reclaimed between the data scan and the inode scan looks like data without an inode, a
// block being deleted by a truncation looks unnamed. Every such finding is looked at again, row by row, before
// it is reported; only what is still wrong then counts.

// dataScan is what Fsck saw of the data tables, in this order: blocks, live writers, slices.
type dataScan struct {
	blocks  map[chunks.BlockID]uint64 // every block, with its inode
	live    map[int64]bool            // data writers of live sessions (this one included)
	unknown []string                  // live sessions that record no writer (written by older versions)
	chunks.DataScan
}

func (v *Volume) scanData(ctx context.Context) (dataScan, error) {
	var d dataScan
	var err error
	if d.blocks, err = v.data.ScanBlocks(ctx); err != nil {
		return d, err
	}
	if d.live, d.unknown, err = v.liveWriters(ctx); err != nil {
		return d, err
	}
	d.DataScan, err = v.data.ScanSlices(ctx)
	return d, err
}

// liveWriters returns the data writers of the sessions whose heartbeat is younger than SessionTimeout, and the
// live sessions that do not record theirs.
func (v *Volume) liveWriters(ctx context.Context) (map[int64]bool, []string, error) {
	cutoff := time.Now().Add(-v.opts.SessionTimeout)
	live := map[int64]bool{v.data.WriterID(): true}
	var unknown []string
	iter := v.read(`SELECT sid, heartbeat, info FROM {ks}.sessions`).WithContext(ctx).Iter()
	var sid, info string
	var hb time.Time
	for iter.Scan(&sid, &hb, &info) {
		if !hb.After(cutoff) {
			continue
		}
		if w := parseSessionInfo(info).Writer; w != 0 {
			live[w] = true
		} else if sid != v.sid {
			unknown = append(unknown, sid)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, nil, fmt.Errorf("cassandra: list sessions: %w", err)
	}
	return live, unknown, nil
}

// checkData reports (and with repair removes) data whose inode does not exist and blocks no slice names whose
// writer is gone. inodes is the inode scan, taken after d.
func (v *Volume) checkData(ctx context.Context, d dataScan, inodes map[store.Ino]inode, repair bool, r *FsckReport) error {
	inos := make([]uint64, 0, len(d.Chunks))
	for ino := range d.Chunks {
		if _, ok := inodes[store.Ino(ino)]; !ok {
			inos = append(inos, ino)
		}
	}
	slices.Sort(inos)
	for _, ino := range inos {
		cs := d.Chunks[ino]
		orphan, err := v.dataWithoutInode(ctx, ino, cs)
		if err != nil {
			return err
		}
		if !orphan {
			continue
		}
		r.DataOrphans++
		r.problem("inode %d does not exist but has data (%d chunks)", ino, len(cs))
		if repair {
			if err := v.data.Purge(ctx, ino, cs); err != nil {
				return err
			}
		}
	}

	byWriter := map[int64][]chunks.BlockID{}
	var writers []int64
	for id := range d.blocks {
		if d.Named[id] {
			continue
		}
		if d.live[id.Writer] {
			r.InFlightBlocks++
			continue
		}
		if byWriter[id.Writer] == nil {
			writers = append(writers, id.Writer)
		}
		byWriter[id.Writer] = append(byWriter[id.Writer], id)
	}
	if len(writers) > 0 && len(d.unknown) > 0 {
		// One of those sessions could be the writer of any of these blocks.
		n := 0
		for _, ids := range byWriter {
			n += len(ids)
		}
		r.InFlightBlocks += n
		r.Notes = append(r.Notes, fmt.Sprintf("%d blocks that no slice names are kept: live sessions %v do not "+
			"record their data writer (run fsck again once they have ended)", n, d.unknown))
		return nil
	}
	slices.Sort(writers)
	for _, w := range writers {
		var leaked []chunks.BlockID
		for _, id := range byWriter[w] {
			ok, err := v.data.BlockExists(ctx, id) // look again: a truncation may be deleting it right now
			if err != nil {
				return err
			}
			if ok {
				leaked = append(leaked, id)
			}
		}
		if len(leaked) == 0 {
			continue
		}
		inoSet := map[uint64]bool{}
		var inoList []uint64
		for _, id := range leaked {
			if ino := d.blocks[id]; !inoSet[ino] {
				inoSet[ino] = true
				inoList = append(inoList, ino)
			}
		}
		slices.Sort(inoList)
		r.LeakedBlocks += len(leaked)
		r.problem("writer %d (no live session): %d blocks that no slice names (leaked; written for inodes %v)",
			w, len(leaked), inoList)
		if repair {
			if err := v.data.DeleteBlocks(ctx, leaked); err != nil {
				return err
			}
		}
	}
	return nil
}

// dataWithoutInode looks again at data found for an inode the inode scan did not see: the inode must be absent,
// then the data present, then the inode still absent. Inode numbers are never reused and an inode row exists
// before any data is written for it, and a reclaim deletes the data before the row; so data still there after
// the row was seen gone is garbage, while a file reclaimed or created between the scans drops out here.
func (v *Volume) dataWithoutInode(ctx context.Context, ino uint64, cs []uint64) (bool, error) {
	absent := func() (bool, error) {
		_, err := v.readInode(ctx, store.Ino(ino), true)
		if errors.Is(err, syscall.ENOENT) {
			return true, nil
		}
		return false, err
	}
	if ok, err := absent(); !ok || err != nil {
		return false, err
	}
	has, err := v.data.HasData(ctx, ino, cs)
	if !has || err != nil {
		return false, err
	}
	return absent()
}
