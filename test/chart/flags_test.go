package chart_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var usageFlag = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)

// serveFlags builds cmd/csi-driver and returns the flag names `csi-driver serve -h` prints.
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "csi-driver")
	build := exec.Command("go", "build", "-o", bin, "./cmd/csi-driver")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building csi-driver: %v\n%s", err, out)
	}
	out, _ := exec.Command(bin, "serve", "-h").CombinedOutput() // -h exits non-zero by design
	flags := map[string]bool{}
	for _, m := range usageFlag.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("no flags in `csi-driver serve -h`:\n%s", out)
	}
	return flags
}

// TestDriverFlagsExist: every flag the chart gives `csi-driver serve` (with default values and with every
// option set, extraArgs aside) is one the binary defines, so a renamed flag breaks this test, not a cluster.
func TestDriverFlagsExist(t *testing.T) {
	known := serveFlags(t)
	extra := map[string]bool{"--controller-flag=1": true, "--node-flag=2": true} // testdata extraArgs
	for _, values := range [][]string{nil, {filepath.Join("testdata", "all-values.yaml")}} {
		m := mustRender(t, values...)
		specs := []struct {
			name string
			args []string
		}{
			{"controller", containerArgs(t, m.Deployments[0].Spec.Template.Spec, "csi-driver")},
			{"node", containerArgs(t, m.DaemonSets[0].Spec.Template.Spec, "csi-driver")},
		}
		for _, s := range specs {
			if len(s.args) == 0 || s.args[0] != "serve" {
				t.Errorf("%s: first argument must be the serve subcommand: %v", s.name, s.args)
				continue
			}
			for _, a := range s.args[1:] {
				name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				if !strings.HasPrefix(a, "--") || (!known[name] && !extra[a]) {
					t.Errorf("%s (values %v): argument %q is not a flag of csi-driver serve", s.name, values, a)
				}
			}
		}
	}
}

// TestWithoutZooKeeper: an empty server list leaves the ZooKeeper flags out (the driver then runs without locks).
func TestWithoutZooKeeper(t *testing.T) {
	out, err := runHelm(t, "template", "cassfs", chartDir(t), "--namespace", "cassfs", "--kube-version", kubeVersion,
		"--set-json", "zookeeper.servers=[]")
	if err != nil {
		t.Fatal(err)
	}
	m, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range containerArgs(t, m.DaemonSets[0].Spec.Template.Spec, "csi-driver") {
		if strings.HasPrefix(a, "--zookeeper") {
			t.Errorf("ZooKeeper flag %q with no servers", a)
		}
	}
}
