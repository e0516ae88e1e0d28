// Package storetest is the conformance suite for store.Store implementations: the executable form of the
// contracts in pkg/store. Every implementation runs it from its own tests; the in-memory memstore runs it in
// seconds, pkg/cassandra runs it against a real Cassandra.
//
// # Wiring an implementation
//
// An implementation supplies a NewVolume function that creates a fresh, empty volume and returns a Volume
// from which the suite opens sessions (mounts). Cleanup (closing sessions, dropping the volume) is registered on
// the *testing.T given, with t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, opts storetest.VolumeOptions) storetest.Volume {
//			ks := createVolume(t, opts) // honour CapacityBytes and MaxInodes; ChunkSize is a hint
//			return storetest.VolumeFunc(func(t *testing.T, name string) store.Store {
//				s := openSession(t, ks, name)
//				t.Cleanup(func() { s.Close() })
//				return s
//			})
//		})
//	}
//
// A session's cleanup must tolerate a Store that the suite already closed. Each call of Session must return a
// new, independent session of the same volume (for Cassandra: a new Store value with its own caches and open
// files, as a second node would have), so that the multi-session tests mean something.
//
// # What runs
//
// Run creates a few volumes: one shared volume (unlimited quota) in which most subtests work, each in its own
// directory under the root, and fresh volumes for the quota tests. After every subtest CheckSubtree verifies the
// invariants of its directory, and at the end CheckTree verifies the whole volume, including the usage counts.
// Subtests: names and errno cases, attributes and times, hard links, symlinks, special files, the rename matrix,
// ReadDir order, paging and stability, xattrs, data (chunk boundaries, holes, truncation, random writes checked
// against a model), Fallocate, StatFS accounting, open-unlinked files across sessions, close-to-open consistency,
// and concurrency across two sessions (exclusive create, mkdir/rmdir and link/unlink counting, disjoint
// writers in one chunk, crossing directory renames that would make a loop, racing renames of one source, and a
// namespace storm). The quota tests also race writers and creators to the limit: refusals must be ENOSPC, the
// accounting exact, nothing refused before the limit, and the limit passed by at most one operation per other
// racer (a store may check the quota, then write).
//
// The suite never relies on a session seeing another session's data without opening the file first (Open is
// where close-to-open consistency is promised); it does expect attributes, entries and listings to be current on
// every session.
//
// RunRandom runs a seeded random sequence of namespace and data operations against a fresh volume and against a
// simple model, comparing every result (errno, data, listings, usage). Re-run a failure with the seed it prints.
//
// # Invariants and fsck
//
// CheckTree walks the volume from the root through the Store interface only. A Store that can also check its
// own stored invariants implements Checker; CheckTree then runs its Fsck (without repair) and reports every
// problem as a test error.
//
// # Sizes
//
// Sizes are modest so that the suite finishes in seconds on memstore and in well under two minutes on a
// single-node Cassandra: the largest file is a few MiB and the concurrency tests use a handful of goroutines.
package storetest
