// Package fusefs serves a store.Store as a POSIX filesystem through FUSE (github.com/hanwen/go-fuse/v2, its fs
// node API).
//
//	srv, err := fusefs.Mount("/mnt/vol", st, fusefs.Options{Locks: files, Session: "node-a"})
//	...
//	err = srv.Unmount() // writes back buffered data, then unmounts
//
// Mount never closes the store; close it after Unmount.
//
// # Layers
//
// A node (node.go, entries.go, xattr.go, locks.go) is one inode known to the kernel; it keeps no attributes and
// answers every request from the store, converting errors once at the edge (store.ToErrno). Inode numbers are
// the store's (go-fuse's ExternalNodeID), so the root is store.RootIno and hard links are one node. A handle
// (file.go) is one open file description; a dirHandle (dir.go) one open directory. Per-mount state shared by
// nodes and handles lives in fsys (fsys.go); rawFS (mount.go) only adds the lock owner that go-fuse's node API
// drops from FLUSH and RELEASE.
//
// # Permissions
//
// The mount uses default_permissions: the kernel checks access, sticky directories and ownership for chmod,
// chown and utimes against the attributes we report, and it clears setuid/setgid on write and chown by asking
// for a mode change. Modes are stored exactly as the kernel sends them (it has applied the umask) and reported
// as stored, a mode of 0 included (fs.Options.NullPermissions). New inodes belong to the caller; in a setgid
// directory they take its group, and new subdirectories its setgid bit.
//
// # Consistency
//
// Close-to-open, as NFS, is the floor: close (FLUSH) and fsync upload everything the file has buffered, and open
// calls store.Open, which drops the store's cached view of the file and returns its attributes; open makes the
// kernel drop its cached attributes when they differ from the store's.
//
// Page cache across opens: an open keeps the kernel's cached pages of the file (FOPEN_KEEP_CACHE) when the
// store's Attr.Version is the one this mount saw at the file's previous open, i.e. no mount has changed the file
// since; otherwise the kernel drops them. The version changes with every change on any mount, so a rewrite that
// keeps the size and puts the old mtime back is still seen. A second read of an unchanged file costs no store
// reads. (This mount's own writes change the version too, so the open after them starts afresh: simple and safe.)
//
// Beyond close-to-open, with Options.Notifier (notify.go): every change another mount may cache is published
// once the store has it (each uploaded write-back piece, O_APPEND write, truncation, fallocate: "data of N
// changed"; setattr and xattrs: "attributes of N changed"; create, link, unlink, rmdir, rename: "entry NAME in D
// changed", or "NAME in D deleted, inode C has no name left"), and the other mounts turn what they receive into
// kernel invalidations: FUSE_NOTIFY_INVAL_INODE (attributes only, or attributes and pages),
// FUSE_NOTIFY_INVAL_ENTRY, and FUSE_NOTIFY_DELETE (which also tells inotify watchers), and drop their read-ahead
// windows of the file. So RWX users see other nodes' changes within milliseconds, even through a file they keep open and for names
// their kernel had cached as missing, and AttrTimeout, EntryTimeout and NegativeTimeout can be long (attribute
// and entry timeouts default to DefaultNotifiedTimeout, 60s, on a mount with a Notifier). When
// notices may have been lost (a lost ZooKeeper session), the mount invalidates everything go-fuse's tree knows
// (names cached as missing are not in it: they expire after NegativeTimeout).
// Invalidations are sent from the Notifier's goroutine, never from a FUSE handler, and no handler waits for
// it: the kernel serves an invalidation under the inode locks of the file or directory, which a request we are
// serving may hold, so the reverse would deadlock. Writes still buffered on a mount (see below) are not
// changes yet: another mount may see none, some or all of them until fsync, close, truncate or fallocate of the
// file on the writing mount. The two-mount random-operation test (fsx2_test.go) compares exactly this.
//
// Without a Notifier, names and attributes the kernel caches (AttrTimeout and EntryTimeout, 1s by default) and
// data read through a handle opened before another mount's change may be seen late. Negative lookups are not
// cached by default.
//
// # Writes and reads
//
// Writes go into a per-file write-back buffer (writeback.go) shared by every handle of the file on this mount:
// contiguous writes are gathered into pieces of WriteBufferBytes, aligned to that size, and uploaded by
// background goroutines, at most MaxBackgroundUploads at once across the mount (writers wait for a free slot).
// Pieces that overlap wait for earlier ones, so the store sees writes in order. Getattr reports the buffered size
// and mtime. Errors of uploads (ENOSPC, EIO) are reported by the next write, fsync or close. Writes through an
// O_APPEND descriptor bypass the buffer: they go to the end of the file as the store knows it, since the kernel's
// offset comes from a size that other mounts' appends make stale. Reads, truncates, fallocate and every setattr
// upload the file's buffer first. Memory is bounded by about
// (MaxBackgroundUploads + files being written) x WriteBufferBytes, whatever the file sizes.
//
// Sequential reads get read-ahead (readahead.go): a window of ReadAheadBytes is fetched and the next one is
// prefetched in the background; windows are dropped when this mount changes the file.
//
// # Locks
//
// fcntl (F_GETLK, F_SETLK, F_SETLKW) and flock go to Options.Locks, a lock.FileLocker. Mounts that must see each
// other's locks share one (lock.NewZKFiles for several nodes); the owner is Options.Session plus the kernel's lock
// owner. POSIX locks of an owner are released at every close of the file by that owner, flocks when the open file
// description is released.
//
// # Interrupts
//
// Go programs receive signals constantly, and the kernel turns a signal during a FUSE request into an interrupt.
// Store calls ignore interrupts and run to completion (detach.go), so mkdir or write never fail with EINTR; only a
// blocked F_SETLKW or flock can be interrupted.
//
// # Measuring
//
// Options.Observer, when set, is told about every request (opcode, duration, errno), the bytes read and written
// and read-ahead hits and misses (observe.go wraps the raw file system; without an Observer nothing is added).
// package metrics implements it for Prometheus.
//
// # Surviving a restart of the server
//
// With Options.Keeper the mount's /dev/fuse connection is handed to a keeper (pkg/fdkeeper) that outlives this
// process; a successor serves it again with Options.Takeover (takeover.go: the recorded INIT is replayed to
// go-fuse; revive.go: node ids the kernel still holds are revived by number and file handles, which carry the
// server's epoch and open flags, are reopened). Server.Leave hands a mount over instead of unmounting it.
// Decisions and what can be lost: docs/design.md, "Node plugin restarts".
//
// # Testing it
//
// A process must not mmap files of a FUSE mount it serves itself (a page fault holds its mmap lock while the
// server may need it to grow the heap), nor fork children that touch the mount before exec: exec of a program
// that lives on the mount, or a child's working directory there, counts. The tests run such steps in child
// processes, and start programs on the mount through /bin/sh.
package fusefs
