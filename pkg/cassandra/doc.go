// Package cassandra stores CassFS volumes in Apache Cassandra, one keyspace per volume.
//
// # Provisioning
//
// ParseVolumeSpec turns StorageClass parameters into a VolumeSpec (every value validated, unknown keys are
// errors wrapping ErrInvalidParameter that name the key). Connect opens one gocql session (a Cluster) shared by
// everything that follows. CreateVolume (idempotent), GetVolume, ListVolumes, ExpandVolume and DeleteVolume
// (idempotent) manage volumes. Volume id v lives in keyspace KeyspaceName(v) (a documented, collision-checked
// rule: no user text ever reaches CQL); its meta table records the full id, the spec as JSON, the capacity and the
// schema version, so the keyspace alone describes the volume and no registry keyspace exists. Schema changes are
// numbered migrations applied in order (schema.go).
//
//	c, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: []string{"10.0.0.1"}, LocalDC: "dc1"})
//	spec, err := cassandra.ParseVolumeSpec("pvc-123", 10<<30, map[string]string{"dcReplication": "dc1:3"})
//	info, err := c.CreateVolume(ctx, spec)
//	v, err := c.OpenVolume(ctx, "pvc-123", cassandra.OpenOptions{Session: "node-a/pod-x", Locker: zkLocker})
//	defer v.Close()
//
// # The store
//
// A *Volume implements store.Store for one mount session. Metadata (inodes, directory entries, xattrs) is written
// only with lightweight transactions (except the first write of a new inode row, which no other mount can reach
// yet: a plain write with a write time below every Paxos ballot), so mounts on different nodes agree without
// locks for create, link, unlink and same-directory rename. Operations that move or remove directories, and every cross-directory rename, also
// take the volume's "rename" lock from OpenOptions.Locker (a ZooKeeper Locker for volumes mounted on several
// nodes; nil means in-process locks, correct only when every mount is in this process); if the lock is lost (the
// mount's ZooKeeper session) before the operation's commit point, it stops there with EIO. File data goes through
// package chunks. Multi-partition operations are ordered so that a crash leaves no dangling entry and no lost
// inode, at worst leaked space or a link count that is too high; Fsck finds and repairs that (Checker adapts it to
// storetest). docs/design.md gives the schema, the order of steps and the reasons.
//
// # Sessions
//
// Every Volume registers a session row and refreshes its heartbeat in the background. A file unlinked while open
// lives on until its last holder releases it; if a holder dies, CleanupStaleSessions (run in the background by
// one mount at a time, or called directly) finds its stale heartbeat, reclaims what it held and finishes its
// interrupted renames.
//
// # Faults
//
// Connect sets a retry policy: a statement marked idempotent (plain reads and writes, chosen where each statement
// is built: q, read, put, qs in volume.go) is retried at once on the next node when a node fails it, so a dead
// coordinator costs a retry, not an error; lightweight transactions and counter updates are never retried by the
// driver: LWT callers read back through Paxos (SERIAL) and send again a statement the read-back shows did not
// land; a counter update is not retried (Fsck recounts). Whatever error remains reaches the caller of a Volume method as an errno:
// the deliberate ones (ENOENT, ENOSPC, ...) as they are, everything else (timeouts, unavailability, reset
// connections) as EIO (faults.go), never ECONNRESET or another errno of the driver's sockets.
//
// Fsck also checks file data: data of inodes that do not exist is purged, and blocks that no slice names are
// deleted once the session that wrote them is gone (fsck_data.go). Every finding is looked at again before it is
// reported, so a check (without repair) may run beside live mounts. The csi-driver fsck command wraps it.
package cassandra
