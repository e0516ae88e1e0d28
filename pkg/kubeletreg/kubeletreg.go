package kubeletreg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// SupportedVersions are the CSI spec versions the plugin offers kubelet.
var SupportedVersions = []string{"1.0.0"}

// Config says what to register.
type Config struct {
	// Dir is kubelet's plugin registry directory; the socket is Dir/<DriverName>-reg.sock.
	Dir string
	// DriverName is the CSI driver name (the plugin's GetPluginInfo name).
	DriverName string
	// Endpoint is the path of the plugin's CSI socket as kubelet sees it.
	Endpoint string
	// Logger receives the registration statuses (default slog.Default()).
	Logger *slog.Logger
}

// SocketPath is where Serve listens.
func SocketPath(dir, driverName string) string {
	return filepath.Join(dir, driverName+"-reg.sock")
}

// server implements the Registration service.
type server struct {
	registerapi.UnimplementedRegistrationServer
	cfg Config
	log *slog.Logger
}

func (s *server) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	s.log.Debug("kubelet asked for plugin info", "driver", s.cfg.DriverName, "endpoint", s.cfg.Endpoint)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.cfg.DriverName,
		Endpoint:          s.cfg.Endpoint,
		SupportedVersions: SupportedVersions,
	}, nil
}

func (s *server) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.PluginRegistered {
		s.log.Info("registered with kubelet", "driver", s.cfg.DriverName, "endpoint", s.cfg.Endpoint)
	} else {
		s.log.Error("kubelet refused the registration", "driver", s.cfg.DriverName, "endpoint", s.cfg.Endpoint,
			"err", st.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// Serve serves the Registration service on SocketPath(cfg.Dir, cfg.DriverName) until ctx ends, then removes the
// socket (kubelet deregisters the driver when it disappears). A stale socket from an earlier run is replaced.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.Dir == "" || cfg.DriverName == "" || cfg.Endpoint == "" {
		return errors.New("kubeletreg: Dir, DriverName and Endpoint are required")
	}
	if !filepath.IsAbs(cfg.Endpoint) {
		return fmt.Errorf("kubeletreg: endpoint %q is not an absolute socket path", cfg.Endpoint)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return fmt.Errorf("kubeletreg: %w", err)
	}
	path := SocketPath(cfg.Dir, cfg.DriverName)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kubeletreg: remove stale socket: %w", err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("kubeletreg: %w", err)
	}
	// Closing the listener removes the socket file (net.UnixListener unlinks on Close).
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &server{cfg: cfg, log: log})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("serving kubelet plugin registration", "socket", path, "driver", cfg.DriverName, "endpoint", cfg.Endpoint)
	select {
	case err := <-errc:
		_ = os.Remove(path)
		return fmt.Errorf("kubeletreg: %w", err)
	case <-ctx.Done():
		srv.Stop()
		_ = os.Remove(path)
		return nil
	}
}
