package cassbackend

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
	"github.com/cassfs/cassfs/pkg/lock"
)

// Backend implements driver.VolumeBackend on Cassandra.
type Backend struct {
	pool *Pool
	zk   *ZooKeeper // when set, DeleteVolume also removes the volume's lock namespace
	log  *slog.Logger
}

var _ driver.VolumeBackend = (*Backend)(nil)

// NewBackend returns a Backend on pool. zk may be nil.
func NewBackend(pool *Pool, zk *ZooKeeper, log *slog.Logger) *Backend {
	if log == nil {
		log = slog.Default()
	}
	return &Backend{pool: pool, zk: zk, log: log}
}

// Volume context keys (informational; nodes read the volume's spec from Cassandra).
const (
	ContextKeyspace    = "cassfs.io/keyspace"
	ContextConsistency = "cassfs.io/consistency"
	ContextReplication = "cassfs.io/replication"
)

func volumeOf(info cassandra.VolumeInfo) driver.Volume {
	repl := info.Spec.Replication.Class
	if info.Spec.Replication.Class == cassandra.SimpleStrategy {
		repl += ":" + strconv.Itoa(info.Spec.Replication.Factor)
	}
	return driver.Volume{ID: info.Spec.ID, CapacityBytes: info.Spec.CapacityBytes, Context: map[string]string{
		ContextKeyspace:    info.Keyspace,
		ContextConsistency: info.Spec.Consistency,
		ContextReplication: repl,
	}}
}

// CreateVolume parses the parameters (cassandra.ParseVolumeSpec) and creates the volume idempotently.
func (b *Backend) CreateVolume(ctx context.Context, cred driver.Credentials, req driver.VolumeRequest) (driver.Volume, error) {
	spec, err := cassandra.ParseVolumeSpec(req.ID, req.CapacityBytes, req.Parameters)
	if err != nil {
		return driver.Volume{}, mapErr(err)
	}
	c, err := b.pool.Get(ctx, cred)
	if err != nil {
		return driver.Volume{}, err
	}
	info, err := c.CreateVolume(ctx, spec)
	if err != nil {
		return driver.Volume{}, mapErr(err)
	}
	return volumeOf(info), nil
}

// GetVolume returns the volume or driver.ErrNotFound.
func (b *Backend) GetVolume(ctx context.Context, cred driver.Credentials, id string) (driver.Volume, error) {
	if err := cassandra.CheckVolumeID(id); err != nil {
		return driver.Volume{}, mapErr(err)
	}
	c, err := b.pool.Get(ctx, cred)
	if err != nil {
		return driver.Volume{}, err
	}
	info, err := c.GetVolume(ctx, id)
	if err != nil {
		return driver.Volume{}, mapErr(err)
	}
	return volumeOf(info), nil
}

// DeleteVolume drops the volume's keyspace (and its ZooKeeper lock namespace); a missing volume is not an error.
func (b *Backend) DeleteVolume(ctx context.Context, cred driver.Credentials, id string) error {
	if err := cassandra.CheckVolumeID(id); err != nil {
		return mapErr(err)
	}
	c, err := b.pool.Get(ctx, cred)
	if err != nil {
		return err
	}
	if err := c.DeleteVolume(ctx, id); err != nil {
		return mapErr(err)
	}
	if b.zk != nil {
		zctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := lock.DeleteZKNamespace(zctx, b.zk.config(id, cred.ZooKeeperDigest)); err != nil {
			// Lock nodes are tiny and ephemeral; a leftover namespace costs nothing but a znode.
			b.log.Warn("delete volume: ZooKeeper namespace left behind", "volume", id, "err", err)
		}
	}
	return nil
}

// listAttempts bounds ListVolumes retries: a keyspace dropped while it is being read ("Unknown CF") fails the
// whole listing, and another attempt no longer sees it.
const listAttempts = 3

// ListVolumes lists every CassFS volume of the cluster (with the default credentials).
func (b *Backend) ListVolumes(ctx context.Context, cred driver.Credentials) ([]driver.Volume, error) {
	c, err := b.pool.Get(ctx, cred)
	if err != nil {
		return nil, err
	}
	var infos []cassandra.VolumeInfo
	for i := 0; i < listAttempts; i++ {
		if infos, err = c.ListVolumes(ctx); err == nil || ctx.Err() != nil {
			break
		}
		b.log.Debug("list volumes failed; retrying", "attempt", i+1, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]driver.Volume, 0, len(infos))
	for _, info := range infos {
		out = append(out, volumeOf(info))
	}
	return out, nil
}

// ExpandVolume raises the quota.
func (b *Backend) ExpandVolume(ctx context.Context, cred driver.Credentials, id string, capacity uint64) (driver.Volume, error) {
	c, err := b.pool.Get(ctx, cred)
	if err != nil {
		return driver.Volume{}, err
	}
	info, err := c.ExpandVolume(ctx, id, capacity)
	if err != nil {
		return driver.Volume{}, mapErr(err)
	}
	return volumeOf(info), nil
}
