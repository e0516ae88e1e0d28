package driver

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// metrics counts and times CSI calls by method and gRPC code.
type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cassfs", Subsystem: "csi", Name: "operations_total",
			Help: "CSI calls by method and gRPC status code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cassfs", Subsystem: "csi", Name: "operation_duration_seconds",
			Help:    "Duration of CSI calls by method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"method"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.duration)
	}
	return m
}

// polled are the calls COs and sidecars repeat on a timer; they are logged at debug level.
var polled = map[string]bool{
	"Probe": true, "GetPluginInfo": true, "GetPluginCapabilities": true, "NodeGetCapabilities": true,
	"ControllerGetCapabilities": true, "NodeGetVolumeStats": true, "NodeGetVolumeHealth": true, "NodeGetStorageHealth": true,
}

// interceptor logs every call with its secrets stripped (polled calls at debug level) and records metrics.
func interceptor(log *slog.Logger, m *metrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
		level := slog.LevelInfo
		if polled[method] {
			level = slog.LevelDebug
		}
		log.Log(ctx, level, "call", "method", method, "request", stripSecrets(req))
		start := time.Now()
		resp, err := handler(ctx, req)
		code := status.Code(err)
		m.calls.WithLabelValues(method, code.String()).Inc()
		m.duration.WithLabelValues(method).Observe(time.Since(start).Seconds())
		if err != nil {
			log.Log(ctx, max(level, slog.LevelWarn), "call failed", "method", method, "code", code.String(), "err", status.Convert(err).Message())
		} else {
			log.Log(ctx, level-4, "call done", "method", method, "response", stripSecrets(resp))
		}
		return resp, err
	}
}
