package chart_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestE2EManifests decodes the Cassandra and ZooKeeper manifests of hack/e2e-kind.sh strictly, and checks that
// their Services are where the chart's default values point (cassandra:9042, zookeeper:2181).
func TestE2EManifests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "test", "e2e", "manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	ports := map[string]int32{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decode(string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range m.Services {
			ports[s.Name] = s.Spec.Ports[0].Port
		}
	}
	if ports["cassandra"] != 9042 || ports["zookeeper"] != 2181 {
		t.Errorf("Services: %v, want cassandra:9042 and zookeeper:2181", ports)
	}
}
