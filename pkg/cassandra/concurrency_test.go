package cassandra

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/lock"
	"github.com/cassfs/cassfs/pkg/store"
	"github.com/cassfs/cassfs/pkg/store/storetest"
)

// TestExclusiveCreateManyMounts: 8 sessions on two separate Cassandra connections race to create each of 20
// names; exactly one wins each name, the others get EEXIST, and the entry names the winner's inode.
func TestExclusiveCreateManyMounts(t *testing.T) {
	c1, c2 := testCluster(t), testCluster(t)
	info := testVolume(t, c1, 0, nil)
	var vols []*Volume
	for i := 0; i < 8; i++ {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		vols = append(vols, openVolume(t, c, info.Spec.ID, fmt.Sprintf("m%d", i), nil))
	}
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		name := fmt.Sprintf("n%d", round)
		var wg sync.WaitGroup
		results := make([]store.Attr, len(vols))
		errs := make([]error, len(vols))
		for i, v := range vols {
			wg.Add(1)
			go func() {
				defer wg.Done()
				node := newFile()
				if i%3 == 0 {
					node = newDir()
				}
				results[i], errs[i] = v.Mknod(ctx, store.RootIno, name, node)
			}()
		}
		wg.Wait()
		winners := 0
		var winner store.Attr
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				winner = results[i]
			case !errors.Is(err, syscall.EEXIST):
				t.Errorf("round %d session %d: %v", round, i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners", round, winners)
		}
		got, err := vols[3].Lookup(ctx, store.RootIno, name)
		if err != nil || got.Ino != winner.Ino || got.Type != winner.Type {
			t.Fatalf("round %d: lookup %+v, %v; winner %+v", round, got, err, winner)
		}
	}
	if r, err := vols[0].Fsck(ctx, false); err != nil || !r.Clean() {
		t.Fatalf("fsck: %q, %v", r.Problems, err)
	}
	storetest.CheckTree(t, vols[0])
}

// TestNamespaceStormThenFsck: three sessions (sharing a lock table, as mounts share ZooKeeper) run renames
// across directories, exchanges, links, unlinks, creates and removals in a small tree; afterwards Fsck finds
// nothing to repair and the tree's invariants hold.
func TestNamespaceStormThenFsck(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, map[string]string{"chunkSize": "4096", "blockSize": "4096"})
	locks := lock.NewLocal()
	var vols []*Volume
	for i := 0; i < 3; i++ {
		vols = append(vols, openVolume(t, c, info.Spec.ID, fmt.Sprintf("s%d", i), locks.Share()))
	}
	runStorm(t, vols)
}

// TestNamespaceStormZooKeeper is the storm with each session holding its own ZooKeeper Locker (its own
// ZooKeeper session, as separate nodes would), on the real ZooKeeper.
func TestNamespaceStormZooKeeper(t *testing.T) {
	servers := testenv.RequireZooKeeper(t)
	c := testCluster(t)
	info := testVolume(t, c, 0, map[string]string{"chunkSize": "4096", "blockSize": "4096"})
	ctx := context.Background()
	cfg := lock.ZKConfig{Servers: servers, Chroot: "/" + testenv.UniqueName("cassfs-cassandra-test-"),
		Namespace: info.Keyspace}
	t.Cleanup(func() {
		if err := lock.DeleteZKNamespace(context.Background(), cfg); err != nil {
			t.Errorf("delete znodes: %v", err)
		}
		conn, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogInfo(false))
		if err != nil {
			t.Errorf("zookeeper: %v", err)
			return
		}
		defer conn.Close()
		if err := conn.Delete(cfg.Chroot, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			t.Errorf("delete %s: %v", cfg.Chroot, err)
		}
	})
	var vols []*Volume
	for i := 0; i < 3; i++ {
		z, err := lock.NewZK(ctx, cfg)
		must(t, err)
		vols = append(vols, openVolume(t, c, info.Spec.ID, fmt.Sprintf("zk%d", i), z))
		t.Cleanup(func() { _ = z.Close() }) // runs after the volume's Close
	}
	runStorm(t, vols)
}

func runStorm(t *testing.T, vols []*Volume) {
	ctx := context.Background()
	dirs := []store.Ino{store.RootIno}
	for i := 0; i < 5; i++ {
		d, err := vols[0].Mknod(ctx, store.RootIno, fmt.Sprintf("d%d", i), newDir())
		must(t, err)
		dirs = append(dirs, d.Ino)
	}
	names := []string{"a", "b", "c", "x", "d0", "d1"}
	allowed := map[syscall.Errno]bool{syscall.ENOENT: true, syscall.EEXIST: true, syscall.ENOTEMPTY: true,
		syscall.EISDIR: true, syscall.ENOTDIR: true, syscall.EINVAL: true, syscall.EPERM: true}
	const workers, ops = 9, 120
	var mu sync.Mutex
	unexpected := map[string]int{}
	counts := map[int]int{}
	var oplog []string // for diagnosis: each operation with the inodes its names referred to just before
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			v := vols[w%len(vols)]
			for i := 0; i < ops; i++ {
				d1, d2 := dirs[rng.IntN(len(dirs))], dirs[rng.IntN(len(dirs))]
				n1, n2 := names[rng.IntN(len(names))], names[rng.IntN(len(names))]
				op := rng.IntN(10)
				pre1, _ := v.Lookup(ctx, d1, n1)
				pre2, _ := v.Lookup(ctx, d2, n2)
				var err error
				switch op {
				case 0, 1, 2:
					err = v.Rename(ctx, d1, n1, d2, n2, 0)
				case 3:
					err = v.Rename(ctx, d1, n1, d2, n2, store.RenameExchange)
				case 4:
					var a store.Attr
					if a, err = v.Lookup(ctx, d1, n1); err == nil {
						_, err = v.Link(ctx, a.Ino, d2, n2)
					}
				case 5:
					_, err = v.Unlink(ctx, d1, n1)
				case 6:
					var a store.Attr
					if a, err = v.Mknod(ctx, d1, n1, newFile()); err == nil {
						_, err = v.Write(ctx, a.Ino, uint64(rng.IntN(10000)), []byte("storm data"))
					}
				case 7:
					_, err = v.Mknod(ctx, d1, n1, newDir())
				case 8:
					err = v.Rmdir(ctx, d1, n1)
				case 9:
					var a store.Attr
					if a, err = v.Lookup(ctx, d1, n1); err == nil && a.Type == store.TypeFile {
						_, err = v.SetAttr(ctx, a.Ino, store.SetAttrIn{Valid: store.SetSize, Size: uint64(rng.IntN(6000))})
					}
				}
				mu.Lock()
				oplog = append(oplog, fmt.Sprintf("w%d op%d %d/%s(%d) %d/%s(%d): %v", w, op, d1, n1, pre1.Ino, d2, n2, pre2.Ino, err))
				if err == nil {
					counts[op]++
				} else if errno := store.ToErrno(err); !allowed[errno] {
					unexpected[fmt.Sprintf("op %d: %v", op, err)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for what, n := range unexpected {
		t.Errorf("storm: %s (%d times)", what, n)
	}
	t.Logf("successful operations by kind: %v", counts)
	r, err := vols[1].Fsck(ctx, false)
	if err != nil || !r.Clean() {
		for _, l := range oplog {
			t.Log(l)
		}
		t.Fatalf("fsck after the storm: %q, %v", r.Problems, err)
	}
	storetest.CheckTree(t, vols[2])
}

// TestStaleSessionCleanup: a session that dies holding an unlinked file open keeps it alive until another
// session's cleanup finds its heartbeat stale; a live session's open file is left alone.
func TestStaleSessionCleanup(t *testing.T) {
	c := testCluster(t)
	info := testVolume(t, c, 0, nil)
	ctx := context.Background()
	open := func(name string) *Volume {
		v, err := c.OpenVolume(ctx, info.Spec.ID, OpenOptions{Session: name, HeartbeatInterval: 200 * time.Millisecond,
			CleanupInterval: -1})
		must(t, err)
		t.Cleanup(func() { _ = v.Close() })
		return v
	}
	dead, live, cleaner := open("dead"), open("live"), open("cleaner")
	mk := func(v *Volume, name string) store.Attr {
		f, err := v.Mknod(ctx, store.RootIno, name, newFile())
		must(t, err)
		_, err = v.Write(ctx, f.Ino, 0, make([]byte, 5000))
		must(t, err)
		_, err = v.Open(ctx, f.Ino)
		must(t, err)
		a, err := v.Unlink(ctx, store.RootIno, name)
		must(t, err)
		if a.Nlink != 0 {
			t.Fatalf("nlink after unlink %d", a.Nlink)
		}
		return f
	}
	fd, fl := mk(dead, "held-by-dead"), mk(live, "held-by-live")
	u, err := cleaner.StatFS(ctx)
	must(t, err)
	if u.Inodes != 3 || u.Bytes != 10000 {
		t.Fatalf("usage with two open unlinked files: %+v", u)
	}
	dead.abandon() // the process dies: no Close, no more heartbeats
	time.Sleep(3 * time.Second)
	n, err := cleaner.CleanupStaleSessions(ctx, 2*time.Second)
	must(t, err)
	if n != 1 {
		t.Fatalf("cleaned %d sessions, want 1 (the dead one)", n)
	}
	if _, err := cleaner.GetAttr(ctx, fd.Ino); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("file held by the dead session: %v", err)
	}
	if a, err := cleaner.GetAttr(ctx, fl.Ino); err != nil || a.Nlink != 0 {
		t.Fatalf("file held by the live session: %+v, %v", a, err)
	}
	u, err = cleaner.StatFS(ctx)
	must(t, err)
	if u.Inodes != 2 || u.Bytes != 5000 {
		t.Fatalf("usage after cleanup: %+v", u)
	}
	must(t, live.Release(ctx, fl.Ino))
	if _, err := cleaner.GetAttr(ctx, fl.Ino); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("file after the live session's release: %v", err)
	}
	if r, err := cleaner.Fsck(ctx, false); err != nil || !r.Clean() {
		t.Fatalf("fsck: %q, %v", r.Problems, err)
	}
}
