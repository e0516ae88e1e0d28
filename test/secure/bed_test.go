//go:build secure

// Package secure runs CassFS against a secured test bed: one Cassandra node with PasswordAuthenticator,
// CassandraAuthorizer and TLS required on the CQL port (hack/cassandra.sh with CASSANDRA_AUTHENTICATOR,
// CASSANDRA_AUTHORIZER and CASSANDRA_CLIENT_TLS=1), and a ZooKeeper whose lock namespaces carry per-volume digest
// ACLs. hack/test.sh starts that bed on addresses of its own and runs this package with -tags secure.
//
// Environment: CASSFS_TEST_CASSANDRA and CASSFS_TEST_ZOOKEEPER (the servers), CASSFS_TEST_CASSANDRA_CA (the CA
// file clients trust; default $CASSFS_STATE/cassandra/tls/ca.pem, where hack/cassandra.sh writes it). The
// superuser is Cassandra's default cassandra/cassandra. A bed that is missing or not secured fails the tests.
package secure

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
	"github.com/cassfs/cassfs/pkg/driver/cassbackend"
)

const superuser, superPassword = "cassandra", "cassandra"

// caFile returns the CA file of the bed's Cassandra, failing the test when it is missing.
func caFile(t testing.TB) string {
	t.Helper()
	f := os.Getenv("CASSFS_TEST_CASSANDRA_CA")
	if f == "" {
		state := os.Getenv("CASSFS_STATE")
		if state == "" {
			state = "/var/tmp/cassfs"
		}
		f = filepath.Join(state, "cassandra", "tls", "ca.pem")
	}
	if _, err := os.Stat(f); err != nil {
		t.Fatalf("the Cassandra CA file: %v (start the bed with CASSANDRA_CLIENT_TLS=1 hack/cassandra.sh start, "+
			"or set CASSFS_TEST_CASSANDRA_CA)", err)
	}
	return f
}

// clusterConfig is how every client of these tests reaches Cassandra: over TLS, verifying the server against the
// bed's CA, as user (no login when user is empty).
func clusterConfig(t testing.TB, user, password string) cassandra.ClusterConfig {
	return cassandra.ClusterConfig{Hosts: testenv.RequireCassandra(t), CAFile: caFile(t), Username: user,
		Password: password, Timeout: 30 * time.Second}
}

// connect opens a cassandra.Cluster (the driver's own connection code) and closes it when the test ends.
func connect(t testing.TB, cfg cassandra.ClusterConfig) (*cassandra.Cluster, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := cassandra.Connect(ctx, cfg)
	if err == nil {
		t.Cleanup(c.Close)
	}
	return c, err
}

// superSession is a gocql session as the superuser.
func superSession(t testing.TB) *gocql.Session {
	t.Helper()
	// Cassandra creates the default superuser just after it opens the CQL port: a login refused in the first
	// moments of a fresh node is tried again.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := connect(t, clusterConfig(t, superuser, superPassword))
		if err == nil {
			return c.Session()
		}
		if !strings.Contains(err.Error(), "incorrect") || time.Now().After(deadline) {
			t.Fatalf("connect as the superuser over TLS: %v (is the bed secured? see the package doc)", err)
		}
		time.Sleep(time.Second)
	}
}

// syncBuffer collects the logs of the driver and of the libraries under it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// plugin is a CassFS plugin (controller and node) served in this process on the secured bed, reached over its
// unix socket as a CO reaches it. Its Cassandra connections use TLS with the bed's CA and have no default login:
// every request brings its credentials in its secrets, as on a cluster where each volume has a role of its own.
type plugin struct {
	ctrl csi.ControllerClient
	node csi.NodeClient
	dir  string
	zk   *cassbackend.ZooKeeper
	logs *syncBuffer
}

func startPlugin(t *testing.T) *plugin {
	t.Helper()
	servers := testenv.RequireZooKeeper(t)
	p := &plugin{dir: t.TempDir(), logs: &syncBuffer{},
		zk: &cassbackend.ZooKeeper{Servers: servers, Chroot: "/" + testenv.UniqueName("cassfs-secure-")}}
	logger := slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prevDefault, prevOut := slog.Default(), log.Writer()
	slog.SetDefault(logger) // the standard logger (gocql, go-zookeeper) now writes through logger too
	log.SetOutput(io.MultiWriter(p.logs, prevOut))
	t.Cleanup(func() { slog.SetDefault(prevDefault); log.SetOutput(prevOut) })

	pool := cassbackend.NewPool(clusterConfig(t, "", ""))
	stager := cassbackend.NewStager(cassbackend.StagerConfig{Pool: pool, ZooKeeper: p.zk, NodeID: "secure-node",
		Logger: logger})
	sock := filepath.Join(p.dir, "csi.sock")
	d, err := driver.New(driver.Config{
		Version: "secure-test", Endpoint: "unix://" + sock, Logger: logger,
		Controller: &driver.ControllerConfig{Backend: cassbackend.NewBackend(pool, p.zk, logger)},
		Node:       &driver.NodeConfig{NodeID: "secure-node", Stager: stager, StateDir: filepath.Join(p.dir, "state")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	p.ctrl, p.node = csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver: %v", err)
		}
		if err := stager.Close(); err != nil {
			t.Errorf("stager: %v", err)
		}
		pool.Close()
		testenv.DeleteZKTree(t, servers, p.zk.Chroot)
	})
	return p
}

func multiWriter() *csi.VolumeCapability {
	return &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}
}
