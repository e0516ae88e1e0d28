package chart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvalidValuesFail: values.schema.json (and the templates' own checks) turn wrong values into an install
// error. Each case is a complete values file; the valid control case proves the failures come from the
// mutation, not from the harness.
func TestInvalidValuesFail(t *testing.T) {
	const sc = "storageClasses:\n  - name: fast\n"
	cases := []struct {
		name, values, wantErr string
		valid                 bool
	}{
		{name: "valid control", values: sc + "    replicationFactor: 3\n", valid: true},
		{name: "string replicationFactor", values: sc + "    replicationFactor: \"3\"\n", wantErr: "replicationFactor"},
		{name: "replicationFactor out of range", values: sc + "    replicationFactor: 17\n", wantErr: "replicationFactor"},
		{name: "both replication forms", values: sc + "    replicationFactor: 3\n    dcReplication: dc1:3\n", wantErr: "storageClasses"},
		{name: "malformed dcReplication", values: sc + "    dcReplication: \"dc1=3\"\n", wantErr: "dcReplication"},
		{name: "unknown consistency", values: sc + "    consistency: MOST\n", wantErr: "consistency"},
		{name: "misspelt StorageClass key", values: sc + "    replicationFactr: 3\n", wantErr: "replicationFactr"},
		{name: "bad reclaimPolicy", values: sc + "    reclaimPolicy: Recycle\n", wantErr: "reclaimPolicy"},
		{name: "secret without namespace", values: sc + "    provisionerSecret: {name: creds}\n", wantErr: "namespace"},
		{name: "bad block size", values: sc + "    blockSize: 1MB\n", wantErr: "blockSize"},
		{name: "unknown top-level key", values: "cassandraa:\n  hosts: [db]\n", wantErr: "cassandraa"},
		{name: "no Cassandra hosts", values: "cassandra:\n  hosts: []\n", wantErr: "hosts"},
		{name: "ZooKeeper server without port", values: "zookeeper:\n  servers: [zk]\n", wantErr: "servers"},
		{name: "string port", values: "cassandra:\n  hosts: [db]\n  port: \"9042\"\n", wantErr: "port"},
		{name: "TLS without secret", values: "cassandra:\n  hosts: [db]\n  tls:\n    enabled: true\n", wantErr: "secretName"},
		{name: "TLS certificate without key", values: "cassandra:\n  hosts: [db]\n  tls: {enabled: true, secretName: s, certKey: tls.crt}\n", wantErr: "keyKey"},
		{name: "relative ZooKeeper chroot", values: "zookeeper:\n  servers: [zk:2181]\n  chroot: cassfs\n", wantErr: "chroot"},
		{name: "unknown log level", values: "node:\n  logLevel: verbose\n", wantErr: "logLevel"},
		{name: "bad fsGroupPolicy", values: "csiDriver:\n  fsGroupPolicy: Always\n", wantErr: "fsGroupPolicy"},
		{name: "unpinned sidecar", values: "sidecars:\n  provisioner:\n    image: registry.k8s.io/sig-storage/csi-provisioner\n", wantErr: "image"},
		{name: "relative kubeletDir", values: "kubeletDir: var/lib/kubelet\n", wantErr: "kubeletDir"},
		{name: "zero replicas", values: "controller:\n  replicas: 0\n", wantErr: "replicas"},
		{name: "ServiceMonitor without Service", values: "metrics:\n  service: {enabled: false}\n  serviceMonitor: {enabled: true}\n",
			wantErr: "metrics.serviceMonitor.enabled needs metrics.service.enabled"},
		{name: "no account names without create", values: "serviceAccount:\n  create: false\n", wantErr: "Name is required when serviceAccount.create is false"},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(dir, string(rune('a'+i))+".yaml")
			if err := os.WriteFile(f, []byte(c.values), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := render(t, f)
			if c.valid {
				if err != nil {
					t.Fatalf("valid values rejected: %v", err)
				}
				if _, err := decode(out); err != nil {
					t.Fatalf("valid values render undecodable output: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("helm template accepted invalid values:\n%s", c.values)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error does not mention %q: %v", c.wantErr, err)
			}
		})
	}
}
