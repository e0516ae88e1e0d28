package fusefs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/posixtest"
	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/lock"
)

// cassVolume creates a fresh Cassandra volume (deleted when the test ends) and returns the cluster and its id.
func cassVolume(t testing.TB, capacity uint64) (*cassandra.Cluster, string) {
	t.Helper()
	hosts := testenv.RequireCassandra(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: hosts, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	id := testenv.UniqueName("fusefs-")
	spec, err := cassandra.ParseVolumeSpec(id, capacity, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, spec); err != nil {
		t.Fatalf("create volume: %v", err)
	}
	t.Cleanup(func() {
		if err := c.DeleteVolume(context.Background(), id); err != nil {
			t.Errorf("delete volume %s: %v", id, err)
		}
	})
	return c, id
}

// mountCass opens a session of volume id and mounts it; the mount is unmounted before the session closes.
func mountCass(t testing.TB, c *cassandra.Cluster, id, session string, locker lock.Locker, opts Options) string {
	t.Helper()
	v, err := c.OpenVolume(context.Background(), id, cassandra.OpenOptions{Session: session, Locker: locker})
	if err != nil {
		t.Fatalf("open volume: %v", err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("close volume session: %v", err)
		}
	})
	opts.Session = session
	dir, _ := mountStore(t, v, opts)
	return dir
}

// TestCassandraPosix runs go-fuse's POSIX suite over one real Cassandra volume, each test in its own directory.
func TestCassandraPosix(t *testing.T) {
	c, id := cassVolume(t, 0)
	mnt := mountCass(t, c, id, "posix", nil, Options{})
	for _, name := range posixtestNames() {
		t.Run(name, func(t *testing.T) {
			dir := join(mnt, name)
			must(t, os.Mkdir(dir, 0o755))
			posixtest.All[name](t, dir)
		})
	}
}

// TestCassandraTwoMounts mounts one real Cassandra volume twice (two sessions sharing one lock table, as two
// nodes sharing ZooKeeper would) and checks what one mount sees of the other.
func TestCassandraTwoMounts(t *testing.T) {
	c, id := cassVolume(t, 0)
	locker := lock.NewLocal()
	files := lock.NewLocalFiles()
	a := mountCass(t, c, id, "mount-a", locker, Options{Locks: files})
	b := mountCass(t, c, id, "mount-b", locker.Share(), Options{Locks: files})

	t.Run("CloseToOpen", func(t *testing.T) {
		p, q := join(a, "c2o"), join(b, "c2o")
		writeFile(t, p, []byte("version 1"))
		if got := readFile(t, q); string(got) != "version 1" {
			t.Fatalf("B reads %q", got)
		}
		stat(t, q) // B's kernel now caches the old size and attributes
		var worst time.Duration
		for i := 2; i <= 6; i++ {
			want := fmt.Sprintf("version %d, %s", i, strings.Repeat("x", i*1000))
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			must(t, err)
			_, err = f.Write([]byte(want))
			must(t, err)
			must(t, f.Close())
			closed := time.Now()
			got := readFile(t, q)
			if string(got) != want {
				t.Errorf("round %d: B's open after A's close reads %d bytes %.20q, want %d bytes", i, len(got), got, len(want))
			}
			if d := time.Since(closed); d > worst {
				worst = d
			}
		}
		t.Logf("MEASURED: A close -> B open+read of the new content: worst %v", worst)
	})

	t.Run("NamespaceVisibility", func(t *testing.T) {
		// Without an open, B relies on its kernel caches (EntryTimeout/AttrTimeout, 1s): measure how long a new
		// name made on A takes to appear on B (negative lookups are not cached).
		start := time.Now()
		writeFile(t, join(a, "newname"), []byte("n"))
		made := time.Now()
		deadline := made.Add(30 * time.Second)
		for {
			if _, err := os.Stat(join(b, "newname")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("B never saw A's new file")
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("MEASURED: create on A took %v; visible on B %v after it returned", made.Sub(start), time.Since(made))
		// A chmod on A shows on B at the latest when B's attribute cache expires.
		stat(t, join(b, "newname"))
		must(t, os.Chmod(join(a, "newname"), 0o600))
		changed := time.Now()
		for stat(t, join(b, "newname")).Mode&0o777 != 0o600 {
			if time.Since(changed) > 30*time.Second {
				t.Fatal("B never saw A's chmod")
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("MEASURED: chmod on A visible on B after %v (AttrTimeout 1s)", time.Since(changed))
	})

	t.Run("Locks", func(t *testing.T) {
		writeFile(t, join(a, "lk"), nil)
		fa, err := os.OpenFile(join(a, "lk"), os.O_RDWR, 0)
		must(t, err)
		fb, err := os.OpenFile(join(b, "lk"), os.O_RDWR, 0)
		must(t, err)
		defer fb.Close()
		must(t, unix.Flock(int(fa.Fd()), unix.LOCK_EX|unix.LOCK_NB))
		if err := unix.Flock(int(fb.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != syscall.EWOULDBLOCK {
			t.Errorf("flock on B while A holds it: %v", err)
		}
		must(t, unix.FcntlFlock(fa.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK, Len: 10}))
		if err := unix.FcntlFlock(fb.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_RDLCK, Start: 5, Len: 1}); err != syscall.EAGAIN {
			t.Errorf("fcntl on B over A's range: %v", err)
		}
		must(t, fa.Close())
		must(t, unix.FcntlFlock(fb.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK, Len: 10}))
	})

	t.Run("Operations", func(t *testing.T) {
		d := join(a, "ops")
		must(t, os.Mkdir(d, 0o755))
		writeFile(t, join(d, "x"), []byte("X"))
		writeFile(t, join(d, "y"), []byte("Y"))
		must(t, unix.Renameat2(unix.AT_FDCWD, join(d, "x"), unix.AT_FDCWD, join(d, "y"), unix.RENAME_EXCHANGE))
		if err := unix.Renameat2(unix.AT_FDCWD, join(d, "x"), unix.AT_FDCWD, join(d, "y"), unix.RENAME_NOREPLACE); err != syscall.EEXIST {
			t.Errorf("RENAME_NOREPLACE: %v", err)
		}
		if got := readFile(t, join(b, "ops", "x")); string(got) != "Y" {
			t.Errorf("B reads exchanged x = %q", got)
		}
		must(t, os.Link(join(d, "x"), join(d, "x2")))
		if st := stat(t, join(d, "x2")); st.Nlink != 2 {
			t.Errorf("nlink %d", st.Nlink)
		}
		must(t, unix.Setxattr(join(d, "x"), "user.k", []byte("v"), 0))
		buf := make([]byte, 10)
		if n, err := unix.Getxattr(join(b, "ops", "x"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
			t.Errorf("xattr via B: %q %v", buf[:n], err)
		}
		f, err := os.Create(join(d, "falloc"))
		must(t, err)
		must(t, unix.Fallocate(int(f.Fd()), 0, 0, 1<<20))
		must(t, unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, 2<<20))
		if st := fstat(t, int(f.Fd())); st.Size != 1<<20 {
			t.Errorf("fallocate size %d", st.Size)
		}
		// Unlinked while open: still readable and writable through the descriptor.
		_, err = f.WriteAt([]byte("kept"), 10)
		must(t, err)
		must(t, os.Remove(join(d, "falloc")))
		got := make([]byte, 4)
		_, err = f.ReadAt(got, 10)
		must(t, err)
		if string(got) != "kept" {
			t.Errorf("unlinked file reads %q", got)
		}
		must(t, f.Close())
		ts := []unix.Timespec{{Sec: 1000, Nsec: 5}, {Sec: 2000, Nsec: 7}}
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, join(d, "y"), ts, 0))
		if st := stat(t, join(d, "y")); st.Mtim != ts[1] {
			t.Errorf("mtime %v", st.Mtim)
		}
	})

	t.Run("Sequential96MiB", func(t *testing.T) {
		const size = 96 << 20
		data := make([]byte, size)
		_, _ = rand.Read(data)
		want := sha256.Sum256(data)
		start := time.Now()
		f, err := os.Create(join(a, "big"))
		must(t, err)
		for off := 0; off < size; off += 1 << 20 {
			_, err := f.Write(data[off : off+1<<20])
			must(t, err)
		}
		must(t, f.Close())
		wrote := time.Since(start)
		start = time.Now()
		r, err := os.Open(join(b, "big"))
		must(t, err)
		h := sha256.New()
		n, err := io.CopyBuffer(h, r, make([]byte, 1<<20))
		must(t, err)
		must(t, r.Close())
		read := time.Since(start)
		if n != size || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("read back %d bytes with another checksum", n)
		}
		mb := float64(size) / (1 << 20)
		t.Logf("MEASURED: %d MiB sequential write on A %v (%.1f MiB/s incl. close), read on B %v (%.1f MiB/s), checksum equal",
			size>>20, wrote, mb/wrote.Seconds(), read, mb/read.Seconds())
	})
}
