package chunks

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Store reads and writes file data of one volume (keyspace). It is safe for concurrent use. Several Stores (one
// per mount) may work on the same keyspace at once.
type Store struct {
	session *gocql.Session
	cfg     Config
	ks      string
	q       queries
	writer  int64        // this Store's random id: slice tiebreak and block namespace
	seq     atomic.Int64 // next block sequence number
	clock   hlc
	codecs  *codecs
	blocks  *blockCache
	lists   *listCache

	roundTrips, blockHits, blockMisses, bytesStored, bytesWritten atomic.Int64
	slicesWritten, blocksWritten, blocksRead                      atomic.Int64

	// afterCompactRead, if set (tests only), runs in Compact after the slice list was read and the merged blocks
	// were written, before the merged slice is inserted.
	afterCompactRead func()
}

// New returns a Store on keyspace, whose tables (Schema) must exist.
func New(session *gocql.Session, keyspace string, cfg Config) (*Store, error) {
	if session == nil {
		return nil, fmt.Errorf("chunks: nil session: %w", syscall.EINVAL)
	}
	if !keyspaceRE.MatchString(keyspace) {
		return nil, fmt.Errorf("chunks: invalid keyspace name %q: %w", keyspace, syscall.EINVAL)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cs, err := newCodecs(cfg.Codec, cfg.Parallelism)
	if err != nil {
		return nil, err
	}
	s := &Store{
		session: session,
		cfg:     cfg,
		ks:      keyspace,
		q:       newQueries(keyspace),
		writer:  randomID(),
		codecs:  cs,
		blocks:  newBlockCache(cfg.CacheBytes),
		lists:   newListCache(cfg.ListCacheSlices),
	}
	s.clock.now = cfg.Now
	return s, nil
}

// randomID returns a random positive int64.
func randomID() int64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	v := int64(binary.LittleEndian.Uint64(b[:]) >> 1)
	if v == 0 {
		v = 1
	}
	return v
}

// Stats are counters since New, for tests and metrics.
type Stats struct {
	RoundTrips    int64 // CQL statements executed (a batch counts once)
	CacheHits     int64 // blocks served from the cache (or from another caller's fetch)
	CacheMisses   int64 // blocks fetched from Cassandra
	CachedBytes   int64 // decoded bytes held by the block cache now
	ListHits      int64 // slice lists served from the cache
	ListMisses    int64 // slice lists loaded from Cassandra
	BytesWritten  int64 // uncompressed bytes written in blocks
	BytesStored   int64 // bytes stored in blocks (after compression)
	SlicesWritten int64 // slice records inserted
	BlocksWritten int64
	BlocksRead    int64
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{
		RoundTrips:    s.roundTrips.Load(),
		CacheHits:     s.blockHits.Load(),
		CacheMisses:   s.blockMisses.Load(),
		CachedBytes:   s.blocks.bytes(),
		ListHits:      s.lists.hits.Load(),
		ListMisses:    s.lists.miss.Load(),
		BytesWritten:  s.bytesWritten.Load(),
		BytesStored:   s.bytesStored.Load(),
		SlicesWritten: s.slicesWritten.Load(),
		BlocksWritten: s.blocksWritten.Load(),
		BlocksRead:    s.blocksRead.Load(),
	}
}

// Invalidate drops the cached slice lists of ino, so that the next Read sees what other mounts wrote before now
// (close-to-open consistency). Cached blocks stay: they are immutable.
func (s *Store) Invalidate(ino uint64) { s.lists.invalidate(ino) }

// Observe advances this Store's clock past ts (nanoseconds), so that every later write sorts after anything
// stamped ts. Reads observe the slices they see by themselves; callers may feed other causal evidence.
func (s *Store) Observe(ts int64) { s.clock.observe(ts) }

// Clock returns the latest timestamp this Store's hybrid logical clock has issued or observed.
func (s *Store) Clock() int64 { return s.clock.current() }

// WriterID returns this Store's random id (the tiebreak of its slices and the namespace of its blocks).
func (s *Store) WriterID() int64 { return s.writer }

// ChunkSize returns the configured chunk size.
func (s *Store) ChunkSize() uint64 { return s.cfg.ChunkSize }

// fault calls the Fault hook of the configuration (tests), if any.
func (s *Store) fault(step string) error {
	if s.cfg.Fault == nil {
		return nil
	}
	return s.cfg.Fault(step)
}

func (s *Store) query(ctx context.Context, stmt string, vals ...any) *gocql.Query {
	s.roundTrips.Add(1)
	return s.session.Query(stmt, vals...).WithContext(ctx).Consistency(s.cfg.Consistency).Idempotent(true)
}

// list returns the slice list of (ino, chunk), oldest first, from the cache or Cassandra.
func (s *Store) list(ctx context.Context, ino, chunk uint64) ([]slice, error) {
	l, ok, gen := s.lists.get(ino, chunk)
	if ok {
		s.cfg.Counters.ListHit.Inc()
		return l, nil
	}
	s.cfg.Counters.ListMiss.Inc()
	l, err := s.loadList(ctx, ino, chunk)
	if err != nil {
		return nil, err
	}
	s.lists.put(ino, chunk, l, gen)
	return l, nil
}

// refresh loads the slice list of (ino, chunk) from Cassandra, bypassing and then updating the cache.
func (s *Store) refresh(ctx context.Context, ino, chunk uint64) ([]slice, error) {
	s.lists.dropChunk(ino, chunk)
	return s.list(ctx, ino, chunk)
}

// loadList reads the slice list of (ino, chunk) from Cassandra and advances the clock past every slice in it.
func (s *Store) loadList(ctx context.Context, ino, chunk uint64) ([]slice, error) {
	it := s.query(ctx, s.q.selectSlices, int64(ino), int64(chunk)).Iter()
	var l []slice
	var (
		sl          slice
		pos, length int32
		bsize       int32
	)
	for it.Scan(&sl.key.ts, &sl.key.writer, &sl.key.gen, &pos, &length, &sl.zero, &sl.bwriter, &sl.bseq, &bsize) {
		sl.pos, sl.length, sl.bsize = uint64(pos), uint64(length), uint64(bsize)
		if !sl.zero && sl.bsize == 0 {
			_ = it.Close()
			return nil, fmt.Errorf("chunks: corrupt slice of inode %d chunk %d: %w", ino, chunk, syscall.EIO)
		}
		l = append(l, sl)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("chunks: load slices of inode %d chunk %d: %w", ino, chunk, err)
	}
	sortSlices(l) // Cassandra returns clustering order already; sort anyway, it is cheap
	if n := len(l); n > 0 {
		s.clock.observe(l[n-1].key.ts)
	}
	return l, nil
}

// errBlockMissing: a slice refers to a block that is gone (a concurrent compaction or truncation deleted it).
var errBlockMissing = errors.New("chunks: block not found")

// block returns the decoded bytes of block id (rawLen long), from the cache or Cassandra.
func (s *Store) block(ctx context.Context, id blockID, rawLen uint64) ([]byte, error) {
	data, hit, err := s.blocks.get(ctx, id, func(ctx context.Context) ([]byte, error) {
		var codec int8
		var n int32
		var stored []byte
		// Blocks are immutable and written before any slice names them, so one replica that has the block has
		// the right bytes: ask one, and the configured level only if that one has not got it (yet).
		err := s.query(ctx, s.q.selectBlock, id.writer, id.seq).Consistency(s.oneReplica()).Scan(&codec, &n, &stored)
		if errors.Is(err, gocql.ErrNotFound) && s.oneReplica() != s.cfg.Consistency {
			err = s.query(ctx, s.q.selectBlock, id.writer, id.seq).Scan(&codec, &n, &stored)
		}
		if errors.Is(err, gocql.ErrNotFound) {
			return nil, errBlockMissing
		}
		if err != nil {
			return nil, fmt.Errorf("chunks: read block: %w", err)
		}
		s.blocksRead.Add(1)
		return s.codecs.decode(byte(codec), stored, int(n))
	})
	if err != nil {
		return nil, err
	}
	if hit {
		s.cfg.Counters.BlockHit.Inc()
		s.blockHits.Add(1)
	} else {
		s.cfg.Counters.BlockMiss.Inc()
		s.blockMisses.Add(1)
	}
	if uint64(len(data)) != rawLen {
		return nil, fmt.Errorf("chunks: block %d/%d holds %d bytes, slice says %d: %w", id.writer, id.seq, len(data), rawLen, syscall.EIO)
	}
	return data, nil
}

// oneReplica is the consistency level for reading immutable blocks: LocalOne when the configured level is
// datacenter-local, One otherwise.
func (s *Store) oneReplica() gocql.Consistency {
	switch s.cfg.Consistency {
	case gocql.LocalQuorum, gocql.LocalOne, gocql.EachQuorum:
		return gocql.LocalOne
	}
	return gocql.One
}

// parallel runs fn(ctx, 0..n-1) on at most par goroutines and returns the first error (which cancels the rest).
func parallel(ctx context.Context, n, par int, fn func(ctx context.Context, i int) error) error {
	if n <= 0 {
		return nil
	}
	if par > n {
		par = n
	}
	if par <= 1 {
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		done  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if int(done.Load()) < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		return context.Canceled
	}
	return nil
}
