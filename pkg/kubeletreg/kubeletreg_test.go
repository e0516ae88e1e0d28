package kubeletreg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// syncBuffer is a log sink the server goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServe plays kubelet: it finds the socket in the registry directory, dials it, asks GetInfo and reports both
// outcomes with NotifyRegistrationStatus; after the context ends the socket is gone.
func TestServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plugins_registry")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := SocketPath(dir, "csi.cassfs.io")
	// A stale socket file from a killed plugin must not stop the next one.
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cfg := Config{Dir: dir, DriverName: "csi.cassfs.io", Endpoint: "/var/lib/kubelet/plugins/csi.cassfs.io/csi.sock",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg) }()

	var conn *grpc.ClientConn
	var info *registerapi.PluginInfo
	for i := 0; ; i++ {
		var err error
		conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		info, err = registerapi.NewRegistrationClient(conn).GetInfo(cctx, &registerapi.InfoRequest{})
		ccancel()
		if err == nil {
			break
		}
		conn.Close()
		if i == 100 {
			t.Fatalf("GetInfo: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer conn.Close()
	if info.Type != registerapi.CSIPlugin || info.Name != cfg.DriverName || info.Endpoint != cfg.Endpoint ||
		strings.Join(info.SupportedVersions, ",") != "1.0.0" {
		t.Fatalf("GetInfo = %v", info)
	}
	client := registerapi.NewRegistrationClient(conn)
	if _, err := client.NotifyRegistrationStatus(context.Background(), &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.NotifyRegistrationStatus(context.Background(),
		&registerapi.RegistrationStatus{PluginRegistered: false, Error: "no NodeGetInfo"}); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "registered with kubelet") || !strings.Contains(out, `err="no NodeGetInfo"`) {
		t.Fatalf("registration statuses not logged:\n%s", out)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{Dir: dir, DriverName: "d"},
		{Dir: dir, Endpoint: "/x.sock"},
		{DriverName: "d", Endpoint: "/x.sock"},
		{Dir: dir, DriverName: "d", Endpoint: "unix:///x.sock"},
	} {
		if err := Serve(context.Background(), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
