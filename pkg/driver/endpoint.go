package driver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// parseEndpoint splits "unix:///path/csi.sock", "unix:/path" or "tcp://host:port" into a network and an address.
func parseEndpoint(ep string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(ep, "unix://"):
		network, addr = "unix", strings.TrimPrefix(ep, "unix://")
	case strings.HasPrefix(ep, "unix:"):
		network, addr = "unix", strings.TrimPrefix(ep, "unix:")
	case strings.HasPrefix(ep, "tcp://"):
		network, addr = "tcp", strings.TrimPrefix(ep, "tcp://")
	default:
		return "", "", fmt.Errorf("endpoint %q: want unix:///path or tcp://host:port", ep)
	}
	if addr == "" {
		return "", "", fmt.Errorf("endpoint %q: empty address", ep)
	}
	return network, addr, nil
}

// listen opens the endpoint. A unix socket left behind by an earlier run is removed first; any other file at
// that path is an error, so a typo never deletes data.
func listen(ep string) (net.Listener, error) {
	network, addr, err := parseEndpoint(ep)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("endpoint %s exists and is not a socket", addr)
			}
			if err := os.Remove(addr); err != nil {
				return nil, fmt.Errorf("remove stale socket: %w", err)
			}
		}
		if err := os.MkdirAll(filepath.Dir(addr), 0o750); err != nil {
			return nil, err
		}
	}
	return net.Listen(network, addr)
}
