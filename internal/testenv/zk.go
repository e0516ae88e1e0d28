package testenv

import (
	"errors"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZKChroot returns a fresh ZooKeeper path under the root ("/" + prefix + random hex) for one test, deleted with
// everything below it when the test ends. It fails the test when ZooKeeper does not answer.
func ZKChroot(t testing.TB, prefix string) string {
	t.Helper()
	servers := RequireZooKeeper(t)
	chroot := "/" + UniqueName(prefix)
	t.Cleanup(func() { DeleteZKTree(t, servers, chroot) })
	return chroot
}

// DeleteZKTree removes path and everything below it (a missing path is fine); a failure is reported as a test
// error, since a leftover tree can make later tests that share the server misbehave.
func DeleteZKTree(t testing.TB, servers []string, path string) {
	t.Helper()
	c, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Errorf("ZooKeeper cleanup of %s: connect: %v", path, err)
		return
	}
	defer c.Close()
	var del func(p string) error
	del = func(p string) error {
		kids, _, err := c.Children(p)
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := del(p + "/" + k); err != nil {
				return err
			}
		}
		if err := c.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		return nil
	}
	if err := del(path); err != nil {
		t.Errorf("ZooKeeper cleanup of %s: %v", path, err)
	}
}
