package metrics

import (
	"context"
	"syscall"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cassfs/cassfs/pkg/fusefs"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		stmt, kind, table string
		cond              bool
	}{
		{`SELECT ino, name FROM cassfs_ab12.dentries WHERE parent = ?`, "select", "dentries", false},
		{`select release_version from system.local`, "select", "local", false},
		{`INSERT INTO cassfs_ab12.inodes (ino, ver) VALUES (?, ?) IF NOT EXISTS`, "insert", "inodes", true},
		{`INSERT INTO ks.opens(ino, sid) VALUES (?, ?)`, "insert", "opens", false},
		{`UPDATE cassfs_ab12.inodes SET size = ? WHERE ino = ? IF ver = ?`, "update", "inodes", true},
		{`UPDATE "Ks"."Sessions" SET heartbeat = ? WHERE sid = ?`, "update", "sessions", false},
		{`DELETE FROM ks.inodes WHERE ino = ? IF ver = ?`, "delete", "inodes", true},
		{`DELETE FROM ks.xattrs WHERE ino = ?`, "delete", "xattrs", false},
		{`CREATE TABLE IF NOT EXISTS ks.slices (ino bigint)`, "schema", "slices", false},
		{`CREATE KEYSPACE IF NOT EXISTS cassfs_ab12 WITH replication = {}`, "schema", "-", false},
		{`DROP KEYSPACE IF EXISTS cassfs_ab12`, "schema", "-", false},
		{`TRUNCATE ks.blocks`, "schema", "blocks", false},
		{`BEGIN BATCH INSERT INTO ks.a (x) VALUES (1) APPLY BATCH`, "batch", "-", false},
		{`SELECT * FROM ks.t$bad WHERE x = ?`, "select", "other", false},
		{``, "other", "-", false},
		{`USE ks`, "other", "-", false},
	} {
		kind, table, cond := Classify(c.stmt)
		if kind != c.kind || table != c.table || cond != c.cond {
			t.Errorf("Classify(%q) = %s %s %v, want %s %s %v", c.stmt, kind, table, cond, c.kind, c.table, c.cond)
		}
	}
}

// TestObserveAllocatesNothing: once a volume is staged and a statement seen, observing allocates nothing.
func TestObserveAllocatesNothing(t *testing.T) {
	m := New(prometheus.NewRegistry())
	v := m.Volume("pvc-1")
	defer v.Release()
	cc := v.CacheCounters()
	q := gocql.ObservedQuery{Statement: `SELECT x FROM ks.inodes WHERE ino = ?`, Start: time.Now(), End: time.Now()}
	s := m.Statements()
	ctx := context.Background()
	s.ObserveQuery(ctx, q) // first sight classifies
	m.Locks("local").LockWaited("ino", time.Millisecond)
	v.Op(fusefs.OpLookup, time.Millisecond, uint32(syscall.ENOENT))
	allocs := testing.AllocsPerRun(1000, func() {
		v.Op(fusefs.OpRead, time.Millisecond, 0)
		v.Op(fusefs.OpLookup, time.Millisecond, uint32(syscall.ENOENT))
		v.BytesRead(4096)
		v.BytesWritten(4096)
		v.ReadAhead(true)
		cc.BlockHit.Inc()
		cc.ListMiss.Inc()
		s.ObserveQuery(ctx, q)
		m.Locks("local").LockWaited("ino", time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per observation round, want 0", allocs)
	}
}

// TestVolumeSeries: per-volume counters count what they are told, and the last Release deletes the volume's
// series (and only its).
func TestVolumeSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	a1, a2, b := m.Volume("pvc-a"), m.Volume("pvc-a"), m.Volume("pvc-b")
	a1.BytesWritten(100)
	a2.BytesWritten(23)
	b.BytesRead(7)
	a1.ReadAhead(false)
	a1.CacheCounters().BlockMiss.Inc()
	if got := testutil.ToFloat64(m.bytesWrite.WithLabelValues("pvc-a")); got != 123 {
		t.Fatalf("written pvc-a = %v, want 123", got)
	}
	series := func() int { return testutil.CollectAndCount(m.bytesWrite) + testutil.CollectAndCount(m.cacheMiss) }
	before := series()
	a1.Release()
	if series() != before {
		t.Fatalf("series of pvc-a went away while it still had a mount")
	}
	a2.Release()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			for _, l := range mm.GetLabel() {
				if l.GetName() == "volume" && l.GetValue() == "pvc-a" {
					t.Errorf("%s still has a series of pvc-a after its last release", mf.GetName())
				}
			}
		}
	}
	if got := testutil.ToFloat64(m.bytesRead.WithLabelValues("pvc-b")); got != 7 {
		t.Fatalf("read pvc-b = %v, want 7", got)
	}
	b.Release()
}

func TestFuseErrorsByErrno(t *testing.T) {
	m := New(prometheus.NewRegistry())
	v := m.Volume("pvc-1")
	v.Op(fusefs.OpLookup, time.Millisecond, uint32(syscall.ENOENT))
	v.Op(fusefs.OpLookup, time.Millisecond, uint32(syscall.ENOENT))
	v.Op(fusefs.OpWrite, time.Millisecond, uint32(syscall.ENOSPC))
	v.Op(fusefs.OpWrite, time.Millisecond, 0)
	if got := testutil.ToFloat64(m.fuseErrs.WithLabelValues("lookup", "ENOENT")); got != 2 {
		t.Errorf("lookup ENOENT = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.fuseErrs.WithLabelValues("write", "ENOSPC")); got != 1 {
		t.Errorf("write ENOSPC = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(m.fuseErrs); got != 2 {
		t.Errorf("%d error series, want 2", got)
	}
}

func TestBatchLabels(t *testing.T) {
	m := New(prometheus.NewRegistry())
	s := m.Statements()
	s.ObserveBatch(context.Background(), gocql.ObservedBatch{Statements: []string{
		`INSERT INTO ks.dentries (parent, name) VALUES (?, ?) IF NOT EXISTS`,
		`UPDATE ks.dentries SET ino = ? WHERE parent = ? AND name = ?`}, Err: gocql.ErrTimeoutNoResponse})
	s.ObserveBatch(context.Background(), gocql.ObservedBatch{Statements: []string{
		`INSERT INTO ks.slices (ino) VALUES (?)`, `INSERT INTO ks.blocks (w) VALUES (?)`}})
	if got := testutil.ToFloat64(m.stmtErrs.WithLabelValues("batch", "dentries", "true")); got != 1 {
		t.Errorf("batch dentries lwt errors = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(m.stmtHist); got != 2 {
		t.Errorf("%d statement series, want 2 (dentries lwt, mixed)", got)
	}
}

// BenchmarkFuseRequest is what a mount pays per request for measuring: the observation of a read (latency
// histogram and bytes) and the clock reads around it.
func BenchmarkFuseRequest(b *testing.B) {
	m := New(prometheus.NewRegistry())
	v := m.Volume("pvc-1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			t := time.Now()
			v.Op(fusefs.OpRead, time.Since(t), 0)
			v.BytesRead(4096)
		}
	})
}
