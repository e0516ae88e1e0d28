// Package lock gives CassFS the coordination Cassandra cannot: named exclusive and shared locks with fencing
// tokens, leader election for single-owner background work, and POSIX/BSD file locks shared by every mount of a
// ReadWriteMany volume.
//
// Two implementations share one contract and one conformance suite (locktest.Run): the ZooKeeper one for volumes
// mounted on several nodes, and an in-process one for single-node volumes, which never need ZooKeeper.
//
// # Choosing an implementation
//
// A volume that only one node mounts (ReadWriteOnce, or a single-node cluster) uses the in-process pair:
//
//	l := lock.NewLocal()        // Locker; l.Share() gives another handle on the same table
//	f := lock.NewLocalFiles()   // FileLocker; f.ReleaseSession(mount) when a mount goes away
//
// A volume mounted on several nodes uses ZooKeeper, one ZK per mount (one session per mount):
//
//	z, err := lock.NewZK(ctx, lock.ZKConfig{
//		Servers:   []string{"zk-0:2181", "zk-1:2181", "zk-2:2181"},
//		Chroot:    "/cassfs",        // per deployment
//		Namespace: volumeID,         // per volume
//		Digest:    "vol:secret",     // optional: only holders of it can read or change the volume's znodes
//	})
//	files := lock.NewZKFiles(z)     // the FileLocker of the same mount, on the same session
//	defer z.Close()                 // ends the session: every lock of this mount is released at once
//
// Both ends of a volume must agree: mixing a Local and a ZK Locker on one volume gives no exclusion at all.
// When the volume is deleted, DeleteZKNamespace removes its znodes.
//
// # Named locks
//
// Lock waits in arrival order; TryLock answers ErrWouldBlock instead of waiting. Shared holders coexist, and a
// shared request queued behind an exclusive one waits for it (writers are not starved). A Lock whose ctx ends
// returns ctx.Err() and leaves nothing queued. Locks are not reentrant. Names are [A-Za-z0-9._-]{1,200}; the
// prefixes "leader." (Campaign) and "file." (ZKFiles, one per inode) are used by this package.
//
// The ZooKeeper recipe: every request is an EPHEMERAL|SEQUENTIAL node under <Chroot>/<Namespace>/locks/<name>,
// named <session>-<guid>-<w|r>-<seq>. A request lists the children once; it holds the lock when no lower node
// blocks it (a writer is blocked by any lower node, a reader only by lower writers), otherwise it watches only
// the one node just below it that blocks it, so a release wakes one waiter, not all. If the reply to a create
// is lost, the node is found again by its GUID instead of creating a second one; a node of our own live session
// that no call of ours knows any more (an orphan) is deleted by the next request for that name, so a Locker
// never waits on itself. Uncontended, a cycle costs three round trips (create; list + token, pipelined; delete).
//
// # Fencing tokens
//
// Lease.Token grows strictly with every grant of a name (shared holders at the same time get distinct tokens,
// in arrival order). Locally it is a counter; on ZooKeeper it is the lock node's czxid, the ZooKeeper
// transaction id of its creation, which only grows — across names, lock directories being removed and
// recreated, and leader changes. A lock can be lost without its holder noticing at once (a paused process, a
// partition), so whatever the lock protects in Cassandra should carry the token and refuse older ones (a
// conditional write "IF token <= ?"). ZooKeeper is never the only guard of correctness.
//
// # Losing a lock
//
// Lost closes when a lease can no longer be trusted: its Locker was closed, or (ZooKeeper) the session was lost.
// A ZK mount whose connection has been down for a quarter of the session timeout declares the session lost
// (the client notices silence only after two thirds of it, and the server may expire the session one timeout
// after the last contact, so this fires before anyone else can be granted the lock); an expiry reported by the
// server does the same at once. All leases of the session report Lost together, waiters start over, and the ZK
// opens a new session so later calls work. The new session deletes the lock nodes the old one left (held and
// queued), so others need not wait until the server expires the old session, which after a leader election can
// be a full session timeout after the ensemble serves again. Work done under a lease must check it (lock.Valid before each protected
// write, or select on Lost) and fail with EIO rather than go on unprotected. Unlock after loss returns nil.
// While no session can be established (the ensemble is unreachable), Lock and TryLock wait at most one session
// timeout for one and then fail with ErrNoSession, so that requests fail during an outage instead of hanging.
//
// # Leader election
//
// Campaign is an exclusive lock on "leader.<name>": candidates win in arrival order and the lease's token is
// the term. RunElected wraps the loop for background work (cleaners, GC): it runs a function while leading,
// cancels its context when leadership is lost and resigns when it returns.
//
// # File locks
//
// FileLocker carries fcntl record locks and flock locks as FUSE hands them over (Owner = mount session + the
// kernel's lock owner). RangeTable is the pure range logic (split, merge, convert, conflict), shared by both
// implementations. Errors are syscall.Errno: EAGAIN for a conflicting non-blocking request, EINTR when the ctx of
// a blocking one ends, EIO when the mount's ZooKeeper session was lost while the owner held locks (reported once
// for the owner's next lock request; unlock and release still succeed, at once) or when no session could be had
// for a session timeout, EINVAL for an empty range. ZKFiles keeps each owner's ranges in an ephemeral znode and
// serialises updates with the named lock "file.<ino>"; see ZKFiles. ZKFiles also implements FileLockLoss: a
// channel per owner and inode that closes when its locks are lost, which pkg/fusefs uses to fail the writes they
// protected.
//
// # Deadlocks (EDEADLK)
//
// A blocking POSIX request (F_SETLKW) that would wait in a cycle of owners, each waiting for a lock another one
// holds, fails with EDEADLK instead of waiting forever; the others keep waiting, and the cycle is broken as soon
// as the application behind the failed request releases a lock. An owner waits for every owner whose lock
// conflicts with its request, so cycles through several inodes, several mounts and shared locks (two readers
// upgrading) are found. BSD flock waits are not checked, as on Linux.
//
// LocalFiles is exact: the check runs under the table's mutex, so the request that closes a cycle is the one
// that is refused. ZKFiles publishes each blocked request in an ephemeral wait record (<ns>/waits/<owner>) and
// follows the records from its blockers; of a cycle, the member whose record was written last reports it, and it
// sees the whole cycle because its reads come after its own write (see closesCycle). Both assume an owner blocks
// one request at a time (one thread per lock owner, as fcntl's process-wide owners mostly are); a cycle closed
// by a lock granted to an owner that meanwhile waits in another thread is not found, and a cycle that a grant or
// cancel is breaking at the very moment of the check may still be reported.
//
// # Change notices
//
// Notifier tells the other mounts of a volume what a mount changed ("data of inode N", "attributes of N",
// "entry NAME in directory D", "NAME in D deleted"), so that they can drop what their kernels cache at once
// (pkg/fusefs) instead of waiting for cache timeouts. A mount never hears its own changes. Publish never
// blocks: changes are gathered into batches, the first sent at once and then at most one per BatchDelay
// (20 ms), duplicates removed. Whenever changes may have been missed, the subscriber gets a batch with All set.
//
//	nt, err := lock.NewZKNotifier(ctx, z, 0)   // on the mount's ZK session; close it before z
//	g := lock.NewLocalNotifiers(0)             // mounts in one process: one g per volume
//	nt := g.Join()
//
// ZKNotifier keeps each mount's recent batches in one ephemeral znode, <Chroot>/<Namespace>/notify/<mount>-<zk
// session>, rewritten once per batch, and watches the other mounts' znodes; see ZKNotifier for how gaps, lost
// sessions and vanished znodes become All. Both implementations pass locktest.RunNotifier.
package lock
