package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/cassfs/cassfs/pkg/cassandra"
)

// The store ceiling. rawcql writes the bytes of the given files (the very files fio wrote on the local target) as
// blocks of -block bytes (default 1 MiB, chunks.DefaultBlockSize) into a plain table of its own keyspace, and
// reads them back, with one job per file (fio's numjobs) and -depth requests in flight per job (default 4,
// chunks.DefaultParallelism). Like pkg/cassandra/chunks with the default codec, each block is compressed with
// zstd at SpeedFastest and stored raw when that does not shrink it (fio's data does not shrink), the table has
// Cassandra's compression off, and the consistency is LOCAL_QUORUM (cassandra.Connect's session is used as is).
// Reads decode and check a CRC-32C of every block, so a bad store fails the run instead of flattering it.

var benchKeyspaceRE = regexp.MustCompile(`^[a-z0-9_]{1,48}$`)

type rawFlags struct {
	hosts, keyspace, codec string
	block, depth           int
}

func runRawCQL(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: cassbench rawcql setup|write|read|drop [flags] [FILE...]")
	}
	mode := args[0]
	fl := flag.NewFlagSet("rawcql "+mode, flag.ContinueOnError)
	var f rawFlags
	fl.StringVar(&f.hosts, "hosts", "127.0.0.1", "Cassandra hosts, comma-separated")
	fl.StringVar(&f.keyspace, "keyspace", "", "keyspace of the benchmark table ([a-z0-9_]{1,48}; created by setup)")
	fl.StringVar(&f.codec, "codec", "zstd", "zstd or none")
	fl.IntVar(&f.block, "block", 1<<20, "block size in bytes")
	fl.IntVar(&f.depth, "depth", 4, "requests in flight per job")
	if err := fl.Parse(args[1:]); err != nil {
		return err
	}
	if !benchKeyspaceRE.MatchString(f.keyspace) || !strings.HasPrefix(f.keyspace, "cassbench_") {
		return fmt.Errorf("-keyspace must match cassbench_[a-z0-9_]+, got %q", f.keyspace)
	}
	if f.block <= 0 || f.depth <= 0 || (f.codec != "zstd" && f.codec != "none") {
		return errors.New("bad -block, -depth or -codec")
	}
	ctx := context.Background()
	cl, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: strings.Split(f.hosts, ",")})
	if err != nil {
		return err
	}
	defer cl.Close()
	s := cl.Session()
	switch mode {
	case "setup":
		return rawSetup(ctx, s, f.keyspace)
	case "drop":
		return s.Query(fmt.Sprintf(`DROP KEYSPACE IF EXISTS %s`, f.keyspace)).ExecContext(ctx)
	case "write", "read":
		if fl.NArg() == 0 {
			return errors.New("no files")
		}
		return rawRun(ctx, s, f, mode == "write", fl.Args())
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func rawSetup(ctx context.Context, s *gocql.Session, ks string) error {
	for _, q := range []string{
		fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`, ks),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.blobs (file int, seq bigint, codec tinyint, rawlen int, crc int, data blob,
			PRIMARY KEY ((file, seq))) WITH compression = {'enabled': 'false'}`, ks),
		fmt.Sprintf(`TRUNCATE %s.blobs`, ks),
	} {
		if err := s.Query(q).ExecContext(ctx); err != nil {
			return err
		}
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawRun writes (or reads back) every file with one job per file and f.depth blocks in flight per job.
func rawRun(ctx context.Context, s *gocql.Session, f rawFlags, write bool, files []string) error {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(f.depth*len(files)))
	if err != nil {
		return err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(f.depth*len(files)))
	if err != nil {
		return err
	}
	ins := fmt.Sprintf(`INSERT INTO %s.blobs (file, seq, codec, rawlen, crc, data) VALUES (?, ?, ?, ?, ?, ?)`, f.keyspace)
	sel := fmt.Sprintf(`SELECT codec, rawlen, crc, data FROM %s.blobs WHERE file = ? AND seq = ?`, f.keyspace)
	var total, blocks atomic.Int64
	var firstErr error
	var failed atomic.Bool
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err; failed.Store(true) }) }
	start := time.Now()
	var wg sync.WaitGroup
	for fi, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return err
		}
		defer fh.Close()
		st, err := fh.Stat()
		if err != nil {
			return err
		}
		n := (st.Size() + int64(f.block) - 1) / int64(f.block)
		next := make(chan int64)
		go func() {
			defer close(next)
			for i := int64(0); i < n; i++ {
				next <- i
			}
		}()
		for range f.depth {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, f.block)
				out := make([]byte, 0, f.block+f.block/8+64)
				for i := range next {
					if failed.Load() {
						continue
					}
					var err error
					var k int
					if write {
						k, err = rawPut(ctx, s, ins, enc, f.codec, fh, fi, i, buf, out)
					} else {
						k, err = rawGet(ctx, s, sel, dec, fi, i, out)
					}
					if err != nil {
						fail(fmt.Errorf("%s block %d: %w", name, i, err))
						continue
					}
					total.Add(int64(k))
					blocks.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	phase := "read"
	if write {
		phase = "write"
	}
	emit(result{Phase: phase, Jobs: len(files), Ops: blocks.Load(), Bytes: total.Load(), Seconds: time.Since(start).Seconds()})
	return nil
}

func rawPut(ctx context.Context, s *gocql.Session, ins string, enc *zstd.Encoder, codec string, fh *os.File,
	file int, seq int64, buf, out []byte) (int, error) {
	k, err := fh.ReadAt(buf, seq*int64(len(buf)))
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	raw := buf[:k]
	stored, c := raw, int8(0)
	if codec == "zstd" {
		if z := enc.EncodeAll(raw, out[:0]); len(z) < len(raw) {
			stored, c = z, 1
		}
	}
	crc := int32(crc32.Checksum(raw, castagnoli))
	return k, s.Query(ins, file, seq, c, int32(k), crc, stored).ExecContext(ctx)
}

func rawGet(ctx context.Context, s *gocql.Session, sel string, dec *zstd.Decoder, file int, seq int64, out []byte) (int, error) {
	var c int8
	var rawlen, crc int32
	var data []byte
	if err := s.Query(sel, file, seq).ScanContext(ctx, &c, &rawlen, &crc, &data); err != nil {
		return 0, err
	}
	raw := data
	if c == 1 {
		var err error
		if raw, err = dec.DecodeAll(data, out[:0]); err != nil {
			return 0, err
		}
	}
	if len(raw) != int(rawlen) || int32(crc32.Checksum(raw, castagnoli)) != crc {
		return 0, errors.New("block does not match what was written")
	}
	return len(raw), nil
}
