package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
	"github.com/cassfs/cassfs/pkg/driver/cassbackend"
	"github.com/cassfs/cassfs/pkg/fdkeeper"
	"github.com/cassfs/cassfs/pkg/kubeletreg"
	"github.com/cassfs/cassfs/pkg/metrics"
)

// serveFlags are the flags of "csi-driver serve".
type serveFlags struct {
	endpoint, mode, nodeID, driverName    string
	cassandraHosts, cassandraUser, pwFile string
	cassandraPort                         int
	localDC, caFile, certFile, keyFile    string
	insecureTLS                           bool
	zookeeper, zkChroot                   string
	stateDir, metricsAddress, logLevel    string
	fdkeeper                              string
	kubeletDir                            string
	registrationDir, registrationPath     string
	cacheBytes                            int64
}

func parseServeFlags(args []string) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.endpoint, "endpoint", "unix:///csi/csi.sock", "CSI endpoint: unix:///path or tcp://host:port")
	fs.StringVar(&f.mode, "mode", "all", "services to run: controller, node or all")
	fs.StringVar(&f.nodeID, "node-id", "", "this node's ID (node mode; default: the host name)")
	fs.StringVar(&f.driverName, "driver-name", driver.DefaultName, "CSI driver name")
	fs.StringVar(&f.cassandraHosts, "cassandra", "127.0.0.1", "Cassandra contact points, comma-separated")
	fs.IntVar(&f.cassandraPort, "cassandra-port", 9042, "Cassandra native protocol port")
	fs.StringVar(&f.cassandraUser, "cassandra-username", "", "default Cassandra user (a request's secrets override it)")
	fs.StringVar(&f.pwFile, "cassandra-password-file", "", "file holding the default Cassandra password")
	fs.StringVar(&f.localDC, "cassandra-local-dc", "", "prefer this Cassandra datacenter")
	fs.StringVar(&f.caFile, "cassandra-ca-file", "", "TLS: CA bundle for Cassandra")
	fs.StringVar(&f.certFile, "cassandra-cert-file", "", "TLS: client certificate")
	fs.StringVar(&f.keyFile, "cassandra-key-file", "", "TLS: client key")
	fs.BoolVar(&f.insecureTLS, "cassandra-tls-insecure-skip-verify", false, "TLS without verifying Cassandra's certificate")
	fs.StringVar(&f.zookeeper, "zookeeper", "", "ZooKeeper servers host:port, comma-separated (needed for volumes written from several nodes)")
	fs.StringVar(&f.zkChroot, "zookeeper-chroot", "/cassfs", "ZooKeeper root znode of this deployment")
	fs.StringVar(&f.stateDir, "state-dir", "/var/lib/cassfs-csi", "node: where staged volumes are recorded (survives plugin restarts)")
	fs.StringVar(&f.fdkeeper, "fdkeeper-socket", "", "node: socket of the csi-driver fdkeeper beside the plugin: mounts survive plugin restarts (empty: off)")
	fs.StringVar(&f.kubeletDir, "kubelet-dir", "", "node: refuse staging and target paths outside this directory (empty: any absolute path)")
	fs.StringVar(&f.registrationDir, "kubelet-registration-dir", "", "node: register with kubelet directly by serving its plugin registration API on DIR/<driver-name>-reg.sock (DIR is kubelet's plugins_registry; empty: off, the node-driver-registrar sidecar registers)")
	fs.StringVar(&f.registrationPath, "kubelet-registration-path", "", "node: the CSI socket path kubelet is told to use (default: the path of --endpoint)")
	fs.StringVar(&f.metricsAddress, "metrics-address", "", "host:port to serve Prometheus metrics on (empty: off)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Int64Var(&f.cacheBytes, "cache-bytes", 64<<20, "node: read cache per mounted volume, in bytes")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch f.mode {
	case "controller", "node", "all":
	default:
		return f, fmt.Errorf("--mode %q: want controller, node or all", f.mode)
	}
	if f.registrationDir != "" {
		if f.mode == "controller" {
			return f, errors.New("--kubelet-registration-dir needs --mode node or all")
		}
		if f.registrationPath == "" {
			if !strings.HasPrefix(f.endpoint, "unix://") {
				return f, errors.New("--kubelet-registration-dir needs a unix:// --endpoint or --kubelet-registration-path")
			}
			f.registrationPath = strings.TrimPrefix(f.endpoint, "unix://")
		}
	}
	return f, nil
}

// runServe turns flags into a driver.Config and runs the plugin until SIGINT or SIGTERM.
func runServe(args []string) error {
	f, err := parseServeFlags(args)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	password := ""
	if f.pwFile != "" {
		b, err := os.ReadFile(f.pwFile)
		if err != nil {
			return fmt.Errorf("--cassandra-password-file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	reg := prometheus.NewRegistry()
	var m *metrics.Metrics
	cluster := cassandra.ClusterConfig{
		Hosts: splitList(f.cassandraHosts), Port: f.cassandraPort, Username: f.cassandraUser, Password: password,
		CAFile: f.caFile, CertFile: f.certFile, KeyFile: f.keyFile, InsecureSkipVerify: f.insecureTLS, LocalDC: f.localDC,
	}
	if f.metricsAddress != "" {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m = metrics.New(reg)
		cluster.QueryObserver, cluster.BatchObserver = m.Statements(), m.Statements()
	}
	pool := cassbackend.NewPool(cluster)
	defer pool.Close()
	probers := map[string]driver.Prober{"Cassandra": cassbackend.CassandraProber{Pool: pool}}
	var zk *cassbackend.ZooKeeper
	if f.zookeeper != "" {
		zk = &cassbackend.ZooKeeper{Servers: splitList(f.zookeeper), Chroot: f.zkChroot}
		probers["ZooKeeper"] = cassbackend.ZooKeeperProber{ZK: zk}
	}

	cfg := driver.Config{Name: f.driverName, Version: version, Endpoint: f.endpoint, Probers: probers,
		MetricsAddress: f.metricsAddress, Registry: reg, Logger: log}
	if f.mode != "node" {
		cfg.Controller = &driver.ControllerConfig{Backend: cassbackend.NewBackend(pool, zk, log)}
	}
	var stager *cassbackend.Stager
	if f.mode != "controller" {
		if f.nodeID == "" {
			if f.nodeID, err = os.Hostname(); err != nil {
				return fmt.Errorf("--node-id not given and no host name: %w", err)
			}
		}
		sc := cassbackend.StagerConfig{Pool: pool, ZooKeeper: zk, NodeID: f.nodeID, CacheBytes: f.cacheBytes,
			Metrics: m, Logger: log}
		if f.fdkeeper != "" {
			sc.Keeper = fdkeeper.NewClient(f.fdkeeper)
		}
		stager = cassbackend.NewStager(sc)
		cfg.Node = &driver.NodeConfig{NodeID: f.nodeID, Stager: stager, StateDir: f.stateDir, PathRoot: f.kubeletDir}
	}
	d, err := driver.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var regDone chan error
	if f.registrationDir != "" {
		regDone = make(chan error, 1)
		go func() {
			// Offer the plugin to kubelet only once the CSI socket answers: kubelet calls NodeGetInfo right away.
			if err := waitForSocket(ctx, f.endpoint); err != nil {
				regDone <- nil
				return
			}
			err := kubeletreg.Serve(ctx, kubeletreg.Config{Dir: f.registrationDir, DriverName: f.driverName,
				Endpoint: f.registrationPath, Logger: log})
			if err != nil {
				log.Error("kubelet registration stopped: stopping the plugin", "err", err)
				stop()
			}
			regDone <- err
		}()
	}
	runErr := d.Run(ctx)
	if regDone != nil {
		stop() // Run may have ended on its own: withdraw the registration too
		if err := <-regDone; err != nil && runErr == nil {
			runErr = err
		}
	}
	if stager != nil {
		// Write back buffered data before the process (and with it every FUSE server) goes away. With a keeper
		// the mounts stay for the next start to resume (Leave). Without, they are unmounted and the node state
		// keeps the staged volumes, so the next start mounts them again; a staging mount that pods still use
		// through bind mounts cannot finish unmounting: after writing back, give up within the grace period.
		done := make(chan error, 1)
		go func() { done <- stager.Leave() }()
		select {
		case err := <-done:
			if err != nil {
				log.Warn("shutdown: unstaging failed", "err", err)
			}
		case <-time.After(20 * time.Second):
			log.Warn("shutdown: unstaging did not finish in 20s (volumes still published)")
		}
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

// waitForSocket waits until the unix socket of endpoint accepts connections, or ctx ends.
func waitForSocket(ctx context.Context, endpoint string) error {
	path := strings.TrimPrefix(endpoint, "unix://")
	if path == endpoint {
		return nil // tcp://: nothing to wait for on the file system
	}
	for {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
