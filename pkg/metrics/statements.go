package metrics

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Statements counts and times Cassandra statements as a gocql QueryObserver and BatchObserver. Each statement
// text is classified once (kind, table, conditional or not) and its series are kept with it, so observing a
// known statement allocates nothing. Labels come from the statement's text, never from its bound values, and
// the table label holds only the table name (no keyspace): volume data never reaches a label.
type Statements struct {
	hist *prometheus.HistogramVec
	errs *prometheus.CounterVec

	mu      sync.RWMutex
	byText  map[string]*stmtClass
	byBatch map[batchKey]*stmtSeries
}

// stmtClass is what the text of one statement says, and its series.
type stmtClass struct {
	kind, table string
	cond        bool // a conditional write (IF ...): always a Paxos round
	// series[0]: not through Paxos, [1]: through Paxos (conditional, or a SERIAL read); resolved on first use,
	// so that no empty series is exported.
	series [2]atomic.Pointer[stmtSeries]
}

type stmtSeries struct {
	dur  prometheus.Observer
	errs prometheus.Counter
}

type batchKey struct {
	table string
	lwt   bool
}

// maxStatements bounds the classification cache. Statement texts carry the keyspace, so a long-lived
// controller sees new texts for every volume; when the cache is full it starts again.
const maxStatements = 4096

func newStatements(hist *prometheus.HistogramVec, errs *prometheus.CounterVec) *Statements {
	return &Statements{hist: hist, errs: errs, byText: map[string]*stmtClass{}, byBatch: map[batchKey]*stmtSeries{}}
}

var (
	_ gocql.QueryObserver = (*Statements)(nil)
	_ gocql.BatchObserver = (*Statements)(nil)
)

// ObserveQuery implements gocql.QueryObserver.
func (s *Statements) ObserveQuery(_ context.Context, q gocql.ObservedQuery) {
	c := s.class(q.Statement)
	lwt := c.cond
	if !lwt && q.Query != nil {
		cons := q.Query.GetConsistency()
		lwt = cons == gocql.Serial || cons == gocql.LocalSerial
	}
	se := s.series(c, lwt)
	se.dur.Observe(q.End.Sub(q.Start).Seconds())
	if q.Err != nil {
		se.errs.Inc()
	}
}

// ObserveBatch implements gocql.BatchObserver: a batch is one observation of kind "batch", labelled with the
// table of its statements ("mixed" when they differ) and lwt when any of them is conditional.
func (s *Statements) ObserveBatch(_ context.Context, b gocql.ObservedBatch) {
	key := batchKey{table: "-"}
	for i, st := range b.Statements {
		c := s.class(st)
		if i == 0 {
			key.table = c.table
		} else if key.table != c.table {
			key.table = "mixed"
		}
		key.lwt = key.lwt || c.cond
	}
	se := s.batchSeries(key)
	se.dur.Observe(b.End.Sub(b.Start).Seconds())
	if b.Err != nil {
		se.errs.Inc()
	}
}

// class returns the classification of stmt, computing it on first sight.
func (s *Statements) class(stmt string) *stmtClass {
	s.mu.RLock()
	c := s.byText[stmt]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	kind, table, cond := Classify(stmt)
	c = &stmtClass{kind: kind, table: table, cond: cond}
	s.mu.Lock()
	if len(s.byText) >= maxStatements {
		clear(s.byText)
	}
	s.byText[stmt] = c
	s.mu.Unlock()
	return c
}

// series returns c's series for lwt, resolving it on first use.
func (s *Statements) series(c *stmtClass, lwt bool) *stmtSeries {
	i, v := 0, "false"
	if lwt {
		i, v = 1, "true"
	}
	if se := c.series[i].Load(); se != nil {
		return se
	}
	se := &stmtSeries{dur: s.hist.WithLabelValues(c.kind, c.table, v), errs: s.errs.WithLabelValues(c.kind, c.table, v)}
	c.series[i].CompareAndSwap(nil, se)
	return c.series[i].Load()
}

func (s *Statements) batchSeries(key batchKey) *stmtSeries {
	s.mu.RLock()
	se := s.byBatch[key]
	s.mu.RUnlock()
	if se != nil {
		return se
	}
	lwt := "false"
	if key.lwt {
		lwt = "true"
	}
	se = &stmtSeries{dur: s.hist.WithLabelValues("batch", key.table, lwt), errs: s.errs.WithLabelValues("batch", key.table, lwt)}
	s.mu.Lock()
	s.byBatch[key] = se // tables are few: no bound needed
	s.mu.Unlock()
	return se
}

// Classify reads a CQL statement's kind (select, insert, update, delete, batch, schema or other), the table it
// works on (without keyspace; "-" when there is none, "other" when the name is not a plain identifier) and
// whether it is a conditional write (an IF clause on INSERT, UPDATE or DELETE).
func Classify(stmt string) (kind, table string, cond bool) {
	words := strings.Fields(stmt)
	if len(words) == 0 {
		return "other", "-", false
	}
	after := func(kw string) string {
		for i := 1; i+1 < len(words); i++ {
			if strings.EqualFold(words[i], kw) {
				return words[i+1]
			}
		}
		return ""
	}
	hasIf := func() bool {
		for _, w := range words[1:] {
			if strings.EqualFold(w, "IF") {
				return true
			}
		}
		return false
	}
	switch strings.ToUpper(words[0]) {
	case "SELECT":
		return "select", tableName(after("FROM")), false
	case "INSERT":
		return "insert", tableName(after("INTO")), hasIf()
	case "UPDATE":
		if len(words) > 1 {
			table = words[1]
		}
		return "update", tableName(table), hasIf()
	case "DELETE":
		return "delete", tableName(after("FROM")), hasIf()
	case "BEGIN":
		return "batch", "-", hasIf()
	case "CREATE", "ALTER", "DROP":
		t := after("TABLE")
		for _, skip := range []string{"IF", "NOT", "EXISTS"} {
			if strings.EqualFold(t, skip) {
				t = after(skip)
			}
		}
		return "schema", tableName(t), false
	case "TRUNCATE":
		t := ""
		if len(words) > 1 {
			t = words[1]
			if strings.EqualFold(t, "TABLE") && len(words) > 2 {
				t = words[2]
			}
		}
		return "schema", tableName(t), false
	}
	return "other", "-", false
}

// tableName turns "ks.table(a," or `"Ks"."t"` into the table's name, or "-" / "other".
func tableName(w string) string {
	if i := strings.IndexByte(w, '('); i >= 0 {
		w = w[:i]
	}
	if i := strings.LastIndexByte(w, '.'); i >= 0 {
		w = w[i+1:]
	}
	w = strings.ToLower(strings.Trim(w, `"`))
	if w == "" {
		return "-"
	}
	if len(w) > 48 {
		return "other"
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "other"
		}
	}
	return w
}
