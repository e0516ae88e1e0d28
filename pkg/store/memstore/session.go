package memstore

import (
	"context"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

// Open implements store.Sessions.
func (s *Store) Open(ctx context.Context, ino store.Ino) (store.Attr, error) {
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	n, err := s.v.get(ino)
	if err != nil {
		return store.Attr{}, err
	}
	n.opens++
	s.open[ino]++
	s.forget(ino)
	return n.attr, nil
}

// Release implements store.Sessions. Releasing an inode this session does not hold open is EBADF.
func (s *Store) Release(ctx context.Context, ino store.Ino) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.v.mu.Unlock()
	if s.open[ino] == 0 {
		return syscall.EBADF
	}
	s.release(ino)
	return nil
}

// release drops one open of ino by this session. Call with mu held.
func (s *Store) release(ino store.Ino) {
	if s.open[ino]--; s.open[ino] == 0 {
		delete(s.open, ino)
		s.forget(ino)
	}
	n := s.v.inodes[ino]
	n.opens--
	s.v.maybeFree(n)
}

// StatFS implements store.Store.
func (s *Store) StatFS(ctx context.Context) (store.Usage, error) {
	if err := s.begin(ctx); err != nil {
		return store.Usage{}, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	return store.Usage{Bytes: v.bytes, Inodes: uint64(len(v.inodes)),
		CapacityBytes: v.opts.CapacityBytes, MaxInodes: v.opts.MaxInodes}, nil
}

// Close implements store.Store: it releases every open of this session. Closing twice is a no-op.
func (s *Store) Close() error {
	s.v.mu.Lock()
	defer s.v.mu.Unlock()
	if s.closed {
		return nil
	}
	for ino, k := range s.open {
		for range k {
			s.release(ino)
		}
	}
	s.closed = true
	return nil
}
