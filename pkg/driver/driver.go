package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	mount "k8s.io/mount-utils"
)

// DefaultName is the CSI driver name of CassFS.
const DefaultName = "csi.cassfs.io"

// Config says which services the plugin runs and on what. A nil Controller or Node leaves that service out.
type Config struct {
	Name     string // CSI driver name; DefaultName if empty
	Version  string // reported by GetPluginInfo
	Endpoint string // unix:///path/csi.sock or tcp://host:port

	Controller *ControllerConfig
	Node       *NodeConfig

	// Probers are the dependencies Probe (and NodeGetStorageHealth) check, by name ("Cassandra", "ZooKeeper").
	Probers      map[string]Prober
	ProbeTimeout time.Duration // per Probe call; 5s if zero

	MetricsAddress string // host:port for /metrics; empty disables metrics
	// Registry receives the driver's CSI metrics and is what /metrics serves, so that the caller can register
	// more collectors in it (package metrics). nil: a registry of the driver's own.
	Registry *prometheus.Registry
	Logger   *slog.Logger // slog.Default() if nil
}

// ControllerConfig configures the Controller service.
type ControllerConfig struct {
	Backend VolumeBackend
}

// NodeConfig configures the Node service.
type NodeConfig struct {
	NodeID   string
	Stager   Stager
	Mounter  mount.Interface // mount.New("") if nil
	StateDir string          // where staged volumes are recorded; empty keeps them in memory only (tests)
	// PathRoot, when set, is the directory (the kubelet's, e.g. /var/lib/kubelet) below which every staging and
	// target path of a request must lie; requests for other paths get InvalidArgument. Empty: any absolute path.
	PathRoot string
}

// Driver is a configured CSI plugin, ready to Run.
type Driver struct {
	cfg        Config
	log        *slog.Logger
	identity   *identity
	controller *controller
	node       *node
	registry   *prometheus.Registry
	metrics    *metrics
}

// New checks cfg and builds the services. It reads the node state file but mounts nothing: Run does that.
func New(cfg Config) (*Driver, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Endpoint == "" {
		return nil, errors.New("driver: endpoint is required")
	}
	if cfg.Controller == nil && cfg.Node == nil {
		return nil, errors.New("driver: neither controller nor node service configured")
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	d := &Driver{cfg: cfg, log: log, registry: reg}
	d.metrics = newMetrics(d.registry)
	d.identity = &identity{name: cfg.Name, version: cfg.Version, controller: cfg.Controller != nil,
		probers: cfg.Probers, probeTimeout: cfg.ProbeTimeout, log: log}
	if c := cfg.Controller; c != nil {
		if c.Backend == nil {
			return nil, errors.New("driver: controller needs a backend")
		}
		d.controller = newController(c.Backend, log.With("service", "controller"))
	}
	if n := cfg.Node; n != nil {
		if n.NodeID == "" || n.Stager == nil {
			return nil, errors.New("driver: node needs a node ID and a stager")
		}
		m := n.Mounter
		if m == nil {
			m = mount.New("")
		}
		st, err := loadState(n.StateDir)
		if err != nil {
			return nil, fmt.Errorf("driver: %w", err)
		}
		if n.PathRoot != "" {
			if err := checkPath("path root", n.PathRoot); err != nil {
				return nil, fmt.Errorf("driver: %s", status.Convert(err).Message())
			}
		}
		d.node = newNode(n.NodeID, n.Stager, m, st, cfg.Probers, log.With("service", "node"))
		d.node.pathRoot = n.PathRoot
	}
	return d, nil
}

// Run serves the CSI services on the endpoint (and metrics, when configured) until ctx ends, then stops
// gracefully. A node plugin first starts restoring the volumes its state file lists, in the background.
func (d *Driver) Run(ctx context.Context) error {
	lis, err := listen(d.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("driver: listen: %w", err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(interceptor(d.log, d.metrics)))
	d.register(srv)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d.node != nil {
		go d.node.restore(ctx)
	}
	if d.cfg.MetricsAddress != "" {
		ml, err := net.Listen("tcp", d.cfg.MetricsAddress)
		if err != nil {
			lis.Close()
			return fmt.Errorf("driver: metrics listen: %w", err)
		}
		hs := &http.Server{Handler: promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ml) }()
		defer hs.Close()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	d.log.Info("CSI plugin serving", "name", d.cfg.Name, "version", d.cfg.Version, "endpoint", d.cfg.Endpoint,
		"controller", d.controller != nil, "node", d.node != nil)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			srv.Stop()
		}
		return nil
	}
}

// register adds the configured services to srv.
func (d *Driver) register(srv *grpc.Server) {
	csi.RegisterIdentityServer(srv, d.identity)
	if d.controller != nil {
		csi.RegisterControllerServer(srv, d.controller)
	}
	if d.node != nil {
		csi.RegisterNodeServer(srv, d.node)
	}
}
