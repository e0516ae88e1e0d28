package lock

import (
	"math"
	"sort"
	"syscall"
)

// Ranges is one owner's record locks on one file as fcntl keeps them: sorted by Start, never overlapping, and
// adjacent ranges of the same type merged. The zero value is no locks.
type Ranges []FileLock

// checkFileLock validates a lock request: EINVAL for an empty range or an unknown type.
func checkFileLock(lk FileLock) error {
	if lk.Start > lk.End || lk.Type > Unlock {
		return syscall.EINVAL
	}
	return nil
}

// Set returns r with lk applied (Type Unlock removes): whatever r held inside [lk.Start, lk.End] is replaced,
// splitting ranges that stick out on either side, then neighbours of the same type are merged. r is not changed.
func (r Ranges) Set(lk FileLock) Ranges {
	out := make(Ranges, 0, len(r)+2)
	for _, x := range r {
		if x.End < lk.Start || x.Start > lk.End {
			out = append(out, x)
			continue
		}
		if x.Start < lk.Start {
			left := x
			left.End = lk.Start - 1
			out = append(out, left)
		}
		if x.End > lk.End {
			right := x
			right.Start = lk.End + 1
			out = append(out, right)
		}
	}
	if lk.Type != Unlock {
		out = append(out, lk)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	merged := out[:0]
	for _, x := range out {
		if n := len(merged); n > 0 {
			prev := &merged[n-1]
			if prev.Type == x.Type && prev.End != math.MaxUint64 && prev.End+1 == x.Start {
				prev.End = x.End
				prev.Pid = x.Pid
				continue
			}
		}
		merged = append(merged, x)
	}
	if len(merged) == 0 {
		return nil
	}
	return merged
}

// conflicts reports whether two locks of different owners exclude each other.
func conflicts(a, b FileLock) bool {
	return a.Start <= b.End && b.Start <= a.End && (a.Type == WriteLock || b.Type == WriteLock)
}

// RangeTable holds every owner's record locks on one file and answers the fcntl questions about them. It is a
// pure data structure, not safe for concurrent use; the FileLockers serialise access to it.
type RangeTable struct {
	owners map[Owner]Ranges
}

// Get returns owner's ranges.
func (t *RangeTable) Get(owner Owner) Ranges { return t.owners[owner] }

// Put replaces owner's ranges (nil removes the owner).
func (t *RangeTable) Put(owner Owner, r Ranges) {
	if len(r) == 0 {
		delete(t.owners, owner)
		return
	}
	if t.owners == nil {
		t.owners = make(map[Owner]Ranges)
	}
	t.owners[owner] = r
}

// Set applies lk for owner (see Ranges.Set). It does not check for conflicts: call Conflict first.
func (t *RangeTable) Set(owner Owner, lk FileLock) { t.Put(owner, t.owners[owner].Set(lk)) }

// Conflict returns the conflicting lock of another owner with the lowest Start, if any.
func (t *RangeTable) Conflict(owner Owner, lk FileLock) (FileLock, bool) {
	var best FileLock
	found := false
	if lk.Type == Unlock {
		return best, false
	}
	for o, r := range t.owners {
		if o == owner {
			continue
		}
		for _, x := range r {
			if x.Start > lk.End {
				break
			}
			if conflicts(x, lk) && (!found || x.Start < best.Start) {
				best, found = x, true
			}
		}
	}
	return best, found
}

// Blockers returns every other owner holding a lock that conflicts with lk: the owners a blocked request of
// owner waits for (the edges of the wait-for graph that deadlock detection follows).
func (t *RangeTable) Blockers(owner Owner, lk FileLock) []Owner {
	if lk.Type == Unlock {
		return nil
	}
	var out []Owner
	for o, r := range t.owners {
		if o == owner {
			continue
		}
		for _, x := range r {
			if x.Start > lk.End {
				break
			}
			if conflicts(x, lk) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// ReleaseSession drops the locks of every owner of session (a mount that went away).
func (t *RangeTable) ReleaseSession(session string) {
	for o := range t.owners {
		if o.Session == session {
			delete(t.owners, o)
		}
	}
}

// Empty reports whether no owner holds a lock.
func (t *RangeTable) Empty() bool { return len(t.owners) == 0 }
