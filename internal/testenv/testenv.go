// Package testenv connects integration tests to the real servers that hack/test.sh starts (Cassandra on
// 127.0.0.1:9042, ZooKeeper on 127.0.0.1:2181). A test that cannot reach them fails: it never skips, so a CI run
// without servers is red, not silently green.
//
// Overrides: CASSFS_TEST_CASSANDRA (comma-separated hosts), CASSFS_TEST_ZOOKEEPER (comma-separated host:port).
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// CassandraHosts returns the Cassandra contact points for tests.
func CassandraHosts() []string {
	if v := os.Getenv("CASSFS_TEST_CASSANDRA"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"127.0.0.1"}
}

// ZooKeeperServers returns the ZooKeeper servers (host:port) for tests.
func ZooKeeperServers() []string {
	if v := os.Getenv("CASSFS_TEST_ZOOKEEPER"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"127.0.0.1:2181"}
}

// RequireCassandra fails the test unless a Cassandra node answers, and returns the hosts.
func RequireCassandra(t testing.TB) []string {
	t.Helper()
	hosts := CassandraHosts()
	requireTCP(t, "Cassandra", withPort(hosts[0], "9042"), "hack/cassandra.sh start")
	return hosts
}

// RequireZooKeeper fails the test unless a ZooKeeper server answers, and returns the servers.
func RequireZooKeeper(t testing.TB) []string {
	t.Helper()
	servers := ZooKeeperServers()
	requireTCP(t, "ZooKeeper", servers[0], "hack/zookeeper.sh start")
	return servers
}

// Session returns a gocql session to the test Cassandra, closed when the test ends.
func Session(t testing.TB) *gocql.Session {
	t.Helper()
	cluster := gocql.NewCluster(RequireCassandra(t)...)
	cluster.Timeout = 30 * time.Second
	cluster.ConnectTimeout = 10 * time.Second
	cluster.Consistency = gocql.Quorum
	s, err := cluster.CreateSession()
	if err != nil {
		t.Fatalf("testenv: connect to Cassandra: %v (start it with hack/cassandra.sh start)", err)
	}
	t.Cleanup(s.Close)
	return s
}

// UniqueName returns prefix followed by random hex, usable as a keyspace, znode or volume name.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, port)
}

func requireTCP(t testing.TB, what, addr, hint string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("testenv: %s is not reachable at %s: %v (start it with %s, or run make test)", what, addr, err, hint)
	}
	_ = c.Close()
}
