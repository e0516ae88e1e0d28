package cassandra

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// renameLock is the volume-wide lock taken by cross-directory renames, as Linux's VFS takes
// s_vfs_rename_mutex: it keeps directory parents stable while the loop check runs and serialises the
// multi-partition steps of concurrent cross-directory renames.
const renameLock = "rename"

// Rename implements store.Namespace.
//
// Within one directory it is one conditional batch on the directory's partition (atomic). Across directories,
// under the volume's rename lock: an intent record, then the new entry (the commit point), then the old entry
// is removed, then parents' nlink and the moved directory's parent pointer, then the replaced inode's link, then
// the intent is deleted. A crash before the commit point leaves the old state; after it, both names may refer to
// the source until the intent is replayed (CleanupStaleSessions, Fsck), which finishes the move.
func (v *Volume) Rename(ctx context.Context, oldParent store.Ino, oldName string, newParent store.Ino, newName string, flags uint32) (err error) {
	defer shape(&err)
	if err := store.CheckName(oldName); err != nil {
		return err
	}
	if err := store.CheckName(newName); err != nil {
		return err
	}
	if flags&^(store.RenameNoReplace|store.RenameExchange) != 0 ||
		flags == store.RenameNoReplace|store.RenameExchange {
		return syscall.EINVAL
	}
	if err := v.checkOpen(); err != nil {
		return err
	}
	locked, err := v.renameNeedsLock(ctx, oldParent, oldName, newParent, newName, flags)
	if err != nil {
		return err
	}
	if locked {
		lctx, unlock, err := v.lockRename(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		ctx = lctx
	}
	for attempt := 0; ; attempt++ {
		err := v.renameOnce(ctx, oldParent, oldName, newParent, newName, flags, locked)
		if errors.Is(err, errNeedLock) {
			// A directory appeared under one of the names since the first look: start again under the lock.
			lctx, unlock, lerr := v.lockRename(ctx)
			if lerr != nil {
				return lerr
			}
			defer unlock()
			ctx = lctx
			locked = true
			continue
		}
		if !errors.Is(err, errRetry) {
			return err
		}
		if attempt == 20 {
			return fmt.Errorf("cassandra: rename: entries keep changing: %w", syscall.EIO)
		}
	}
}

// renameNeedsLock reports whether a rename must hold the volume's rename lock: across directories, exchanges,
// and whenever a directory is moved or replaced (rmdir takes it too, so a directory is never removed while it
// moves). Same-directory renames of other files are one conditional batch and need no lock.
func (v *Volume) renameNeedsLock(ctx context.Context, oldParent store.Ino, oldName string, newParent store.Ino, newName string, flags uint32) (bool, error) {
	if oldParent != newParent || flags&store.RenameExchange != 0 {
		return true, nil
	}
	for _, name := range []string{oldName, newName} {
		e, err := v.getEntry(ctx, oldParent, name, false)
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			return false, err
		}
		if err == nil && e.typ == store.TypeDir {
			return true, nil
		}
	}
	return false, nil
}

// lockRename takes the volume's rename lock; the returned function releases it. The returned context carries the
// lease for renameLockValid.
func (v *Volume) lockRename(ctx context.Context) (context.Context, func(), error) {
	lease, err := v.locker.Lock(ctx, renameLock, lock.Exclusive)
	if err != nil {
		return ctx, nil, fmt.Errorf("cassandra: rename lock: %w", err)
	}
	return context.WithValue(ctx, renameLeaseKey{}, lease), func() { _ = lease.Unlock(context.WithoutCancel(ctx)) }, nil
}

type renameLeaseKey struct{}

// renameLockValid fails with EIO when the rename lock held in ctx (lockRename) has been lost, for example with
// the mount's ZooKeeper session: the next step would no longer be protected from another mount's rename. It is
// checked just before the commit point of renames and rmdir.
func renameLockValid(ctx context.Context) error {
	if lease, ok := ctx.Value(renameLeaseKey{}).(lock.Lease); ok {
		if err := lock.Valid(lease); err != nil {
			return fmt.Errorf("cassandra: rename lock: %w: %w", err, syscall.EIO)
		}
	}
	return nil
}

// errRetry: an entry changed between reading and the conditional write; start again.
var errRetry = errors.New("retry")

// errNeedLock: an unlocked rename found a directory under one of its names.
var errNeedLock = errors.New("rename needs the lock")

func (v *Volume) renameOnce(ctx context.Context, oldParent store.Ino, oldName string, newParent store.Ino, newName string, flags uint32, locked bool) error {
	if _, err := v.dir(ctx, oldParent); err != nil {
		return err
	}
	if _, err := v.dir(ctx, newParent); err != nil {
		return err
	}
	src, err := v.getEntry(ctx, oldParent, oldName, attemptSerial)
	if err != nil {
		return err
	}
	dst, err := v.getEntry(ctx, newParent, newName, attemptSerial)
	dstExists := err == nil
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return err
	}
	if !locked && (src.typ == store.TypeDir || dstExists && dst.typ == store.TypeDir) {
		return errNeedLock
	}
	if flags&store.RenameNoReplace != 0 && dstExists {
		return syscall.EEXIST
	}
	if flags&store.RenameExchange != 0 {
		if !dstExists {
			return syscall.ENOENT
		}
		if src.ino == dst.ino {
			return nil
		}
		if oldParent != newParent {
			if src.typ == store.TypeDir {
				if under, err := v.isUnder(ctx, newParent, src.ino); err != nil || under {
					return cmpErr(err, syscall.EINVAL)
				}
			}
			if dst.typ == store.TypeDir {
				if under, err := v.isUnder(ctx, oldParent, dst.ino); err != nil || under {
					return cmpErr(err, syscall.EINVAL)
				}
			}
		}
		if err := renameLockValid(ctx); err != nil {
			return err
		}
		return v.exchange(ctx, intent{Op: "exchange", Src: src.ino, SrcType: src.typ, OldParent: oldParent,
			OldName: oldName, NewParent: newParent, NewName: newName, Dst: dst.ino, DstType: dst.typ})
	}
	if dstExists && dst.ino == src.ino {
		return nil
	}
	if src.typ == store.TypeDir && oldParent != newParent {
		if under, err := v.isUnder(ctx, newParent, src.ino); err != nil || under {
			return cmpErr(err, syscall.EINVAL)
		}
	}
	in := intent{Op: "rename", Src: src.ino, SrcType: src.typ, OldParent: oldParent, OldName: oldName,
		NewParent: newParent, NewName: newName}
	if dstExists {
		switch {
		case src.typ == store.TypeDir && dst.typ != store.TypeDir:
			return syscall.ENOTDIR
		case src.typ != store.TypeDir && dst.typ == store.TypeDir:
			return syscall.EISDIR
		}
		in.Dst, in.DstType = dst.ino, dst.typ
		if dst.typ == store.TypeDir {
			if err := v.seal(ctx, dst.ino); err != nil {
				return err
			}
		}
	}
	var moved error
	if err := renameLockValid(ctx); err != nil {
		moved = err
	} else if oldParent == newParent {
		moved = v.renameInDir(ctx, in)
	} else {
		moved = v.renameAcross(ctx, &in)
	}
	if moved != nil {
		if in.Dst != 0 && in.DstType == store.TypeDir && !errors.Is(moved, errCrashed) {
			_ = v.unseal(context.WithoutCancel(ctx), in.Dst)
		}
		return moved
	}
	return v.finishRename(ctx, in)
}

// attemptSerial: rename reads entries through Paxos, so that a retry after a failed condition sees the winner.
const attemptSerial = true

func cmpErr(err error, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// errCrashed marks an error from a failpoint: the operation stops as if the process died.
var errCrashed = errors.New("crashed")

// renameInDir moves the entry within one directory: a conditional batch on the directory's partition.
func (v *Volume) renameInDir(ctx context.Context, in intent) error {
	b := v.s.Batch(0).WithContext(ctx).SerialConsistency(v.serial)
	b.SetConsistency(v.cons)
	b.Query(cql(v.ks, `DELETE FROM {ks}.dentries WHERE parent = ? AND name = ? IF ino = ?`),
		int64(in.OldParent), []byte(in.OldName), int64(in.Src))
	if in.Dst != 0 {
		b.Query(cql(v.ks, `UPDATE {ks}.dentries SET ino = ?, type = ? WHERE parent = ? AND name = ? IF ino = ?`),
			int64(in.Src), int(in.SrcType), int64(in.NewParent), []byte(in.NewName), int64(in.Dst))
	} else {
		b.Query(cql(v.ks, `UPDATE {ks}.dentries SET ino = ?, type = ? WHERE parent = ? AND name = ? IF ino = null`),
			int64(in.Src), int(in.SrcType), int64(in.NewParent), []byte(in.NewName))
	}
	applied, err := execBatchCAS(b)
	if err != nil {
		// Unknown outcome: it landed if the new name now refers to the source and the old one does not.
		n, nerr := v.getEntry(ctx, in.NewParent, in.NewName, true)
		_, oerr := v.getEntry(ctx, in.OldParent, in.OldName, true)
		if nerr == nil && n.ino == in.Src && errors.Is(oerr, syscall.ENOENT) {
			return nil
		}
		return fmt.Errorf("cassandra: rename: %w", err)
	}
	if !applied {
		return errRetry
	}
	return fail("rename.indir")
}

// renameAcross moves the entry between directories (the caller holds the rename lock).
func (v *Volume) renameAcross(ctx context.Context, in *intent) error {
	id, err := v.writeIntent(ctx, *in)
	if err != nil {
		return err
	}
	in.id = id
	if err := fail("rename.intent"); err != nil {
		return err
	}
	if err := renameLockValid(ctx); err != nil {
		_ = v.deleteIntent(context.WithoutCancel(ctx), v.sid, id)
		return err
	}
	if in.SrcType != store.TypeDir {
		// Like link: count the new name before it exists, so that a concurrent unlink of the old name never
		// sees the file's last link while the new entry is being made.
		if _, err := v.updateInode(ctx, in.Src, func(n *inode) error {
			if n.Nlink == 0 {
				return syscall.ENOENT
			}
			n.Nlink++
			return nil
		}); err != nil {
			_ = v.deleteIntent(context.WithoutCancel(ctx), v.sid, id)
			return err
		}
		in.counted = true
	}
	undo := func() {
		ctx := context.WithoutCancel(ctx)
		if in.counted {
			_, _ = v.dropLink(ctx, in.Src, now())
		}
		_ = v.deleteIntent(ctx, v.sid, id)
	}
	if in.Dst != 0 {
		for attempt := 0; ; attempt++ {
			applied, _, err := cas(ctx, v.q(`UPDATE {ks}.dentries SET ino = ?, type = ? WHERE parent = ? AND name = ? IF ino = ?`,
				int64(in.Src), int(in.SrcType), int64(in.NewParent), []byte(in.NewName), int64(in.Dst)))
			if err == nil && !applied {
				err = errRetry
			}
			if err == nil {
				break
			}
			got, rerr := v.getEntry(ctx, in.NewParent, in.NewName, true)
			if rerr == nil && got.ino == in.Src {
				break // it landed
			}
			// An unknown outcome that the SERIAL read shows did not land (the name still holds the replaced
			// inode) is sent again; anything else undoes and returns.
			if !errors.Is(err, errRetry) && rerr == nil && got.ino == in.Dst && attempt < 3 && ctx.Err() == nil {
				continue
			}
			undo()
			return err
		}
	} else if err := v.createEntry(ctx, in.NewParent, in.NewName, entry{in.Src, in.SrcType}); err != nil {
		undo()
		if errors.Is(err, syscall.EEXIST) {
			return errRetry
		}
		return err
	}
	if err := fail("rename.new"); err != nil {
		return err
	}
	switch err := v.removeEntry(ctx, in.OldParent, in.OldName, in.Src); {
	case err == nil:
		in.oldRemoved = true
	case errors.Is(err, syscall.ENOENT):
		// Unlinked or renamed meanwhile by someone who accounted for it: our count of the new name stays.
	default:
		return err
	}
	return fail("rename.old")
}

// finishRename does the steps after the entries moved: nlink and parent pointer of directories, the count taken
// for a moved file's old name, the replaced inode's link, times, and the intent. An inode or directory removed
// meanwhile is skipped.
func (v *Volume) finishRename(ctx context.Context, in intent) error {
	t := now()
	var errs []error
	step := func(err error) {
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, err)
		}
	}
	if in.SrcType == store.TypeDir && in.OldParent != in.NewParent {
		_, err := v.updateInode(ctx, in.Src, func(n *inode) error {
			n.parent, n.Ctime = in.NewParent, max(n.Ctime, t)
			return nil
		})
		step(err)
		step(v.touchDir(ctx, in.OldParent, t, -1))
		step(v.touchDir(ctx, in.NewParent, t, 1))
	} else {
		if in.counted && in.oldRemoved {
			_, err := v.dropLink(ctx, in.Src, t)
			step(err)
		} else {
			step(v.touchCtime(ctx, in.Src))
		}
		step(v.touchDir(ctx, in.OldParent, t, 0))
		if in.OldParent != in.NewParent {
			step(v.touchDir(ctx, in.NewParent, t, 0))
		}
	}
	if err := fail("rename.parents"); err != nil {
		return err
	}
	if in.Dst != 0 {
		if in.DstType == store.TypeDir {
			step(v.touchDir(ctx, in.NewParent, t, -1))
		}
		_, err := v.dropLink(ctx, in.Dst, t)
		step(err)
	}
	if len(errs) == 0 && in.id != "" {
		step(v.deleteIntent(ctx, v.sid, in.id))
	}
	return errors.Join(errs...)
}

// exchange swaps two entries (renameat2 RENAME_EXCHANGE).
func (v *Volume) exchange(ctx context.Context, in intent) error {
	if in.OldParent == in.NewParent {
		b := v.s.Batch(0).WithContext(ctx).SerialConsistency(v.serial)
		b.SetConsistency(v.cons)
		b.Query(cql(v.ks, `UPDATE {ks}.dentries SET ino = ?, type = ? WHERE parent = ? AND name = ? IF ino = ?`),
			int64(in.Dst), int(in.DstType), int64(in.OldParent), []byte(in.OldName), int64(in.Src))
		b.Query(cql(v.ks, `UPDATE {ks}.dentries SET ino = ?, type = ? WHERE parent = ? AND name = ? IF ino = ?`),
			int64(in.Src), int(in.SrcType), int64(in.NewParent), []byte(in.NewName), int64(in.Dst))
		applied, err := execBatchCAS(b)
		if err != nil {
			// Unknown outcome: it landed if the two names now refer to the swapped inodes.
			o, oerr := v.getEntry(ctx, in.OldParent, in.OldName, true)
			n, nerr := v.getEntry(ctx, in.NewParent, in.NewName, true)
			if oerr != nil || nerr != nil || o.ino != in.Dst || n.ino != in.Src {
				return fmt.Errorf("cassandra: exchange: %w", err)
			}
			applied = true
		}
		if !applied {
			return errRetry
		}
		return v.finishExchange(ctx, in)
	}
	return v.exchangeAcross(ctx, in)
}

// execBatchCAS runs a conditional batch.
func execBatchCAS(b *gocql.Batch) (bool, error) {
	applied, iter, err := b.MapExecCAS(map[string]any{})
	if iter != nil {
		_ = iter.Close()
	}
	if err == nil {
		if ferr := fail("cas.reply"); ferr != nil { // tests: the batch applied, its reply was lost
			return false, ferr
		}
	}
	return applied, err
}

// isUnder reports whether directory d is dir or lies below it, following parent pointers to the root.
func (v *Volume) isUnder(ctx context.Context, d, dir store.Ino) (bool, error) {
	for i := 0; i < 1<<16; i++ {
		if d == dir {
			return true, nil
		}
		if d == store.RootIno {
			return false, nil
		}
		n, err := v.readInode(ctx, d, true)
		if err != nil {
			return false, err
		}
		d = n.parent
	}
	return false, fmt.Errorf("cassandra: directory parent chain too long: %w", syscall.EIO)
}
