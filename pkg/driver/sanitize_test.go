package driver

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
)

func TestStripSecrets(t *testing.T) {
	req := &csi.NodeStageVolumeRequest{VolumeId: "v", Secrets: map[string]string{"password": "hunter2"},
		VolumeContext: map[string]string{"k": "visible"}}
	got := stripSecrets(req).(*csi.NodeStageVolumeRequest)
	if got.Secrets["password"] != redacted || got.VolumeContext["k"] != "visible" || got.VolumeId != "v" {
		t.Fatalf("stripped %v", got)
	}
	if req.Secrets["password"] != "hunter2" {
		t.Fatal("the request itself was changed")
	}
	// Nested: the secrets of a message inside a message.
	vs := &csi.ValidateVolumeCapabilitiesRequest{Secrets: map[string]string{"a": "b"}}
	if stripSecrets(vs).(*csi.ValidateVolumeCapabilitiesRequest).Secrets["a"] != redacted {
		t.Fatal("not stripped")
	}
	if stripSecrets("plain") != "plain" {
		t.Fatal("non-proto value changed")
	}
}

func TestInterceptorLogsWithoutSecrets(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ic := interceptor(log, newMetrics(nil))
	req := &csi.CreateVolumeRequest{Name: "pvc-1", Secrets: map[string]string{"password": "hunter2"}}
	_, err := ic(context.Background(), req, &grpc.UnaryServerInfo{FullMethod: "/csi.v1.Controller/CreateVolume"},
		func(ctx context.Context, r any) (any, error) { return &csi.CreateVolumeResponse{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "pvc-1") || !strings.Contains(out, "CreateVolume") {
		t.Fatalf("log: %s", out)
	}
}
