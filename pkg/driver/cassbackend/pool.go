package cassbackend

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/go-zookeeper/zk"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
)

// Pool holds Cassandra connections, one per set of credentials. It is safe for concurrent use.
type Pool struct {
	base cassandra.ClusterConfig // hosts, TLS and the default credentials

	mu       sync.Mutex
	clusters map[[32]byte]*cassandra.Cluster
	closed   bool
}

// NewPool returns a Pool that connects with base, replacing its username and password by those of a request
// when the request carries them.
func NewPool(base cassandra.ClusterConfig) *Pool {
	return &Pool{base: base, clusters: make(map[[32]byte]*cassandra.Cluster)}
}

// Get returns the connection for cred (the defaults when cred has no username), connecting on first use.
// Connection failures wrap driver.ErrUnavailable (or driver.ErrUnauthorized when Cassandra refused the login)
// and are not cached.
func (p *Pool) Get(ctx context.Context, cred driver.Credentials) (*cassandra.Cluster, error) {
	cfg := p.base
	if cred.Username != "" {
		cfg.Username, cfg.Password = cred.Username, cred.Password
	}
	key := sha256.Sum256([]byte(cfg.Username + "\x00" + cfg.Password))
	p.mu.Lock()
	defer p.mu.Unlock() // connecting under the lock keeps one connection per key; connects are rare
	if p.closed {
		return nil, fmt.Errorf("%w: connection pool closed", driver.ErrUnavailable)
	}
	if c, ok := p.clusters[key]; ok {
		return c, nil
	}
	c, err := cassandra.Connect(ctx, cfg)
	if err != nil {
		return nil, connectError(err)
	}
	p.clusters[key] = c
	return c, nil
}

// connectError classifies a failed Connect. gocql reports a refused login only in its message.
func connectError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", driver.ErrUnavailable, err)
	}
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "authentication") || strings.Contains(msg, "username") || strings.Contains(msg, "credentials") {
		return fmt.Errorf("%w: %v", driver.ErrUnauthorized, err)
	}
	return fmt.Errorf("%w: %v", driver.ErrUnavailable, err)
}

// Close closes every connection; volumes opened from them stop working.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clusters {
		c.Close()
		delete(p.clusters, k)
	}
	p.closed = true
}

// mapErr maps a pkg/cassandra error to the sentinels of pkg/driver.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cassandra.ErrVolumeNotFound):
		return fmt.Errorf("%w: %v", driver.ErrNotFound, err)
	case errors.Is(err, cassandra.ErrVolumeExists):
		return fmt.Errorf("%w: %v", driver.ErrExists, err)
	case errors.Is(err, cassandra.ErrInvalidParameter):
		return fmt.Errorf("%w: %v", driver.ErrInvalid, err)
	}
	var re gocql.RequestError
	if errors.As(err, &re) {
		switch re.Code() {
		case gocql.ErrCodeUnauthorized: // logged in, but the role lacks a permission on the volume's keyspace
			return fmt.Errorf("%w: %v", driver.ErrPermissionDenied, err)
		case gocql.ErrCodeCredentials:
			return fmt.Errorf("%w: %v", driver.ErrUnauthorized, err)
		}
	}
	return err
}

// zkErr classifies a failure to set up a volume's ZooKeeper locks: a digest that the volume's ACL does not name
// (or that the server refused) is ErrPermissionDenied, anything else ErrUnavailable.
func zkErr(err error) error {
	if errors.Is(err, zk.ErrNoAuth) || errors.Is(err, zk.ErrAuthFailed) {
		return fmt.Errorf("%w: zookeeper: %v", driver.ErrPermissionDenied, err)
	}
	return fmt.Errorf("%w: zookeeper: %v", driver.ErrUnavailable, err)
}
