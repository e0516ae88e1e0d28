//go:build multinode

// Package multinode checks the three-node test bed that replication and failure tests run on: three Cassandra
// nodes on 127.0.0.1-3 (hack/cassandra.sh start 3) and a three-server ZooKeeper ensemble on 127.0.0.1:2181-2183
// (hack/zookeeper.sh start 3). hack/test.sh starts them and runs this package with -tags multinode.
package multinode

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/go-zookeeper/zk"
)

// The servers, overridable as hack/test.sh does when it runs the bed on other loopback addresses.
var (
	cassandraHosts = envList("CASSFS_TEST_CASSANDRA", "127.0.0.1,127.0.0.2,127.0.0.3")
	zkServers      = envList("CASSFS_TEST_ZOOKEEPER", "127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183")
)

func envList(name, def string) []string {
	if v := os.Getenv(name); v != "" {
		return strings.Split(v, ",")
	}
	return strings.Split(def, ",")
}

// hackPath is the path of a script in hack/.
func hackPath(script string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "hack", script)
}

func hack(t *testing.T, script string, args ...string) string {
	t.Helper()
	path := hackPath(script)
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
	return string(out)
}

func session(t *testing.T, hosts ...string) *gocql.Session {
	t.Helper()
	c := gocql.NewCluster(hosts...)
	c.Timeout = 20 * time.Second
	c.ConnectTimeout = 10 * time.Second
	s, err := c.CreateSession()
	if err != nil {
		t.Fatalf("connect to %v: %v (start with hack/cassandra.sh start 3)", hosts, err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestCassandraThreeNodesReplicate(t *testing.T) {
	hack(t, "cassandra.sh", "start", "3") // idempotent: brings back any node an earlier run left down
	s := session(t, cassandraHosts...)
	var peers []string
	iter := s.Query(`SELECT peer FROM system.peers_v2`).Iter()
	var p net.IP
	for iter.Scan(&p) {
		peers = append(peers, p.String())
	}
	if err := iter.Close(); err != nil || len(peers) != 2 {
		t.Fatalf("system.peers_v2 = %v, %v; want the two other nodes", peers, err)
	}
	status := hack(t, "cassandra.sh", "nodetool", "status")
	if n := strings.Count(status, "\nUN "); n != 3 {
		t.Fatalf("nodetool status shows %d UN nodes, want 3:\n%s", n, status)
	}

	ks := fmt.Sprintf("mn_%d", time.Now().UnixNano())
	if err := s.Query(`CREATE KEYSPACE ` + ks + ` WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}`).Exec(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec() })
	if err := s.Query(`CREATE TABLE ` + ks + `.kv (k int PRIMARY KEY, v text)`).Exec(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := s.Query(`INSERT INTO `+ks+`.kv (k, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)).Consistency(gocql.All).Exec(); err != nil {
			t.Fatalf("write at ALL: %v", err)
		}
	}
	// Each node alone holds every row (RF=3): read each one at ONE through a session pinned to it.
	for _, h := range cassandraHosts {
		c := gocql.NewCluster(h)
		c.HostFilter = gocql.WhiteListHostFilter(h)
		one, err := c.CreateSession()
		if err != nil {
			t.Fatalf("connect to %s alone: %v", h, err)
		}
		var n int
		err = one.Query(`SELECT count(*) FROM ` + ks + `.kv`).Consistency(gocql.One).Scan(&n)
		one.Close()
		if err != nil || n != 100 {
			t.Fatalf("node %s holds %d rows (%v), want 100", h, n, err)
		}
	}

	// With one node killed, QUORUM reads and writes go on; the node rejoins.
	hack(t, "cassandra.sh", "kill", "3")
	t.Cleanup(func() { hack(t, "cassandra.sh", "start-node", "3") })
	for i := 100; i < 120; i++ {
		// The write is idempotent, so the driver may retry it on another coordinator when the killed node's
		// connection resets mid-request.
		q := s.Query(`INSERT INTO `+ks+`.kv (k, v) VALUES (?, ?)`, i, "after-kill").Consistency(gocql.Quorum)
		if err := q.Idempotent(true).RetryPolicy(&gocql.SimpleRetryPolicy{NumRetries: 3}).Exec(); err != nil {
			t.Fatalf("QUORUM write with a node down: %v", err)
		}
	}
	// Reads: once the failure detector marks the node down, coordinators stop asking it.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(hack(t, "cassandra.sh", "nodetool", "status"), "DN  "+cassandraHosts[2]) {
		if time.Now().After(deadline) {
			t.Fatal("node3 never marked down")
		}
		time.Sleep(time.Second)
	}
	var n int
	if err := s.Query(`SELECT count(*) FROM ` + ks + `.kv`).Consistency(gocql.Quorum).Scan(&n); err != nil || n != 120 {
		t.Fatalf("QUORUM count with a node down = %d, %v", n, err)
	}
	start := time.Now()
	hack(t, "cassandra.sh", "start-node", "3")
	t.Logf("node3 restarted and answered CQL in %v", time.Since(start).Round(100*time.Millisecond))
}

func fourLetter(addr, word string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(word)); err != nil {
		return "", err
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String(), nil
}

func modes(t *testing.T) map[string]string {
	m := map[string]string{}
	for _, s := range zkServers {
		out, err := fourLetter(s, "srvr")
		if err != nil {
			m[s] = "down"
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "Mode: ") {
				m[s] = strings.TrimPrefix(line, "Mode: ")
			}
		}
	}
	return m
}

func leader(m map[string]string) (string, int) {
	var l string
	n := 0
	for s, mode := range m {
		if mode == "leader" {
			l, n = s, n+1
		}
	}
	return l, n
}

func TestZooKeeperEnsemble(t *testing.T) {
	hack(t, "zookeeper.sh", "start", "3")
	m := modes(t)
	l, n := leader(m)
	if n != 1 || len(m) != 3 {
		t.Fatalf("modes = %v, want one leader and two followers", m)
	}
	// A znode written through one server is read through another.
	c1, _, err := zk.Connect(zkServers[:1], 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c3, _, err := zk.Connect(zkServers[2:], 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	path := fmt.Sprintf("/mn-%d", time.Now().UnixNano())
	if _, err := c1.Create(path, []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Sync(path); err != nil {
		t.Fatal(err)
	}
	if d, _, err := c3.Get(path); err != nil || string(d) != "x" {
		t.Fatalf("read through server3 = %q, %v", d, err)
	}
	_ = c1.Delete(path, -1)

	// Kill the leader: the two others elect a new one and serve writes again.
	idx := ""
	for i, s := range zkServers {
		if s == l {
			idx = fmt.Sprint(i + 1)
		}
	}
	hack(t, "zookeeper.sh", "kill", idx)
	t.Cleanup(func() { hack(t, "zookeeper.sh", "start", "3") })
	start := time.Now()
	all, _, err := zk.Connect(zkServers, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := all.Create(path+"-after", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write accepted within 60 s of killing the leader: %v (modes %v)", err, modes(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("write accepted %v after killing leader %s", time.Since(start).Round(10*time.Millisecond), l)
	m = modes(t)
	if nl, n := leader(m); n != 1 || nl == l {
		t.Fatalf("after leader kill modes = %v, want exactly one new leader", m)
	}
}
