package locktest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/lock"
)

type campaignResult = result

func campaign(ctx context.Context, l lock.Locker, name string) <-chan campaignResult {
	ch := make(chan campaignResult, 1)
	go func() {
		lease, err := lock.Campaign(ctx, l, name)
		ch <- campaignResult{lease, err}
	}()
	return ch
}

func testElectionOneLeader(t *testing.T, a, b lock.Locker) {
	la, err := lock.Campaign(ctxT(t), a, "gc")
	if err != nil {
		t.Fatal(err)
	}
	ch := campaign(ctxT(t), b, "gc")
	waitQueued(t, a, "leader.gc", 2)
	notYet(t, ch, "second leader while the first leads")
	mustUnlock(t, la)
	lb := recv(t, ch, "next leader after resign")
	if lb.Token() <= la.Token() {
		t.Fatalf("term %d after %d", lb.Token(), la.Token())
	}
	mustUnlock(t, lb)
	if _, err := lock.Campaign(ctxT(t), a, "bad/name"); err == nil {
		t.Fatalf("Campaign accepted an invalid name")
	}
}

func testElectionNextAfterLoss(t *testing.T, a, b lock.Locker) {
	la, err := lock.Campaign(ctxT(t), a, "gc")
	if err != nil {
		t.Fatal(err)
	}
	ch := campaign(ctxT(t), b, "gc")
	waitQueued(t, b, "leader.gc", 2)
	_ = a.Close()
	select {
	case <-la.Lost():
	default:
		t.Fatalf("leader's Lost not closed after its Locker closed")
	}
	mustUnlock(t, recv(t, ch, "next leader after loss"))
}

func testRunElected(t *testing.T, a, b lock.Locker) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var leaders atomic.Int32
	var mu sync.Mutex
	var terms []uint64
	var who []int
	lead := func(id int) func(context.Context, uint64) {
		return func(_ context.Context, term uint64) {
			if n := leaders.Add(1); n != 1 {
				t.Errorf("%d leaders at once", n)
			}
			mu.Lock()
			terms = append(terms, term)
			who = append(who, id)
			if len(terms) >= 6 {
				cancel()
			}
			mu.Unlock()
			// Resign only once the other candidate is queued, so that leadership must alternate (FIFO).
			if q, ok := a.(Queuer); ok {
				for ctx.Err() == nil {
					if n, err := q.QueueLen(ctx, "leader.bg"); err != nil || n >= 2 {
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
			} else {
				time.Sleep(50 * time.Millisecond)
			}
			leaders.Add(-1)
		}
	}
	errs := make(chan error, 2)
	go func() { errs <- lock.RunElected(ctx, a, "bg", time.Millisecond, lead(0)) }()
	go func() { errs <- lock.RunElected(ctx, b, "bg", time.Millisecond, lead(1)) }()
	for i := 0; i < 2; i++ {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("RunElected = %v, want context.Canceled", err)
		}
	}
	for i := 1; i < len(terms); i++ {
		if terms[i] <= terms[i-1] {
			t.Fatalf("terms %v do not grow", terms)
		}
	}
	seen := map[int]bool{}
	for i, w := range who {
		seen[w] = true
		if i > 0 && w == who[i-1] {
			t.Fatalf("leaders %v: a candidate led twice in a row while the other waited", who)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("leaders %v: both candidates should lead in turn", who)
	}
}

// testElectionLeadCancelledOnLoss: the leader's context ends when its Locker closes.
func testElectionLeadCancelledOnLoss(t *testing.T, a, _ lock.Locker) {
	leading := make(chan struct{})
	ended := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- lock.RunElected(ctxT(t), a, "loss", time.Millisecond, func(ctx context.Context, _ uint64) {
			close(leading)
			<-ctx.Done()
			close(ended)
		})
	}()
	<-leading
	_ = a.Close()
	select {
	case <-ended:
	case <-time.After(60 * time.Second):
		t.Fatalf("lead's context not cancelled on loss")
	}
	if err := <-done; !errors.Is(err, lock.ErrClosed) {
		t.Fatalf("RunElected after Close = %v, want ErrClosed", err)
	}
}
