package chart_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cassfs/cassfs/pkg/cassandra"
)

// TestStorageClassParametersAccepted: the parameters of every rendered StorageClass are accepted by the
// driver's own parser (pkg/cassandra ParseVolumeSpec, which rejects unknown keys), once the keys the sidecars
// and the driver consume first are removed (csi.storage.k8s.io/*, reclaim), as CreateVolume does.
func TestStorageClassParametersAccepted(t *testing.T) {
	for _, values := range [][]string{nil, {filepath.Join("testdata", "all-values.yaml")}} {
		m := mustRender(t, values...)
		for _, sc := range m.StorageClasses {
			params := map[string]string{}
			for k, v := range sc.Parameters {
				if !strings.HasPrefix(k, "csi.storage.k8s.io/") && k != "reclaim" {
					params[k] = v
				}
			}
			spec, err := cassandra.ParseVolumeSpec("pvc-e2e", 1<<30, params)
			if err != nil {
				t.Errorf("StorageClass %s (values %v): the driver rejects %v: %v", sc.Name, values, params, err)
				continue
			}
			if want := sc.Parameters["consistency"]; want != "" && spec.Consistency != want {
				t.Errorf("StorageClass %s: consistency %s parsed as %s", sc.Name, want, spec.Consistency)
			}
		}
	}
}
