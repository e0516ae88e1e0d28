package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cassfs/cassfs/internal/testenv"
)

// TestServeMetrics runs "csi-driver serve" on real Cassandra, creates, stages and publishes a volume through
// CSI, does I/O through the pod's target (a bind mount of the FUSE staging mount), and checks /metrics: bytes
// per volume equal what was written and read, the FUSE requests made were counted, statements were counted,
// caches and lock waits moved, and no label carries a path or file name. After NodeUnstageVolume the volume's
// series are gone.
func TestServeMetrics(t *testing.T) {
	hosts := testenv.RequireCassandra(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "csi.sock")
	addr := serveTestFreeAddr(t)
	done := make(chan error, 1)
	go func() {
		done <- runServe([]string{"--endpoint=unix://" + sock, "--mode=all", "--node-id=metrics-test",
			"--cassandra=" + strings.Join(hosts, ","), "--state-dir=" + filepath.Join(dir, "state"),
			"--metrics-address=" + addr, "--log-level=warn"})
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		select {
		case err := <-done: // serve already returned: no handler would catch the signal
			if err != nil {
				t.Errorf("serve: %v", err)
			}
			return
		default:
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(2 * time.Minute):
			t.Error("serve did not stop on SIGTERM")
		}
	}
	t.Cleanup(stop)
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
	t.Cleanup(func() { conn.Close() })
	ctrl, node := csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	ctx := context.Background()

	vc := &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}
	// CREATE KEYSPACE may time out on a loaded machine (the plugin's 10s request timeout); CreateVolume is
	// idempotent and completes a half-created volume, so try again as external-provisioner would.
	create := &csi.CreateVolumeRequest{Name: testenv.UniqueName("metrics-"),
		VolumeCapabilities: []*csi.VolumeCapability{vc}, CapacityRange: &csi.CapacityRange{RequiredBytes: 256 << 20}}
	var cv *csi.CreateVolumeResponse
	for i := 0; ; i++ {
		if cv, err = ctrl.CreateVolume(ctx, create); err == nil {
			break
		}
		if i == 6 {
			t.Fatal(err)
		}
		t.Logf("create volume: %v", err)
		time.Sleep(5 * time.Second)
	}
	id := cv.Volume.VolumeId
	staging, target := filepath.Join(dir, "staging"), filepath.Join(dir, "target")
	published, staged := false, false
	t.Cleanup(func() {
		if published {
			_, _ = node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
		}
		if staged {
			_, _ = node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
		}
		// DROP KEYSPACE may time out on a loaded machine, and the keyspace then reads as half gone until the
		// drop has finished; DeleteVolume is idempotent, so try again as the provisioner would.
		var err error
		for i := 0; i < 12; i++ {
			if _, err = ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); err == nil {
				break
			}
			t.Logf("delete volume: %v", err)
			time.Sleep(5 * time.Second)
		}
		if err != nil {
			t.Errorf("delete volume: %v", err)
		}
	})
	if _, err := node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		VolumeCapability: vc, VolumeContext: cv.Volume.VolumeContext}); err != nil {
		t.Fatal(err)
	}
	staged = true
	if _, err := node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging,
		TargetPath: target, VolumeCapability: vc}); err != nil {
		t.Fatal(err)
	}
	published = true

	// I/O as a pod would do it: a 5 MiB file written and read back, a small file created, stat'ed and
	// unlinked, a missing name looked up, a missing xattr asked for, a blocking flock.
	const bigName, smallName, missingName = "metrics-data.bin", "metrics-small.txt", "metrics-missing"
	big := make([]byte, 5<<20+12345)
	_, _ = rand.Read(big)
	small := []byte("small file\n")
	start := time.Now()
	if err := os.WriteFile(filepath.Join(target, bigName), big, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(target, bigName))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	if err := os.WriteFile(filepath.Join(target, smallName), small, 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(target, smallName)); err != nil || fi.Size() != int64(len(small)) {
		t.Fatalf("stat: %v %v", fi, err)
	}
	if err := os.Remove(filepath.Join(target, smallName)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, missingName)); !os.IsNotExist(err) {
		t.Fatalf("stat of a missing file: %v", err)
	}
	if _, err := syscall.Getxattr(filepath.Join(target, bigName), "user.metrics-missing", make([]byte, 64)); err != syscall.ENODATA {
		t.Fatalf("getxattr of a missing attribute: %v", err)
	}
	f, err := os.Open(filepath.Join(target, bigName))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
	t.Logf("I/O took %v", time.Since(start))

	mfs := scrape(t, addr)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				if strings.Contains(v, "/") || strings.Contains(v, "metrics-data") || strings.Contains(v, "metrics-small") ||
					strings.Contains(v, "metrics-missing") || strings.Contains(v, "staging") || strings.Contains(v, "target") {
					t.Errorf("%s{%s=%q}: a label carries a path or file name", mf.GetName(), l.GetName(), v)
				}
			}
		}
	}
	vol := map[string]string{"volume": id}
	if got := value(mfs, "cassfs_volume_written_bytes_total", vol); got != float64(len(big)+len(small)) {
		t.Errorf("written bytes %v, want %d", got, len(big)+len(small))
	}
	if got := value(mfs, "cassfs_volume_read_bytes_total", vol); got != float64(len(big)) {
		t.Errorf("read bytes %v, want %d", got, len(big))
	}
	for _, op := range []string{"lookup", "create", "write", "flush", "release", "open", "read", "getattr", "unlink"} {
		if n := value(mfs, "cassfs_fuse_request_duration_seconds", map[string]string{"op": op}); n == 0 {
			t.Errorf("no FUSE %s request counted", op)
		}
	}
	if n := value(mfs, "cassfs_fuse_request_errors_total", map[string]string{"op": "lookup", "errno": "ENOENT"}); n < 1 {
		t.Errorf("lookup ENOENT errors %v, want at least 1", n)
	}
	if n := value(mfs, "cassfs_fuse_request_errors_total", map[string]string{"op": "getxattr", "errno": "ENODATA"}); n < 1 {
		t.Errorf("getxattr ENODATA errors %v, want at least 1", n)
	}
	if n := value(mfs, "cassfs_cassandra_statement_duration_seconds", map[string]string{"kind": "insert", "lwt": "true"}); n == 0 {
		t.Errorf("no conditional insert counted")
	}
	if n := value(mfs, "cassfs_cassandra_statement_duration_seconds", map[string]string{"kind": "select"}); n == 0 {
		t.Errorf("no select counted")
	}
	for _, cache := range []string{"block", "slice_list", "read_ahead"} {
		l := map[string]string{"volume": id, "cache": cache}
		hits, misses := value(mfs, "cassfs_cache_hits_total", l), value(mfs, "cassfs_cache_misses_total", l)
		t.Logf("%s cache: %v hits, %v misses", cache, hits, misses)
		if hits+misses == 0 {
			t.Errorf("no %s cache lookup counted", cache)
		}
	}
	if n := value(mfs, "cassfs_lock_wait_seconds", map[string]string{"kind": "flock", "locker": "local"}); n != 1 {
		t.Errorf("flock waits %v, want 1", n)
	}
	if n := value(mfs, "cassfs_csi_operations_total", map[string]string{"method": "NodeStageVolume", "code": "OK"}); n != 1 {
		t.Errorf("NodeStageVolume OK calls %v, want 1", n)
	}
	t.Logf("statements: %v; FUSE requests: %v", value(mfs, "cassfs_cassandra_statement_duration_seconds", nil),
		value(mfs, "cassfs_fuse_request_duration_seconds", nil))

	if _, err := node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	published = false
	if _, err := node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging}); err != nil {
		t.Fatal(err)
	}
	staged = false
	for _, mf := range scrape(t, addr) {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "volume" && l.GetValue() == id {
					t.Errorf("%s still has a series of the unstaged volume", mf.GetName())
				}
			}
		}
	}
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value sums the series of family name whose labels include want: counter values, or sample counts of
// histograms.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}
