package cassandra

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/store"
)

// The benchmarks compare CassFS operations with a raw gocql baseline that reads or writes the same rows (an
// inode row and an entry row, plain statements, no LWT) in the same run. Run with
//
//	go test -run '^$' -bench . -benchtime 200x ./pkg/cassandra/
//
// ReadDir lists a directory of benchEntries entries (populated once, through raw inserts of the rows CassFS
// would write, to keep the set-up short).

const benchEntries = 10000

type benchFixture struct {
	c        *Cluster
	v        *Volume
	ks       string
	big      store.Ino // a directory with benchEntries entries
	createIn store.Ino // where Create puts new files
	n        int
	id       string
}

// TestMain drops the benchmarks' volume after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if bench != nil {
		_ = bench.v.Close()
		if err := bench.c.DeleteVolume(context.Background(), bench.id); err != nil {
			fmt.Fprintln(os.Stderr, "drop benchmark volume:", err)
			code = 1
		}
		bench.c.Close()
	}
	os.Exit(code)
}

var (
	benchOnce sync.Once
	bench     *benchFixture
	benchErr  error
)

func fixture(b *testing.B) *benchFixture {
	b.Helper()
	benchOnce.Do(func() {
		ctx := context.Background()
		cl, err := Connect(ctx, ClusterConfig{Hosts: testenv.RequireCassandra(b)})
		if err != nil {
			benchErr = err
			return
		}
		spec, _ := ParseVolumeSpec(testenv.UniqueName("cfsbench-"), 0, nil)
		info, err := cl.CreateVolume(ctx, spec)
		if err != nil {
			benchErr = err
			return
		}
		v, err := cl.OpenVolume(ctx, spec.ID, OpenOptions{Session: "bench"})
		if err != nil {
			benchErr = err
			return
		}
		f := &benchFixture{c: cl, v: v, ks: info.Keyspace, id: spec.ID}
		bench = f
		for _, st := range []string{
			`CREATE TABLE IF NOT EXISTS {ks}.raw_inodes (ino bigint PRIMARY KEY, ver bigint, type int, mode int,
				uid bigint, gid bigint, nlink int, size bigint, atime bigint, mtime bigint, ctime bigint)`,
			`CREATE TABLE IF NOT EXISTS {ks}.raw_dentries (parent bigint, name blob, ino bigint, type int,
				PRIMARY KEY ((parent), name))`,
		} {
			if benchErr = cl.session.Query(cql(info.Keyspace, st)).Exec(); benchErr != nil {
				return
			}
		}
		big, err := v.Mknod(ctx, store.RootIno, "big", newDir())
		if err != nil {
			benchErr = err
			return
		}
		f.big = big.Ino
		created, err := v.Mknod(ctx, store.RootIno, "created", newDir())
		if err != nil {
			benchErr = err
			return
		}
		f.createIn = created.Ino
		benchErr = populate(ctx, v, big.Ino)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

// populate fills dir with benchEntries files, writing the rows Mknod would write (16 writers in parallel).
func populate(ctx context.Context, v *Volume, dir store.Ino) error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < benchEntries; i += 16 {
				ino := 1_000_000 + int64(i)
				t := now()
				n := inode{Attr: store.Attr{Ino: store.Ino(ino), Type: store.TypeFile, Mode: 0o644, Nlink: 1,
					Atime: t, Mtime: t, Ctime: t, Generation: 1}}
				if err := v.insertInode(ctx, &n); err != nil {
					errs <- err
					return
				}
				if err := v.createEntry(ctx, dir, fmt.Sprintf("file-%05d", i), entry{n.Ino, n.Type}); err != nil {
					errs <- err
					return
				}
				v.addUsage(ctx, 0, 1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (f *benchFixture) raw(stmt string, args ...any) *gocql.Query {
	return f.c.session.Query(cql(f.ks, stmt), args...).Consistency(gocql.LocalQuorum)
}

func BenchmarkCreate(b *testing.B) {
	f := fixture(b)
	ctx := context.Background()
	b.Run("cassfs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f.n++
			if _, err := f.v.Mknod(ctx, f.createIn, fmt.Sprintf("c%d", f.n), newFile()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f.n++
			ino := int64(2_000_000 + f.n)
			t := now()
			if err := f.raw(`INSERT INTO {ks}.raw_inodes (ino, ver, type, mode, uid, gid, nlink, size, atime, mtime, ctime)
				VALUES (?, 1, 1, 420, 0, 0, 1, 0, ?, ?, ?)`, ino, t, t, t).Exec(); err != nil {
				b.Fatal(err)
			}
			if err := f.raw(`INSERT INTO {ks}.raw_dentries (parent, name, ino, type) VALUES (?, ?, ?, 1)`,
				int64(f.createIn), []byte(fmt.Sprintf("c%d", f.n)), ino).Exec(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	f := fixture(b)
	ctx := context.Background()
	b.Run("cassfs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := f.v.Lookup(ctx, f.big, fmt.Sprintf("file-%05d", i%benchEntries)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var ino int64
			var typ int
			if err := f.raw(`SELECT ino, type FROM {ks}.dentries WHERE parent = ? AND name = ?`, int64(f.big),
				[]byte(fmt.Sprintf("file-%05d", i%benchEntries))).Scan(&ino, &typ); err != nil {
				b.Fatal(err)
			}
			var mode, nlink int
			var size int64
			if err := f.raw(`SELECT mode, nlink, size FROM {ks}.inodes WHERE ino = ?`, ino).Scan(&mode, &nlink, &size); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReadDir10k(b *testing.B) {
	f := fixture(b)
	ctx := context.Background()
	b.Run("cassfs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n, after := 0, ""
			for {
				ents, err := f.v.ReadDir(ctx, f.big, after, 1000)
				if err != nil {
					b.Fatal(err)
				}
				if len(ents) == 0 {
					break
				}
				n += len(ents)
				after = ents[len(ents)-1].Name
			}
			if n != benchEntries {
				b.Fatalf("listed %d entries", n)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			iter := f.raw(`SELECT name, ino, type FROM {ks}.dentries WHERE parent = ?`, int64(f.big)).PageSize(1000).Iter()
			var name []byte
			var ino int64
			var typ, n int
			for iter.Scan(&name, &ino, &typ) {
				n++
			}
			if err := iter.Close(); err != nil {
				b.Fatal(err)
			}
			if n != benchEntries {
				b.Fatalf("listed %d entries", n)
			}
		}
	})
}
