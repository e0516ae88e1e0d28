package fusefs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"golang.org/x/sys/unix"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/memstore"
)

// readCountingStore counts the data reads that reach the store.
type readCountingStore struct {
	store.Store
	reads atomic.Int64
}

func (c *readCountingStore) Read(ctx context.Context, ino store.Ino, off uint64, buf []byte) (int, error) {
	c.reads.Add(1)
	return c.Store.Read(ctx, ino, off, buf)
}

// zkVolumeConfig returns the ZooKeeper config of a test volume; its znodes are deleted when the test ends.
func zkVolumeConfig(t *testing.T) lock.ZKConfig {
	t.Helper()
	cfg := lock.ZKConfig{Servers: testenv.RequireZooKeeper(t), SessionTimeout: 6 * time.Second,
		Chroot: "/" + testenv.UniqueName("cassfs-fusefs-"), Namespace: testenv.UniqueName("vol-")}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := lock.DeleteZKNamespace(ctx, cfg); err != nil {
			t.Errorf("delete ZooKeeper namespace: %v", err)
		}
		if c, _, err := zk.Connect(cfg.Servers, 5*time.Second, zk.WithLogInfo(false)); err == nil {
			if err := c.Delete(cfg.Chroot, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
				t.Errorf("delete %s: %v", cfg.Chroot, err)
			}
			c.Close()
		}
	})
	return cfg
}

// zkMount is one mount of a Cassandra volume with its own ZooKeeper session, as a node of the cluster has.
type zkMount struct {
	dir      string
	notifier *lock.ZKNotifier
	st       *readCountingStore
}

// mountCassZK mounts volume id with ZooKeeper locks and change notices. Cleanup order: unmount, close the
// volume session, the notifier, the ZooKeeper session.
func mountCassZK(t *testing.T, c *cassandra.Cluster, id, session string, cfg lock.ZKConfig, opts Options) zkMount {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	z, err := lock.NewZK(ctx, cfg)
	if err != nil {
		t.Fatalf("NewZK: %v", err)
	}
	t.Cleanup(func() { _ = z.Close() })
	nt, err := lock.NewZKNotifier(ctx, z, 0)
	if err != nil {
		t.Fatalf("NewZKNotifier: %v", err)
	}
	t.Cleanup(func() { _ = nt.Close() })
	v, err := c.OpenVolume(ctx, id, cassandra.OpenOptions{Session: session, Locker: z})
	if err != nil {
		t.Fatalf("open volume: %v", err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("close volume session: %v", err)
		}
	})
	st := &readCountingStore{Store: v}
	opts.Session, opts.Locks, opts.Notifier = session, lock.NewZKFiles(z), nt
	dir, _ := mountStore(t, st, opts)
	return zkMount{dir: dir, notifier: nt, st: st}
}

// waitFor polls cond until it holds and returns how long that took; a minute without is a failure (the kernel
// caches in these tests live for an hour, so only a change notice can make cond hold).
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > time.Minute {
			t.Fatalf("%s: not seen within a minute", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Since(start)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))] }
	return fmt.Sprintf("n=%d median %v p90 %v p99 %v max %v", len(s), at(0.5).Round(10*time.Microsecond),
		at(0.9).Round(10*time.Microsecond), at(0.99).Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}

// TestCassandraNotify mounts one real Cassandra volume twice, each mount with its own ZooKeeper session and
// kernel caches that live for an hour (attributes, names and missing names), and checks that what one mount
// changes shows on the other at once: only change notices can make that happen.
func TestCassandraNotify(t *testing.T) {
	c, id := cassVolume(t, 0)
	cfg := zkVolumeConfig(t)
	opts := Options{AttrTimeout: time.Hour, EntryTimeout: time.Hour, NegativeTimeout: time.Hour}
	a := mountCassZK(t, c, id, "notify-a", cfg, opts)
	b := mountCassZK(t, c, id, "notify-b", cfg, opts)
	A := func(names ...string) string { return join(a.dir, names...) }
	B := func(names ...string) string { return join(b.dir, names...) }

	t.Run("ContentThroughOpenHandle", func(t *testing.T) {
		writeFile(t, A("f"), []byte("round 0"))
		fb, err := os.Open(B("f"))
		must(t, err)
		defer fb.Close()
		buf := make([]byte, 64)
		readB := func() string {
			n, err := fb.ReadAt(buf, 0)
			if err != nil && n == 0 {
				return ""
			}
			return string(buf[:n])
		}
		if got := readB(); got != "round 0" {
			t.Fatalf("B reads %q", got)
		}
		// A rewrites the file again and again (each time a new size) while B keeps it open and reads it.
		const rounds = 100
		var lat []time.Duration
		before := a.notifier.Stats()
		for i := 1; i <= rounds; i++ {
			want := fmt.Sprintf("round %d %s", i, bytes.Repeat([]byte("x"), i%17))
			f, err := os.OpenFile(A("f"), os.O_WRONLY|os.O_TRUNC, 0)
			must(t, err)
			_, err = f.Write([]byte(want))
			must(t, err)
			must(t, f.Close())
			lat = append(lat, waitFor(t, fmt.Sprintf("round %d on B", i), func() bool { return readB() == want }))
		}
		after := a.notifier.Stats()
		t.Logf("MEASURED: A close -> B reads the new content through its open handle: %s", summary(lat))
		t.Logf("MEASURED: %d rounds: A published %d changes in %d znode writes", rounds,
			after.Published-before.Published, after.Sent-before.Sent)
	})

	t.Run("NewNameCachedAsMissing", func(t *testing.T) {
		var lat []time.Duration
		for i := range 10 {
			name := fmt.Sprintf("fresh-%d", i)
			if exists(B(name)) {
				t.Fatalf("B sees %s before it exists", name)
			} // B's kernel now caches the name as missing for an hour
			writeFile(t, A(name), []byte("new"))
			lat = append(lat, waitFor(t, "the new name on B", func() bool { return exists(B(name)) }))
		}
		t.Logf("MEASURED: create on A -> B finds the name it had cached as missing: %s", summary(lat))
	})

	t.Run("Attributes", func(t *testing.T) {
		writeFile(t, A("attr"), []byte("a"))
		var lat []time.Duration
		for i := range 10 {
			mode := uint32(0o600 + i%2*0o40)
			stat(t, B("attr")) // cached for an hour
			must(t, os.Chmod(A("attr"), os.FileMode(mode)))
			lat = append(lat, waitFor(t, "chmod on B", func() bool { return stat(t, B("attr")).Mode&0o777 == mode }))
		}
		t.Logf("MEASURED: chmod on A -> B's stat shows it: %s", summary(lat))
		must(t, unix.Setxattr(A("attr"), "user.k", []byte("v"), 0))
		got := make([]byte, 8)
		waitFor(t, "xattr on B", func() bool {
			n, err := unix.Getxattr(B("attr"), "user.k", got)
			return err == nil && string(got[:n]) == "v"
		})
		ts := []unix.Timespec{{Sec: 1000}, {Sec: 2000}}
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, A("attr"), ts, 0))
		waitFor(t, "utimes on B", func() bool { return stat(t, B("attr")).Mtim == ts[1] })
	})

	t.Run("Removal", func(t *testing.T) {
		var lat []time.Duration
		for i := range 10 {
			name := fmt.Sprintf("doomed-%d", i)
			writeFile(t, A(name), []byte("x"))
			waitFor(t, "the name on B", func() bool { return exists(B(name)) })
			must(t, os.Remove(A(name)))
			lat = append(lat, waitFor(t, "removal on B", func() bool { return !exists(B(name)) }))
		}
		t.Logf("MEASURED: unlink on A -> B no longer finds the name: %s", summary(lat))
		must(t, os.Mkdir(A("dir"), 0o755))
		writeFile(t, A("dir", "inner"), []byte("i"))
		waitFor(t, "a directory on B", func() bool { return exists(B("dir", "inner")) })
		must(t, os.Rename(A("dir"), A("dir2")))
		waitFor(t, "a renamed directory on B", func() bool { return !exists(B("dir")) && exists(B("dir2", "inner")) })
		must(t, os.Remove(A("dir2", "inner")))
		must(t, os.Remove(A("dir2")))
		waitFor(t, "rmdir on B", func() bool { return !exists(B("dir2")) })
		// A hard link and the removal of one of two names: B sees the link count follow.
		writeFile(t, A("l1"), []byte("l"))
		must(t, os.Link(A("l1"), A("l2")))
		waitFor(t, "a hard link on B", func() bool { return exists(B("l2")) && stat(t, B("l1")).Nlink == 2 })
		must(t, os.Remove(A("l2")))
		waitFor(t, "the link count on B", func() bool { return !exists(B("l2")) && stat(t, B("l1")).Nlink == 1 })
	})

	t.Run("Burst", func(t *testing.T) {
		must(t, os.Mkdir(A("burst"), 0o755))
		waitFor(t, "the directory on B", func() bool { return exists(B("burst")) })
		before := a.notifier.Stats()
		start := time.Now()
		// 10 writers at once, as a parallel build or untar would.
		const files, writers = 60, 10
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < files; i += writers {
					if err := os.WriteFile(A("burst", name(i)), []byte("b"), 0o644); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		for i := range files {
			waitFor(t, "the burst on B", func() bool { return exists(B("burst", name(i))) })
		}
		after := a.notifier.Stats()
		t.Logf("MEASURED: %d files created by %d writers in %v on A: %d changes published in %d znode writes", files, writers,
			took.Round(time.Millisecond), after.Published-before.Published, after.Sent-before.Sent)
		entries, err := os.ReadDir(B("burst"))
		must(t, err)
		if len(entries) != files {
			t.Errorf("B lists %d entries, want %d", len(entries), files)
		}
	})

	t.Run("KeepCache", func(t *testing.T) {
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		writeFile(t, A("kc"), data)
		// Barrier: B has cached "kc-barrier" as missing, so it sees it only through A's notice, which comes after
		// A's notices about kc (one publisher's batches arrive in order): none of those can drop B's pages later.
		if exists(B("kc-barrier")) {
			t.Fatal("barrier exists")
		}
		writeFile(t, A("kc-barrier"), nil)
		waitFor(t, "the barrier on B", func() bool { return exists(B("kc-barrier")) })
		if got := readFile(t, B("kc")); !bytes.Equal(got, data) {
			t.Fatalf("B reads %d bytes, not the file", len(got))
		}
		reads := b.st.reads.Load()
		if got := readFile(t, B("kc")); !bytes.Equal(got, data) {
			t.Fatalf("B's second read differs")
		}
		if n := b.st.reads.Load() - reads; n != 0 {
			t.Errorf("the second open and read of an unchanged file made %d store reads, want 0 (page cache kept)", n)
		}
		// A changes a byte in place and puts the old times back: same size, same mtime, new content. B's next
		// open must see it (the store's version changed), whether or not the change notice came first.
		st := stat(t, A("kc"))
		f, err := os.OpenFile(A("kc"), os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteAt([]byte("X"), 1000)
		must(t, err)
		must(t, f.Close())
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, A("kc"), []unix.Timespec{st.Atim, st.Mtim}, 0))
		data[1000] = 'X'
		reads = b.st.reads.Load()
		if got := readFile(t, B("kc")); !bytes.Equal(got, data) {
			t.Errorf("B's open after A's change reads old content")
		}
		if b.st.reads.Load() == reads {
			t.Errorf("B's open after A's change read nothing from the store")
		}
	})

	if n := b.notifier.Stats().All; n != 0 {
		t.Logf("B received %d All notices (its ZooKeeper session was lost, or A's record vanished)", n)
	}
}

// TestKeepCacheMemstore: with a store that tracks versions, a second open of an unchanged file reads nothing
// from the store, and a change made through another session is read at the next open.
func TestKeepCacheMemstore(t *testing.T) {
	vol := memstore.NewVolume(memstore.Options{})
	st := &readCountingStore{Store: vol.Session("a")}
	dir, _ := mountStore(t, st, Options{})
	data := bytes.Repeat([]byte("k"), 256<<10)
	writeFile(t, join(dir, "f"), data)
	readFile(t, join(dir, "f"))
	reads := st.reads.Load()
	readFile(t, join(dir, "f"))
	if n := st.reads.Load() - reads; n != 0 {
		t.Errorf("second read of an unchanged file: %d store reads", n)
	}
	other := vol.Session("b")
	a, err := other.Lookup(bg, store.RootIno, "f")
	must(t, err)
	_, err = other.Write(bg, a.Ino, 7, []byte("Z"))
	must(t, err)
	data[7] = 'Z'
	if got := readFile(t, join(dir, "f")); !bytes.Equal(got, data) {
		t.Errorf("the change made by another session is not read at the next open")
	}
}

// TestNotifyLocalMemstore: two mounts of one in-memory volume with an in-process Notifier group and kernel
// caches of an hour see each other's changes (the fast variant of TestCassandraNotify).
func TestNotifyLocalMemstore(t *testing.T) {
	vol := memstore.NewVolume(memstore.Options{})
	g := lock.NewLocalNotifiers(0)
	na, nb := g.Join(), g.Join()
	t.Cleanup(func() { _ = na.Close(); _ = nb.Close() }) // after the unmounts (cleanups run last first)
	opts := Options{AttrTimeout: time.Hour, EntryTimeout: time.Hour, NegativeTimeout: time.Hour}
	opts.Notifier, opts.Session = na, "a"
	a, _ := mountStore(t, vol.Session("a"), opts)
	opts.Notifier, opts.Session = nb, "b"
	b, _ := mountStore(t, vol.Session("b"), opts)

	writeFile(t, join(a, "f"), []byte("one"))
	fb, err := os.Open(join(b, "f"))
	must(t, err)
	defer fb.Close()
	buf := make([]byte, 16)
	read := func() string { n, _ := fb.ReadAt(buf, 0); return string(buf[:n]) }
	if got := read(); got != "one" {
		t.Fatalf("b reads %q", got)
	}
	writeFile(t, join(a, "f"), []byte("two, longer"))
	waitFor(t, "a rewrite through b's open file", func() bool { return read() == "two, longer" })

	if exists(join(b, "new")) {
		t.Fatal("b sees a name before it exists")
	}
	must(t, os.Mkdir(join(a, "new"), 0o755))
	waitFor(t, "a name b had cached as missing", func() bool { return exists(join(b, "new")) })
	must(t, os.Rename(join(a, "new"), join(a, "renamed")))
	waitFor(t, "a rename", func() bool { return !exists(join(b, "new")) && exists(join(b, "renamed")) })
	must(t, os.Remove(join(a, "renamed")))
	waitFor(t, "rmdir", func() bool { return !exists(join(b, "renamed")) })
	if st := na.Stats(); st.Received != 0 {
		t.Errorf("a received %d batches although only it changed anything", st.Received)
	}
}

// TestNotifyAllInvalidatesEverything: a batch with All makes the kernel forget every attribute and name it has
// cached from this mount (here the changes were made behind the mount's back, with no notice at all).
func TestNotifyAllInvalidatesEverything(t *testing.T) {
	vol := memstore.NewVolume(memstore.Options{})
	g := lock.NewLocalNotifiers(0)
	n := g.Join()
	t.Cleanup(func() { _ = n.Close() })
	dir, srv := mountStore(t, vol.Session("a"), Options{AttrTimeout: time.Hour, EntryTimeout: time.Hour,
		NegativeTimeout: time.Hour, Notifier: n})
	must(t, os.MkdirAll(join(dir, "d", "e"), 0o755))
	writeFile(t, join(dir, "d", "e", "f"), []byte("x"))
	stat(t, join(dir, "d", "e", "f"))
	other := vol.Session("other")
	d, err := other.Lookup(bg, store.RootIno, "d")
	must(t, err)
	e, err := other.Lookup(bg, d.Ino, "e")
	must(t, err)
	f, err := other.Lookup(bg, e.Ino, "f")
	must(t, err)
	_, err = other.SetAttr(bg, f.Ino, store.SetAttrIn{Valid: store.SetMode, Mode: 0o600})
	must(t, err)
	must(t, other.Rename(bg, e.Ino, "f", e.Ino, "g", 0))
	if st := stat(t, join(dir, "d", "e", "f")); st.Mode&0o777 == 0o600 {
		t.Fatal("the kernel did not cache the old attributes; the test proves nothing")
	}
	srv.fsys.receive(lock.Batch{All: true})
	if exists(join(dir, "d", "e", "f")) {
		t.Errorf("the old name is still cached after All")
	}
	if st := stat(t, join(dir, "d", "e", "g")); st.Mode&0o777 != 0o600 {
		t.Errorf("mode %o after All, want 600", st.Mode&0o777)
	}
}

// A mount with change notices caches attributes and names for DefaultNotifiedTimeout unless told otherwise; one
// without keeps the short defaults, since nothing would tell its kernel about other mounts' changes.
func TestTimeoutDefaultsFollowNotifier(t *testing.T) {
	var plain Options
	plain.setDefaults()
	if plain.AttrTimeout != DefaultAttrTimeout || plain.EntryTimeout != DefaultEntryTimeout || plain.NegativeTimeout != 0 {
		t.Fatalf("without a notifier: attr %v entry %v negative %v", plain.AttrTimeout, plain.EntryTimeout, plain.NegativeTimeout)
	}
	group := lock.NewLocalNotifiers(0)
	nt := group.Join()
	defer nt.Close()
	notified := Options{Notifier: nt}
	notified.setDefaults()
	if notified.AttrTimeout != DefaultNotifiedTimeout || notified.EntryTimeout != DefaultNotifiedTimeout || notified.NegativeTimeout != 0 {
		t.Fatalf("with a notifier: attr %v entry %v negative %v", notified.AttrTimeout, notified.EntryTimeout, notified.NegativeTimeout)
	}
	explicit := Options{Notifier: nt, AttrTimeout: time.Second, EntryTimeout: 2 * time.Second}
	explicit.setDefaults()
	if explicit.AttrTimeout != time.Second || explicit.EntryTimeout != 2*time.Second {
		t.Fatalf("explicit timeouts were replaced: attr %v entry %v", explicit.AttrTimeout, explicit.EntryTimeout)
	}
}

// mountMemMarked mounts one in-memory volume twice with kernel caches of an hour, joined by an in-process
// Notifier group whose members are wrapped so that a test can wait until the other mount has applied
// everything a mount published (markedNotifier, fsx2_test.go).
func mountMemMarked(t *testing.T) (a, b string, na, nb *markedNotifier) {
	vol := memstore.NewVolume(memstore.Options{})
	g := lock.NewLocalNotifiers(0)
	na, nb = newMarkedNotifier(g.Join()), newMarkedNotifier(g.Join())
	na.peer, nb.peer = nb, na
	t.Cleanup(func() { _ = na.Close(); _ = nb.Close() }) // after the unmounts
	a, _ = mountStore(t, vol.Session("a"), fsx2Options("a", na))
	b, _ = mountStore(t, vol.Session("b"), fsx2Options("b", nb))
	return a, b, na, nb
}

// TestNotifyAppendWrite: a write through an O_APPEND descriptor (written through to the store, not buffered)
// is announced like any other write: once its notices are applied, the other mount sees the new size and data
// through the name and through a descriptor it keeps open. (It was not announced: fsx2 seed 1, step 65.)
func TestNotifyAppendWrite(t *testing.T) {
	a, b, na, nb := mountMemMarked(t)
	settle := func() {
		t.Helper()
		if !nb.waitApplied(na.mark(), time.Minute) {
			t.Fatal("b did not apply a's notices within a minute")
		}
	}
	writeFile(t, join(a, "log"), []byte("first\n"))
	settle() // the notices of the creation, before b caches anything
	fb, err := os.Open(join(b, "log"))
	must(t, err)
	defer fb.Close()
	buf := make([]byte, 64)
	if n, _ := preadFull(int(fb.Fd()), buf, 0); string(buf[:n]) != "first\n" {
		t.Fatalf("b reads %q", buf[:n])
	}
	if st := stat(t, join(b, "log")); st.Size != 6 { // b's kernel now caches size 6 for an hour
		t.Fatalf("b: size %d", st.Size)
	}
	fa, err := os.OpenFile(join(a, "log"), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	defer fa.Close()
	_, err = fa.Write([]byte("second\n")) // no fsync, no close: appends are written through
	must(t, err)
	settle()
	want := "first\nsecond\n"
	if st := stat(t, join(b, "log")); st.Size != int64(len(want)) {
		t.Errorf("b: size %d after a's append, want %d", st.Size, len(want))
	}
	if n, _ := preadFull(int(fb.Fd()), buf, 0); string(buf[:n]) != want {
		t.Errorf("b's open descriptor reads %q after a's append, want %q", buf[:n], want)
	}
}
