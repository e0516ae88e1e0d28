package lock

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZKNotifier is the Notifier of a mount of a volume shared between nodes, on a ZK Locker's session.
//
// Each mount owns one EPHEMERAL znode, <Chroot>/<Namespace>/notify/<mount id>-<ZooKeeper session id>, created
// at its first publication. Its data is a change record: the mount's latest batches, each with a sequence
// number, up to 32 batches or 128 KiB (older ones are dropped; a batch over 64 KiB is sent as All). Sending a batch is one write of the record.
// Every other mount keeps a data watch on each such znode (and a child watch on notify/ to find new ones):
// when a record changes it reads it and delivers the batches numbered above the last one it delivered. So a
// reader that is slow to re-read after a watch fires still gets every batch the record retains, and if the
// record no longer holds the next number (the reader fell too far behind) it delivers All.
//
// Losing the ZooKeeper session (ours) delivers All, since watches may have missed changes, and again once the
// watches are set on the new session. A publisher's znode dies with its session; a new one, with numbers
// starting again at 1, is made on the next session, and readers that find a new znode deliver everything its
// record holds (All if its first batches are gone). A znode that disappears between a change and the read of
// it also gives All. Close leaves the znode to the session (it is ephemeral): close the ZK soon after.
type ZKNotifier struct {
	z   *ZK
	id  string // this mount's prefix in notify/
	dir string
	out *outbox
	in  *inbox

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	done   chan struct{} // the watcher has stopped

	mu       sync.Mutex // guards the record below (used by the outbox goroutine and Close)
	node     string     // our znode, valid in nodeSess
	nodeSess *zkSession
	seq      uint64
	recent   []encodedBatch
}

type encodedBatch struct {
	seq  uint64
	data []byte
}

var _ Notifier = (*ZKNotifier)(nil)

const (
	maxRecordBytes   = 128 << 10
	maxRecordBatches = 32
)

// NewZKNotifier starts the Notifier of one mount on z's session (z is scoped to the volume). It returns once
// the watches on the other mounts' records are set, so every batch sent after that reaches it; batchDelay 0
// means DefaultBatchDelay. Close it before closing z.
func NewZKNotifier(ctx context.Context, z *ZK, batchDelay time.Duration) (*ZKNotifier, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	n := &ZKNotifier{z: z, id: hex.EncodeToString(b), dir: z.root + "/notify", in: newInbox(),
		done: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ready := make(chan error, 1)
	go n.watch(ready)
	select {
	case err := <-ready:
		if err != nil {
			n.cancel()
			<-n.done
			return nil, err
		}
	case <-ctx.Done():
		n.cancel()
		<-n.done
		return nil, fmt.Errorf("lock: notifier: %w", ctx.Err())
	}
	n.out = newOutbox(batchDelay, n.send)
	return n, nil
}

func (n *ZKNotifier) Publish(changes ...Change) { n.out.publish(changes) }
func (n *ZKNotifier) Subscribe(fn func(Batch))  { n.in.subscribe(fn) }
func (n *ZKNotifier) Stats() NotifyStats        { return statsOf(n.out, n.in) }

// Close sends what was published (for up to 5 seconds), stops watching and stops delivering.
func (n *ZKNotifier) Close() error {
	n.out.close(5 * time.Second)
	n.cancel()
	<-n.done
	n.in.close()
	return nil
}

// send writes one batch into our record (the outbox goroutine); false keeps the batch for a later try.
func (n *ZKNotifier) send(b Batch) bool {
	ctx, cancel := context.WithTimeout(n.ctx, n.z.cfg.SessionTimeout)
	defer cancel()
	s, err := n.z.session(ctx)
	if err != nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodeSess != s {
		// A new session: a new znode, numbered from 1.
		n.node, n.nodeSess, n.seq, n.recent = "", s, 0, nil
	}
	n.seq++
	data := encodeBatch(n.seq, b)
	if len(data) > maxRecordBytes/2 {
		data = encodeBatch(n.seq, Batch{All: true})
	}
	n.recent = append(n.recent, encodedBatch{n.seq, data})
	size := 0
	for _, e := range n.recent {
		size += len(e.data)
	}
	for len(n.recent) > maxRecordBatches || size > maxRecordBytes {
		size -= len(n.recent[0].data)
		n.recent = n.recent[1:]
	}
	record := encodeRecord(n.recent)
	if n.node == "" {
		if err := createIfMissing(s.conn, n.dir, n.z.acl); err != nil {
			n.z.log.Debug("notifier: create directory", "err", err)
			return false
		}
		path := fmt.Sprintf("%s/%s-%x", n.dir, n.id, uint64(s.conn.SessionID()))
		_, err := s.conn.Create(path, record, zk.FlagEphemeral, n.z.acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) { // exists: our own create whose reply was lost
			n.z.log.Debug("notifier: create record", "err", err)
			return false
		}
		n.node = path
		if err == nil {
			return true
		}
	}
	if _, err := s.conn.Set(n.node, record, -1); err != nil {
		n.z.log.Debug("notifier: write record", "err", err)
		if errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrSessionExpired) {
			n.nodeSess = nil
		}
		return false
	}
	return true
}

// watch follows the other mounts' records, session after session, until Close.
func (n *ZKNotifier) watch(ready chan<- error) {
	defer close(n.done)
	first := true
	for {
		s, err := n.z.session(n.ctx)
		if err != nil {
			if first {
				ready <- err
			}
			return
		}
		n.watchSession(s, func(err error) {
			if first {
				ready <- err
				first = false
			} else if err == nil {
				n.in.push(Batch{All: true}) // watching again: whatever happened in between was missed
			}
		})
		if n.ctx.Err() != nil {
			return
		}
		if !first {
			n.in.push(Batch{All: true}) // the session is lost: changes may have been missed from here on
		}
	}
}

// watchSession watches notify/ and every other record on session s until s is lost, an error or Close. listed
// is called once: when the first listing and the reads of the records it found are done (the baseline), or
// with the error that prevented it.
func (n *ZKNotifier) watchSession(s *zkSession, listed func(error)) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	var mu sync.Mutex
	peers := map[string]bool{}
	baseline := true
	for {
		kids, ch, err := n.listDir(s)
		if err != nil {
			if baseline && !errors.Is(err, errSessionGone) {
				listed(err)
			}
			if !errors.Is(err, errSessionGone) {
				n.z.log.Warn("notifier: watching the change records failed", "err", err)
			}
			return
		}
		for _, k := range kids {
			if strings.HasPrefix(k, n.id+"-") {
				continue
			}
			mu.Lock()
			known := peers[k]
			peers[k] = true
			mu.Unlock()
			if known {
				continue
			}
			p := &peerWatch{n: n, s: s, path: n.dir + "/" + k, stop: stop}
			if baseline {
				p.readBaseline()
			}
			wg.Add(1)
			go func(k string) {
				defer wg.Done()
				p.run()
				mu.Lock()
				delete(peers, k)
				mu.Unlock()
			}(k)
		}
		if baseline {
			baseline = false
			listed(nil)
		}
		select {
		case <-ch:
		case <-s.lost:
			return
		case <-n.ctx.Done():
			return
		}
	}
}

// listDir lists notify/ (creating it if needed) and sets a child watch.
func (n *ZKNotifier) listDir(s *zkSession) ([]string, <-chan zk.Event, error) {
	for attempt := 0; ; attempt++ {
		if s.isGone() || n.ctx.Err() != nil {
			return nil, nil, errSessionGone
		}
		kids, _, ch, err := s.conn.ChildrenW(n.dir)
		if errors.Is(err, zk.ErrNoNode) {
			err = createIfMissing(s.conn, n.dir, n.z.acl)
			if err == nil {
				continue
			}
		}
		if err == nil {
			return kids, ch, nil
		}
		if errors.Is(err, zk.ErrNoAuth) || attempt > 50 {
			return nil, nil, fmt.Errorf("lock: notifier: list %s: %w", n.dir, err)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-s.lost:
		case <-n.ctx.Done():
		}
	}
}

// peerWatch follows one other mount's record.
type peerWatch struct {
	n    *ZKNotifier
	s    *zkSession
	path string
	stop <-chan struct{} // the session's watch ended

	last    uint64 // the last batch number delivered (or skipped as baseline)
	read    bool   // the record was read at least once
	ch      <-chan zk.Event
	gone    bool
	changed bool // a data change was announced and not read yet
}

// readBaseline reads the record as it is now, without delivering it: batches sent before we watched are not
// ours to deliver.
func (p *peerWatch) readBaseline() {
	data, _, ch, err := p.s.conn.GetW(p.path)
	if errors.Is(err, zk.ErrNoNode) {
		p.gone = true // gone already: nothing to follow
		return
	}
	if err != nil {
		return // run retries, and then delivers what the record holds (a few needless invalidations at worst)
	}
	p.ch, p.read = ch, true
	if batches, err := decodeRecord(data); err == nil && len(batches) > 0 {
		p.last = batches[len(batches)-1].seq
	}
}

func (p *peerWatch) run() {
	n := p.n
	if p.gone {
		return
	}
	for {
		if p.ch == nil {
			data, _, ch, err := p.s.conn.GetW(p.path)
			switch {
			case errors.Is(err, zk.ErrNoNode):
				if p.changed || !p.read {
					n.in.push(Batch{All: true}) // it changed (or was made) and went before we read it
				}
				return
			case err != nil:
				if p.s.isGone() || n.ctx.Err() != nil {
					return
				}
				select {
				case <-time.After(50 * time.Millisecond):
				case <-p.s.lost:
				case <-p.stop:
					return
				case <-n.ctx.Done():
				}
				continue
			}
			p.ch, p.changed = ch, false
			p.deliver(data)
			p.read = true
		}
		select {
		case ev := <-p.ch:
			p.ch = nil
			switch ev.Type {
			case zk.EventNodeDeleted:
				return
			case zk.EventNodeDataChanged:
				p.changed = true
			case zk.EventNotWatching:
				return // the session ended
			}
		case <-p.s.lost:
			return
		case <-p.stop:
			return
		case <-n.ctx.Done():
			return
		}
	}
}

// deliver hands over the batches of a record numbered above the last delivered one.
func (p *peerWatch) deliver(data []byte) {
	batches, err := decodeRecord(data)
	if err != nil {
		p.n.z.log.Warn("notifier: unreadable change record", "node", p.path, "err", err)
		p.n.in.push(Batch{All: true})
		return
	}
	if len(batches) == 0 {
		return
	}
	if batches[0].seq > p.last+1 {
		p.n.in.push(Batch{All: true}) // the record no longer holds batches we have not seen
	}
	for _, b := range batches {
		if b.seq <= p.last {
			continue
		}
		p.n.in.push(b.Batch)
	}
	p.last = batches[len(batches)-1].seq
}

// Wire format of a record: version byte 1, then batches (each encoded by encodeBatch) back to back.
// A batch: uvarint seq, flags byte (1: All), uvarint count, then per change: kind byte, uvarint ino, and for
// entry changes uvarint name length, the name, and for deletions uvarint child.

type seqBatch struct {
	seq uint64
	Batch
}

func encodeBatch(seq uint64, b Batch) []byte {
	out := binary.AppendUvarint(nil, seq)
	if b.All {
		return append(out, 1, 0)
	}
	out = append(out, 0)
	out = binary.AppendUvarint(out, uint64(len(b.Changes)))
	for _, c := range b.Changes {
		out = append(out, byte(c.Kind))
		out = binary.AppendUvarint(out, c.Ino)
		if c.Kind == ChangeEntry || c.Kind == ChangeDelete {
			out = binary.AppendUvarint(out, uint64(len(c.Name)))
			out = append(out, c.Name...)
		}
		if c.Kind == ChangeDelete {
			out = binary.AppendUvarint(out, c.Child)
		}
	}
	return out
}

func encodeRecord(batches []encodedBatch) []byte {
	out := []byte{1}
	for _, b := range batches {
		out = append(out, b.data...)
	}
	return out
}

var errBadRecord = errors.New("lock: malformed change record")

func decodeRecord(data []byte) ([]seqBatch, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if data[0] != 1 {
		return nil, errBadRecord
	}
	r := data[1:]
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(r)
		if k <= 0 {
			return 0, false
		}
		r = r[k:]
		return v, true
	}
	var out []seqBatch
	for len(r) > 0 {
		var b seqBatch
		var ok bool
		if b.seq, ok = uv(); !ok || len(r) < 1 {
			return nil, errBadRecord
		}
		flags := r[0]
		r = r[1:]
		count, ok := uv()
		if !ok || count > uint64(len(r)) {
			return nil, errBadRecord
		}
		b.All = flags&1 != 0
		for i := uint64(0); i < count; i++ {
			if len(r) < 1 {
				return nil, errBadRecord
			}
			c := Change{Kind: ChangeKind(r[0])}
			r = r[1:]
			if c.Ino, ok = uv(); !ok {
				return nil, errBadRecord
			}
			switch c.Kind {
			case ChangeAttr, ChangeData:
			case ChangeEntry, ChangeDelete:
				l, ok := uv()
				if !ok || l > uint64(len(r)) {
					return nil, errBadRecord
				}
				c.Name, r = string(r[:l]), r[l:]
				if c.Kind == ChangeDelete {
					if c.Child, ok = uv(); !ok {
						return nil, errBadRecord
					}
				}
			default:
				return nil, errBadRecord
			}
			b.Changes = append(b.Changes, c)
		}
		if len(out) > 0 && b.seq <= out[len(out)-1].seq {
			return nil, errBadRecord
		}
		out = append(out, b)
	}
	return out, nil
}
