package cassandra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/pkg/store"
)

// intent records a multi-partition operation before its first step, so that whoever finds it after a crash
// (CleanupStaleSessions for a dead session, Fsck with repair) can finish it. The row lives in the partition of
// the session that started it.
type intent struct {
	Op        string // "rename" or "exchange"
	Src       store.Ino
	SrcType   store.FileType
	OldParent store.Ino
	OldName   string
	NewParent store.Ino
	NewName   string
	Dst       store.Ino // the replaced (rename) or swapped (exchange) inode; 0 if none
	DstType   store.FileType

	id         string // the row's timeuuid, once written
	counted    bool   // the source's nlink was raised for the new name
	oldRemoved bool   // the old entry was removed by this rename
}

func (v *Volume) writeIntent(ctx context.Context, in intent) (string, error) {
	args, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	id := gocql.TimeUUID()
	if err := v.put(`INSERT INTO {ks}.intents (sid, id, op, args) VALUES (?, ?, ?, ?)`, v.sid, id, in.Op,
		string(args)).ExecContext(ctx); err != nil {
		return "", fmt.Errorf("cassandra: record intent: %w", err)
	}
	return id.String(), nil
}

func (v *Volume) deleteIntent(ctx context.Context, sid, id string) error {
	u, err := gocql.ParseUUID(id)
	if err != nil {
		return err
	}
	if err := v.put(`DELETE FROM {ks}.intents WHERE sid = ? AND id = ?`, sid, u).ExecContext(ctx); err != nil {
		return fmt.Errorf("cassandra: delete intent: %w", err)
	}
	return nil
}

// replayIntents finishes (or drops, if they never reached their commit point) the intents of session sid.
// It returns the number replayed.
func (v *Volume) replayIntents(ctx context.Context, sid string) error {
	_, err := v.replaySession(ctx, sid)
	return err
}

func (v *Volume) replaySession(ctx context.Context, sid string) (int, error) {
	iter := v.read(`SELECT id, args FROM {ks}.intents WHERE sid = ?`, sid).WithContext(ctx).Iter()
	var ins []intent
	var id gocql.UUID
	var args string
	for iter.Scan(&id, &args) {
		var in intent
		if err := json.Unmarshal([]byte(args), &in); err != nil {
			return 0, fmt.Errorf("cassandra: intent %s: %w", id, err)
		}
		in.id = id.String()
		ins = append(ins, in)
	}
	if err := iter.Close(); err != nil {
		return 0, fmt.Errorf("cassandra: list intents of %s: %w", sid, err)
	}
	for _, in := range ins {
		if err := v.replay(ctx, in); err != nil {
			return 0, err
		}
		if err := v.deleteIntent(ctx, sid, in.id); err != nil {
			return 0, err
		}
	}
	return len(ins), nil
}

// replay rolls one intent forward if its commit point was reached, else leaves things as they were. Link counts
// are not touched here: Fsck recounts them. Moved directories get their parent pointer.
func (v *Volume) replay(ctx context.Context, in intent) error {
	newE, nerr := v.getEntry(ctx, in.NewParent, in.NewName, true)
	if nerr != nil && !errors.Is(nerr, syscall.ENOENT) {
		return nerr
	}
	oldE, oerr := v.getEntry(ctx, in.OldParent, in.OldName, true)
	if oerr != nil && !errors.Is(oerr, syscall.ENOENT) {
		return oerr
	}
	newIsSrc := nerr == nil && newE.ino == in.Src
	oldIsSrc := oerr == nil && oldE.ino == in.Src
	if in.Op == "exchange" {
		// Either write may have come first (exchangeAcross); once one landed, finish the other.
		oldIsDst := oerr == nil && oldE.ino == in.Dst
		if !newIsSrc && !oldIsDst {
			return nil // not started
		}
		if !newIsSrc {
			if _, err := v.writeSlot(ctx, slotWrite{in.NewParent, in.NewName, in.Dst, in.Src, in.DstType, in.SrcType}); err != nil {
				return err
			}
		}
		if !oldIsDst {
			if _, err := v.writeSlot(ctx, slotWrite{in.OldParent, in.OldName, in.Src, in.Dst, in.SrcType, in.DstType}); err != nil {
				return err
			}
		}
		if in.DstType == store.TypeDir {
			if err := v.setParent(ctx, in.Dst, in.OldParent); err != nil {
				return err
			}
		}
	} else {
		if !newIsSrc {
			if in.Dst != 0 && in.DstType == store.TypeDir {
				return v.unseal(ctx, in.Dst) // not committed: the replaced directory stays
			}
			return nil
		}
		if oldIsSrc {
			if err := v.removeEntry(ctx, in.OldParent, in.OldName, in.Src); err != nil && !errors.Is(err, syscall.ENOENT) {
				return err
			}
		}
	}
	if in.SrcType == store.TypeDir {
		return v.setParent(ctx, in.Src, in.NewParent)
	}
	return nil
}

func (v *Volume) setParent(ctx context.Context, dir, parent store.Ino) error {
	_, err := v.updateInode(ctx, dir, func(n *inode) error {
		if n.parent == parent {
			return errNoChange
		}
		n.parent = parent
		return nil
	})
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	return err
}
