package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/pkg/cassandra/chunks"
	"github.com/cassfs/cassfs/pkg/fusefs"
)

// Metrics holds the storage-side collectors of one driver process: FUSE requests, per-volume bytes and cache
// lookups, Cassandra statements and lock waits. It is safe for concurrent use.
type Metrics struct {
	fuseOps    [fusefs.NumOps]atomic.Pointer[opSeries] // by op, resolved on first use
	fuseHist   *prometheus.HistogramVec
	fuseErrs   *prometheus.CounterVec
	errMu      sync.RWMutex
	errByOp    map[uint64]prometheus.Counter // op<<32 | errno
	bytesRead  *prometheus.CounterVec
	bytesWrite *prometheus.CounterVec
	cacheHit   *prometheus.CounterVec
	cacheMiss  *prometheus.CounterVec
	stmtHist   *prometheus.HistogramVec
	stmtErrs   *prometheus.CounterVec
	lockWait   *prometheus.HistogramVec

	stmts *Statements

	locksMu sync.Mutex
	locks   map[string]*LockWaits // by locker

	volMu sync.Mutex
	vols  map[string]*Volume // volumes with live series, by ID
}

// Label values of the cache label.
const (
	CacheBlock     = "block"
	CacheSliceList = "slice_list"
	CacheReadAhead = "read_ahead"
)

// latency buckets: 100µs to about 18s, a factor 3 apart.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 3, 12)

// New creates the collectors and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		fuseHist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cassfs", Subsystem: "fuse", Name: "request_duration_seconds",
			Help:    "Time to serve FUSE requests, by request type (op), over every mounted volume.",
			Buckets: latencyBuckets,
		}, []string{"op"}),
		fuseErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cassfs", Subsystem: "fuse", Name: "request_errors_total",
			Help: "FUSE requests answered with an error, by request type (op) and errno name.",
		}, []string{"op", "errno"}),
		errByOp: map[uint64]prometheus.Counter{},
		bytesRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cassfs", Subsystem: "volume", Name: "read_bytes_total",
			Help: "File data bytes returned by FUSE reads, by volume.",
		}, []string{"volume"}),
		bytesWrite: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cassfs", Subsystem: "volume", Name: "written_bytes_total",
			Help: "File data bytes accepted by FUSE writes, by volume.",
		}, []string{"volume"}),
		cacheHit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cassfs", Subsystem: "cache", Name: "hits_total",
			Help: "Cache lookups answered from memory, by volume and cache (block, slice_list, read_ahead).",
		}, []string{"volume", "cache"}),
		cacheMiss: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cassfs", Subsystem: "cache", Name: "misses_total",
			Help: "Cache lookups that had to fetch, by volume and cache (block, slice_list, read_ahead).",
		}, []string{"volume", "cache"}),
		stmtHist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cassfs", Subsystem: "cassandra", Name: "statement_duration_seconds",
			Help:    "Cassandra statements and batches (each attempt), by kind, table and whether they go through Paxos (lwt).",
			Buckets: latencyBuckets,
		}, []string{"kind", "table", "lwt"}),
		stmtErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cassfs", Subsystem: "cassandra", Name: "statement_errors_total",
			Help: "Cassandra statement and batch attempts that failed (timeouts, unavailable, network), by kind, table and lwt.",
		}, []string{"kind", "table", "lwt"}),
		lockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cassfs", Subsystem: "lock", Name: "wait_seconds",
			Help:    "Time from asking for a blocking lock to its grant, by lock kind and locker (zookeeper or local).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12),
		}, []string{"kind", "locker"}),
		vols:  map[string]*Volume{},
		locks: map[string]*LockWaits{},
	}
	m.stmts = newStatements(m.stmtHist, m.stmtErrs)
	if reg != nil {
		reg.MustRegister(m.fuseHist, m.fuseErrs, m.bytesRead, m.bytesWrite, m.cacheHit, m.cacheMiss, m.stmtHist,
			m.stmtErrs, m.lockWait)
	}
	return m
}

// fuseOp records one FUSE request.
func (m *Metrics) fuseOp(op fusefs.Op, d time.Duration, errno uint32) {
	if op >= fusefs.NumOps {
		return
	}
	se := m.fuseOps[op].Load()
	if se == nil {
		m.fuseOps[op].CompareAndSwap(nil, &opSeries{m.fuseHist.WithLabelValues(op.String())})
		se = m.fuseOps[op].Load()
	}
	se.dur.Observe(d.Seconds())
	if errno != 0 {
		m.fuseErr(op, errno).Inc()
	}
}

// opSeries is the latency series of one FUSE opcode (resolved on its first request, so that a controller or an
// idle node exports no empty series).
type opSeries struct{ dur prometheus.Observer }

// fuseErr returns the error counter of (op, errno), resolving it on first use.
func (m *Metrics) fuseErr(op fusefs.Op, errno uint32) prometheus.Counter {
	key := uint64(op)<<32 | uint64(errno)
	m.errMu.RLock()
	c := m.errByOp[key]
	m.errMu.RUnlock()
	if c != nil {
		return c
	}
	name := unix.ErrnoName(unix.Errno(errno))
	if name == "" {
		name = "other"
	}
	c = m.fuseErrs.WithLabelValues(op.String(), name)
	m.errMu.Lock()
	m.errByOp[key] = c
	m.errMu.Unlock()
	return c
}

// Volume returns the per-volume metrics of volume id, creating its series. Every mount of the volume in this
// process shares it; call Release once per Volume call, and the series go away with the last release.
func (m *Metrics) Volume(id string) *Volume {
	m.volMu.Lock()
	defer m.volMu.Unlock()
	if v := m.vols[id]; v != nil {
		v.refs++
		return v
	}
	v := &Volume{m: m, id: id, refs: 1,
		read:    m.bytesRead.WithLabelValues(id),
		written: m.bytesWrite.WithLabelValues(id),
		raHit:   m.cacheHit.WithLabelValues(id, CacheReadAhead),
		raMiss:  m.cacheMiss.WithLabelValues(id, CacheReadAhead),
		cache: chunks.CacheCounters{
			BlockHit: m.cacheHit.WithLabelValues(id, CacheBlock), BlockMiss: m.cacheMiss.WithLabelValues(id, CacheBlock),
			ListHit: m.cacheHit.WithLabelValues(id, CacheSliceList), ListMiss: m.cacheMiss.WithLabelValues(id, CacheSliceList),
		}}
	m.vols[id] = v
	return v
}

// Statements returns the observer of Cassandra statements, for cassandra.ClusterConfig's QueryObserver and
// BatchObserver.
func (m *Metrics) Statements() *Statements { return m.stmts }

// Locks returns the lock wait observer of one locker ("zookeeper" or "local").
func (m *Metrics) Locks(locker string) *LockWaits {
	m.locksMu.Lock()
	defer m.locksMu.Unlock()
	l := m.locks[locker]
	if l == nil {
		l = &LockWaits{vec: m.lockWait, locker: locker, byKind: map[string]prometheus.Observer{}}
		m.locks[locker] = l
	}
	return l
}

// Volume is the per-volume part of Metrics: it counts bytes read and written and read-ahead hits as the
// fusefs.Observer of the volume's mounts, and cache lookups through CacheCounters. Its counters are resolved
// when it is created, so observing allocates nothing.
type Volume struct {
	m                            *Metrics
	id                           string
	refs                         int // guarded by m.volMu
	read, written, raHit, raMiss prometheus.Counter
	cache                        chunks.CacheCounters
}

var _ fusefs.Observer = (*Volume)(nil)

// Op implements fusefs.Observer (request latencies and errors are counted over all volumes).
func (v *Volume) Op(op fusefs.Op, d time.Duration, errno uint32) { v.m.fuseOp(op, d, errno) }

// BytesRead implements fusefs.Observer.
func (v *Volume) BytesRead(n int) { v.read.Add(float64(n)) }

// BytesWritten implements fusefs.Observer.
func (v *Volume) BytesWritten(n int) { v.written.Add(float64(n)) }

// ReadAhead implements fusefs.Observer.
func (v *Volume) ReadAhead(hit bool) {
	if hit {
		v.raHit.Inc()
	} else {
		v.raMiss.Inc()
	}
}

// CacheCounters returns the counters of the volume's block and slice-list caches (cassandra.OpenOptions).
func (v *Volume) CacheCounters() chunks.CacheCounters { return v.cache }

// Release drops one use of v; the last one deletes every series labelled with the volume.
func (v *Volume) Release() {
	m := v.m
	m.volMu.Lock()
	defer m.volMu.Unlock()
	if v.refs--; v.refs > 0 || m.vols[v.id] != v {
		return
	}
	delete(m.vols, v.id)
	match := prometheus.Labels{"volume": v.id}
	for _, vec := range []*prometheus.CounterVec{m.bytesRead, m.bytesWrite, m.cacheHit, m.cacheMiss} {
		vec.DeletePartialMatch(match)
	}
}
