package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/cassfs/cassfs/internal/testenv"
)

func TestParseServeFlags(t *testing.T) {
	f, err := parseServeFlags([]string{"--mode=node", "--cassandra=a, b", "--zookeeper=z:2181"})
	if err != nil {
		t.Fatal(err)
	}
	if f.mode != "node" || f.endpoint != "unix:///csi/csi.sock" || f.driverName != "csi.cassfs.io" {
		t.Fatalf("flags %+v", f)
	}
	if got := splitList(f.cassandraHosts); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("hosts %q", got)
	}
	f, err = parseServeFlags([]string{"--mode=node", "--endpoint=unix:///p/csi.sock", "--kubelet-registration-dir=/r"})
	if err != nil || f.registrationPath != "/p/csi.sock" {
		t.Fatalf("registration path %q, %v", f.registrationPath, err)
	}
	for _, bad := range [][]string{{"--mode=both"}, {"--no-such-flag"}, {"stray"},
		{"--mode=controller", "--kubelet-registration-dir=/r"}, {"--endpoint=tcp://127.0.0.1:1", "--kubelet-registration-dir=/r"}} {
		if _, err := parseServeFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestServe runs "csi-driver serve" against the real servers: the plugin answers on its socket with the
// binary's version, is ready, serves metrics, and stops cleanly on SIGTERM.
func TestServe(t *testing.T) {
	hosts := testenv.RequireCassandra(t)
	zk := testenv.RequireZooKeeper(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "csi.sock")
	metrics := serveTestFreeAddr(t)
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("unused\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- runServe([]string{"--endpoint=unix://" + sock, "--mode=all", "--node-id=serve-test",
			"--cassandra=" + strings.Join(hosts, ","), "--cassandra-password-file=" + pw, "--zookeeper=" + strings.Join(zk, ","),
			"--state-dir=" + filepath.Join(dir, "state"), "--metrics-address=" + metrics, "--log-level=warn",
			"--kubelet-registration-dir=" + filepath.Join(dir, "registry")})
	}()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id := csi.NewIdentityClient(conn)
	ctx := context.Background()
	info, err := id.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil || info.Name != "csi.cassfs.io" || info.VendorVersion != version {
		t.Fatalf("plugin info %v %v", info, err)
	}
	probe, err := id.Probe(ctx, &csi.ProbeRequest{})
	if err != nil || !probe.Ready.GetValue() {
		t.Fatalf("probe %v %v", probe, err)
	}
	node, err := csi.NewNodeClient(conn).NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil || node.NodeId != "serve-test" {
		t.Fatalf("node info %v %v", node, err)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `cassfs_csi_operations_total{code="OK",method="GetPluginInfo"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
	// Kubelet's half of the registration: the socket in the registry names the plugin's CSI socket.
	regSock := filepath.Join(dir, "registry", "csi.cassfs.io-reg.sock")
	var reg *registerapi.PluginInfo
	for i := 0; ; i++ {
		rc, err := grpc.NewClient("unix://"+regSock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		reg, err = registerapi.NewRegistrationClient(rc).GetInfo(ctx, &registerapi.InfoRequest{})
		rc.Close()
		if err == nil {
			break
		}
		if i == 200 {
			t.Fatalf("registration GetInfo: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if reg.Type != registerapi.CSIPlugin || reg.Name != "csi.cassfs.io" || reg.Endpoint != sock {
		t.Fatalf("registration info %v", reg)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
		if _, err := os.Stat(regSock); !os.IsNotExist(err) {
			t.Fatalf("registration socket left behind: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

func serveTestFreeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
