package chart_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

const driverName = "csi.cassfs.io"

func TestLint(t *testing.T) {
	for _, values := range [][]string{nil, {filepath.Join("testdata", "all-values.yaml")}} {
		args := []string{"lint", "--strict", chartDir(t), "--kube-version", kubeVersion}
		for _, v := range values {
			args = append(args, "--values", v)
		}
		if out, err := runHelm(t, args...); err != nil {
			t.Errorf("helm lint %v: %v\n%s", values, err, out)
		}
	}
}

func mustRender(t *testing.T, valuesFiles ...string) *manifest {
	t.Helper()
	out, err := render(t, valuesFiles...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	m, err := decode(out)
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v\n%s", err, out)
	}
	return m
}

func TestDefaultValues(t *testing.T) {
	m := mustRender(t)
	if len(m.CSIDrivers) != 1 || len(m.Deployments) != 1 || len(m.DaemonSets) != 1 {
		t.Fatalf("want 1 CSIDriver, 1 Deployment, 1 DaemonSet; got %d, %d, %d", len(m.CSIDrivers), len(m.Deployments), len(m.DaemonSets))
	}
	checkCSIDriver(t, m.CSIDrivers[0], storagev1.FileFSGroupPolicy)
	ctrl, node := m.Deployments[0], m.DaemonSets[0]
	checkController(t, ctrl)
	checkNode(t, node, "/var/lib/kubelet", "/var/lib/cassfs")
	if c := container(t, node.Spec.Template.Spec, "csi-driver"); c.LivenessProbe != nil || c.ReadinessProbe == nil {
		t.Errorf("by default the node plugin must report health as readiness and never restart on it")
	}
	checkPinnedSidecars(t, append(ctrl.Spec.Template.Spec.Containers, node.Spec.Template.Spec.Containers...), "registry.k8s.io/sig-storage/")
	checkWiring(t, m)
	checkRBAC(t, m, ctrl.Spec.Template.Spec.ServiceAccountName)

	if got := containerArgs(t, ctrl.Spec.Template.Spec, "csi-driver"); !hasAll(got, "--cassandra=cassandra", "--cassandra-port=9042", "--zookeeper=zookeeper:2181", "--zookeeper-chroot=/cassfs", "--log-level=info") {
		t.Errorf("controller connection flags: %v", got)
	}
	if len(m.StorageClasses) != 1 {
		t.Fatalf("want 1 default StorageClass, got %d", len(m.StorageClasses))
	}
	sc := m.StorageClasses[0]
	wantParams := map[string]string{"replicationFactor": "1", "consistency": "LOCAL_QUORUM"}
	if sc.Name != "cassfs" || sc.Provisioner != driverName || !mapsEqual(sc.Parameters, wantParams) {
		t.Errorf("default StorageClass: name %q provisioner %q parameters %v", sc.Name, sc.Provisioner, sc.Parameters)
	}
	if sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		*sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Errorf("default StorageClass policies: %+v", sc)
	}
	if sc.Annotations["storageclass.kubernetes.io/is-default-class"] != "" {
		t.Errorf("the default StorageClass must not claim the cluster default")
	}
	if len(m.ServiceMonitors) != 0 {
		t.Errorf("ServiceMonitor must be off by default")
	}
	if len(m.Services) != 2 {
		t.Errorf("want the controller and node metrics Services, got %d", len(m.Services))
	}
}

func TestAllValues(t *testing.T) {
	m := mustRender(t, filepath.Join("testdata", "all-values.yaml"))
	checkCSIDriver(t, m.CSIDrivers[0], storagev1.NoneFSGroupPolicy)
	ctrl, node := m.Deployments[0], m.DaemonSets[0]
	checkController(t, ctrl)
	checkNode(t, node, "/var/snap/microk8s/common/var/lib/kubelet", "/data/cassfs-state")
	if c := container(t, node.Spec.Template.Spec, "csi-driver"); c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Port.String() != "healthz" {
		t.Errorf("node.restartOnFailedProbe must add a liveness probe")
	}
	checkPinnedSidecars(t, append(ctrl.Spec.Template.Spec.Containers, node.Spec.Template.Spec.Containers...), "registry.example.com/mirror/")
	checkWiring(t, m)

	if len(m.ServiceAccounts) != 0 || len(m.ClusterRoles)+len(m.ClusterRoleBindings)+len(m.Roles)+len(m.RoleBindings) != 0 {
		t.Errorf("serviceAccount.create=false and rbac.create=false must render no accounts and no RBAC")
	}
	if ctrl.Spec.Template.Spec.ServiceAccountName != "my-controller-sa" || node.Spec.Template.Spec.ServiceAccountName != "my-node-sa" {
		t.Errorf("service account names not used")
	}
	if ctrl.Name != "cassfs-all-controller" || *ctrl.Spec.Replicas != 2 {
		t.Errorf("controller name %q replicas %d", ctrl.Name, *ctrl.Spec.Replicas)
	}
	ps := node.Spec.Template.Spec
	if !ps.HostNetwork || ps.DNSPolicy != corev1.DNSClusterFirstWithHostNet || ps.PriorityClassName != "node-storage-critical" ||
		ps.NodeSelector["cassfs.io/enabled"] != "true" || ps.Affinity == nil || len(ps.Tolerations) != 1 ||
		node.Spec.Template.Annotations["example.com/team"] != "storage-node" || node.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.String() != "10%" {
		t.Errorf("node placement values not applied: %+v", ps)
	}
	cs := ctrl.Spec.Template.Spec
	if cs.PriorityClassName != "storage-critical" || cs.Affinity == nil || len(cs.Tolerations) != 1 || len(cs.ImagePullSecrets) != 1 ||
		ctrl.Spec.Template.Annotations["example.com/team"] != "storage" {
		t.Errorf("controller placement values not applied: %+v", cs)
	}
	if c := container(t, cs, "csi-driver"); c.Image != "registry.example.com/cassfs/csi-driver:v9.8.7" || c.ImagePullPolicy != corev1.PullAlways ||
		c.Resources.Limits.Cpu().String() != "2" {
		t.Errorf("driver image/resources: %s %s %v", c.Image, c.ImagePullPolicy, c.Resources)
	}

	for _, spec := range []corev1.PodSpec{cs, ps} {
		args := containerArgs(t, spec, "csi-driver")
		want := []string{
			"--cassandra=cass-0.cass.db.svc,cass-1.cass.db.svc,10.1.2.3", "--cassandra-port=9142", "--cassandra-local-dc=dc1",
			"--cassandra-username=cassfs", "--cassandra-password-file=/etc/cassfs/cassandra-password/pw",
			"--cassandra-ca-file=/etc/cassfs/cassandra-tls/root.pem", "--cassandra-cert-file=/etc/cassfs/cassandra-tls/client.pem",
			"--cassandra-key-file=/etc/cassfs/cassandra-tls/client-key.pem", "--cassandra-tls-insecure-skip-verify",
			"--zookeeper=zk-0.zk.db.svc:2281,zk-1.zk.db.svc:2281", "--zookeeper-chroot=/prod/cassfs",
		}
		if !hasAll(args, want...) {
			t.Errorf("connection flags: got %v, want all of %v", args, want)
		}
		for secret, path := range map[string]string{"cassandra-credentials": "/etc/cassfs/cassandra-password",
			"cassandra-client-tls": "/etc/cassfs/cassandra-tls"} {
			if !mountsSecret(spec, "csi-driver", secret, path) {
				t.Errorf("secret %s is not mounted read-only at %s", secret, path)
			}
		}
	}
	if !hasAll(containerArgs(t, cs, "csi-driver"), "--controller-flag=1", "--metrics-address=:19810", "--log-level=debug") ||
		!hasAll(containerArgs(t, ps, "csi-driver"), "--node-flag=2", "--metrics-address=:19811", "--log-level=warn", "--cache-bytes=134217728") {
		t.Errorf("extraArgs or metrics ports not applied")
	}
	if !hasAll(containerArgs(t, cs, "csi-provisioner"), "--timeout=300s") || !hasAll(containerArgs(t, cs, "liveness-probe"), "--health-port=19808") {
		t.Errorf("sidecar settings not applied")
	}

	checkStorageClasses(t, m.StorageClasses)

	if len(m.ServiceMonitors) != 1 {
		t.Fatalf("want a ServiceMonitor, got %d", len(m.ServiceMonitors))
	}
	sm := m.ServiceMonitors[0]
	if sm.Labels["release"] != "kube-prometheus-stack" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" ||
		sm.Spec.Endpoints[0].Interval != "15s" || !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{"cassfs"}) {
		t.Errorf("ServiceMonitor: %+v", sm)
	}
	for _, svc := range m.Services {
		if !selects(svc.Spec.Selector, ctrl.Spec.Template.Labels) && !selects(svc.Spec.Selector, node.Spec.Template.Labels) {
			t.Errorf("Service %s selects no pod", svc.Name)
		}
		if !selectsExpr(sm.Spec.Selector.MatchLabels, svc.Labels) {
			t.Errorf("ServiceMonitor does not select Service %s", svc.Name)
		}
	}
}

func checkStorageClasses(t *testing.T, scs []*storagev1.StorageClass) {
	t.Helper()
	if len(scs) != 2 {
		t.Fatalf("want 2 StorageClasses, got %d", len(scs))
	}
	gold, multi := scs[0], scs[1]
	if gold.Name != "cassfs-rf3" {
		gold, multi = multi, gold
	}
	wantGold := map[string]string{
		"replicationFactor": "3", "consistency": "QUORUM", "serialConsistency": "SERIAL", "chunkSize": "32Mi",
		"blockSize": "512Ki", "compression": "none", "reclaim": "retain",
		"csi.storage.k8s.io/provisioner-secret-name": "cassfs-creds", "csi.storage.k8s.io/provisioner-secret-namespace": "cassfs",
		"csi.storage.k8s.io/node-stage-secret-name": "cassfs-node-creds", "csi.storage.k8s.io/node-stage-secret-namespace": "cassfs",
		"csi.storage.k8s.io/controller-expand-secret-name": "cassfs-expand-creds", "csi.storage.k8s.io/controller-expand-secret-namespace": "kube-system",
	}
	if !mapsEqual(gold.Parameters, wantGold) {
		t.Errorf("StorageClass %s parameters:\n got %v\nwant %v", gold.Name, gold.Parameters, wantGold)
	}
	if *gold.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *gold.AllowVolumeExpansion ||
		*gold.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer || !slices.Equal(gold.MountOptions, []string{"noatime"}) ||
		gold.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" || gold.Annotations["example.com/tier"] != "gold" ||
		gold.Labels["example.com/backup"] != "yes" {
		t.Errorf("StorageClass %s policies: %+v", gold.Name, gold)
	}
	wantMulti := map[string]string{"replication": "NetworkTopologyStrategy", "dcReplication": "dc1:3,dc2:2", "consistency": "LOCAL_ONE"}
	if multi.Name != "cassfs-multi-dc" || !mapsEqual(multi.Parameters, wantMulti) || !*multi.AllowVolumeExpansion {
		t.Errorf("StorageClass %s: parameters %v", multi.Name, multi.Parameters)
	}
}

func checkCSIDriver(t *testing.T, d *storagev1.CSIDriver, policy storagev1.FSGroupPolicy) {
	t.Helper()
	s := d.Spec
	if d.Name != driverName || s.AttachRequired == nil || *s.AttachRequired || s.PodInfoOnMount == nil || !*s.PodInfoOnMount ||
		s.FSGroupPolicy == nil || *s.FSGroupPolicy != policy ||
		!slices.Equal(s.VolumeLifecycleModes, []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}) {
		t.Errorf("CSIDriver: %+v", d)
	}
}

func checkController(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	spec := d.Spec.Template.Spec
	names := containerNames(spec)
	if !slices.Equal(names, []string{"csi-driver", "csi-provisioner", "csi-resizer", "liveness-probe"}) {
		t.Errorf("controller containers: %v", names)
	}
	if args := containerArgs(t, spec, "csi-driver"); !hasAll(args, "serve", "--mode=controller", "--endpoint=unix:///csi/csi.sock", "--node-id=$(NODE_ID)") {
		t.Errorf("controller driver args: %v", args)
	}
	for _, sidecar := range []string{"csi-provisioner", "csi-resizer"} {
		if args := containerArgs(t, spec, sidecar); !hasAll(args, "--csi-address=/csi/csi.sock", "--leader-election", "--leader-election-namespace=cassfs") {
			t.Errorf("%s args: %v", sidecar, args)
		}
	}
	if c := container(t, spec, "csi-driver"); c.SecurityContext == nil || c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
		t.Errorf("the controller must not be privileged")
	}
}

func checkNode(t *testing.T, ds *appsv1.DaemonSet, kubeletDir, stateDir string) {
	t.Helper()
	spec := ds.Spec.Template.Spec
	if names := containerNames(spec); !slices.Equal(names, []string{"csi-driver", "fdkeeper", "node-driver-registrar", "liveness-probe"}) {
		t.Errorf("node containers: %v", names)
	}
	c := container(t, spec, "csi-driver")
	if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
		t.Errorf("the node plugin must be privileged")
	}
	if !hasAll(c.Args, "serve", "--mode=node", "--endpoint=unix:///csi/csi.sock", "--node-id=$(NODE_ID)", "--state-dir=/var/lib/cassfs") {
		t.Errorf("node driver args: %v", c.Args)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "NODE_ID" || c.Env[0].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_ID must come from spec.nodeName: %+v", c.Env)
	}
	bidi := false
	for _, vm := range c.VolumeMounts {
		if vm.MountPropagation != nil && *vm.MountPropagation == corev1.MountPropagationBidirectional {
			if vm.MountPath != kubeletDir || hostPathOf(spec, vm.Name) != kubeletDir {
				t.Errorf("Bidirectional mount %s at %s (host %s), want the kubelet dir %s", vm.Name, vm.MountPath, hostPathOf(spec, vm.Name), kubeletDir)
			}
			bidi = true
		}
	}
	if !bidi {
		t.Errorf("no Bidirectional mount of the kubelet directory")
	}
	for mountPath, host := range map[string]string{"/dev/fuse": "/dev/fuse", "/var/lib/cassfs": stateDir, "/csi": kubeletDir + "/plugins/" + driverName} {
		if !mountsHostPath(spec, "csi-driver", mountPath, host) {
			t.Errorf("csi-driver does not mount host %s at %s", host, mountPath)
		}
	}
	if !mountsHostPath(spec, "node-driver-registrar", "/registration", kubeletDir+"/plugins_registry") {
		t.Errorf("registrar does not mount the kubelet's plugins_registry")
	}
	if args := containerArgs(t, spec, "node-driver-registrar"); !hasAll(args, "--kubelet-registration-path="+kubeletDir+"/plugins/"+driverName+"/csi.sock") {
		t.Errorf("registrar args: %v", args)
	}
	for _, v := range spec.Volumes {
		if v.Name == "fuse-device" && (v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathCharDev) {
			t.Errorf("/dev/fuse must be a CharDevice hostPath")
		}
	}
}

var pinnedTag = regexp.MustCompile(`(:v[0-9]+\.[0-9]+\.[0-9]+|@sha256:[0-9a-f]{64})$`)

// checkPinnedSidecars: every sidecar comes from prefix with a release tag or a digest; every container has
// requests and a memory limit.
func checkPinnedSidecars(t *testing.T, cs []corev1.Container, prefix string) {
	t.Helper()
	for _, c := range cs {
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s lacks cpu/memory requests or a memory limit: %v", c.Name, c.Resources)
		}
		if c.Name == "csi-driver" || c.Name == "fdkeeper" { // the driver's own image
			continue
		}
		if !strings.HasPrefix(c.Image, prefix) || !pinnedTag.MatchString(c.Image) {
			t.Errorf("sidecar %s image %q is not pinned under %s", c.Name, c.Image, prefix)
		}
	}
}
