package cassandra

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/store"
)

// The dentries table: one partition per directory, one row per name (a blob, so that listing is bytewise
// ordered). Every write is an LWT so that concurrent mounts agree; the static column sealed, set while rmdir or a
// rename over a directory checks that the directory is empty, makes creates in it fail.

// entry is one directory entry.
type entry struct {
	ino store.Ino
	typ store.FileType
}

// getEntry reads the entry name of parent; ENOENT if missing. serial reads through Paxos.
func (v *Volume) getEntry(ctx context.Context, parent store.Ino, name string, serial bool) (entry, error) {
	stmt := `SELECT ino, type FROM {ks}.dentries WHERE parent = ? AND name = ?`
	q := v.read(stmt, int64(parent), []byte(name))
	if serial {
		q = v.qs(stmt, int64(parent), []byte(name))
	}
	var ino int64
	var typ int
	err := q.ScanContext(ctx, &ino, &typ)
	if errors.Is(err, gocql.ErrNotFound) || err == nil && ino == 0 {
		return entry{}, syscall.ENOENT
	}
	if err != nil {
		return entry{}, fmt.Errorf("cassandra: read entry %d/%q: %w", parent, name, err)
	}
	return entry{store.Ino(ino), store.FileType(typ)}, nil
}

// createEntry adds name -> e to parent exclusively: EEXIST if the name exists, ENOENT if the directory is
// sealed (being removed). Exactly one of several concurrent creators of a name succeeds.
func (v *Volume) createEntry(ctx context.Context, parent store.Ino, name string, e entry) error {
	for attempt := 0; ; attempt++ {
		applied, cur, err := cas(ctx, v.q(`UPDATE {ks}.dentries SET ino = ?, type = ? WHERE parent = ? AND name = ?
			IF ino = null AND sealed = null`, int64(e.ino), int(e.typ), int64(parent), []byte(name)))
		if err != nil {
			// Unknown outcome: our inode number is unique, so reading the entry back tells.
			got, rerr := v.getEntry(ctx, parent, name, true)
			if rerr == nil && got.ino == e.ino {
				return nil
			}
			if attempt < 3 && (rerr == nil || errors.Is(rerr, syscall.ENOENT)) && ctx.Err() == nil {
				continue
			}
			return fmt.Errorf("cassandra: create entry %d/%q: %w", parent, name, err)
		}
		if applied {
			return nil
		}
		if s, _ := cur["sealed"].(bool); s {
			return syscall.ENOENT
		}
		if ino, _ := cur["ino"].(int64); ino == int64(e.ino) {
			return nil // our own earlier attempt landed
		}
		return syscall.EEXIST
	}
}

// removeEntry deletes name from parent if it still refers to ino. ENOENT if it does not (someone else removed
// or replaced it first).
//
// A delete whose outcome is unknown (its coordinator died, or timed out) is settled by a SERIAL read, which
// completes or supersedes it: if the name still refers to ino, the delete did not land and is sent again.
func (v *Volume) removeEntry(ctx context.Context, parent store.Ino, name string, ino store.Ino) error {
	for attempt := 0; ; attempt++ {
		applied, _, err := cas(ctx, v.q(`DELETE FROM {ks}.dentries WHERE parent = ? AND name = ? IF ino = ?`,
			int64(parent), []byte(name), int64(ino)))
		if err == nil {
			if !applied {
				return syscall.ENOENT
			}
			return nil
		}
		got, rerr := v.getEntry(ctx, parent, name, true)
		if errors.Is(rerr, syscall.ENOENT) || rerr == nil && got.ino != ino {
			return nil // gone (by us or by another remover: either way the name no longer refers to ino)
		}
		if rerr == nil && attempt < 3 && ctx.Err() == nil {
			continue // still there: not landed
		}
		return fmt.Errorf("cassandra: remove entry %d/%q: %w (read back: %v)", parent, name, err, rerr)
	}
}

// seal marks directory dir as being removed and checks, through Paxos, that it is empty: ENOTEMPTY (and
// unsealed again) if it has entries. Creates in a sealed directory fail with ENOENT.
func (v *Volume) seal(ctx context.Context, dir store.Ino) error {
	var applied bool
	for attempt := 0; ; attempt++ {
		var err error
		applied, _, err = cas(ctx, v.q(`UPDATE {ks}.dentries SET sealed = true WHERE parent = ? IF sealed = null`,
			int64(dir)))
		if err == nil {
			break
		}
		// Unknown outcome. Only holders of the rename lock (the caller) seal, so a seal found now is ours; none
		// found (the SERIAL read settles it) means it did not land: send it again.
		s, rerr := v.sealed(ctx, dir)
		if rerr == nil && s {
			applied = true
			break
		}
		if rerr == nil && attempt < 3 && ctx.Err() == nil {
			continue
		}
		return fmt.Errorf("cassandra: seal directory %d: %w (read back: %v)", dir, err, rerr)
	}
	if !applied {
		return syscall.ENOENT // another rmdir/rename is removing it
	}
	var name []byte
	err := v.qs(`SELECT name FROM {ks}.dentries WHERE parent = ? AND name > 0x LIMIT 1`, int64(dir)).
		ScanContext(ctx, &name)
	if errors.Is(err, gocql.ErrNotFound) {
		return nil
	}
	if uerr := v.unseal(ctx, dir); uerr != nil {
		return uerr
	}
	if err != nil {
		return fmt.Errorf("cassandra: check directory %d is empty: %w", dir, err)
	}
	return syscall.ENOTEMPTY
}

func (v *Volume) unseal(ctx context.Context, dir store.Ino) error {
	for attempt := 0; ; attempt++ {
		_, _, err := cas(ctx, v.q(`UPDATE {ks}.dentries SET sealed = null WHERE parent = ? IF sealed = true`,
			int64(dir)))
		if err == nil {
			return nil
		}
		s, rerr := v.sealed(ctx, dir)
		if rerr == nil && !s {
			return nil // it landed
		}
		if rerr == nil && attempt < 3 && ctx.Err() == nil {
			continue // still sealed: not landed
		}
		return fmt.Errorf("cassandra: unseal directory %d: %w (read back: %v)", dir, err, rerr)
	}
}

// sealed reads a directory's sealed marker through Paxos.
func (v *Volume) sealed(ctx context.Context, dir store.Ino) (bool, error) {
	var s bool
	err := v.qs(`SELECT sealed FROM {ks}.dentries WHERE parent = ? LIMIT 1`, int64(dir)).ScanContext(ctx, &s)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	return s, err
}

// listEntries returns up to limit entries of dir after name after (limit <= 0: all).
func (v *Volume) listEntries(ctx context.Context, dir store.Ino, after string, limit int) ([]store.Dirent, error) {
	stmt := `SELECT name, ino, type FROM {ks}.dentries WHERE parent = ? AND name > ?`
	args := []any{int64(dir), []byte(after)}
	if limit > 0 {
		stmt += ` LIMIT ?`
		args = append(args, limit)
	}
	iter := v.read(stmt, args...).PageSize(1000).WithContext(ctx).Iter()
	var out []store.Dirent
	var name []byte
	var ino int64
	var typ int
	for iter.Scan(&name, &ino, &typ) {
		if len(name) == 0 || ino == 0 {
			continue
		}
		out = append(out, store.Dirent{Name: string(name), Ino: store.Ino(ino), Type: store.FileType(typ)})
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: list directory %d: %w", dir, err)
	}
	return out, nil
}
