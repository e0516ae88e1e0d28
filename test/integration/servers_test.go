// Package integration holds the smoke tests of the test bed itself: the real Cassandra and ZooKeeper that
// hack/test.sh starts answer the way the rest of the suite relies on.
package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/go-zookeeper/zk"

	"github.com/cassfs/cassfs/internal/testenv"
)

func TestCassandraKeyspaceReplication(t *testing.T) {
	s := testenv.Session(t)
	var dc string
	if err := s.Query(`SELECT data_center FROM system.local`).Scan(&dc); err != nil {
		t.Fatalf("read local datacenter: %v", err)
	}
	cases := []struct {
		name        string
		replication string
		wantClass   string
		wantKey     string
		wantValue   string
	}{
		{"simple", `{'class': 'SimpleStrategy', 'replication_factor': 1}`, "SimpleStrategy", "replication_factor", "1"},
		{"nts", fmt.Sprintf(`{'class': 'NetworkTopologyStrategy', '%s': 1}`, dc), "NetworkTopologyStrategy", dc, "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ks := testenv.UniqueName("it_" + c.name + "_")
			if err := s.Query(`CREATE KEYSPACE ` + ks + ` WITH replication = ` + c.replication).Exec(); err != nil {
				t.Fatalf("create keyspace: %v", err)
			}
			t.Cleanup(func() { _ = s.Query(`DROP KEYSPACE IF EXISTS ` + ks).Exec() })
			var repl map[string]string
			if err := s.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(&repl); err != nil {
				t.Fatalf("read system_schema.keyspaces: %v", err)
			}
			if !strings.HasSuffix(repl["class"], c.wantClass) || repl[c.wantKey] != c.wantValue {
				t.Fatalf("replication = %v, want class %s with %s=%s", repl, c.wantClass, c.wantKey, c.wantValue)
			}
			// A table round trip at the session's consistency proves the keyspace is usable, not just recorded.
			if err := s.Query(`CREATE TABLE ` + ks + `.kv (k text PRIMARY KEY, v blob)`).Exec(); err != nil {
				t.Fatalf("create table: %v", err)
			}
			if err := s.Query(`INSERT INTO `+ks+`.kv (k, v) VALUES (?, ?)`, "a", []byte("b")).Exec(); err != nil {
				t.Fatalf("insert: %v", err)
			}
			var v []byte
			if err := s.Query(`SELECT v FROM `+ks+`.kv WHERE k = ?`, "a").Scan(&v); err != nil || string(v) != "b" {
				t.Fatalf("select = %q, %v", v, err)
			}
			if err := s.Query(`DROP KEYSPACE ` + ks).Exec(); err != nil {
				t.Fatalf("drop keyspace: %v", err)
			}
			err := s.Query(`SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).Scan(new(string))
			if err != gocql.ErrNotFound {
				t.Fatalf("keyspace still listed after drop: %v", err)
			}
		})
	}
}

func TestZooKeeperZnodeLifecycle(t *testing.T) {
	servers := testenv.RequireZooKeeper(t)
	conn, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	path := "/" + testenv.UniqueName("it-")
	if _, err := conn.Create(path, []byte("hello"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	data, stat, err := conn.Get(path)
	if err != nil || string(data) != "hello" {
		t.Fatalf("get = %q, %v", data, err)
	}
	if err := conn.Delete(path, stat.Version); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if ok, _, err := conn.Exists(path); err != nil || ok {
		t.Fatalf("exists after delete = %v, %v", ok, err)
	}
}
