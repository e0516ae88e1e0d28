package cassandra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// VolumeInfo describes a provisioned volume. Spec.CapacityBytes is the current quota (raised by ExpandVolume).
type VolumeInfo struct {
	Spec          VolumeSpec
	Keyspace      string
	CreatedAt     time.Time
	SchemaVersion int

	requested uint64 // the capacity CreateVolume was first called with (kept in the stored spec JSON)
}

// replicationCQL renders the replication map literal. Only validated values reach it: the class is one of two
// constants, datacenter names match dcNameRE and factors are small integers.
func replicationCQL(r Replication) (string, error) {
	switch r.Class {
	case SimpleStrategy:
		if r.Factor < 1 || r.Factor > MaxReplicationFactor {
			return "", invalid(ParamReplicationFactor, "out of range")
		}
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", r.Factor), nil
	case NetworkTopologyStrategy:
		dcs := make([]string, 0, len(r.DCFactors))
		for dc := range r.DCFactors {
			dcs = append(dcs, dc)
		}
		if len(dcs) == 0 {
			return "", invalid(ParamDCReplication, "no datacenters")
		}
		sort.Strings(dcs)
		var b strings.Builder
		b.WriteString("{'class': 'NetworkTopologyStrategy'")
		for _, dc := range dcs {
			n := r.DCFactors[dc]
			if !dcNameRE.MatchString(dc) || n < 1 || n > MaxReplicationFactor {
				return "", invalid(ParamDCReplication, "bad entry %q", dc)
			}
			fmt.Fprintf(&b, ", '%s': %d", dc, n)
		}
		b.WriteString("}")
		return b.String(), nil
	}
	return "", invalid(ParamReplication, "unknown class")
}

// CreateVolume creates the volume's keyspace, tables and root directory. It is idempotent: calling it again with
// the same spec (or after a crash half-way) completes the volume and returns the same info. A volume of that id
// with another spec gives an error wrapping ErrVolumeExists; the capacity matches if it equals the requested or
// the current (expanded) capacity.
func (c *Cluster) CreateVolume(ctx context.Context, spec VolumeSpec) (VolumeInfo, error) {
	if err := spec.Validate(); err != nil {
		return VolumeInfo{}, err
	}
	ks := KeyspaceName(spec.ID)
	repl, err := replicationCQL(spec.Replication)
	if err != nil {
		return VolumeInfo{}, err
	}
	// An existing keyspace is checked before anything is written to it.
	if info, err := c.readInfo(ctx, ks); err == nil {
		if !compatible(info, spec) {
			return VolumeInfo{}, fmt.Errorf("%w: %q", ErrVolumeExists, spec.ID)
		}
		if info.SchemaVersion >= SchemaVersion {
			return info, nil
		}
	}
	if err := c.session.Query(cql(ks, `CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = `+repl)).
		ExecContext(ctx); err != nil {
		return VolumeInfo{}, fmt.Errorf("cassandra: create keyspace %s: %w", ks, err)
	}
	if err := c.session.Query(cql(ks, metaTable)).ExecContext(ctx); err != nil {
		return VolumeInfo{}, fmt.Errorf("cassandra: create meta table in %s: %w", ks, err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return VolumeInfo{}, err
	}
	existing := map[string]any{}
	applied, err := c.session.Query(cql(ks, `INSERT INTO {ks}.meta (k, id, spec, capacity, created_at, schema_version)
		VALUES (?, ?, ?, ?, ?, 0) IF NOT EXISTS`), metaKey, spec.ID, string(specJSON), int64(spec.CapacityBytes),
		time.Now().UTC().Truncate(time.Millisecond)).MapScanCASContext(ctx, existing)
	if err != nil {
		return VolumeInfo{}, fmt.Errorf("cassandra: record volume %s: %w", spec.ID, err)
	}
	if !applied {
		info, err := infoFromRow(ks, existing)
		if err != nil {
			return VolumeInfo{}, err
		}
		if !compatible(info, spec) {
			return VolumeInfo{}, fmt.Errorf("%w: %q", ErrVolumeExists, spec.ID)
		}
	}
	if _, err := migrate(ctx, c.session, ks); err != nil {
		return VolumeInfo{}, err
	}
	return c.readInfo(ctx, ks)
}

// compatible reports whether a request for spec may return the existing volume info.
func compatible(info VolumeInfo, spec VolumeSpec) bool {
	a, b := info.Spec, spec
	if b.CapacityBytes != a.CapacityBytes && b.CapacityBytes != info.requested {
		return false
	}
	a.CapacityBytes, b.CapacityBytes = 0, 0
	return reflect.DeepEqual(a, b)
}

// GetVolume returns a completely created volume; ErrVolumeNotFound otherwise.
func (c *Cluster) GetVolume(ctx context.Context, id string) (VolumeInfo, error) {
	if err := CheckVolumeID(id); err != nil {
		return VolumeInfo{}, err
	}
	info, err := c.readInfo(ctx, KeyspaceName(id))
	if err != nil {
		return VolumeInfo{}, err
	}
	if info.Spec.ID != id || info.SchemaVersion < 1 {
		return VolumeInfo{}, fmt.Errorf("%w: %q", ErrVolumeNotFound, id)
	}
	return info, nil
}

// DeleteVolume drops the volume's keyspace. Deleting a missing volume is not an error. A keyspace whose meta
// table names another id (a hash collision) is left alone.
func (c *Cluster) DeleteVolume(ctx context.Context, id string) error {
	if err := CheckVolumeID(id); err != nil {
		return err
	}
	ks := KeyspaceName(id)
	info, err := c.readInfo(ctx, ks)
	switch {
	case err == nil && info.Spec.ID != id:
		return nil
	case err != nil && !errors.Is(err, ErrVolumeNotFound):
		return err
	}
	if err := c.session.Query(cql(ks, `DROP KEYSPACE IF EXISTS {ks}`)).ExecContext(ctx); err != nil {
		return fmt.Errorf("cassandra: drop keyspace %s: %w", ks, err)
	}
	return nil
}

// ListVolumes returns every completely created volume, sorted by id.
func (c *Cluster) ListVolumes(ctx context.Context) ([]VolumeInfo, error) {
	iter := c.session.Query(`SELECT keyspace_name FROM system_schema.keyspaces`).Idempotent(true).WithContext(ctx).Iter()
	var names []string
	var name string
	for iter.Scan(&name) {
		if isVolumeKeyspace(name) {
			names = append(names, name)
		}
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: list keyspaces: %w", err)
	}
	var out []VolumeInfo
	for _, ks := range names {
		info, err := c.readInfo(ctx, ks)
		if errors.Is(err, ErrVolumeNotFound) || (err == nil && info.SchemaVersion < 1) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.ID < out[j].Spec.ID })
	return out, nil
}

// ExpandVolume raises the volume's quota to capacity (never lowers it: a smaller value returns the current info).
func (c *Cluster) ExpandVolume(ctx context.Context, id string, capacity uint64) (VolumeInfo, error) {
	info, err := c.GetVolume(ctx, id)
	if err != nil {
		return VolumeInfo{}, err
	}
	for info.Spec.CapacityBytes != 0 && capacity > info.Spec.CapacityBytes || capacity == 0 && info.Spec.CapacityBytes != 0 {
		var cur int64
		applied, err := c.session.Query(cql(info.Keyspace, `UPDATE {ks}.meta SET capacity = ? WHERE k = ? IF capacity = ?`),
			int64(capacity), metaKey, int64(info.Spec.CapacityBytes)).ScanCASContext(ctx, &cur)
		if err != nil {
			return VolumeInfo{}, fmt.Errorf("cassandra: expand %q: %w", id, err)
		}
		if applied {
			info.Spec.CapacityBytes = capacity
			break
		}
		info.Spec.CapacityBytes = uint64(cur)
	}
	return info, nil
}

// readInfo reads the meta row of ks (SERIAL, so it sees every LWT). ErrVolumeNotFound if ks or the row is missing.
func (c *Cluster) readInfo(ctx context.Context, ks string) (VolumeInfo, error) {
	row := map[string]any{}
	err := c.session.Query(cql(ks, `SELECT id, spec, capacity, created_at, schema_version FROM {ks}.meta WHERE k = ?`),
		metaKey).Consistency(gocql.LocalSerial).Idempotent(true).MapScanContext(ctx, row)
	if err != nil {
		if errors.Is(err, gocql.ErrNotFound) || isUnconfigured(err) {
			return VolumeInfo{}, fmt.Errorf("%w: keyspace %s", ErrVolumeNotFound, ks)
		}
		return VolumeInfo{}, fmt.Errorf("cassandra: read volume record of %s: %w", ks, err)
	}
	return infoFromRow(ks, row)
}

func infoFromRow(ks string, row map[string]any) (VolumeInfo, error) {
	var spec VolumeSpec
	s, _ := row["spec"].(string)
	if err := json.Unmarshal([]byte(s), &spec); err != nil {
		return VolumeInfo{}, fmt.Errorf("cassandra: volume record of %s: %w", ks, err)
	}
	requested := spec.CapacityBytes
	if v, ok := row["capacity"].(int64); ok {
		spec.CapacityBytes = uint64(v)
	}
	info := VolumeInfo{Spec: spec, Keyspace: ks, requested: requested}
	if t, ok := row["created_at"].(time.Time); ok {
		info.CreatedAt = t
	}
	if v, ok := row["schema_version"].(int); ok {
		info.SchemaVersion = v
	}
	return info, nil
}

// isUnconfigured reports a query against a keyspace or table that does not exist, or whose table is going away:
// while a DROP KEYSPACE is still being applied (a drop whose reply timed out), reads of its tables fail with
// "Unknown CF <id>", and DeleteVolume retried then must drop again rather than fail.
func isUnconfigured(err error) bool {
	var re gocql.RequestError
	if !errors.As(err, &re) {
		return false
	}
	m := strings.ToLower(re.Message())
	if re.Code() == gocql.ErrCodeInvalid && (strings.Contains(m, "does not exist") || strings.Contains(m, "unconfigured")) {
		return true
	}
	return strings.Contains(m, "unknown cf ")
}
