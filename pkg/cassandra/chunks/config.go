package chunks

import (
	"fmt"
	"regexp"
	"syscall"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Defaults for the zero fields of Config.
const (
	DefaultChunkSize        = 64 << 20
	DefaultBlockSize        = 1 << 20
	DefaultCodec            = "zstd"
	DefaultCacheBytes       = 64 << 20
	DefaultParallelism      = 4
	DefaultCompactThreshold = 100
	DefaultCompactSettle    = time.Minute
	DefaultListCacheSlices  = 1 << 18
	// MaxBlockSize keeps every stored cell near or under 1 MiB.
	MaxBlockSize = 1 << 20
	// MaxChunkSize keeps offsets inside a chunk in a CQL int.
	MaxChunkSize = 1 << 30
)

// Config tunes a Store. The zero value of each field means its default.
type Config struct {
	// ChunkSize is the number of bytes per chunk (default 64 MiB, at most MaxChunkSize). Slices never cross a
	// chunk boundary. Every Store of one volume must use the same ChunkSize for the life of the volume.
	ChunkSize uint64
	// BlockSize is the largest number of uncompressed bytes per stored block (default and maximum 1 MiB). It may
	// change between mounts: every slice records the block size it was written with.
	BlockSize int
	// Codec compresses new blocks: "zstd" (default), "s2" or "none". Each block stores its codec byte, so blocks
	// written with any codec stay readable. A block that does not shrink is stored uncompressed.
	Codec string
	// CacheBytes bounds the cache of decoded blocks (default 64 MiB; negative disables it). Blocks are
	// immutable, so cached blocks never go stale.
	CacheBytes int64
	// Consistency is used for every read and write (default LocalQuorum). Any is rejected.
	Consistency gocql.Consistency
	// Parallelism bounds the block uploads/downloads in flight per call (default 4).
	Parallelism int

	// CompactThreshold: after a Write leaves more than this many slices in a chunk, OnManySlices is called
	// (default 100).
	CompactThreshold int
	// OnManySlices, if set, is called (synchronously, from Write: it must return quickly, e.g. queue work) when a
	// chunk has more than CompactThreshold slices, so that the caller can run Compact under its inode lock.
	OnManySlices func(ino, chunk uint64, slices int)
	// CompactSettle is how old (by this Store's wall clock) a slice must be before Compact merges it (default
	// 1 minute; negative means 0, for tests). Slice inserts are given CompactSettle/2 to be acknowledged, so the
	// merge is safe while clocks of mounts differ by less than CompactSettle/2. See the package documentation.
	CompactSettle time.Duration
	// ListCacheSlices bounds the number of slice records cached across all chunks (default 262144).
	ListCacheSlices int
	// Now is the wall clock (default time.Now). Tests inject skewed clocks here.
	Now func() time.Time
	// Counters, if set, count cache lookups as they happen (for metrics; Stats has the same totals).
	Counters CacheCounters
	// Fault, if set (fault-injection tests only), is called between the steps of an operation with the step's
	// name ("write.blocks": a Write stored its blocks and has not inserted its slices); an error stops the
	// operation there, as a crash would, and is returned.
	Fault func(step string) error
}

// Counter counts events. A prometheus.Counter is one; Inc must be safe for concurrent use and cheap.
type Counter interface{ Inc() }

// CacheCounters receive one Inc per cache lookup of a Store: BlockHit when a decoded block came from the
// block cache (or from another caller's fetch of it), BlockMiss when it was fetched from Cassandra; ListHit and
// ListMiss likewise for slice lists. nil fields count nothing.
type CacheCounters struct {
	BlockHit, BlockMiss, ListHit, ListMiss Counter
}

type noCounter struct{}

func (noCounter) Inc() {}

func (c CacheCounters) withDefaults() CacheCounters {
	for _, p := range []*Counter{&c.BlockHit, &c.BlockMiss, &c.ListHit, &c.ListMiss} {
		if *p == nil {
			*p = noCounter{}
		}
	}
	return c
}

var keyspaceRE = regexp.MustCompile(`^[a-z0-9_]{1,48}$`)

func (c Config) withDefaults() (Config, error) {
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.Codec == "" {
		c.Codec = DefaultCodec
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.CacheBytes < 0 {
		c.CacheBytes = 0
	}
	if c.Consistency == gocql.Any {
		c.Consistency = gocql.LocalQuorum
	}
	if c.Parallelism <= 0 {
		c.Parallelism = DefaultParallelism
	}
	if c.CompactThreshold <= 0 {
		c.CompactThreshold = DefaultCompactThreshold
	}
	if c.CompactSettle == 0 {
		c.CompactSettle = DefaultCompactSettle
	}
	if c.CompactSettle < 0 {
		c.CompactSettle = 0
	}
	if c.ListCacheSlices <= 0 {
		c.ListCacheSlices = DefaultListCacheSlices
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Counters = c.Counters.withDefaults()
	if c.ChunkSize > MaxChunkSize {
		return c, fmt.Errorf("chunks: ChunkSize %d over %d: %w", c.ChunkSize, MaxChunkSize, syscall.EINVAL)
	}
	if c.BlockSize < 0 || c.BlockSize > MaxBlockSize || uint64(c.BlockSize) > c.ChunkSize {
		return c, fmt.Errorf("chunks: BlockSize %d must be in 1..min(%d, ChunkSize): %w", c.BlockSize, MaxBlockSize, syscall.EINVAL)
	}
	if _, ok := codecByName[c.Codec]; !ok {
		return c, fmt.Errorf("chunks: unknown codec %q (want zstd, s2 or none): %w", c.Codec, syscall.EINVAL)
	}
	return c, nil
}
