package cassandra

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ClusterConfig says how to reach Cassandra. Password is never logged.
type ClusterConfig struct {
	Hosts              []string
	Port               int // default 9042
	Username, Password string
	CAFile             string // TLS: CA bundle; any of CAFile, CertFile or InsecureSkipVerify enables TLS
	CertFile, KeyFile  string // TLS client certificate
	InsecureSkipVerify bool
	LocalDC            string        // prefer this datacenter's nodes (token-aware inside it)
	Timeout            time.Duration // per request; default 10s
	// QueryObserver and BatchObserver, if set, see every statement and batch the session runs (each attempt),
	// for metrics. They run on the request path and must be cheap.
	QueryObserver gocql.QueryObserver
	BatchObserver gocql.BatchObserver
}

// Cluster is a connection to Cassandra: one gocql session shared by provisioning and every open volume.
type Cluster struct {
	cfg     ClusterConfig
	session *gocql.Session
}

// Connect opens the session. It fails if no host answers.
func Connect(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("cassandra: no hosts")
	}
	cc := gocql.NewCluster(cfg.Hosts...)
	if cfg.Port != 0 {
		cc.Port = cfg.Port
	}
	cc.Timeout = cfg.Timeout
	if cc.Timeout == 0 {
		cc.Timeout = 10 * time.Second
	}
	cc.ConnectTimeout = cc.Timeout
	cc.WriteTimeout = cc.Timeout
	cc.Consistency = gocql.LocalQuorum
	cc.SerialConsistency = gocql.LocalSerial
	cc.QueryObserver, cc.BatchObserver = cfg.QueryObserver, cfg.BatchObserver
	// Statements marked idempotent are retried on the next node when a node fails them (faults.go); the others
	// (lightweight transactions, counters) never are: their callers handle an unknown outcome.
	cc.RetryPolicy = newRetryPolicy()
	cc.DefaultIdempotence = false
	if cfg.LocalDC != "" {
		cc.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(cfg.LocalDC))
	} else {
		cc.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	}
	if cfg.Username != "" {
		cc.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.InsecureSkipVerify {
		cc.SslOpts = &gocql.SslOptions{
			Config:                 &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify, MinVersion: tls.VersionTLS12},
			CaPath:                 cfg.CAFile,
			CertPath:               cfg.CertFile,
			KeyPath:                cfg.KeyFile,
			EnableHostVerification: !cfg.InsecureSkipVerify,
		}
	}
	type result struct {
		s   *gocql.Session
		err error
	}
	ch := make(chan result, 1)
	go func() { s, err := cc.CreateSession(); ch <- result{s, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("cassandra: connect to %v: %w", cfg.Hosts, r.err)
		}
		return &Cluster{cfg: cfg, session: r.s}, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Close closes the session; volumes opened from the Cluster stop working.
func (c *Cluster) Close() { c.session.Close() }

// Ping checks that a node answers a query.
func (c *Cluster) Ping(ctx context.Context) error {
	var v string
	if err := c.session.Query(`SELECT release_version FROM system.local`).
		Consistency(gocql.One).Idempotent(true).ScanContext(ctx, &v); err != nil {
		return fmt.Errorf("cassandra: ping: %w", err)
	}
	return nil
}

// Session returns the underlying gocql session (for tools and tests; do not close it).
func (c *Cluster) Session() *gocql.Session { return c.session }
