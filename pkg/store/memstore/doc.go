// Package memstore is an in-memory store.Store: correct, simple and fast, for unit tests of the layers above the
// store (pkg/fusefs) and as the reference implementation of the conformance suite (storetest).
//
// # Volumes and sessions
//
// A Volume holds one filesystem: inodes, directory entries, file data, extended attributes and the quota. A
// Store is one session (one mount) of a Volume. Several sessions of one Volume see the same tree, which is how
// tests simulate two nodes mounting one ReadWriteMany volume:
//
//	v := memstore.NewVolume(memstore.Options{CapacityBytes: 1 << 20})
//	a, b := v.Session("node-a"), v.Session("node-b")
//
// New(opts) is NewVolume(opts).Session("default") for tests that need just one.
//
// # Model
//
// One mutex per Volume serialises every operation, so each operation is atomic and linearizable. By default there
// is no cache, so every read sees the latest data. With Options.CacheData each session keeps the data of a file as
// it was when the session first read it, until it opens the file again or changes it itself: exactly the
// staleness close-to-open consistency allows, so tests of pkg/fusefs can prove that the filesystem opens before
// it reads what another mount wrote. File data is kept per chunk (Options.ChunkSize) and chunks
// never written are holes that read as zeros. Usage.Bytes is the sum of the sizes of all files (each inode once);
// Usage.Inodes counts every inode that exists, including files unlinked while still open.
//
// Open counts are kept per session; an inode whose nlink is 0 is deleted when its last open, on any session, is
// released (Release, or Close of the session holding it).
//
// Fsck verifies the Volume's internal invariants, so the conformance suite can check them after each test.
package memstore
