package driver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestIdentity(t *testing.T) {
	up := ProberFunc(func(context.Context) error { return nil })
	down := ProberFunc(func(context.Context) error { return errors.New("connection refused") })
	id := &identity{name: DefaultName, version: "v9", controller: true, probers: map[string]Prober{"Cassandra": up},
		probeTimeout: time.Second, log: quietLog()}
	ctx := context.Background()
	info, err := id.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	wantCode(t, err, codes.OK)
	if info.Name != "csi.cassfs.io" || info.VendorVersion != "v9" {
		t.Fatalf("info %v", info)
	}
	caps, err := id.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	wantCode(t, err, codes.OK)
	var controller, online bool
	for _, c := range caps.Capabilities {
		controller = controller || c.GetService().GetType() == csi.PluginCapability_Service_CONTROLLER_SERVICE
		online = online || c.GetVolumeExpansion().GetType() == csi.PluginCapability_VolumeExpansion_ONLINE
	}
	if !controller || !online {
		t.Fatalf("capabilities %v", caps)
	}
	id.controller = false
	caps, _ = id.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	for _, c := range caps.Capabilities {
		if c.GetService() != nil {
			t.Fatal("node-only plugin advertises the controller service")
		}
	}

	p, err := id.Probe(ctx, &csi.ProbeRequest{})
	wantCode(t, err, codes.OK)
	if !p.Ready.GetValue() {
		t.Fatal("not ready with every dependency up")
	}
	id.probers["ZooKeeper"] = down
	p, err = id.Probe(ctx, &csi.ProbeRequest{})
	wantCode(t, err, codes.OK)
	if p.Ready.GetValue() {
		t.Fatal("ready with ZooKeeper down")
	}
}

func TestInterceptorMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	ic := interceptor(quietLog(), m)
	info := &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Node/NodeStageVolume"}
	ok := func(context.Context, any) (any, error) { return &csi.NodeStageVolumeResponse{}, nil }
	busy := func(context.Context, any) (any, error) { return nil, status.Error(codes.Aborted, "busy") }
	for _, h := range []grpc.UnaryHandler{ok, ok, busy} {
		_, _ = ic(context.Background(), &csi.NodeStageVolumeRequest{}, info, h)
	}
	counter := func(code string) float64 {
		var d dto.Metric
		if err := m.calls.WithLabelValues("NodeStageVolume", code).Write(&d); err != nil {
			t.Fatal(err)
		}
		return d.GetCounter().GetValue()
	}
	if got := counter("OK"); got != 2 {
		t.Fatalf("OK calls %v", got)
	}
	if got := counter("Aborted"); got != 1 {
		t.Fatalf("Aborted calls %v", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "cassfs_csi_operation_duration_seconds" && f.GetMetric()[0].GetHistogram().GetSampleCount() != 3 {
			t.Fatalf("duration histogram %v", f)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no endpoint":   {Controller: &ControllerConfig{Backend: newFakeBackend()}},
		"no service":    {Endpoint: "unix:///tmp/x.sock"},
		"no backend":    {Endpoint: "unix:///tmp/x.sock", Controller: &ControllerConfig{}},
		"no node id":    {Endpoint: "unix:///tmp/x.sock", Node: &NodeConfig{Stager: newFakeStager(newFakeMounter())}},
		"no stager":     {Endpoint: "unix:///tmp/x.sock", Node: &NodeConfig{NodeID: "n"}},
		"bad state dir": {Endpoint: "unix:///tmp/x.sock", Node: &NodeConfig{NodeID: "n", Stager: newFakeStager(newFakeMounter()), StateDir: "/proc/no/such"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
