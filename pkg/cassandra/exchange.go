package cassandra

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

// slotWrite is one step of a cross-directory exchange: the entry parent/name, which holds inode has, is made to
// hold put instead.
type slotWrite struct {
	parent     store.Ino
	name       string
	has, put   store.Ino
	hasT, putT store.FileType
}

func (v *Volume) writeSlot(ctx context.Context, w slotWrite) (bool, error) {
	for attempt := 0; ; attempt++ {
		applied, _, err := cas(ctx, v.q(`UPDATE {ks}.dentries SET ino = ?, type = ? WHERE parent = ? AND name = ? IF ino = ?`,
			int64(w.put), int(w.putT), int64(w.parent), []byte(w.name), int64(w.has)))
		if err == nil {
			return applied, nil
		}
		// Unknown outcome, settled by a SERIAL read: landed, or the slot still holds what it had (not landed:
		// send it again).
		got, rerr := v.getEntry(ctx, w.parent, w.name, true)
		if rerr == nil && got.ino == w.put {
			return true, nil // it landed
		}
		if rerr == nil && got.ino == w.has && attempt < 3 && ctx.Err() == nil {
			continue
		}
		return false, fmt.Errorf("cassandra: exchange: %w (read back: %v)", err, rerr)
	}
}

// exchangeAcross swaps two entries in different directories (the caller holds the rename lock). Two
// conditional writes, one per directory partition, with the inodes' counts raised for the moment one of them
// has two names:
//
//   - Entries that name directories change only under the rename lock; entries that name files can change at
//     any time (unlink, link, same-directory rename take no lock). So the first write puts a directory (if
//     there is one) into the file's slot: after it, the other slot still names a directory and the second write
//     cannot fail for a concurrent reason. A directory is never left without its entry.
//   - If the second write finds its slot changed (only possible when both are files), whoever changed it
//     accounted for the name it took away; the file that was to move there has lost its old name: its count
//     drops twice.
func (v *Volume) exchangeAcross(ctx context.Context, in intent) error {
	first := slotWrite{in.NewParent, in.NewName, in.Dst, in.Src, in.DstType, in.SrcType}
	second := slotWrite{in.OldParent, in.OldName, in.Src, in.Dst, in.SrcType, in.DstType}
	if first.putT != store.TypeDir && first.hasT == store.TypeDir {
		first, second = second, first
	}
	id, err := v.writeIntent(ctx, in)
	if err != nil {
		return err
	}
	in.id = id
	var counted []store.Ino
	undo := func(err error) error {
		ctx := context.WithoutCancel(ctx)
		for _, ino := range counted {
			_, _ = v.dropLink(ctx, ino, now())
		}
		_ = v.deleteIntent(ctx, v.sid, id)
		return err
	}
	for _, side := range []entry{{in.Src, in.SrcType}, {in.Dst, in.DstType}} {
		if side.typ == store.TypeDir {
			continue
		}
		if _, err := v.updateInode(ctx, side.ino, func(n *inode) error {
			if n.Nlink == 0 {
				return syscall.ENOENT // being reclaimed: its entry is gone
			}
			n.Nlink++
			return nil
		}); err != nil {
			return undo(err)
		}
		counted = append(counted, side.ino)
	}
	applied, err := v.writeSlot(ctx, first)
	if err == nil && !applied {
		err = errRetry
	}
	if err != nil {
		return undo(err)
	}
	if err := fail("exchange.new"); err != nil {
		return err
	}
	applied, err = v.writeSlot(ctx, second)
	if err != nil {
		return err
	}
	t := now()
	lost := second.put // moved out of the first slot; without a second slot if the second write did not apply
	for _, ino := range counted {
		drops := 1
		if !applied {
			switch ino {
			case second.has:
				drops = 0 // its second-slot name was taken by someone else, who uncounted it; it keeps the first
			case lost:
				drops = 2
			}
		}
		for range drops {
			if _, err := v.dropLink(ctx, ino, t); err != nil && !errors.Is(err, syscall.ENOENT) {
				return err
			}
		}
	}
	return v.finishExchange(ctx, in)
}

func (v *Volume) finishExchange(ctx context.Context, in intent) error {
	t := now()
	var errs []error
	step := func(err error) {
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, err)
		}
	}
	for _, side := range []struct {
		ino      store.Ino
		typ      store.FileType
		from, to store.Ino
	}{{in.Src, in.SrcType, in.OldParent, in.NewParent}, {in.Dst, in.DstType, in.NewParent, in.OldParent}} {
		_, err := v.updateInode(ctx, side.ino, func(n *inode) error {
			if side.typ == store.TypeDir {
				n.parent = side.to
			}
			n.Ctime = max(n.Ctime, t)
			return nil
		})
		step(err)
		if side.typ == store.TypeDir && side.from != side.to {
			step(v.touchDir(ctx, side.from, t, -1))
			step(v.touchDir(ctx, side.to, t, 1))
		}
	}
	step(v.touchDir(ctx, in.OldParent, t, 0))
	if in.NewParent != in.OldParent {
		step(v.touchDir(ctx, in.NewParent, t, 0))
	}
	if len(errs) == 0 && in.id != "" {
		step(v.deleteIntent(ctx, v.sid, in.id))
	}
	return errors.Join(errs...)
}
