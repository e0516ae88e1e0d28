package sanity

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
	"github.com/cassfs/cassfs/pkg/driver/cassbackend"
)

// tb is what the plugin helpers need of a *testing.T (a child plugin process has its own, see runChild).
type tb interface {
	Helper()
	Cleanup(func())
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// plugin is a running CassFS CSI plugin (controller and node) on the real servers.
type plugin struct {
	endpoint string
	stager   *cassbackend.Stager
	cancel   context.CancelFunc
	done     chan error
}

// pluginConfig says where a test plugin keeps its socket and state.
type pluginConfig struct {
	dir      string // socket and state directory
	zkChroot string // empty: the plugin runs without ZooKeeper
	nodeID   string // default "sanity-node"
	role     string // "controller" or "node": serve only that service; "": both
	log      *slog.Logger
}

// newPluginConfig returns a config in a fresh directory with a unique ZooKeeper chroot, removed after the test.
func newPluginConfig(t *testing.T) pluginConfig {
	t.Helper()
	testenv.RequireCassandra(t)
	servers := testenv.RequireZooKeeper(t)
	chroot := "/" + testenv.UniqueName("cassfs-sanity-")
	t.Cleanup(func() { testenv.DeleteZKTree(t, servers, chroot) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CASSFS_TEST_VERBOSE") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return pluginConfig{dir: t.TempDir(), zkChroot: chroot, log: log}
}

// start runs the plugin in this process. Stop it with stop (the test's cleanup does it too).
func (c pluginConfig) start(t tb) *plugin {
	t.Helper()
	pool := cassbackend.NewPool(cassandra.ClusterConfig{Hosts: testenv.CassandraHosts(), Timeout: 30 * time.Second})
	var zkc *cassbackend.ZooKeeper // no ZooKeeper when zkChroot is empty
	probers := map[string]driver.Prober{"Cassandra": cassbackend.CassandraProber{Pool: pool}}
	if c.zkChroot != "" {
		zkc = &cassbackend.ZooKeeper{Servers: testenv.ZooKeeperServers(), Chroot: c.zkChroot}
		probers["ZooKeeper"] = cassbackend.ZooKeeperProber{ZK: zkc}
	}
	if c.nodeID == "" {
		c.nodeID = "sanity-node"
	}
	stager := cassbackend.NewStager(cassbackend.StagerConfig{Pool: pool, ZooKeeper: zkc, NodeID: c.nodeID, Logger: c.log})
	endpoint := "unix://" + filepath.Join(c.dir, "csi.sock")
	cfg := driver.Config{
		Version:    "sanity",
		Endpoint:   endpoint,
		Controller: &driver.ControllerConfig{Backend: isolate(cassbackend.NewBackend(pool, zkc, c.log))},
		Node:       &driver.NodeConfig{NodeID: c.nodeID, Stager: stager, StateDir: filepath.Join(c.dir, "state")},
		Probers:    probers,
		Logger:     c.log,
	}
	switch c.role {
	case "controller":
		cfg.Node = nil
	case "node":
		cfg.Controller = nil
	}
	d, err := driver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &plugin{endpoint: endpoint, stager: stager, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := d.Run(ctx)
		if cerr := stager.Close(); err == nil {
			err = cerr
		}
		pool.Close()
		p.done <- err
	}()
	waitForSocket(t, filepath.Join(c.dir, "csi.sock"))
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends the plugin (unmounting what it serves); calling it twice is harmless.
func (p *plugin) stop(t tb) {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("plugin: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Errorf("plugin did not stop")
	}
}

func waitForSocket(t tb, path string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("plugin socket %s did not appear", path)
}
