package cassandra

import (
	"context"
	"fmt"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// A migration moves a volume keyspace from version-1 to version. Statements use {ks} for the keyspace and must
// be idempotent (IF NOT EXISTS), since a crash between a statement and the version bump re-runs them.
type migration struct {
	version int
	stmts   []string
	// extra returns more statements computed at run time: the data path's tables as of this migration. A later
	// change to chunks.Schema needs a new migration here, or existing volumes never get it.
	extra func(ks string) []string
}

// SchemaVersion is the newest schema version this code writes.
var SchemaVersion = migrations[len(migrations)-1].version

// migrations are applied in order; append, never edit a released one.
var migrations = []migration{
	{version: 1, stmts: []string{
		// One row per inode. Every write is an LWT (insert IF NOT EXISTS, update/delete IF ver = ?), so ver, a
		// random nonce per change, is the compare-and-set token and lets a writer recognise its own write when
		// an LWT's outcome is unknown.
		`CREATE TABLE IF NOT EXISTS {ks}.inodes (ino bigint PRIMARY KEY, ver bigint, type int, mode int,
			uid bigint, gid bigint, nlink int, size bigint, atime bigint, mtime bigint, ctime bigint, rdev bigint,
			target text, generation bigint, parent bigint)`,
		// One partition per directory, clustered by the name's bytes. sealed (static) is set by rmdir and
		// rename-over-a-directory while they check emptiness; creates are conditional on it being null.
		`CREATE TABLE IF NOT EXISTS {ks}.dentries (parent bigint, name blob, ino bigint, type int,
			sealed boolean STATIC, PRIMARY KEY ((parent), name))`,
		`CREATE TABLE IF NOT EXISTS {ks}.xattrs (ino bigint, name blob, value blob, PRIMARY KEY ((ino), name))`,
		// Id allocation: next free number per name, advanced in batches with LWT.
		`CREATE TABLE IF NOT EXISTS {ks}.alloc (name text PRIMARY KEY, next bigint)`,
		// Statistics only (counters are not idempotent on retry).
		`CREATE TABLE IF NOT EXISTS {ks}.usage (k text PRIMARY KEY, bytes counter, inodes counter)`,
		`CREATE TABLE IF NOT EXISTS {ks}.sessions (sid text PRIMARY KEY, started timestamp, heartbeat timestamp,
			info text)`,
		// Which sessions hold an inode open, both ways round.
		`CREATE TABLE IF NOT EXISTS {ks}.opens (ino bigint, sid text, PRIMARY KEY ((ino), sid))`,
		`CREATE TABLE IF NOT EXISTS {ks}.session_opens (sid text, ino bigint, PRIMARY KEY ((sid), ino))`,
		// Roll-forward log of multi-partition operations (cross-directory rename, exchange).
		`CREATE TABLE IF NOT EXISTS {ks}.intents (sid text, id timeuuid, op text, args text,
			PRIMARY KEY ((sid), id))`,
	}, extra: chunkSchema},
	{version: 2, stmts: []string{
		// The node that may mount a single-node volume writable (Volume.ClaimNode): one row, k = 'node',
		// written with LWT and a TTL that the holder renews, so a dead node's claim runs out.
		`CREATE TABLE IF NOT EXISTS {ks}.node_claim (k text PRIMARY KEY, node text)`,
	}},
}

// metaTable is created before migrations run; it records the spec and the schema version.
const metaTable = `CREATE TABLE IF NOT EXISTS {ks}.meta (k text PRIMARY KEY, id text, spec text, capacity bigint,
	created_at timestamp, schema_version int)`

const metaKey = "volume"

func cql(ks, stmt string) string {
	if !isVolumeKeyspace(ks) {
		panic("cassandra: keyspace name does not follow the naming rule: " + ks)
	}
	return strings.ReplaceAll(stmt, "{ks}", ks)
}

// migrate applies the migrations newer than the stored schema version, bumping the version (LWT) after each.
func migrate(ctx context.Context, s *gocql.Session, ks string) (int, error) {
	var cur int
	if err := s.Query(cql(ks, `SELECT schema_version FROM {ks}.meta WHERE k = ?`), metaKey).
		Consistency(gocql.LocalSerial).Idempotent(true).ScanContext(ctx, &cur); err != nil {
		return 0, fmt.Errorf("cassandra: read schema version of %s: %w", ks, err)
	}
	for _, m := range migrations {
		if m.version <= cur {
			continue
		}
		stmts := m.stmts
		if m.extra != nil {
			stmts = append(append([]string(nil), stmts...), m.extra(ks)...)
		}
		for _, st := range stmts {
			if err := s.Query(cql(ks, st)).ExecContext(ctx); err != nil {
				return cur, fmt.Errorf("cassandra: migration %d of %s: %w", m.version, ks, err)
			}
		}
		if m.version == 1 {
			if err := initVolumeRows(ctx, s, ks); err != nil {
				return cur, err
			}
		}
		var got int
		applied, err := s.Query(cql(ks, `UPDATE {ks}.meta SET schema_version = ? WHERE k = ? IF schema_version = ?`),
			m.version, metaKey, cur).ScanCASContext(ctx, &got)
		if err != nil {
			return cur, fmt.Errorf("cassandra: bump schema version of %s: %w", ks, err)
		}
		if !applied && got < m.version {
			return cur, fmt.Errorf("cassandra: schema version of %s moved concurrently to %d", ks, got)
		}
		cur = m.version
	}
	return cur, nil
}
