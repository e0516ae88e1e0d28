// Package chunks is the data path of the Cassandra store: it keeps the contents of regular files as immutable
// compressed blocks referenced by append-only slice records, and pkg/cassandra calls it for Write, Read,
// truncation and deletion of file data. It knows nothing of inodes beyond their numbers and sizes.
//
// # Layout
//
// A file is cut into chunks of ChunkSize bytes (64 MiB by default; chunk c holds bytes [c*ChunkSize,
// (c+1)*ChunkSize)). Each chunk has a slice list: one Cassandra partition of table slices keyed (ino, chunk),
// one row per slice, clustered by (ts, writer, gen). A slice says "bytes [pos, pos+len) of this chunk are these",
// and names its bytes as consecutive blocks (bwriter, bseq), (bwriter, bseq+1), ... of bsize uncompressed bytes
// each, or says they are zeros (a zero slice, no blocks). Blocks live in table blocks, one partition each, keyed by
// the writing Store's random id and a sequence number of that Store: codec byte, uncompressed length, the bytes
// (at most BlockSize = 1 MiB before compression, so cells stay near 1 MiB), and the inode for offline checks.
// A third table, file_chunks, keyed ((ino), chunk), lists the chunks of each inode that have slices (a row is
// written before a chunk's first slice), so that truncation and deletion visit only those chunks: a sparse
// file costs what it holds, not its size. Partitions stay bounded: a block is one cell, a slice list is bounded
// by compaction, and a chunk index holds one small row per chunk.
//
// # Writing
//
// Write never reads or rewrites stored data. It cuts the data at chunk boundaries, compresses and stores all its
// blocks (Parallelism at a time), and only then inserts one slice row per chunk touched. A partial overwrite is
// just a newer slice over part of older ones, so two mounts writing disjoint ranges of one chunk, even at the
// same time, never lose each other's bytes. A failed Write may leave blocks no slice refers to (garbage that
// costs space, never wrong data). Statements are prepared, values always bound; no CQL is built from input.
//
// # Ordering: hybrid logical clock
//
// Where slices overlap, the newest wins, and newest means the largest key (ts, writer, gen). ts comes from a
// hybrid logical clock per Store: the maximum of the wall clock and one more than the last value it issued or
// observed. A Store observes the ts of every slice it loads, and Write loads a chunk's slice list (once per
// Invalidate) before its first write there. So a write that follows, on any mount, a read or open of another
// mount's data is stamped after it, however far apart the machines' clocks are: causality, not wall time,
// orders overlapping writes. writer (the Store's random 63-bit id) breaks ties between mounts, gen is 0 for
// written slices. Overlapping writes that are truly concurrent (neither mount saw the other's) are ordered by
// their stamps; every byte comes from exactly one of them.
//
// Cassandra's own write times follow the same clock, since its reconciliation decides whether a deletion takes
// effect: a slice row is written with its own ts, a block with a time no later than its slice's, and a deletion
// with the deleting Store's clock after it read what it deletes. A mount whose clock is behind therefore still
// deletes what it means to delete (with client-side wall-clock times its tombstones would be older than the rows
// and silently lose). Rows are never updated, and keys are never reused, so no other reconciliation matters.
//
// # Reading
//
// Read resolves the slice list of each chunk in range newest-first into a plan: segments taken from one slice
// each, and zeros for holes and zero slices. It then fetches the blocks the plan needs, Parallelism at a time,
// decodes them and copies the needed parts. Slice lists are read at the configured consistency; blocks, being
// immutable and written before any slice names them, from one replica first (the configured level only if that
// replica has not got the block). Decoded blocks sit in an LRU cache bounded by CacheBytes; blocks are
// immutable, so the cache is never stale and concurrent misses of one block share one fetch. Slice lists are
// cached per (ino, chunk) until Invalidate; the Store's own writes update its cached lists, and a list load that
// raced with an own write or an Invalidate is not cached (a generation check), so a mount always reads its own
// writes. Sequential reads in calls of a few MiB cost one block fetch per MiB and nothing else; small sequential
// reads hit the block cache. If a block is gone (another mount compacted or truncated the chunk since this mount
// cached its list) the read reloads the list and tries again.
//
// Close-to-open consistency: the caller calls Invalidate when a file is opened, or when it sees the inode changed,
// and the next Read loads the lists afresh.
//
// # Truncation and deletion
//
// Truncate to a smaller size puts a zero slice from the new end to the end of its chunk and over every chunk
// wholly past it, then deletes the slices those chunks held before (by exact key, so rows written later survive)
// and their blocks. The zero slices stay as markers, so that nothing older (for instance the merged slice of a
// compaction that read the chunk before the truncation) can show through again, and a later extension reads
// zeros. Delete removes every block, then every slice partition, of the inode's indexed chunks, then the index;
// it can simply run again after a crash. Data past the recorded size only exists after a crash between a Write
// and the size update (it is then deleted with the file).
//
// # Compaction
//
// Every write adds a slice; many slices make reads slow. After a Write leaves more than CompactThreshold slices
// in a chunk, OnManySlices is called; the caller then runs Compact(ino, chunk), normally under its inode lock.
// Compactor does that in the background: use its Hint as OnManySlices.
// Compact reads the list afresh and merges its settled slices: those stamped more than CompactSettle (1 minute)
// before the compactor's wall clock. It writes new blocks for each run of data (runs closer than BlockSize join,
// with the zeros between stored), keeps zero slices where a zero slice hides older data, inserts the merged
// slices with the key of the newest settled slice (and a random gen > 0, so they sort just after it), and then
// deletes the old rows and their blocks. Readers see the same bytes before, during and after. Old rows go with
// one range deletion (ts below the newest merged stamp) plus single-row deletions for that stamp, so a hot chunk
// compacted again and again leaves one range tombstone per compaction, not one tombstone per slice; Truncate
// deletes the same way below its zero marker.
//
// Why the settle window: a merged slice takes an old key, so every slice that could sort below it must already
// be in the list the compactor read. A slice insert is given CompactSettle/2 to be acknowledged after its stamp
// is taken (or the Write fails), and a stamp is never behind its writer's wall clock; so while the clocks of any
// two mounts differ by less than CompactSettle/2, every slice stamped before the compactor's cut-off that will
// ever exist is visible to it. A write that lands during the compaction is stamped after the cut-off and stays
// newer than the merged slices. Concurrent compactions of one chunk (without the lock) are safe as well: merged
// slices with the same base key show the same bytes, a compaction whose source blocks were deleted under it gives
// up (ErrCompactRace, EAGAIN) and removes its blocks, and a merged slice that lands after a truncation or a newer
// compaction sorts below the zero markers those keep. A mount whose clock runs ahead stamps slices in the
// future (and so do mounts that read them): they are merged once the compactor's clock passes them, not before.
//
// # Memory
//
// Memory is bounded whatever the file size: Write holds the caller's buffer and Parallelism compression buffers,
// Read the caller's buffer and at most Parallelism blocks outside the cache, Compact Parallelism blocks, and the
// caches are bounded (CacheBytes of blocks, ListCacheSlices slice records).
//
// # Garbage
//
// Blocks orphaned by a crash between block and slice writes, or by a compaction cut short, are not collected
// here: ScanBlocks, ScanSlices, BlockExists, DeleteBlocks and Purge (gc.go) let pkg/cassandra's Fsck find blocks
// no slice names and delete those whose writer (WriterID) is gone. Only a block's writer ever names it in a
// slice, which is what makes that safe.
//
// # Faults
//
// Every statement is idempotent (rows are written once with explicit write times, deletions too), so each is
// marked so and the driver may retry it on another node. Config.Fault lets tests stop a Write between its blocks
// and its slices.
package chunks
