package fusefs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
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
	defer reportCPU(b)()
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

// BenchmarkSequentialReadMemstore reads a 64 MiB file sequentially through a mount of an in-memory volume, with
// the kernel's page cache of the file dropped before each pass: the FUSE read path and read-ahead windows.
func BenchmarkSequentialReadMemstore(b *testing.B) {
	const fileSize, chunk = 64 << 20, 1 << 20
	dir, _ := mountMem(b, Options{})
	p := join(dir, "seq")
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	for off := 0; off < fileSize; off += chunk {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fileSize)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			b.Fatal(err)
		}
		total := 0
		for {
			n, err := f.Read(buf)
			total += n
			if err != nil || n == 0 {
				break
			}
		}
		f.Close()
		if total != fileSize {
			b.Fatalf("read %d bytes, want %d", total, fileSize)
		}
	}
}

// reportCPU reports the CPU time (user and system) this process spent per operation from now until the
// returned function is called, as cpu-ms/op: steadier than wall time on a shared machine.
func reportCPU(b *testing.B) func() {
	var before unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		b.Fatal(err)
	}
	return func() {
		var after unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &after); err != nil {
			b.Fatal(err)
		}
		ns := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
		b.ReportMetric(float64(ns)/1e6/float64(b.N), "cpu-ms/op")
	}
}
