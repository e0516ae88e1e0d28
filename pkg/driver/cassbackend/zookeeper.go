package cassbackend

import (
	"context"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
	"github.com/cassfs/cassfs/pkg/lock"
)

// ZooKeeper says where the lock service of multi-node volumes is.
type ZooKeeper struct {
	Servers        []string      // host:port
	Chroot         string        // default "/cassfs"
	SessionTimeout time.Duration // default 10s
}

// LockNamespace is the znode (under Chroot) that holds the locks of volume id: its keyspace name, which is unique
// per volume and made of [a-z0-9_] only. Every mount of a volume must use the same namespace.
func LockNamespace(volumeID string) string { return cassandra.KeyspaceName(volumeID) }

func (z *ZooKeeper) config(volumeID, digest string) lock.ZKConfig {
	return lock.ZKConfig{Servers: z.Servers, Chroot: z.Chroot, SessionTimeout: z.SessionTimeout,
		Namespace: LockNamespace(volumeID), Digest: digest}
}

// ZooKeeperProber checks that a ZooKeeper session can be established.
type ZooKeeperProber struct{ ZK *ZooKeeper }

var _ driver.Prober = ZooKeeperProber{}

// Probe connects, waits for a session (or ctx) and disconnects.
func (p ZooKeeperProber) Probe(ctx context.Context) error {
	conn, events, err := zk.Connect(p.ZK.Servers, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		return fmt.Errorf("zookeeper: %w", err)
	}
	defer conn.Close()
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return nil
			}
			if ev.State == zk.StateAuthFailed || ev.State == zk.StateExpired {
				return fmt.Errorf("zookeeper: %v", ev.State)
			}
		case <-ctx.Done():
			return fmt.Errorf("zookeeper %v: no session: %w", p.ZK.Servers, ctx.Err())
		}
	}
}

// CassandraProber checks that Cassandra answers with the default credentials.
type CassandraProber struct{ Pool *Pool }

var _ driver.Prober = CassandraProber{}

// Probe pings Cassandra.
func (p CassandraProber) Probe(ctx context.Context) error {
	c, err := p.Pool.Get(ctx, driver.Credentials{})
	if err != nil {
		return err
	}
	return c.Ping(ctx)
}
