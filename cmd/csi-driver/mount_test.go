package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver/cassbackend"
	"github.com/cassfs/cassfs/pkg/lock"
)

// TestMountZooKeeperNotices runs "csi-driver mount" twice on one volume with ZooKeeper and kernel caches of an
// hour: a rewrite on one mount shows through a file the other keeps open, which only change notices can do.
func TestMountZooKeeperNotices(t *testing.T) {
	hosts := testenv.RequireCassandra(t)
	servers := testenv.RequireZooKeeper(t)
	volume := testenv.UniqueName("mountzk-")
	chroot := "/" + testenv.UniqueName("cassfs-mounttest-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if c, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: hosts, Timeout: 30 * time.Second}); err == nil {
			if err := c.DeleteVolume(ctx, volume); err != nil {
				t.Errorf("delete volume: %v", err)
			}
			c.Close()
		}
		if err := lock.DeleteZKNamespace(ctx, lock.ZKConfig{Servers: servers, Chroot: chroot,
			Namespace: cassbackend.LockNamespace(volume)}); err != nil {
			t.Errorf("delete znodes: %v", err)
		}
		if c, _, err := zk.Connect(servers, 5*time.Second, zk.WithLogInfo(false)); err == nil {
			_ = c.Delete(chroot, -1)
			c.Close()
		}
	})
	mount := func() string {
		dir := t.TempDir()
		done := make(chan error, 1)
		go func() {
			done <- runMount([]string{"--cassandra=" + strings.Join(hosts, ","), "--zookeeper=" + strings.Join(servers, ","),
				"--zookeeper-chroot=" + chroot, "--create", "--attr-timeout=1h", "--log-level=warn", volume, dir})
		}()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if st, err := os.Stat(dir); err == nil && st.Sys().(*syscall.Stat_t).Ino == 1 {
				break // the volume's root
			}
			select {
			case err := <-done:
				t.Fatalf("mount: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("not mounted within two minutes")
			}
		}
		t.Cleanup(func() {
			if err := syscall.Unmount(dir, 0); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
			if err := <-done; err != nil {
				t.Errorf("mount %s ended with %v", dir, err)
			}
		})
		return dir
	}
	a := mount()
	b := mount()
	if err := os.WriteFile(filepath.Join(a, "f"), []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	fb, err := os.Open(filepath.Join(b, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	buf := make([]byte, 16)
	read := func() string { n, _ := fb.ReadAt(buf, 0); return string(buf[:n]) }
	if got := read(); got != "one" {
		t.Fatalf("b reads %q", got)
	}
	if err := os.WriteFile(filepath.Join(a, "f"), []byte("two, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for read() != "two, longer" {
		if time.Since(start) > time.Minute {
			t.Fatalf("b still reads %q a minute after a's rewrite", read())
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("MEASURED: b read a's rewrite through its open file %v after a's close", time.Since(start))
}
