//go:build tools

// Package tools pins modules that the project's packages are being built on, so that go.mod and go.sum stay
// complete while several packages are written in parallel. It is never compiled.
package tools

import (
	_ "github.com/apache/cassandra-gocql-driver/v2"
	_ "github.com/container-storage-interface/spec/lib/go/csi"
	_ "github.com/go-zookeeper/zk"
	_ "github.com/hanwen/go-fuse/v2/fs"
	_ "github.com/hanwen/go-fuse/v2/posixtest"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "google.golang.org/grpc"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/mount-utils"
	_ "sigs.k8s.io/yaml"
)
