package chunks

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/internal/testenv"
)

// testKeyspace creates a fresh keyspace with this package's tables and drops it when the test ends.
func testKeyspace(t testing.TB) (*gocql.Session, string) {
	t.Helper()
	session := testenv.Session(t)
	ks := testenv.UniqueName("chunkstest_")
	ctx := context.Background()
	create := fmt.Sprintf(`CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`, ks)
	if err := session.Query(create).ExecContext(ctx); err != nil {
		t.Fatalf("create keyspace: %v", err)
	}
	t.Cleanup(func() {
		if err := session.Query(`DROP KEYSPACE IF EXISTS ` + ks).ExecContext(context.Background()); err != nil {
			t.Errorf("drop keyspace %s: %v", ks, err)
		}
	})
	for _, stmt := range Schema(ks) {
		if err := session.Query(stmt).ExecContext(ctx); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return session, ks
}

// smallConfig is the test geometry: 1 MiB chunks of 64 KiB blocks.
func smallConfig() Config {
	return Config{ChunkSize: 1 << 20, BlockSize: 64 << 10, Consistency: gocql.Quorum, CompactSettle: -1}
}

func newStore(t testing.TB, session *gocql.Session, ks string, cfg Config) *Store {
	t.Helper()
	s, err := New(session, ks, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// compressible returns n bytes of text-like data that compress well.
func compressible(r *rand.Rand, n int) []byte {
	words := []string{"cassandra ", "chunk ", "slice ", "block ", "inode ", "zstd ", "\n"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func mustWrite(t testing.TB, s *Store, ino, off uint64, data []byte) {
	t.Helper()
	if err := s.Write(context.Background(), ino, off, data); err != nil {
		t.Fatalf("Write(ino %d, off %d, len %d): %v", ino, off, len(data), err)
	}
}

// mustRead reads [off, off+n) with the given size and returns the bytes read.
func mustRead(t testing.TB, s *Store, ino, off uint64, n int, size uint64) []byte {
	t.Helper()
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = 0xEE // garbage that a correct Read overwrites
	}
	got, err := s.Read(context.Background(), ino, off, buf, size)
	if err != nil {
		t.Fatalf("Read(ino %d, off %d, len %d, size %d): %v", ino, off, n, size, err)
	}
	return buf[:got]
}

// expectEqual fails with the first differing offset.
func expectEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d bytes, want %d", what, len(got), len(want))
	}
	if !bytes.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: first difference at byte %d: got %#x want %#x", what, i, got[i], want[i])
			}
		}
	}
}

// offsetClock returns a clock d away from the real one.
func offsetClock(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}
