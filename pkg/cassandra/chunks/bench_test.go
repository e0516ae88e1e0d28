package chunks

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Benchmarks of sequential I/O in 4 MiB calls through Store (default geometry: 64 MiB chunks, 1 MiB blocks,
// parallelism 4), beside a raw gocql baseline that writes and reads the same bytes as 1 MiB blobs, 4 at a time,
// in a plain table with the same options as blocks. CHUNKS_BENCH_MIB sets the file size (default 64).
//
//	go test -run '^$' -bench . -benchtime 3x ./pkg/cassandra/chunks

const benchCall = 4 << 20

func benchSize() int {
	if v, err := strconv.Atoi(os.Getenv("CHUNKS_BENCH_MIB")); err == nil && v > 0 {
		return v << 20
	}
	return 64 << 20
}

func benchData(compressibleData bool) []byte {
	r := rand.New(rand.NewPCG(99, 100))
	if compressibleData {
		return compressible(r, benchSize())
	}
	return randBytes(r, benchSize())
}

func benchConfig(codec string) Config {
	return Config{Consistency: gocql.Quorum, Codec: codec}
}

func writeFile(b *testing.B, s *Store, ino uint64, data []byte) {
	ctx := context.Background()
	for off := 0; off < len(data); off += benchCall {
		if err := s.Write(ctx, ino, uint64(off), data[off:min(len(data), off+benchCall)]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchWrite(b *testing.B, codec string, compressibleData bool) {
	session, ks := testKeyspace(b)
	data := benchData(compressibleData)
	s := newStore(b, session, ks, benchConfig(codec))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writeFile(b, s, uint64(i+1), data)
	}
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.BytesStored)/float64(st.BytesWritten), "stored/raw")
	b.ReportMetric(float64(st.RoundTrips)/float64(b.N), "trips/op")
}

func benchRead(b *testing.B, codec string, compressibleData bool) {
	session, ks := testKeyspace(b)
	data := benchData(compressibleData)
	writeFile(b, newStore(b, session, ks, benchConfig(codec)), 1, data)
	buf := make([]byte, benchCall)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var trips int64
	for i := 0; i < b.N; i++ {
		s := newStore(b, session, ks, benchConfig(codec)) // cold caches every time
		for off := 0; off < len(data); off += benchCall {
			n, err := s.Read(ctx, 1, uint64(off), buf, uint64(len(data)))
			if err != nil || n != min(benchCall, len(data)-off) {
				b.Fatalf("Read at %d: %d, %v", off, n, err)
			}
		}
		trips += s.Stats().RoundTrips
	}
	b.ReportMetric(float64(trips)/float64(b.N), "trips/op")
}

func BenchmarkChunksWriteRandom(b *testing.B)        { benchWrite(b, "zstd", false) }
func BenchmarkChunksWriteText(b *testing.B)          { benchWrite(b, "zstd", true) }
func BenchmarkChunksWriteRandomNoCodec(b *testing.B) { benchWrite(b, "none", false) }
func BenchmarkChunksReadRandom(b *testing.B)         { benchRead(b, "zstd", false) }
func BenchmarkChunksReadText(b *testing.B)           { benchRead(b, "zstd", true) }

// The baseline: 1 MiB blobs, one partition each, 4 in flight per 4 MiB call.

func rawTable(b *testing.B) (*gocql.Session, string) {
	session, ks := testKeyspace(b)
	stmt := `CREATE TABLE ` + ks + `.raw (id bigint, part int, data blob, PRIMARY KEY ((id, part))) WITH compression = {'enabled': 'false'}`
	if err := session.Query(stmt).Exec(); err != nil {
		b.Fatal(err)
	}
	return session, ks
}

// rawCall runs fn for the 1 MiB parts of one 4 MiB call, 4 at a time.
func rawCall(b *testing.B, off, total int, fn func(part, lo, hi int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for p := off; p < min(total, off+benchCall); p += 1 << 20 {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			errs <- fn(p>>20, p, min(total, p+1<<20))
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

func rawWrite(b *testing.B, session *gocql.Session, ks string, id int64, data []byte) {
	q := `INSERT INTO ` + ks + `.raw (id, part, data) VALUES (?, ?, ?)`
	for off := 0; off < len(data); off += benchCall {
		rawCall(b, off, len(data), func(part, lo, hi int) error {
			return session.Query(q, id, part, data[lo:hi]).Consistency(gocql.Quorum).Exec()
		})
	}
}

func BenchmarkRawGocqlWrite(b *testing.B) {
	session, ks := rawTable(b)
	data := benchData(false)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rawWrite(b, session, ks, int64(i+1), data)
	}
}

func BenchmarkRawGocqlRead(b *testing.B) {
	session, ks := rawTable(b)
	data := benchData(false)
	rawWrite(b, session, ks, 1, data)
	q := `SELECT data FROM ` + ks + `.raw WHERE id = ? AND part = ?`
	buf := make([]byte, benchCall)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := 0; off < len(data); off += benchCall {
			rawCall(b, off, len(data), func(part, lo, hi int) error {
				var blob []byte
				if err := session.Query(q, int64(1), part).Consistency(gocql.Quorum).Scan(&blob); err != nil {
					return err
				}
				copy(buf[lo-off:], blob)
				return nil
			})
		}
	}
}

// BenchmarkPaired runs, within each iteration, the raw baseline and Store on the same bytes (random, so
// compression cannot help), alternating which goes first, so that both see the same machine load; it reports
// both throughputs and the ratios (Store / raw: above 1 means Store is faster).
func BenchmarkPaired(b *testing.B) {
	session, ks := rawTable(b)
	data := benchData(false)
	ctx := context.Background()
	buf := make([]byte, benchCall)
	q := `SELECT data FROM ` + ks + `.raw WHERE id = ? AND part = ?`
	var rawW, rawR, chW, chR float64 // seconds
	writer := newStore(b, session, ks, benchConfig("zstd"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := int64(i + 1)
		writeRaw := func() { rawWrite(b, session, ks, id, data) }
		writeStore := func() { writeFile(b, writer, uint64(id), data) }
		if i%2 == 0 { // alternate which goes first
			rawW += timed(writeRaw)
			chW += timed(writeStore)
		} else {
			chW += timed(writeStore)
			rawW += timed(writeRaw)
		}
		readRaw := func() {
			for off := 0; off < len(data); off += benchCall {
				rawCall(b, off, len(data), func(part, lo, hi int) error {
					var blob []byte
					if err := session.Query(q, id, part).Consistency(gocql.Quorum).Scan(&blob); err != nil {
						return err
					}
					copy(buf[lo-off:], blob)
					return nil
				})
			}
		}
		readStore := func() {
			reader := newStore(b, session, ks, benchConfig("zstd")) // cold caches
			for off := 0; off < len(data); off += benchCall {
				if _, err := reader.Read(ctx, uint64(id), uint64(off), buf, uint64(len(data))); err != nil {
					b.Fatal(err)
				}
			}
		}
		if i%2 == 0 {
			rawR += timed(readRaw)
			chR += timed(readStore)
		} else {
			chR += timed(readStore)
			rawR += timed(readRaw)
		}
	}
	mb := float64(len(data)) * float64(b.N) / 1e6
	b.ReportMetric(mb/rawW, "rawW_MB/s")
	b.ReportMetric(mb/chW, "storeW_MB/s")
	b.ReportMetric(rawW/chW, "W_ratio")
	b.ReportMetric(mb/rawR, "rawR_MB/s")
	b.ReportMetric(mb/chR, "storeR_MB/s")
	b.ReportMetric(rawR/chR, "R_ratio")
}

// timed returns how long fn took, in seconds.
func timed(fn func()) float64 {
	t := time.Now()
	fn()
	return time.Since(t).Seconds()
}
