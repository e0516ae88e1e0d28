package fusefs

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/memstore"
)

// countingStore records the store.Write calls the write-back makes.
type countingStore struct {
	store.Store
	mu              sync.Mutex
	active, maxSeen int
	sizes           []int
	offs            []uint64
}

func (c *countingStore) Write(ctx context.Context, ino store.Ino, off uint64, data []byte) (store.Attr, error) {
	c.mu.Lock()
	c.active++
	if c.active > c.maxSeen {
		c.maxSeen = c.active
	}
	c.sizes = append(c.sizes, len(data))
	c.offs = append(c.offs, off)
	c.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // let uploads overlap
	a, err := c.Store.Write(ctx, ino, off, data)
	c.mu.Lock()
	c.active--
	c.mu.Unlock()
	return a, err
}

// TestWriteBackBounded: sequential writes become aligned pieces of WriteBufferBytes, never more than
// MaxBackgroundUploads upload at once, and the data reads back intact; random overlapping writes keep their order.
func TestWriteBackBounded(t *testing.T) {
	const piece = 256 << 10
	cs := &countingStore{Store: memstore.New(memstore.Options{})}
	dir, _ := mountStore(t, cs, Options{WriteBufferBytes: piece, MaxBackgroundUploads: 2})
	data := make([]byte, 16<<20)
	rand.New(rand.NewSource(1)).Read(data)
	f, err := os.Create(join(dir, "seq"))
	must(t, err)
	for off := 0; off < len(data); off += 128 << 10 {
		_, err := f.Write(data[off : off+128<<10])
		must(t, err)
	}
	must(t, f.Close())
	cs.mu.Lock()
	if cs.maxSeen > 2 {
		t.Errorf("%d uploads at once, want at most 2", cs.maxSeen)
	}
	for i, n := range cs.sizes {
		if n != piece || cs.offs[i]%piece != 0 {
			t.Errorf("upload %d: %d bytes at %d, want aligned %d-byte pieces", i, n, cs.offs[i], piece)
			break
		}
	}
	if len(cs.sizes) != len(data)/piece {
		t.Errorf("%d uploads, want %d", len(cs.sizes), len(data)/piece)
	}
	cs.mu.Unlock()
	if got := readFile(t, join(dir, "seq")); !bytes.Equal(got, data) {
		t.Fatal("sequential file reads back different")
	}

	// Random overlapping writes through two descriptors, compared with a model.
	model := make([]byte, 1<<20)
	f1, err := os.Create(join(dir, "rnd"))
	must(t, err)
	f2, err := os.OpenFile(join(dir, "rnd"), os.O_RDWR, 0)
	must(t, err)
	rng := rand.New(rand.NewSource(2))
	size := 0
	for i := 0; i < 500; i++ {
		off := rng.Intn(len(model) - 70000)
		n := 1 + rng.Intn(70000)
		buf := make([]byte, n)
		rng.Read(buf)
		w := f1
		if i%2 == 1 {
			w = f2
		}
		_, err := w.WriteAt(buf, int64(off))
		must(t, err)
		copy(model[off:], buf)
		if off+n > size {
			size = off + n
		}
		if i%97 == 0 { // interleave reads, which upload what is buffered first
			got := make([]byte, n)
			_, err := f2.ReadAt(got, int64(off))
			must(t, err)
			if !bytes.Equal(got, model[off:off+n]) {
				t.Fatalf("read after write %d differs", i)
			}
		}
	}
	must(t, f1.Close())
	must(t, f2.Close())
	if got := readFile(t, join(dir, "rnd")); !bytes.Equal(got, model[:size]) {
		t.Fatal("random-write file differs from the model")
	}
}

// TestOverlayIgnoresFinishedUploads: a piece whose upload has finished but that is still listed in flight (upload
// closes done before it takes the lock that removes it) must not lend its end to the size reported: flush has
// returned by then, and a truncation that followed it was reported as the old piece end (the fsx test saw
// 131072 instead of the truncated size).
func TestOverlayIgnoresFinishedUploads(t *testing.T) {
	finished := &piece{off: 0, buf: make([]byte, 131072), done: make(chan struct{})}
	close(finished.done)
	w := &writeBuffer{inflight: []*piece{finished}, lastWrite: 99}
	a := store.Attr{Type: store.TypeFile, Size: 78285, Mtime: 5, Ctime: 5}
	w.overlay(&a)
	if a.Size != 78285 || a.Mtime != 5 {
		t.Fatalf("overlay with a finished upload: size %d mtime %d, want 78285 and 5", a.Size, a.Mtime)
	}
	if w.dirty() {
		t.Fatal("a buffer whose only piece has finished uploading is dirty")
	}
	running := &piece{off: 100000, buf: make([]byte, 1000), done: make(chan struct{})}
	w.inflight = append(w.inflight, running)
	w.overlay(&a)
	if a.Size != 101000 || a.Mtime != 99 {
		t.Fatalf("overlay with an upload in flight: size %d mtime %d, want 101000 and 99", a.Size, a.Mtime)
	}
	if !w.dirty() {
		t.Fatal("a buffer with an upload in flight is not dirty")
	}
}
