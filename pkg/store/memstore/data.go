package memstore

import (
	"context"
	"syscall"

	"github.com/cassfs/cassfs/pkg/store"
)

// file returns the regular file ino: EISDIR for a directory, EINVAL for other types.
func (v *Volume) file(ino store.Ino) (*inode, error) {
	n, err := v.get(ino)
	if err != nil {
		return nil, err
	}
	switch n.attr.Type {
	case store.TypeFile:
		return n, nil
	case store.TypeDir:
		return nil, syscall.EISDIR
	default:
		return nil, syscall.EINVAL
	}
}

// reserve checks that the volume can grow by add bytes.
func (v *Volume) reserve(add uint64) error {
	if v.opts.CapacityBytes > 0 && v.bytes+add > v.opts.CapacityBytes {
		return syscall.ENOSPC
	}
	return nil
}

// resize sets the size of file n, dropping data past the new end so that a later extension reads zeros.
func (v *Volume) resize(n *inode, size uint64) error {
	old := n.attr.Size
	if size > old {
		if err := v.reserve(size - old); err != nil {
			return err
		}
	}
	if size < old {
		for idx, c := range n.chunks {
			start := idx * v.chunkSize
			switch {
			case start >= size:
				delete(n.chunks, idx)
			case start+uint64(len(c)) > size:
				n.chunks[idx] = c[:size-start]
			}
		}
	}
	v.bytes = v.bytes - old + size
	n.attr.Size = size
	return nil
}

// Write implements store.Data.
func (s *Store) Write(ctx context.Context, ino store.Ino, off uint64, data []byte) (store.Attr, error) {
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	n, err := v.file(ino)
	if err != nil {
		return store.Attr{}, err
	}
	if len(data) == 0 {
		return n.attr, nil
	}
	s.forget(ino)
	end := off + uint64(len(data))
	if end < off {
		return store.Attr{}, syscall.EFBIG
	}
	if end > n.attr.Size {
		if err := v.resize(n, end); err != nil {
			return store.Attr{}, err
		}
	}
	for len(data) > 0 {
		idx, in := off/v.chunkSize, off%v.chunkSize
		k := min(uint64(len(data)), v.chunkSize-in)
		c := n.chunks[idx]
		if need := in + k; uint64(len(c)) < need {
			grown := make([]byte, need)
			copy(grown, c)
			c = grown
		}
		copy(c[in:], data[:k])
		n.chunks[idx] = c
		off += k
		data = data[k:]
	}
	now := v.now()
	n.attr.Mtime = now
	n.changed(now)
	return n.attr, nil
}

// Read implements store.Data.
func (s *Store) Read(ctx context.Context, ino store.Ino, off uint64, buf []byte) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	n, err := v.file(ino)
	if err != nil {
		return 0, err
	}
	view := s.cachedFile(n)
	if off >= view.size {
		return 0, nil
	}
	buf = buf[:min(uint64(len(buf)), view.size-off)]
	for done := 0; done < len(buf); {
		idx, in := off/v.chunkSize, off%v.chunkSize
		k := min(uint64(len(buf)-done), v.chunkSize-in)
		part := buf[done : done+int(k)]
		c := view.chunks[idx]
		copied := 0
		if in < uint64(len(c)) {
			copied = copy(part, c[in:])
		}
		clear(part[copied:])
		done += int(k)
		off += k
	}
	return len(buf), nil
}

// Fallocate implements store.Data. With FallocKeepSize the range past the end is checked against the quota but
// not counted in Usage.Bytes, which counts file sizes.
func (s *Store) Fallocate(ctx context.Context, ino store.Ino, mode uint32, off, length uint64) (store.Attr, error) {
	if mode&^store.FallocKeepSize != 0 {
		return store.Attr{}, syscall.EOPNOTSUPP
	}
	if length == 0 {
		return store.Attr{}, syscall.EINVAL
	}
	if err := s.begin(ctx); err != nil {
		return store.Attr{}, err
	}
	defer s.v.mu.Unlock()
	v := s.v
	n, err := v.file(ino)
	if err != nil {
		return store.Attr{}, err
	}
	end := off + length
	if end < off {
		return store.Attr{}, syscall.EFBIG
	}
	if end <= n.attr.Size {
		return n.attr, nil
	}
	if mode&store.FallocKeepSize != 0 {
		return n.attr, v.reserve(end - n.attr.Size)
	}
	s.forget(ino)
	if err := v.resize(n, end); err != nil {
		return store.Attr{}, err
	}
	now := v.now()
	n.attr.Mtime = now
	n.changed(now)
	return n.attr, nil
}
