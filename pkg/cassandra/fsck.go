package cassandra

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/store"
)

// FsckReport says what Fsck found and, with repair, fixed.
type FsckReport struct {
	Inodes, Entries int      // rows scanned (last pass)
	IntentsReplayed int      // unfinished multi-partition operations finished (repair)
	DanglingEntries int      // entries whose inode or directory does not exist
	NlinkFixed      int      // inodes whose nlink did not match their entries
	Orphans         int      // unreachable inodes not held open (reclaimed with repair)
	DataOrphans     int      // inodes that do not exist but have data (purged with repair)
	LeakedBlocks    int      // blocks no slice names, of writers whose session is gone (deleted with repair)
	InFlightBlocks  int      // blocks no slice names, of live sessions (a write in flight: left alone)
	UsageFixed      bool     // the usage counters did not match the inodes
	Repaired        bool     // repair was requested
	Problems        []string // one line per problem found
	Notes           []string // findings that are not problems
}

// Clean reports whether no problem was found.
func (r FsckReport) Clean() bool { return len(r.Problems) == 0 }

func (r *FsckReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Fsck checks the stored invariants of the whole volume: every entry names an existing inode of its type in an
// existing directory; every inode's nlink equals its entries (directories: 2 + subdirectories); every
// directory has one entry and a correct parent pointer; no inode is unreachable unless a session holds it open;
// no directory is left sealed; no intent is pending; the usage counters match; no file data exists for an inode
// that does not; no block is left that no slice names, unless its writer's session is live (fsck_data.go). What a
// scan finds is looked at again before it is reported, so Fsck without repair may run beside live mounts
// (an inode caught at the moment of its reclaim can still be reported). With repair it first finishes
// pending intents, then fixes what it finds, repeating until a pass finds nothing (reclaiming an orphan
// directory orphans its children). Repair assumes the volume is quiescent (no mutation in flight on any mount):
// run it from a maintenance job, not beside live writers.
func (v *Volume) Fsck(ctx context.Context, repair bool) (FsckReport, error) {
	if err := v.checkOpen(); err != nil {
		return FsckReport{}, err
	}
	var total FsckReport
	total.Repaired = repair
	if repair {
		sids, err := v.intentSessions(ctx)
		if err != nil {
			return total, err
		}
		for _, sid := range sids {
			n, err := v.replaySession(ctx, sid)
			if err != nil {
				return total, err
			}
			total.IntentsReplayed += n
		}
	}
	for pass := 0; pass < 10; pass++ {
		r, err := v.fsckPass(ctx, repair)
		if err != nil {
			return total, err
		}
		total.Inodes, total.Entries = r.Inodes, r.Entries
		total.DanglingEntries += r.DanglingEntries
		total.NlinkFixed += r.NlinkFixed
		total.Orphans += r.Orphans
		total.DataOrphans += r.DataOrphans
		total.LeakedBlocks += r.LeakedBlocks
		total.InFlightBlocks = r.InFlightBlocks
		total.Notes = r.Notes
		total.UsageFixed = total.UsageFixed || r.UsageFixed
		total.Problems = append(total.Problems, r.Problems...)
		if !repair || r.Clean() {
			break
		}
	}
	return total, nil
}

func (v *Volume) intentSessions(ctx context.Context) ([]string, error) {
	iter := v.read(`SELECT DISTINCT sid FROM {ks}.intents`).WithContext(ctx).Iter()
	var sids []string
	var sid string
	for iter.Scan(&sid) {
		sids = append(sids, sid)
	}
	return sids, iter.Close()
}

type fsckEntry struct {
	parent store.Ino
	name   string
	entry
}

func (v *Volume) fsckPass(ctx context.Context, repair bool) (FsckReport, error) {
	var r FsckReport
	data, err := v.scanData(ctx) // before the inodes: see dataWithoutInode
	if err != nil {
		return r, err
	}
	if err := fail("fsck.data"); err != nil {
		return r, err
	}
	inodes, err := v.scanInodes(ctx)
	if err != nil {
		return r, err
	}
	entries, sealed, err := v.scanEntries(ctx)
	if err != nil {
		return r, err
	}
	open, err := v.openInodes(ctx)
	if err != nil {
		return r, err
	}
	sids, err := v.intentSessions(ctx)
	if err != nil {
		return r, err
	}
	for _, sid := range sids {
		r.problem("session %s has unfinished intents", sid)
	}
	r.Inodes, r.Entries = len(inodes), len(entries)
	if err := v.checkData(ctx, data, inodes, repair, &r); err != nil {
		return r, err
	}
	refs := map[store.Ino]int{}
	subdirs := map[store.Ino]int{}
	parentOf := map[store.Ino]store.Ino{}
	for _, e := range entries {
		d, dok := inodes[e.parent]
		n, nok := inodes[e.ino]
		if (!dok || !nok) && !v.stillDangling(ctx, e) {
			continue // created or removed since the scans
		}
		switch {
		case !dok || d.Type != store.TypeDir || d.Nlink == 0:
			r.DanglingEntries++
			r.problem("entry %d/%q: directory %d does not exist", e.parent, e.name, e.parent)
		case !nok:
			r.DanglingEntries++
			r.problem("entry %d/%q: inode %d does not exist", e.parent, e.name, e.ino)
		default:
			if n.Type != e.typ {
				r.problem("entry %d/%q: type %d, inode %d has type %d", e.parent, e.name, e.typ, e.ino, n.Type)
				if repair {
					if _, _, err := cas(ctx, v.q(`UPDATE {ks}.dentries SET type = ? WHERE parent = ? AND name = ? IF ino = ?`,
						int(n.Type), int64(e.parent), []byte(e.name), int64(e.ino))); err != nil {
						return r, err
					}
				}
			}
			refs[e.ino]++
			if n.Type == store.TypeDir {
				subdirs[e.parent]++
				parentOf[e.ino] = e.parent
			}
			continue
		}
		if repair {
			if err := v.removeEntry(ctx, e.parent, e.name, e.ino); err != nil && !errors.Is(err, syscall.ENOENT) {
				return r, err
			}
		}
	}
	var expectBytes, expectInodes int64
	for ino, n := range inodes {
		if ino != store.RootIno {
			expectInodes++
		}
		if n.Type == store.TypeFile {
			expectBytes += int64(n.Size)
		}
		want := uint32(refs[ino])
		if n.Type == store.TypeDir {
			if refs[ino] > 1 {
				r.problem("directory %d has %d entries", ino, refs[ino])
			}
			if refs[ino] > 0 || ino == store.RootIno {
				want = 2 + uint32(subdirs[ino])
				if p := parentOf[ino]; ino != store.RootIno && p != n.parent {
					r.problem("directory %d: parent pointer %d, entry in %d", ino, n.parent, p)
					if repair {
						if err := v.setParent(ctx, ino, p); err != nil {
							return r, err
						}
					}
				}
				if sealed[ino] {
					r.problem("directory %d is left sealed", ino)
					if repair {
						if err := v.unseal(ctx, ino); err != nil {
							return r, err
						}
					}
				}
			}
		}
		if refs[ino] == 0 && ino != store.RootIno {
			if open[ino] {
				if n.Nlink != 0 {
					r.NlinkFixed++
					r.problem("inode %d: nlink %d, no entry (held open)", ino, n.Nlink)
					if repair {
						if err := v.setNlink(ctx, ino, 0); err != nil {
							return r, err
						}
					}
				}
				continue
			}
			if !v.stillOrphan(ctx, n) {
				continue
			}
			r.Orphans++
			r.problem("inode %d (type %d, nlink %d) is unreachable", ino, n.Type, n.Nlink)
			if repair {
				if n.Nlink != 0 {
					if err := v.setNlink(ctx, ino, 0); err != nil {
						return r, err
					}
				}
				if err := v.reclaim(ctx, n); err != nil {
					return r, err
				}
				expectInodes--
				if n.Type == store.TypeFile {
					expectBytes -= int64(n.Size)
				}
			}
			continue
		}
		if n.Nlink != want {
			r.NlinkFixed++
			r.problem("inode %d: nlink %d, want %d", ino, n.Nlink, want)
			if repair {
				if err := v.setNlink(ctx, ino, want); err != nil {
					return r, err
				}
			}
		}
	}
	var bytes, count int64
	err = v.qs(`SELECT bytes, inodes FROM {ks}.usage WHERE k = 'total'`).ScanContext(ctx, &bytes, &count)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return r, err
	}
	if bytes != expectBytes || count != expectInodes {
		r.UsageFixed = true
		r.problem("usage counters say %d bytes, %d inodes; inodes hold %d bytes, %d inodes (root excluded)",
			bytes, count, expectBytes, expectInodes)
		if repair {
			if err := v.q(`UPDATE {ks}.usage SET bytes = bytes + ?, inodes = inodes + ? WHERE k = 'total'`,
				expectBytes-bytes, expectInodes-count).ExecContext(ctx); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// stillDangling looks again at an entry whose directory or inode the scans did not see: it must still name the
// same inode, and that inode or the directory must still be missing.
func (v *Volume) stillDangling(ctx context.Context, e fsckEntry) bool {
	cur, err := v.getEntry(ctx, e.parent, e.name, true)
	if err != nil || cur.ino != e.ino {
		return err != nil && !errors.Is(err, syscall.ENOENT) // unreadable: report what the scan saw
	}
	_, ierr := v.readInode(ctx, e.ino, true)
	d, derr := v.readInode(ctx, e.parent, true)
	return errors.Is(ierr, syscall.ENOENT) || errors.Is(derr, syscall.ENOENT) || derr == nil && d.Nlink == 0
}

// stillOrphan looks again at an inode no entry named and no session held open in the scans: it must be
// unchanged (same version: no operation touched it since) and still not held open.
func (v *Volume) stillOrphan(ctx context.Context, n inode) bool {
	cur, err := v.readInode(ctx, n.Ino, true)
	if err != nil {
		return !errors.Is(err, syscall.ENOENT)
	}
	if cur.ver != n.ver {
		return false
	}
	var sid string
	err = v.read(`SELECT sid FROM {ks}.opens WHERE ino = ? LIMIT 1`, int64(n.Ino)).ScanContext(ctx, &sid)
	return errors.Is(err, gocql.ErrNotFound)
}

func (v *Volume) setNlink(ctx context.Context, ino store.Ino, nlink uint32) error {
	_, err := v.updateInode(ctx, ino, func(n *inode) error {
		n.Nlink = nlink
		return nil
	})
	return err
}

func (v *Volume) scanInodes(ctx context.Context) (map[store.Ino]inode, error) {
	iter := v.read(`SELECT ino, ver, type, nlink, size, parent FROM {ks}.inodes`).PageSize(1000).WithContext(ctx).Iter()
	out := map[store.Ino]inode{}
	var ino, ver, size, parent int64
	var typ, nlink int
	for iter.Scan(&ino, &ver, &typ, &nlink, &size, &parent) {
		out[store.Ino(ino)] = inode{Attr: store.Attr{Ino: store.Ino(ino), Type: store.FileType(typ),
			Nlink: uint32(nlink), Size: uint64(size)}, ver: ver, parent: store.Ino(parent)}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: scan inodes: %w", err)
	}
	return out, nil
}

func (v *Volume) scanEntries(ctx context.Context) ([]fsckEntry, map[store.Ino]bool, error) {
	iter := v.read(`SELECT parent, name, ino, type, sealed FROM {ks}.dentries`).PageSize(1000).WithContext(ctx).Iter()
	var out []fsckEntry
	sealed := map[store.Ino]bool{}
	var parent, ino int64
	var name []byte
	var typ int
	var s bool
	for iter.Scan(&parent, &name, &ino, &typ, &s) {
		if s {
			sealed[store.Ino(parent)] = true
		}
		if len(name) == 0 || ino == 0 {
			continue
		}
		out = append(out, fsckEntry{store.Ino(parent), string(name), entry{store.Ino(ino), store.FileType(typ)}})
	}
	if err := iter.Close(); err != nil {
		return nil, nil, fmt.Errorf("cassandra: scan entries: %w", err)
	}
	return out, sealed, nil
}

func (v *Volume) openInodes(ctx context.Context) (map[store.Ino]bool, error) {
	iter := v.read(`SELECT DISTINCT ino FROM {ks}.opens`).WithContext(ctx).Iter()
	out := map[store.Ino]bool{}
	var ino int64
	for iter.Scan(&ino) {
		out[store.Ino(ino)] = true
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: scan open records: %w", err)
	}
	return out, nil
}

// Checker adapts a Volume to storetest.Checker (Fsck returning one line per problem).
type Checker struct{ *Volume }

// Fsck runs Volume.Fsck and returns its problems.
func (c Checker) Fsck(ctx context.Context, repair bool) ([]string, error) {
	r, err := c.Volume.Fsck(ctx, repair)
	return r.Problems, err
}
