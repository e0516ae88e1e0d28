package cassandra

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ErrClaimed is returned by ClaimNode when another node holds the volume's claim.
var ErrClaimed = errors.New("cassandra: volume is claimed by another node")

// ClaimNode makes node the one node that may mount the volume writable while it is a single-node volume
// (ReadWriteOnce, ReadWriteOncePod): kubelet does not stop a second node from staging such a volume when the
// driver needs no attach, and two nodes writing with locks local to each would break the filesystem's
// invariants. The claim lasts ttl; the holder renews it by calling ClaimNode again before it runs out, which
// also makes the call idempotent (a node re-staging, or restarted with the same name, keeps its claim). A claim
// held by another node gives ErrClaimed naming that node; a dead holder's claim is free once its ttl has passed.
// ttl is rounded up to whole seconds (Cassandra's TTL unit).
//
// The claim is one LWT row (insert IF NOT EXISTS, renew IF node = ?). An LWT whose outcome is unknown is resolved
// by reading the row back through Paxos.
func (v *Volume) ClaimNode(ctx context.Context, node string, ttl time.Duration) error {
	if node == "" {
		return fmt.Errorf("%w: empty node name", ErrInvalidParameter)
	}
	secs := int((ttl + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	for attempt := 0; attempt < 3; attempt++ {
		row := map[string]any{}
		applied, err := v.q(`INSERT INTO {ks}.node_claim (k, node) VALUES ('node', ?) IF NOT EXISTS USING TTL ?`,
			node, secs).WithContext(ctx).MapScanCAS(row)
		if err == nil && applied {
			return nil
		}
		if err != nil {
			return v.claimReadBack(ctx, node, err)
		}
		if holder, _ := row["node"].(string); holder != node {
			return fmt.Errorf("%w: held by node %q", ErrClaimed, holder)
		}
		row = map[string]any{}
		applied, err = v.q(`UPDATE {ks}.node_claim USING TTL ? SET node = ? WHERE k = 'node' IF node = ?`,
			secs, node, node).WithContext(ctx).MapScanCAS(row)
		if err != nil {
			return v.claimReadBack(ctx, node, err)
		}
		if applied {
			return nil
		}
		// The claim expired or moved between the two statements: start again.
	}
	return fmt.Errorf("cassandra: claim of %s for node %q kept changing", v.ks, node)
}

// claimReadBack resolves an LWT of ClaimNode that failed with err: if the row names node, the write applied.
func (v *Volume) claimReadBack(ctx context.Context, node string, err error) error {
	var holder string
	rerr := v.qs(`SELECT node FROM {ks}.node_claim WHERE k = 'node'`).WithContext(ctx).Scan(&holder)
	if rerr == nil && holder == node {
		return nil
	}
	if rerr == nil {
		return fmt.Errorf("cassandra: claim volume %s: %w", v.ks, err)
	}
	if errors.Is(rerr, gocql.ErrNotFound) {
		return fmt.Errorf("cassandra: claim volume %s: %w", v.ks, err)
	}
	return fmt.Errorf("cassandra: claim volume %s: %w (read back: %v)", v.ks, err, rerr)
}

// ReleaseNode gives up node's claim (ClaimNode), if it holds it. Releasing a claim that is not held, or held
// by another node, does nothing.
func (v *Volume) ReleaseNode(ctx context.Context, node string) error {
	if _, err := v.q(`DELETE FROM {ks}.node_claim WHERE k = 'node' IF node = ?`, node).WithContext(ctx).MapScanCAS(map[string]any{}); err != nil {
		return fmt.Errorf("cassandra: release claim of %s: %w", v.ks, err)
	}
	return nil
}
