package locktest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/lock"
)

// NewNotifiers returns n Notifiers of one fresh volume, as n mounts would have (their Close registered with
// t.Cleanup; closing one twice must be harmless).
type NewNotifiers func(t *testing.T, n int) []lock.Notifier

// RunNotifier runs the conformance suite of the Notifier contract.
func RunNotifier(t *testing.T, newNotifiers NewNotifiers) {
	t.Run("OthersReceiveNotSelf", func(t *testing.T) { testNotifyOthers(t, newNotifiers(t, 3)) })
	t.Run("BurstIsBatched", func(t *testing.T) { testNotifyBurst(t, newNotifiers(t, 2)) })
	t.Run("LargeBatches", func(t *testing.T) { testNotifyLarge(t, newNotifiers(t, 2)) })
	t.Run("SubscribeLate", func(t *testing.T) { testNotifySubscribeLate(t, newNotifiers(t, 2)) })
	t.Run("Close", func(t *testing.T) { testNotifyClose(t, newNotifiers(t, 4)) })
}

// collector records what a subscriber received.
type collector struct {
	mu      sync.Mutex
	changes map[lock.Change]int
	all     int
	allBase int // covered counts only All deliveries beyond this many
	calls   int
	active  int // calls running at once (must stay <= 1)
	closed  bool
	t       *testing.T
	name    string
	changed chan struct{}
}

func subscribe(t *testing.T, n lock.Notifier, name string) *collector {
	c := &collector{changes: map[lock.Change]int{}, t: t, name: name, changed: make(chan struct{}, 1)}
	n.Subscribe(c.receive)
	return c
}

func (c *collector) receive(b lock.Batch) {
	c.mu.Lock()
	c.active++
	if c.active > 1 {
		c.t.Errorf("%s: subscriber called concurrently", c.name)
	}
	if c.closed {
		c.t.Errorf("%s: subscriber called after Close returned", c.name)
	}
	c.calls++
	if b.All {
		c.all++
	}
	for _, ch := range b.Changes {
		c.changes[ch]++
	}
	c.active--
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// covered reports whether every change in want was received (or an All).
func (c *collector) covered(want []lock.Change) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all > c.allBase {
		return true
	}
	for _, w := range want {
		if c.changes[w] == 0 {
			return false
		}
	}
	return true
}

// waitCovered fails the test if want is not received (or replaced by All) within a minute.
func (c *collector) waitCovered(want []lock.Change, what string) {
	c.t.Helper()
	deadline := time.After(time.Minute)
	for !c.covered(want) {
		select {
		case <-c.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			c.t.Fatalf("%s: %s not received within a minute", c.name, what)
		}
	}
}

func (c *collector) receivedAny(of []lock.Change) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range of {
		if c.changes[w] > 0 {
			return true
		}
	}
	return false
}

func (c *collector) snapshot() (changes, all, calls int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.changes), c.all, c.calls
}

func sample(base uint64) []lock.Change {
	return []lock.Change{
		{Kind: lock.ChangeAttr, Ino: base + 1},
		{Kind: lock.ChangeData, Ino: base + 2},
		{Kind: lock.ChangeEntry, Ino: base + 3, Name: "new name"},
		{Kind: lock.ChangeEntry, Ino: base + 3, Name: "ünïcödé\x01"},
		{Kind: lock.ChangeDelete, Ino: base + 3, Name: "gone", Child: base + 4},
	}
}

func testNotifyOthers(t *testing.T, ns []lock.Notifier) {
	a, b, c := ns[0], ns[1], ns[2]
	ca, cb, cc := subscribe(t, a, "a"), subscribe(t, b, "b"), subscribe(t, c, "c")
	fromA := sample(100)
	a.Publish(fromA[:2]...)
	a.Publish(fromA[2:]...)
	cb.waitCovered(fromA, "a's changes")
	cc.waitCovered(fromA, "a's changes")
	if _, all, _ := cb.snapshot(); all > 0 {
		t.Logf("b received All for a few changes (a lost ZooKeeper session under load?)")
	}
	// b's marker reaches a after a's own changes were delivered everywhere else.
	marker := []lock.Change{{Kind: lock.ChangeAttr, Ino: 999}}
	b.Publish(marker...)
	ca.waitCovered(marker, "b's marker")
	cc.waitCovered(marker, "b's marker")
	if ca.receivedAny(fromA) {
		t.Errorf("a received its own changes")
	}
	if cb.receivedAny(marker) {
		t.Errorf("b received its own marker")
	}
	if st := a.Stats(); st.Published != uint64(len(fromA)) || st.Sent == 0 {
		t.Errorf("a's stats %+v after publishing %d changes", st, len(fromA))
	}
	if st := b.Stats(); st.Received == 0 {
		t.Errorf("b's stats %+v after receiving", st)
	}
}

func testNotifyBurst(t *testing.T, ns []lock.Notifier) {
	a, b := ns[0], ns[1]
	cb := subscribe(t, b, "b")
	const n = 2000
	var want []lock.Change
	start := time.Now()
	for i := range n {
		ch := lock.Change{Kind: lock.ChangeEntry, Ino: 7, Name: fmt.Sprintf("file-%05d", i)}
		want = append(want, ch)
		a.Publish(ch)
		a.Publish(ch) // a duplicate is not a new change
	}
	published := time.Since(start)
	cb.waitCovered(want, "the burst")
	st := a.Stats()
	_, all, calls := cb.snapshot()
	t.Logf("MEASURED: %d changes published in %v became %d batches sent; b got %d deliveries (%d All) after %v",
		n, published, st.Sent, calls, all, time.Since(start))
	if st.Published != 2*n {
		t.Errorf("Published = %d, want %d", st.Published, 2*n)
	}
	if st.Sent >= n {
		t.Errorf("%d changes were sent as %d batches: no batching", n, st.Sent)
	}
}

func testNotifyLarge(t *testing.T, ns []lock.Notifier) {
	a, b := ns[0], ns[1]
	cb := subscribe(t, b, "b")
	long := strings.Repeat("n", 200)
	var want []lock.Change
	for i := range 3000 {
		want = append(want, lock.Change{Kind: lock.ChangeEntry, Ino: 8, Name: fmt.Sprintf("%s-%05d", long, i)})
	}
	a.Publish(want...) // one batch of about 600 KB
	cb.waitCovered(want, "a large batch (or All)")
	var many []lock.Change
	for i := range 50000 {
		many = append(many, lock.Change{Kind: lock.ChangeData, Ino: uint64(100000 + i)})
	}
	cb.mu.Lock()
	allBefore := cb.all
	cb.allBase = cb.all // require the new changes or a new All
	cb.mu.Unlock()
	a.Publish(many...)
	cb.waitCovered(many, "50,000 changes at once (or All)")
	_, allAfter, _ := cb.snapshot()
	t.Logf("All deliveries: %d for the 600 KB batch, %d for the 50,000 changes", allBefore, allAfter-allBefore)
}

func testNotifySubscribeLate(t *testing.T, ns []lock.Notifier) {
	a, b := ns[0], ns[1]
	want := sample(200)
	a.Publish(want...)
	time.Sleep(100 * time.Millisecond) // let the batch arrive before anyone listens (delivery must wait for it)
	cb := subscribe(t, b, "b")
	cb.waitCovered(want, "changes received before Subscribe")
}

func testNotifyClose(t *testing.T, ns []lock.Notifier) {
	a, b, c, d := ns[0], ns[1], ns[2], ns[3]
	cb, cc := subscribe(t, b, "b"), subscribe(t, c, "c")
	first := sample(300)
	a.Publish(first...)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// What was published before Close is still sent.
	cb.waitCovered(first, "changes published just before the publisher's Close")
	a.Publish(sample(400)...) // after Close: nothing, and no panic
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	cb.mu.Lock()
	cb.closed = true
	cb.mu.Unlock()
	_ = b.Close() // twice is harmless
	// c still hears d; b's subscriber is not called any more (collector.receive reports it if it is).
	marker := []lock.Change{{Kind: lock.ChangeAttr, Ino: 555}}
	d.Publish(marker...)
	cc.waitCovered(marker, "d's marker")
	if cc.receivedAny(sample(400)) {
		t.Errorf("c received what a published after its Close")
	}
}
