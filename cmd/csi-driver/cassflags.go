package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cassfs/cassfs/pkg/cassandra"
)

// cassFlags are the Cassandra connection flags of the commands that open one volume directly (mount, fsck).
type cassFlags struct {
	cassandraHosts, cassandraUser, pwFile string
}

func (c *cassFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.cassandraHosts, "cassandra", "127.0.0.1", "Cassandra contact points, comma-separated")
	fs.StringVar(&c.cassandraUser, "cassandra-username", "", "Cassandra user")
	fs.StringVar(&c.pwFile, "cassandra-password-file", "", "file holding the Cassandra password")
}

// clusterConfig returns the connection settings, with the password read from its file.
func (c *cassFlags) clusterConfig() (cassandra.ClusterConfig, error) {
	cfg := cassandra.ClusterConfig{Hosts: splitList(c.cassandraHosts), Username: c.cassandraUser}
	if c.pwFile != "" {
		pw, err := os.ReadFile(c.pwFile)
		if err != nil {
			return cfg, fmt.Errorf("--cassandra-password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(pw), "\r\n")
	}
	return cfg, nil
}

// connect opens a cluster session with these settings; the caller closes it.
func (c *cassFlags) connect(ctx context.Context) (*cassandra.Cluster, error) {
	cfg, err := c.clusterConfig()
	if err != nil {
		return nil, err
	}
	return cassandra.Connect(ctx, cfg)
}
