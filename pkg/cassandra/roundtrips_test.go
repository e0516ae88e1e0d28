package cassandra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/metrics"
	"github.com/cassfs/cassfs/pkg/store"
)

// Round trips per operation: how many statements, and how many of them go through Paxos (conditional writes and
// SERIAL reads), each store operation sends to Cassandra. Unlike times, these counts are deterministic on an idle
// volume, so they are what this file measures; the benchmarks report them as metrics next to the time.
//
// The sequences are those the FUSE layer (pkg/fusefs) sends for the named system calls when nothing is cached:
// creat+close is Mknod, Open, Release; a stat of a name the kernel has not cached is one Lookup.

// stmtCounter is a gocql observer that counts statements by class while it is on.
type stmtCounter struct {
	mu     sync.Mutex
	on     bool
	counts map[string]int // "kind table" (+ " lwt") -> statements
}

func (c *stmtCounter) add(stmt string, lwt bool) {
	kind, table, cond := metrics.Classify(stmt)
	key := kind + " " + table
	if cond || lwt {
		key += " lwt"
	}
	c.mu.Lock()
	if c.on {
		c.counts[key]++
	}
	c.mu.Unlock()
}

func (c *stmtCounter) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	lwt := false
	if q.Query != nil {
		cons := q.Query.GetConsistency()
		lwt = cons == gocql.Serial || cons == gocql.LocalSerial
	}
	c.add(q.Statement, lwt)
}

func (c *stmtCounter) ObserveBatch(_ context.Context, b gocql.ObservedBatch) {
	cond := false
	for _, st := range b.Statements {
		_, _, sc := metrics.Classify(st)
		cond = cond || sc
	}
	c.add("BEGIN BATCH", cond)
}

// measure runs op n times with the counter on and returns the counts per run.
func (c *stmtCounter) measure(t testing.TB, n int, op func(i int) error) opCounts {
	t.Helper()
	c.mu.Lock()
	c.on, c.counts = true, map[string]int{}
	c.mu.Unlock()
	for i := range n {
		if err := op(i); err != nil {
			c.mu.Lock()
			c.on = false
			c.mu.Unlock()
			t.Fatalf("run %d: %v", i, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return opCounts{n: n, counts: c.counts}
}

type opCounts struct {
	n      int
	counts map[string]int
}

func (o opCounts) total() float64 {
	s := 0
	for _, v := range o.counts {
		s += v
	}
	return float64(s) / float64(o.n)
}

func (o opCounts) lwt() float64 {
	s := 0
	for k, v := range o.counts {
		if strings.HasSuffix(k, " lwt") {
			s += v
		}
	}
	return float64(s) / float64(o.n)
}

func (o opCounts) String() string {
	keys := make([]string, 0, len(o.counts))
	for k := range o.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.2f", k, float64(o.counts[k])/float64(o.n))
	}
	return b.String()
}

// roundTripFixture is a fresh volume on a Cluster whose statements are counted.
type roundTripFixture struct {
	cnt *stmtCounter
	v   *Volume
	ctx context.Context
}

func newRoundTripFixture(t testing.TB) *roundTripFixture {
	t.Helper()
	hosts := testenv.RequireCassandra(t)
	cnt := &stmtCounter{}
	ctx := context.Background()
	c, err := Connect(ctx, ClusterConfig{Hosts: hosts, Timeout: 30 * time.Second, QueryObserver: cnt, BatchObserver: cnt})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	info := testVolume(t, c, 0, nil)
	// No background work (heartbeats, cleanup) during the counts.
	v, err := c.OpenVolume(ctx, info.Spec.ID, OpenOptions{Session: "roundtrips", HeartbeatInterval: time.Hour,
		CleanupInterval: -1})
	if err != nil {
		t.Fatalf("open volume: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	// Reserve the first range of inode numbers outside the counts (one LWT per 1,024 creates).
	if _, err := v.Mknod(ctx, store.RootIno, "warm-up", store.NewNode{Type: store.TypeFile, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	return &roundTripFixture{cnt: cnt, v: v, ctx: ctx}
}

// roundTripOp is one measured operation: setup (not counted) prepares run i, op is counted.
type roundTripOp struct {
	name  string
	n     int
	setup func(f *roundTripFixture, i int) error
	op    func(f *roundTripFixture, i int) error
	per   int // units per run (counts are divided by n*per); 0 means 1
}

var (
	rtBlock = bytes.Repeat([]byte{0xa5}, 1<<20)
	rt4k    = bytes.Repeat([]byte{0x5a}, 4096)
)

func rtCreate(f *roundTripFixture, dir store.Ino, name string, data []byte) error {
	a, err := f.v.Mknod(f.ctx, dir, name, store.NewNode{Type: store.TypeFile, Mode: 0o644})
	if err != nil {
		return err
	}
	if _, err := f.v.Open(f.ctx, a.Ino); err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := f.v.Write(f.ctx, a.Ino, 0, data); err != nil {
			return err
		}
	}
	return f.v.Release(f.ctx, a.Ino)
}

// roundTripOps are the operations of the table in docs/benchmarks.md ("Round trips per operation").
func roundTripOps() []roundTripOp {
	var seqIno, parIno, dir store.Ino
	name := func(p string, i int) string { return fmt.Sprintf("%s-%d", p, i) }
	return []roundTripOp{
		{name: "create+close (empty file)", n: 20, op: func(f *roundTripFixture, i int) error {
			return rtCreate(f, store.RootIno, name("c", i), nil)
		}},
		{name: "create+write 4 KiB+close", n: 20, op: func(f *roundTripFixture, i int) error {
			return rtCreate(f, store.RootIno, name("w", i), rt4k)
		}},
		{name: "stat of an uncached name (lookup)", n: 20, op: func(f *roundTripFixture, i int) error {
			_, err := f.v.Lookup(f.ctx, store.RootIno, name("w", i))
			return err
		}},
		{name: "getattr", n: 20, op: func(f *roundTripFixture, i int) error {
			_, err := f.v.GetAttr(f.ctx, store.RootIno)
			return err
		}},
		{name: "unlink (last link, closed)", n: 20, op: func(f *roundTripFixture, i int) error {
			_, err := f.v.Unlink(f.ctx, store.RootIno, name("w", i))
			return err
		}},
		{name: "mkdir", n: 20, op: func(f *roundTripFixture, i int) error {
			a, err := f.v.Mknod(f.ctx, store.RootIno, name("d", i), store.NewNode{Type: store.TypeDir, Mode: 0o755})
			if i == 0 {
				dir = a.Ino
			}
			return err
		}},
		{name: "rename in one directory", n: 20, op: func(f *roundTripFixture, i int) error {
			return f.v.Rename(f.ctx, store.RootIno, name("c", i), store.RootIno, name("r", i), 0)
		}},
		{name: "rename across directories", n: 20, op: func(f *roundTripFixture, i int) error {
			return f.v.Rename(f.ctx, store.RootIno, name("r", i), dir, name("r", i), 0)
		}},
		{name: "1 MiB sequential write, per block", n: 16, setup: func(f *roundTripFixture, i int) error {
			if i > 0 {
				return nil
			}
			a, err := f.v.Mknod(f.ctx, store.RootIno, "seq", store.NewNode{Type: store.TypeFile, Mode: 0o644})
			seqIno = a.Ino
			if err == nil {
				_, err = f.v.Open(f.ctx, seqIno)
			}
			return err
		}, op: func(f *roundTripFixture, i int) error {
			_, err := f.v.Write(f.ctx, seqIno, uint64(i)<<20, rtBlock)
			return err
		}},
		{name: "4 MiB pieces, 8 at once on one file, per piece", n: 4, setup: func(f *roundTripFixture, i int) error {
			if i > 0 {
				return nil
			}
			a, err := f.v.Mknod(f.ctx, store.RootIno, "par", store.NewNode{Type: store.TypeFile, Mode: 0o644})
			parIno = a.Ino
			return err
		}, op: func(f *roundTripFixture, i int) error {
			// As the FUSE write-back uploads a sequential writer's data: pieces of 4 MiB (its default), up to
			// 8 at once (its default), each a Write of its own; 8 pieces per run, counted per piece below.
			piece := bytes.Repeat(rtBlock, 4)
			errs := make(chan error, 8)
			for k := range 8 {
				go func() {
					_, err := f.v.Write(f.ctx, parIno, uint64(i*8+k)*uint64(len(piece)), piece)
					errs <- err
				}()
			}
			var err error
			for range 8 {
				err = errors.Join(err, <-errs)
			}
			if err != nil {
				return err
			}
			// Every piece's size is covered once its Write returns.
			a, err := f.v.GetAttr(f.ctx, parIno)
			if want := uint64(i*8+8) * uint64(len(piece)); err == nil && a.Size != want {
				err = fmt.Errorf("size %d after the pieces, want %d", a.Size, want)
			}
			return err
		}, per: 8},
		{name: "1 MiB sequential read (cold), per block", n: 16, setup: func(f *roundTripFixture, i int) error {
			if i == 0 {
				f.v.data.Invalidate(uint64(seqIno)) // drops cached slice lists and blocks, as Open does
			}
			return nil
		}, op: func(f *roundTripFixture, i int) error {
			buf := make([]byte, 1<<20)
			n, err := f.v.Read(f.ctx, seqIno, uint64(i)<<20, buf)
			if err == nil && n != len(buf) {
				err = fmt.Errorf("read %d bytes", n)
			}
			return err
		}},
	}
}

// TestRoundTrips logs the statements and Paxos rounds of each operation of roundTripOps (the table of
// docs/benchmarks.md). It asserts nothing about time; the upper bounds below are statement counts, which are
// deterministic on a volume no one else uses, so the test fails if a change adds round trips to these paths.
func TestRoundTrips(t *testing.T) {
	f := newRoundTripFixture(t)
	bounds := map[string][2]float64{ // name -> {statements, Paxos rounds}, at most
		"create+close (empty file)":                      {10, 2},
		"create+write 4 KiB+close":                       {19, 3},
		"stat of an uncached name (lookup)":              {2, 0},
		"mkdir":                                          {6, 2},
		"unlink (last link, closed)":                     {15, 4},
		"4 MiB pieces, 8 at once on one file, per piece": {12, 1},
	}
	t.Logf("%-42s %10s %10s  %s", "operation", "statements", "paxos", "by statement")
	for _, op := range roundTripOps() {
		var c opCounts
		if op.setup == nil {
			c = f.cnt.measure(t, op.n, func(i int) error { return op.op(f, i) })
		} else {
			// setup per run, outside the counts
			c = opCounts{n: op.n, counts: map[string]int{}}
			for i := range op.n {
				if err := op.setup(f, i); err != nil {
					t.Fatalf("%s: setup: %v", op.name, err)
				}
				one := f.cnt.measure(t, 1, func(int) error { return op.op(f, i) })
				for k, v := range one.counts {
					c.counts[k] += v
				}
			}
		}
		if op.per > 1 {
			c.n *= op.per
		}
		t.Logf("%-42s %10.2f %10.2f  %s", op.name, c.total(), c.lwt(), c)
		if b, ok := bounds[op.name]; ok && (c.total() > b[0] || c.lwt() > b[1]) {
			t.Errorf("%s: %.2f statements, %.2f through Paxos; at most %.0f and %.0f expected", op.name, c.total(),
				c.lwt(), b[0], b[1])
		}
	}
}

// BenchmarkRoundTrips times the create path and stat, alone and from 8 goroutines (each in its own directory,
// as the 8 processes of hack/bench.sh's metadata test), and reports the statements and Paxos rounds per
// operation next to the time. Run with
//
//	go test -run '^$' -bench RoundTrips -benchtime 200x ./pkg/cassandra/
func BenchmarkRoundTrips(b *testing.B) {
	f := newRoundTripFixture(b)
	var seq atomic.Int64
	dirs := make([]store.Ino, 8)
	for i := range dirs {
		d, err := f.v.Mknod(f.ctx, store.RootIno, fmt.Sprintf("p%d", i), store.NewNode{Type: store.TypeDir, Mode: 0o755})
		if err != nil {
			b.Fatal(err)
		}
		dirs[i] = d.Ino
	}
	run := func(b *testing.B, par int, op func(dir store.Ino, i int64) error) {
		f.cnt.mu.Lock()
		f.cnt.on, f.cnt.counts = true, map[string]int{}
		f.cnt.mu.Unlock()
		b.ResetTimer()
		var wg sync.WaitGroup
		errs := make(chan error, par)
		for w := range par {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < b.N; i += par {
					if err := op(dirs[w], seq.Add(1)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		f.cnt.mu.Lock()
		c := opCounts{n: b.N, counts: f.cnt.counts}
		f.cnt.on = false
		f.cnt.mu.Unlock()
		b.ReportMetric(c.total(), "stmts/op")
		b.ReportMetric(c.lwt(), "paxos/op")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	}
	create := func(data []byte) func(dir store.Ino, i int64) error {
		return func(dir store.Ino, i int64) error { return rtCreate(f, dir, fmt.Sprintf("f%d", i), data) }
	}
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("create+close/par%d", par), func(b *testing.B) { run(b, par, create(nil)) })
		b.Run(fmt.Sprintf("create+write4k+close/par%d", par), func(b *testing.B) { run(b, par, create(rt4k)) })
		b.Run(fmt.Sprintf("stat/par%d", par), func(b *testing.B) {
			run(b, par, func(dir store.Ino, i int64) error {
				_, err := f.v.Lookup(f.ctx, store.RootIno, fmt.Sprintf("p%d", i%8))
				return err
			})
		})
	}
}
