// Package metrics holds the Prometheus metrics of the storage side of the driver: FUSE requests, bytes read and
// written and cache lookups per volume, Cassandra statements and lock waits. (The CSI calls are counted by
// package driver itself.) docs/driver-parameters.md lists every metric.
//
// The packages that do the work know nothing of Prometheus; each offers a small hook, and this package
// implements them:
//
//	m := metrics.New(registry)
//	cluster := cassandra.ClusterConfig{..., QueryObserver: m.Statements(), BatchObserver: m.Statements()}
//	vm := m.Volume(volumeID)                         // per-volume series, shared by the volume's mounts
//	defer vm.Release()                               // the last Release deletes them
//	vol, _ := c.OpenVolume(ctx, volumeID, cassandra.OpenOptions{CacheCounters: vm.CacheCounters(), ...})
//	srv, _ := fusefs.Mount(dir, vol, fusefs.Options{Observer: vm, ...})
//	locker := lock.ObserveLocker(zkLocker, m.Locks("zookeeper"))
//
// # Cost on the request path
//
// Every series a request touches is resolved to its prometheus child once (per volume when it is staged, per
// FUSE opcode, statement text and lock kind on first use), so observing allocates
// nothing; a FUSE request costs two clock reads and one histogram observation.
//
// # What labels may carry
//
// Volume IDs, FUSE opcodes, errno names, statement kinds, table names (never keyspaces), lock kinds (lock names
// without their numbers) and locker names. Never file names, paths, bound values or credentials.
package metrics
