package chart_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// helmVersion must match hack/helm.sh.
const helmVersion = "v3.22.0"

// kubeVersion is passed to helm template: a helm built with `go install` reports Kubernetes v1.20 by default,
// below the chart's kubeVersion constraint.
const kubeVersion = "1.34.0"

// repoRoot is the repository root, found from this file's location.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "charts", "cassfs") }

// helmBinary returns $HELM or the binary hack/helm.sh installs; a missing binary fails the test.
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	cache := os.Getenv("CASSFS_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("no home directory to find the helm cache: %v", err)
		}
		cache = filepath.Join(home, ".cache", "cassfs")
	}
	bin := filepath.Join(cache, "helm-"+helmVersion, "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found at %s (%v): run hack/helm.sh path (builds it once), or set HELM=/path/to/helm", bin, err)
	}
	return bin
}

// runHelm runs helm with args and returns stdout; stderr is part of the error.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errors.New(err.Error() + ": " + strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// render runs helm template for release "cassfs" in namespace "cassfs" with the given values files.
func render(t *testing.T, valuesFiles ...string) (string, error) {
	t.Helper()
	args := []string{"template", "cassfs", chartDir(t), "--namespace", "cassfs", "--kube-version", kubeVersion}
	for _, f := range valuesFiles {
		args = append(args, "--values", f)
	}
	return runHelm(t, args...)
}

// serviceMonitor is the subset of the prometheus-operator type the chart renders (no Go module of it is a
// dependency); decoding is strict, so a field outside this subset fails.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifest is a rendered chart, decoded into typed objects.
type manifest struct {
	ServiceAccounts     []*corev1.ServiceAccount
	Services            []*corev1.Service
	Deployments         []*appsv1.Deployment
	DaemonSets          []*appsv1.DaemonSet
	StatefulSets        []*appsv1.StatefulSet
	CSIDrivers          []*storagev1.CSIDriver
	StorageClasses      []*storagev1.StorageClass
	ClusterRoles        []*rbacv1.ClusterRole
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
	Roles               []*rbacv1.Role
	RoleBindings        []*rbacv1.RoleBinding
	ServiceMonitors     []*serviceMonitor
	Count               int
}

// decode splits a multi-document YAML stream and strictly decodes each document into the type its
// apiVersion and kind name. Unknown kinds, unknown fields and duplicate fields are errors.
func decode(rendered string) (*manifest, error) {
	m := &manifest{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(rendered)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, err
		}
		var obj any
		switch tm.APIVersion + "/" + tm.Kind {
		case "v1/ServiceAccount":
			o := &corev1.ServiceAccount{}
			m.ServiceAccounts, obj = append(m.ServiceAccounts, o), o
		case "v1/Service":
			o := &corev1.Service{}
			m.Services, obj = append(m.Services, o), o
		case "apps/v1/Deployment":
			o := &appsv1.Deployment{}
			m.Deployments, obj = append(m.Deployments, o), o
		case "apps/v1/DaemonSet":
			o := &appsv1.DaemonSet{}
			m.DaemonSets, obj = append(m.DaemonSets, o), o
		case "apps/v1/StatefulSet":
			o := &appsv1.StatefulSet{}
			m.StatefulSets, obj = append(m.StatefulSets, o), o
		case "storage.k8s.io/v1/CSIDriver":
			o := &storagev1.CSIDriver{}
			m.CSIDrivers, obj = append(m.CSIDrivers, o), o
		case "storage.k8s.io/v1/StorageClass":
			o := &storagev1.StorageClass{}
			m.StorageClasses, obj = append(m.StorageClasses, o), o
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			o := &rbacv1.ClusterRole{}
			m.ClusterRoles, obj = append(m.ClusterRoles, o), o
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			o := &rbacv1.ClusterRoleBinding{}
			m.ClusterRoleBindings, obj = append(m.ClusterRoleBindings, o), o
		case "rbac.authorization.k8s.io/v1/Role":
			o := &rbacv1.Role{}
			m.Roles, obj = append(m.Roles, o), o
		case "rbac.authorization.k8s.io/v1/RoleBinding":
			o := &rbacv1.RoleBinding{}
			m.RoleBindings, obj = append(m.RoleBindings, o), o
		case "monitoring.coreos.com/v1/ServiceMonitor":
			o := &serviceMonitor{}
			m.ServiceMonitors, obj = append(m.ServiceMonitors, o), o
		default:
			return nil, errors.New("unexpected object " + tm.APIVersion + " " + tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, errors.New(tm.Kind + ": " + err.Error())
		}
		m.Count++
	}
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
