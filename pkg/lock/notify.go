package lock

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Notifier carries "this changed" messages between the mounts of one volume, so that each mount can drop what
// its kernel caches about files and names that another mount changed, instead of waiting for cache timeouts.
//
// Contract:
//   - Publish announces changes this mount has made (after they are durable in the store). It never blocks on
//     the network: changes are gathered and sent in batches, the first at once and then at most one batch per
//     BatchDelay, so a burst of changes costs few messages. Duplicates within a batch are sent once.
//   - Every other mount of the volume whose Notifier exists when a batch is sent receives each of its changes,
//     or a batch with All set in their place: All means "changes may have been missed, assume everything
//     changed" (a lost ZooKeeper session, a batch too large to send, a gap). Nothing is ever lost silently.
//   - A mount never receives its own changes.
//   - Received batches go to the function given to Subscribe, one call at a time, from one goroutine. Batches
//     received before Subscribe are kept (merged) and handed over when it is called. The function must not
//     block for long, and must not wait for Publish callers (it may call Publish).
//   - One publisher's batches arrive in the order it sent them (for ZooKeeper: while its session lasts). No
//     order is promised between mounts.
//   - After Close, Publish does nothing and the subscriber is not called any more. Close sends what was
//     published before it (best effort, a few seconds at most).
//
// Two implementations share this contract and one conformance suite (locktest.RunNotifier): NewZKNotifier for
// volumes mounted on several nodes, and LocalNotifiers for mounts in one process.
type Notifier interface {
	Publish(changes ...Change)
	Subscribe(fn func(Batch))
	// Stats counts what this Notifier did so far.
	Stats() NotifyStats
	Close() error
}

// ChangeKind says what changed.
type ChangeKind uint8

const (
	// ChangeAttr: the attributes or extended attributes of inode Ino changed, not its data.
	ChangeAttr ChangeKind = iota + 1
	// ChangeData: the data of file Ino changed (a write, truncation or allocation), and so its attributes.
	ChangeData
	// ChangeEntry: the name Name in directory Ino appeared, disappeared or now refers to another inode.
	ChangeEntry
	// ChangeDelete: the name Name in directory Ino was removed and Child, the inode it named, has no name left.
	ChangeDelete
)

// Change is one change another mount must see.
type Change struct {
	Kind  ChangeKind
	Ino   uint64 // the inode (ChangeAttr, ChangeData) or the directory (ChangeEntry, ChangeDelete)
	Name  string // ChangeEntry, ChangeDelete
	Child uint64 // ChangeDelete
}

// Batch is what a subscriber receives: changes made by other mounts, or All.
type Batch struct {
	Changes []Change
	// All: changes may have been missed; the receiver must treat everything it caches as changed.
	All bool
}

// NotifyStats counts the work of a Notifier.
type NotifyStats struct {
	Published uint64 // changes given to Publish (duplicates included)
	Sent      uint64 // batches sent (for ZooKeeper: znode writes)
	Received  uint64 // batches handed to the subscriber
	All       uint64 // of which All
}

// DefaultBatchDelay is the shortest time between two batches a Notifier sends.
const DefaultBatchDelay = 20 * time.Millisecond

// maxBatchChanges bounds one batch; a larger burst is sent as All.
const maxBatchChanges = 20000

// outbox gathers published changes into batches and hands them to send, the first at once and then at most
// one per delay. send runs on the outbox's goroutine; it returns false to keep the batch for the next try
// (the changes are merged into the next batch).
type outbox struct {
	delay time.Duration
	send  func(b Batch) bool

	mu      sync.Mutex
	pending []Change
	seen    map[Change]struct{}
	all     bool
	closed  bool
	wake    chan struct{}
	done    chan struct{}

	published, sent atomic.Uint64
}

func newOutbox(delay time.Duration, send func(Batch) bool) *outbox {
	if delay <= 0 {
		delay = DefaultBatchDelay
	}
	o := &outbox{delay: delay, send: send, seen: map[Change]struct{}{}, wake: make(chan struct{}, 1),
		done: make(chan struct{})}
	go o.run()
	return o
}

func (o *outbox) publish(changes []Change) {
	o.published.Add(uint64(len(changes)))
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	for _, c := range changes {
		if o.all {
			break
		}
		if _, dup := o.seen[c]; dup {
			continue
		}
		if len(o.pending) >= maxBatchChanges {
			o.all, o.pending, o.seen = true, nil, map[Change]struct{}{}
			break
		}
		o.seen[c] = struct{}{}
		o.pending = append(o.pending, c)
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take removes the pending batch (ok false if there is none).
func (o *outbox) take() (Batch, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) == 0 && !o.all {
		return Batch{}, false
	}
	b := Batch{Changes: o.pending, All: o.all}
	o.pending, o.all, o.seen = nil, false, map[Change]struct{}{}
	return b, true
}

// putBack merges an unsent batch into the pending one.
func (o *outbox) putBack(b Batch) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b.All || len(o.pending)+len(b.Changes) > maxBatchChanges {
		o.all, o.pending, o.seen = true, nil, map[Change]struct{}{}
		return
	}
	var merged []Change
	for _, c := range b.Changes {
		if _, dup := o.seen[c]; !dup {
			o.seen[c] = struct{}{}
			merged = append(merged, c)
		}
	}
	o.pending = append(merged, o.pending...)
}

func (o *outbox) run() {
	defer close(o.done)
	for {
		o.mu.Lock()
		closed := o.closed
		o.mu.Unlock()
		b, ok := o.take()
		if !ok {
			if closed {
				return
			}
			<-o.wake
			continue
		}
		if o.send(b) {
			o.sent.Add(1)
		} else {
			o.putBack(b)
			if closed {
				return // Close gave up waiting
			}
		}
		time.Sleep(o.delay) // gather the next batch
	}
}

// close stops accepting changes and waits (up to timeout) until what was published has been sent.
func (o *outbox) close(timeout time.Duration) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	select {
	case <-o.done:
	case <-time.After(timeout):
	}
}

// inbox hands received batches to the subscriber, one call at a time, merging batches that queue up.
type inbox struct {
	mu      sync.Mutex
	fn      func(Batch)
	queue   []Batch
	queued  int // changes in queue
	closed  bool
	running bool
	idle    *sync.Cond

	received, all atomic.Uint64
}

func newInbox() *inbox {
	in := &inbox{}
	in.idle = sync.NewCond(&in.mu)
	return in
}

// maxQueued bounds the changes waiting for the subscriber; past it they collapse into All.
const maxQueued = 100000

func (in *inbox) push(b Batch) {
	if !b.All && len(b.Changes) == 0 {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	if b.All || in.queued+len(b.Changes) > maxQueued {
		in.queue, in.queued = []Batch{{All: true}}, 0
	} else if len(in.queue) > 0 && in.queue[0].All {
		// everything is invalidated anyway
	} else {
		in.queue = append(in.queue, Batch{Changes: slices.Clone(b.Changes)})
		in.queued += len(b.Changes)
	}
	in.kick()
}

// kick starts the delivery goroutine if there is a subscriber and work. Call with mu held.
func (in *inbox) kick() {
	if in.running || in.fn == nil || len(in.queue) == 0 {
		return
	}
	in.running = true
	go in.deliver()
}

func (in *inbox) deliver() {
	in.mu.Lock()
	for len(in.queue) > 0 && !in.closed {
		b := in.queue[0]
		in.queue = in.queue[1:]
		in.queued -= len(b.Changes)
		fn := in.fn
		in.mu.Unlock()
		in.received.Add(1)
		if b.All {
			in.all.Add(1)
		}
		fn(b)
		in.mu.Lock()
	}
	in.running = false
	in.idle.Broadcast()
	in.mu.Unlock()
}

func (in *inbox) subscribe(fn func(Batch)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fn = fn
	in.kick()
}

// close drops what is queued and waits for a running delivery to end.
func (in *inbox) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	in.queue = nil
	for in.running {
		in.idle.Wait()
	}
}

func statsOf(o *outbox, in *inbox) NotifyStats {
	return NotifyStats{Published: o.published.Load(), Sent: o.sent.Load(), Received: in.received.Load(),
		All: in.all.Load()}
}

// LocalNotifiers connects the Notifiers of mounts in one process (NewLocalNotifiers, then Join per mount):
// what one publishes, the others receive.
type LocalNotifiers struct {
	delay   time.Duration
	mu      sync.Mutex
	members map[*localNotifier]struct{}
}

// NewLocalNotifiers returns an empty group; batchDelay 0 means DefaultBatchDelay.
func NewLocalNotifiers(batchDelay time.Duration) *LocalNotifiers {
	return &LocalNotifiers{delay: batchDelay, members: map[*localNotifier]struct{}{}}
}

// Join returns a new member's Notifier.
func (g *LocalNotifiers) Join() Notifier {
	n := &localNotifier{g: g, in: newInbox()}
	n.out = newOutbox(g.delay, func(b Batch) bool {
		g.mu.Lock()
		others := make([]*localNotifier, 0, len(g.members))
		for m := range g.members {
			if m != n {
				others = append(others, m)
			}
		}
		g.mu.Unlock()
		for _, m := range others {
			m.in.push(b)
		}
		return true
	})
	g.mu.Lock()
	g.members[n] = struct{}{}
	g.mu.Unlock()
	return n
}

type localNotifier struct {
	g   *LocalNotifiers
	out *outbox
	in  *inbox
}

func (n *localNotifier) Publish(changes ...Change) { n.out.publish(changes) }
func (n *localNotifier) Subscribe(fn func(Batch))  { n.in.subscribe(fn) }
func (n *localNotifier) Stats() NotifyStats        { return statsOf(n.out, n.in) }

func (n *localNotifier) Close() error {
	n.out.close(5 * time.Second)
	n.g.mu.Lock()
	delete(n.g.members, n)
	n.g.mu.Unlock()
	n.in.close()
	return nil
}
