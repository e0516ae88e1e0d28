package fusefs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
)

// Change notices between mounts (Options.Notifier).
//
// Publishing: every handler that changed something another mount may cache publishes it once the store call
// returned (the change is durable): attribute changes as ChangeAttr, data changes (each uploaded write-back
// piece, truncation, fallocate) as ChangeData, names as ChangeEntry, and the removal of a last name as
// ChangeDelete. Publish never blocks, so handlers never wait for the network.
//
// Receiving: the Notifier calls receive from its own goroutine, never from a FUSE handler, and receive takes no
// lock of ours while it writes to the kernel. That matters: the kernel serves an invalidation under the inode
// locks of the directory or file concerned, and those may be held by a request we are serving at that moment,
// so the invalidation waits for that request. A handler that waited for receive would deadlock; none does.
// Notices go to the kernel by node id (= inode number, ExternalNodeID), so nothing of go-fuse's tree is locked
// except for All, which walks it; inodes and names the kernel does not know are answered ENOENT, ignored.

func (f *fsys) publish(changes ...lock.Change) {
	if f.opts.Notifier != nil {
		f.opts.Notifier.Publish(changes...)
	}
}

func attrChanged(ino store.Ino) lock.Change {
	return lock.Change{Kind: lock.ChangeAttr, Ino: uint64(ino)}
}
func dataChanged(ino store.Ino) lock.Change {
	return lock.Change{Kind: lock.ChangeData, Ino: uint64(ino)}
}
func entryChanged(dir store.Ino, name string) lock.Change {
	return lock.Change{Kind: lock.ChangeEntry, Ino: uint64(dir), Name: name}
}

// childIno returns the inode number the kernel knows under name in n (0 if none): the kernel looks a name up
// before it removes or renames it, so go-fuse's tree has it.
func (n *node) childIno(name string) store.Ino {
	if c := n.GetChild(name); c != nil {
		return store.Ino(c.StableAttr().Ino)
	}
	return 0
}

// receive applies other mounts' changes to this mount's kernel caches and read-ahead.
func (f *fsys) receive(b lock.Batch) {
	srv := f.server.Load()
	if srv == nil || f.unmounted.Load() {
		return
	}
	if b.All {
		f.invalidateAll(srv)
		return
	}
	for _, c := range b.Changes {
		switch c.Kind {
		case lock.ChangeAttr:
			f.notified(srv.InodeNotify(c.Ino, -1, 0))
		case lock.ChangeData:
			if of := f.lookupOpen(store.Ino(c.Ino)); of != nil {
				of.wb.gen.Add(1) // read-ahead windows are stale
			}
			f.notified(srv.InodeNotify(c.Ino, 0, 0))
		case lock.ChangeEntry:
			f.notified(srv.EntryNotify(c.Ino, c.Name))
		case lock.ChangeDelete:
			// DeleteNotify also tells inotify watchers; it fails if the kernel has another inode (or a non-empty
			// directory) under the name, and then the entry is only invalidated.
			if st := srv.DeleteNotify(c.Ino, c.Child, c.Name); st != fuse.OK {
				f.notified(srv.EntryNotify(c.Ino, c.Name))
			}
			f.notified(srv.InodeNotify(c.Child, -1, 0))
		}
	}
}

func (f *fsys) notified(st fuse.Status) {
	if st != fuse.OK && st != fuse.ENOENT && st != fuse.Status(syscall.ENOENT) {
		f.log.Debug("kernel cache invalidation failed", "status", st)
	}
}

// invalidateAll drops every name and every inode's attributes and data that the kernel may cache, as far as
// go-fuse's tree knows them (names cached as missing are not known, and expire after NegativeTimeout).
func (f *fsys) invalidateAll(srv *fuse.Server) {
	f.allInvalidations.Add(1)
	seen := map[*fs.Inode]bool{}
	var walk func(in *fs.Inode)
	walk = func(in *fs.Inode) {
		if seen[in] {
			return
		}
		seen[in] = true
		ino := in.StableAttr().Ino
		if of := f.lookupOpen(store.Ino(ino)); of != nil {
			of.wb.gen.Add(1)
		}
		f.notified(srv.InodeNotify(ino, 0, 0))
		for name, child := range in.Children() {
			f.notified(srv.EntryNotify(ino, name))
			walk(child)
		}
	}
	walk(f.root.EmbeddedInode())
}
