package cassbackend

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/driver"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writers of a driver's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// liveDriver is a CassFS plugin (controller and node) served in this test process on the real Cassandra and
// ZooKeeper, reached over its unix socket like a CO reaches it, with metrics on a loopback port and every log
// line (slog at debug level, and the standard logger that gocql and go-zookeeper write to) in logs.
type liveDriver struct {
	ctrl    csi.ControllerClient
	node    csi.NodeClient
	metrics string // URL of /metrics
	logs    *syncBuffer
	dir     string // socket, state, staging and target paths
	zk      *ZooKeeper
}

func startLiveDriver(t *testing.T) *liveDriver {
	t.Helper()
	hosts := testenv.RequireCassandra(t)
	servers := testenv.RequireZooKeeper(t)
	ld := &liveDriver{logs: &syncBuffer{}, dir: t.TempDir(),
		zk: &ZooKeeper{Servers: servers, Chroot: "/" + testenv.UniqueName("cassfs-sec-")}}
	logger := slog.New(slog.NewTextHandler(ld.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	prevDefault, prevOut := slog.Default(), log.Writer()
	slog.SetDefault(logger) // after slog.Default: the standard logger now writes through logger too
	log.SetOutput(io.MultiWriter(ld.logs, prevOut))
	t.Cleanup(func() { slog.SetDefault(prevDefault); log.SetOutput(prevOut) })

	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ml.Addr().String()
	ml.Close()
	ld.metrics = "http://" + addr + "/metrics"
	pool := NewPool(cassandra.ClusterConfig{Hosts: hosts, Timeout: 30 * time.Second})
	stager := NewStager(StagerConfig{Pool: pool, ZooKeeper: ld.zk, NodeID: "sec-node", Logger: logger})
	sock := filepath.Join(ld.dir, "csi.sock")
	d, err := driver.New(driver.Config{
		Version: "security-test", Endpoint: "unix://" + sock, MetricsAddress: addr, Logger: logger,
		Controller: &driver.ControllerConfig{Backend: NewBackend(pool, ld.zk, logger)},
		Node:       &driver.NodeConfig{NodeID: "sec-node", Stager: stager, StateDir: filepath.Join(ld.dir, "state")},
		Probers:    map[string]driver.Prober{"Cassandra": CassandraProber{Pool: pool}, "ZooKeeper": ZooKeeperProber{ZK: ld.zk}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
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
	ld.ctrl, ld.node = csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("driver: %v", err)
		}
		if err := stager.Close(); err != nil {
			t.Errorf("stager: %v", err)
		}
		pool.Close()
		testenv.DeleteZKTree(t, servers, ld.zk.Chroot)
	})
	return ld
}

func (ld *liveDriver) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(ld.metrics)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func multiWriter() *csi.VolumeCapability {
	return &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}
}

// TestSecretsNeverLeak runs a full CSI cycle (create, stage, publish, write, stats, expand, unpublish, unstage,
// delete) on the real servers with distinctive values in the provisioner and node-stage secrets (Cassandra login
// and ZooKeeper digest: the volume is multi-node, so its locks live in ZooKeeper under that digest), plus requests
// that fail with those secrets in them, and checks that no secret value appears in the logs (the driver's slog at
// debug level and the standard logger), in any gRPC error message, or in a /metrics scrape.
func TestSecretsNeverLeak(t *testing.T) {
	ld := startLiveDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tag := randomHex(t, 6)
	secrets := map[string]string{
		driver.SecretUsername:        "secuser" + tag,
		driver.SecretPassword:        "pw-SECRET-" + tag,
		driver.SecretZooKeeperDigest: "zkuser" + tag + ":zkpw-SECRET-" + tag,
	}
	values := []string{secrets[driver.SecretUsername], secrets[driver.SecretPassword], "zkpw-SECRET-" + tag,
		secrets[driver.SecretZooKeeperDigest]}
	var errs []string
	call := func(what string, err error, wantOK bool) {
		t.Helper()
		if err != nil {
			errs = append(errs, what+": "+status.Convert(err).Message())
		}
		if wantOK && err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !wantOK && err == nil {
			t.Fatalf("%s succeeded", what)
		}
	}

	name := "pvc-secrets-" + tag
	cv, err := ld.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, Secrets: secrets,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 16 << 20}, VolumeCapabilities: []*csi.VolumeCapability{multiWriter()},
		Parameters: map[string]string{"replicationFactor": "1"}})
	call("create", err, true)
	id := cv.GetVolume().GetVolumeId()
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_, err := ld.ctrl.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: secrets})
			if err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	staging, target := filepath.Join(ld.dir, "staging"), filepath.Join(ld.dir, "target")
	_, err = ld.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		VolumeCapability: multiWriter(), Secrets: secrets, VolumeContext: cv.GetVolume().GetVolumeContext()})
	call("stage", err, true)
	_, err = ld.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		TargetPath: target, VolumeCapability: multiWriter()})
	call("publish", err, true)
	if err := os.WriteFile(filepath.Join(target, "f"), bytes.Repeat([]byte("x"), 100<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(target, "locked"))
	if err != nil {
		t.Fatal(err)
	}
	// A POSIX lock of a multi-node volume goes through ZooKeeper with the digest of the node-stage secret.
	if err := lockFile(f); err != nil {
		t.Fatalf("fcntl lock: %v", err)
	}
	f.Close()
	_, err = ld.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: id, VolumePath: target})
	call("stats", err, true)
	_, err = ld.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id, Secrets: secrets,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 32 << 20}})
	call("expand", err, true)
	_, err = ld.ctrl.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: id, Secrets: secrets,
		VolumeCapabilities: []*csi.VolumeCapability{multiWriter()}})
	call("validate", err, true)

	// Requests that fail with the secrets in them.
	_, err = ld.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name + "-x",
		Secrets:            map[string]string{driver.SecretPassword: secrets[driver.SecretPassword]},
		VolumeCapabilities: []*csi.VolumeCapability{multiWriter()}})
	call("create with a password and no username", err, false)
	_, err = ld.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, Secrets: secrets,
		VolumeCapabilities: []*csi.VolumeCapability{multiWriter()}, Parameters: map[string]string{"replicationFactor": "3"}})
	call("incompatible create", err, false)
	_, err = ld.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging + "2",
		VolumeCapability: multiWriter(), Secrets: map[string]string{driver.SecretZooKeeperDigest: "no-colon-" + secrets[driver.SecretPassword]}})
	call("stage with a malformed digest", err, false)
	_, err = ld.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id + "-missing", Secrets: secrets,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 1}})
	call("expand of a missing volume", err, false)

	_, err = ld.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
	call("unpublish", err, true)
	_, err = ld.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
	call("unstage", err, true)
	_, err = ld.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: secrets})
	call("delete", err, true)
	deleted = true

	logs, metrics := ld.logs.String(), ld.scrape(t)
	for _, where := range []struct{ name, text string }{
		{"logs", logs}, {"gRPC errors", strings.Join(errs, "\n")}, {"metrics", metrics},
	} {
		for _, v := range values {
			if i := strings.Index(where.text, v); i >= 0 {
				t.Errorf("a secret value appears in the %s: ...%s...", where.name, where.text[max(0, i-200):min(len(where.text), i+len(v)+50)])
			}
		}
	}
	// The scan looked at something: the logs name the calls, the errors and metrics are there.
	if !strings.Contains(logs, "NodeStageVolume") || !strings.Contains(logs, id) ||
		len(errs) != 4 || !strings.Contains(metrics, "cassfs_csi_operations_total") {
		t.Fatalf("nothing to scan: %d log bytes, errors %q, %d metrics bytes", len(logs), errs, len(metrics))
	}
	t.Logf("scanned %d log bytes, %d gRPC errors, %d metrics bytes for %d secret values", len(logs), len(errs), len(metrics), len(values))
}

// lockFile takes a POSIX write lock on the whole of f (and lets go when f is closed).
func lockFile(f *os.File) error {
	return syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0})
}
