package fusefs

import (
	"os"
	"testing"
)

// BenchmarkSequentialWriteMemstore writes a 64 MiB file in 1 MiB writes through a mount of an in-memory volume
// and fsyncs it: the cost of the FUSE write path and the write-back buffer without a network. Its B/op (with
// -benchmem) counts the bytes this process allocated, server included.
func BenchmarkSequentialWriteMemstore(b *testing.B) {
	const fileSize, chunk = 64 << 20, 1 << 20
	dir, _ := mountMem(b, Options{})
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(fileSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f, err := os.Create(join(dir, "seq"))
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < fileSize; off += chunk {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
