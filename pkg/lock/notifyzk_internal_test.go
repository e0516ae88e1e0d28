package lock

import (
	"sync"
	"testing"
	"time"

	"github.com/cassfs/cassfs/internal/testenv"
)

// notes collects what a subscriber received.
type notes struct {
	mu      sync.Mutex
	changes map[Change]bool
	all     int
}

func (n *notes) receive(b Batch) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if b.All {
		n.all++
	}
	for _, c := range b.Changes {
		n.changes[c] = true
	}
}

func (n *notes) wait(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		n.mu.Lock()
		done := ok()
		n.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

func mustNotifier(t *testing.T, z *ZK) *ZKNotifier {
	t.Helper()
	n, err := NewZKNotifier(tctx(t), z, 0)
	if err != nil {
		t.Fatalf("NewZKNotifier: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// A mount cut off from ZooKeeper long enough to lose its session is told to drop everything (All), follows the
// others again on its new session, and what it published while cut off reaches them once it is back.
func TestZKNotifierSessionLoss(t *testing.T) {
	cfg := internalConfig(t)
	d := &testenv.CutDialer{}
	cfgB := cfg
	cfgB.Dialer = d.Dial
	za, zb := mustZK(t, cfg), mustZK(t, cfgB)
	na, nb := mustNotifier(t, za), mustNotifier(t, zb)
	ra, rb := &notes{changes: map[Change]bool{}}, &notes{changes: map[Change]bool{}}
	na.Subscribe(ra.receive)
	nb.Subscribe(rb.receive)

	before := Change{Kind: ChangeData, Ino: 1}
	na.Publish(before)
	rb.wait(t, "b receives a's change", func() bool { return rb.changes[before] })

	d.Set(true)
	rb.wait(t, "b, cut off, is told to drop everything", func() bool { return rb.all > 0 })
	whileCut := Change{Kind: ChangeEntry, Ino: 1, Name: "made while b was cut off"}
	nb.Publish(whileCut)
	start := time.Now()
	d.Set(false)
	rb.wait(t, "b is told again once it watches on a new session", func() bool { return rb.all > 1 })
	t.Logf("MEASURED: b watched again %v after the network came back", time.Since(start))
	ra.wait(t, "a receives what b published while cut off", func() bool { return ra.changes[whileCut] || ra.all > 0 })

	after := Change{Kind: ChangeAttr, Ino: 2}
	na.Publish(after)
	rb.wait(t, "b receives a's change on its new session", func() bool { return rb.changes[after] })
	if ra.all > 0 {
		t.Logf("a received All (b's old record vanished between a change and a's read of it)")
	}
}

func TestChangeRecordEncoding(t *testing.T) {
	batches := []Batch{
		{Changes: []Change{{Kind: ChangeAttr, Ino: 1}, {Kind: ChangeData, Ino: 1 << 62},
			{Kind: ChangeEntry, Ino: 3, Name: "a\x00b"}, {Kind: ChangeDelete, Ino: 4, Name: "x", Child: 5}}},
		{All: true},
		{Changes: []Change{{Kind: ChangeEntry, Ino: 1, Name: ""}}},
	}
	var enc []encodedBatch
	for i, b := range batches {
		enc = append(enc, encodedBatch{uint64(i + 7), encodeBatch(uint64(i+7), b)})
	}
	rec := encodeRecord(enc)
	got, err := decodeRecord(rec)
	if err != nil || len(got) != len(batches) {
		t.Fatalf("decode: %v, %d batches", err, len(got))
	}
	for i, b := range got {
		if b.seq != uint64(i+7) || b.All != batches[i].All || len(b.Changes) != len(batches[i].Changes) {
			t.Fatalf("batch %d: %+v, want %+v", i, b, batches[i])
		}
		for j, c := range b.Changes {
			if c != batches[i].Changes[j] {
				t.Errorf("batch %d change %d: %+v, want %+v", i, j, c, batches[i].Changes[j])
			}
		}
	}
	// Every truncation of a record is either a shorter valid record or an error, never a panic.
	for n := range rec {
		_, _ = decodeRecord(rec[:n])
	}
	if _, err := decodeRecord([]byte{2}); err == nil {
		t.Errorf("unknown record version accepted")
	}
}
