package chart_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestFDKeeper: by default the node DaemonSet runs the fdkeeper beside the plugin, from the driver's image, on
// the shared socket directory, and the plugin is told where it listens; node.fdkeeper.enabled=false removes both.
func TestFDKeeper(t *testing.T) {
	for _, values := range [][]string{nil, {filepath.Join("testdata", "all-values.yaml")}} {
		m := mustRender(t, values...)
		spec := m.DaemonSets[0].Spec.Template.Spec
		k := container(t, spec, "fdkeeper")
		d := container(t, spec, "csi-driver")
		if k.Image != d.Image || !slices.Equal(k.Args[:2], []string{"fdkeeper", "--socket=/csi/fdkeeper.sock"}) {
			t.Errorf("fdkeeper container: image %q args %v", k.Image, k.Args)
		}
		if !slices.ContainsFunc(k.VolumeMounts, func(v corev1.VolumeMount) bool { return v.Name == "socket-dir" && v.MountPath == "/csi" }) {
			t.Errorf("fdkeeper does not share the plugin's socket directory: %v", k.VolumeMounts)
		}
		if sc := k.SecurityContext; sc == nil || (sc.Privileged != nil && *sc.Privileged) || sc.RunAsUser == nil || *sc.RunAsUser != 0 {
			t.Errorf("fdkeeper must run unprivileged as root (the plugin's user): %+v", sc)
		}
		if !slices.Contains(containerArgs(t, spec, "csi-driver"), "--fdkeeper-socket=/csi/fdkeeper.sock") {
			t.Errorf("plugin not told about the fdkeeper: %v", d.Args)
		}
	}

	out, err := runHelm(t, "template", "cassfs", chartDir(t), "--namespace", "cassfs", "--kube-version", kubeVersion,
		"--set", "node.fdkeeper.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	m, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	spec := m.DaemonSets[0].Spec.Template.Spec
	for _, c := range spec.Containers {
		if c.Name == "fdkeeper" {
			t.Errorf("node.fdkeeper.enabled=false still renders the fdkeeper container")
		}
	}
	for _, a := range containerArgs(t, spec, "csi-driver") {
		if strings.HasPrefix(a, "--fdkeeper") {
			t.Errorf("node.fdkeeper.enabled=false still passes %s", a)
		}
	}
}
