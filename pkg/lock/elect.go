package lock

import (
	"context"
	"errors"
	"time"
)

// Campaign blocks until l's owner leads the election called name, or ctx ends (ctx.Err(), nothing left
// behind). Leadership is an exclusive lock on "leader.<name>": it lasts until Unlock (resign) or until Lost closes,
// and candidates win in arrival order. The lease's Token is the leader's fencing token (a term number that grows
// with every new leader), to be checked by whatever the leader writes.
func Campaign(ctx context.Context, l Locker, name string) (Lease, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return l.Lock(ctx, "leader."+name, Exclusive)
}

// RunElected campaigns for name and runs lead while leading, over and over until ctx ends. lead's context is
// cancelled when leadership is lost (Lost) or ctx ends; when lead returns, leadership is resigned and the next
// term is campaigned for after retry (default 1 s) — so another candidate usually takes over. RunElected returns
// ctx.Err() when ctx ends, or the Locker's error (for example ErrClosed).
func RunElected(ctx context.Context, l Locker, name string, retry time.Duration, lead func(ctx context.Context, term uint64)) error {
	if retry <= 0 {
		retry = time.Second
	}
	for {
		lease, err := Campaign(ctx, l, name)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, ErrClosed) || errors.Is(err, errInvalidName) {
				return err
			}
		} else {
			termCtx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-lease.Lost():
					cancel()
				case <-termCtx.Done():
				}
			}()
			lead(termCtx, lease.Token())
			cancel()
			_ = lease.Unlock(context.Background())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}
