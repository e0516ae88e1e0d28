// Package cassandra stores CassFS volumes in Apache Cassandra, one keyspace per volume.
//
// # Provisioning
//
// ParseVolumeSpec turns StorageClass parameters into a VolumeSpec (every value validated; unknown keys are
// errors). Connect opens one gocql session (a Cluster); CreateVolume, GetVolume, ListVolumes, ExpandVolume and
// DeleteVolume manage volumes. A volume lives in the keyspace KeyspaceName(id); its meta table records the full
// id, the spec (JSON), the capacity and the schema version, so the keyspace alone describes the volume and no
// registry keyspace is needed. Schema changes are numbered migrations applied in order (see schema.go).
//
// # The store
//
// OpenVolume returns a *Volume, which implements store.Store for one mount session. Metadata (inodes, directory
// entries, xattrs) is written only with lightweight transactions, so concurrent mounts agree; file data goes
// through the data path (package chunks). Operations that touch several partitions are ordered so that a crash
// leaves no dangling entry and no lost inode, at worst leaked space or a wrong link count, which Fsck repairs.
// docs/design.md gives the schema and the reasoning.
//
// # Sessions
//
// Every Volume registers a session row and refreshes its heartbeat. CleanupStaleSessions (called by any mount)
// releases what dead sessions held open, reclaiming files unlinked while open.
package cassandra
