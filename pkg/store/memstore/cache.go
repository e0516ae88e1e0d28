package memstore

import (
	"maps"
	"slices"

	"github.com/cassfs/cassfs/pkg/store"
)

// snapshot is a session's cached view of a file's data (Options.CacheData).
type snapshot struct {
	size   uint64
	chunks map[uint64][]byte
}

// cachedFile returns the view of file n that this session reads: with Options.CacheData, a copy of the data taken
// at the session's first read after its last Open or own change; otherwise the live inode. Call with mu held.
func (s *Store) cachedFile(n *inode) snapshot {
	if !s.v.opts.CacheData {
		return snapshot{size: n.attr.Size, chunks: n.chunks}
	}
	if c, ok := s.cache[n.attr.Ino]; ok {
		return c
	}
	c := snapshot{size: n.attr.Size, chunks: maps.Clone(n.chunks)}
	for idx, b := range c.chunks {
		c.chunks[idx] = slices.Clone(b)
	}
	if s.cache == nil {
		s.cache = map[store.Ino]snapshot{}
	}
	s.cache[n.attr.Ino] = c
	return c
}

// forget drops this session's cached view of ino, so that its next read sees the current data.
func (s *Store) forget(ino store.Ino) {
	delete(s.cache, ino)
}
