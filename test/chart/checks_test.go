package chart_test

import (
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// checkWiring: every volume mount names a volume of its pod, every named port a probe uses exists, every
// Service's targetPort is a port of a selected container.
func checkWiring(t *testing.T, m *manifest) {
	t.Helper()
	specs := map[string]corev1.PodSpec{}
	for _, d := range m.Deployments {
		specs[d.Name] = d.Spec.Template.Spec
	}
	for _, d := range m.DaemonSets {
		specs[d.Name] = d.Spec.Template.Spec
	}
	for name, spec := range specs {
		vols := map[string]bool{}
		for _, v := range spec.Volumes {
			if vols[v.Name] {
				t.Errorf("%s: volume %s defined twice", name, v.Name)
			}
			vols[v.Name] = true
		}
		for _, c := range spec.Containers {
			ports := map[string]bool{}
			for _, p := range c.Ports {
				ports[p.Name] = true
			}
			for _, vm := range c.VolumeMounts {
				if !vols[vm.Name] {
					t.Errorf("%s/%s mounts unknown volume %s", name, c.Name, vm.Name)
				}
			}
			for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				if p != nil && p.HTTPGet != nil && !ports[p.HTTPGet.Port.String()] {
					t.Errorf("%s/%s probes port %s it does not declare", name, c.Name, p.HTTPGet.Port.String())
				}
			}
		}
	}
	for _, svc := range m.Services {
		found := false
		for _, spec := range specs {
			for _, c := range spec.Containers {
				for _, p := range c.Ports {
					for _, sp := range svc.Spec.Ports {
						if sp.TargetPort.String() == p.Name {
							found = true
						}
					}
				}
			}
		}
		if !found {
			t.Errorf("Service %s targets no container port", svc.Name)
		}
	}
}

// checkRBAC: the bindings name the controller's ServiceAccount and existing roles; the roles grant what the
// provisioner, the resizer and leader election need.
func checkRBAC(t *testing.T, m *manifest, controllerSA string) {
	t.Helper()
	accounts := map[string]bool{}
	for _, sa := range m.ServiceAccounts {
		accounts[sa.Name] = true
	}
	if !accounts[controllerSA] {
		t.Errorf("controller ServiceAccount %s is not rendered", controllerSA)
	}
	grants := map[string]bool{} // "group/resource/verb"
	for _, r := range m.ClusterRoles {
		for _, rule := range r.Rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						grants[g+"/"+res+"/"+v] = true
					}
				}
			}
		}
	}
	for _, r := range m.Roles {
		for _, rule := range r.Rules {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					grants[rule.APIGroups[0]+"/"+res+"/"+v] = true
				}
			}
		}
	}
	for _, need := range []string{
		"/persistentvolumes/create", "/persistentvolumes/delete", "/persistentvolumes/patch", "/persistentvolumeclaims/watch",
		"/persistentvolumeclaims/status/patch", "storage.k8s.io/storageclasses/list", "storage.k8s.io/csinodes/get",
		"/events/create", "/secrets/get", "coordination.k8s.io/leases/create", "coordination.k8s.io/leases/update",
	} {
		if !grants[need] {
			t.Errorf("RBAC does not grant %s", need)
		}
	}
	roles := map[string]bool{}
	for _, r := range m.ClusterRoles {
		roles["ClusterRole/"+r.Name] = true
	}
	for _, r := range m.Roles {
		roles["Role/"+r.Name] = true
	}
	check := func(kind, name, ref string, subjects []string) {
		if !roles[ref] {
			t.Errorf("%s %s refers to missing %s", kind, name, ref)
		}
		if !slices.Equal(subjects, []string{controllerSA}) {
			t.Errorf("%s %s binds %v, want the controller account", kind, name, subjects)
		}
	}
	for _, b := range m.ClusterRoleBindings {
		check("ClusterRoleBinding", b.Name, b.RoleRef.Kind+"/"+b.RoleRef.Name, subjectNames(b.Subjects))
	}
	for _, b := range m.RoleBindings {
		check("RoleBinding", b.Name, b.RoleRef.Kind+"/"+b.RoleRef.Name, subjectNames(b.Subjects))
	}
	if len(m.ClusterRoleBindings) != 2 || len(m.RoleBindings) != 1 {
		t.Errorf("want 2 ClusterRoleBindings and 1 RoleBinding, got %d and %d", len(m.ClusterRoleBindings), len(m.RoleBindings))
	}
}

func subjectNames(subjects []rbacv1.Subject) []string {
	var names []string
	for _, s := range subjects {
		if s.Kind == "ServiceAccount" && s.Namespace == "cassfs" {
			names = append(names, s.Name)
		}
	}
	return names
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func containerArgs(t *testing.T, spec corev1.PodSpec, name string) []string {
	t.Helper()
	return container(t, spec, name).Args
}

func containerNames(spec corev1.PodSpec) []string {
	var names []string
	for _, c := range spec.Containers {
		names = append(names, c.Name)
	}
	return names
}

func hasAll(have []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func mapsEqual(a, b map[string]string) bool { return maps.Equal(a, b) }

// selects reports whether a Service selector matches pod labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func selectsExpr(matchLabels, labels map[string]string) bool { return selects(matchLabels, labels) }

func volume(spec corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

func hostPathOf(spec corev1.PodSpec, volumeName string) string {
	if v := volume(spec, volumeName); v != nil && v.HostPath != nil {
		return v.HostPath.Path
	}
	return ""
}

func mountsHostPath(spec corev1.PodSpec, containerName, mountPath, hostPath string) bool {
	for _, c := range spec.Containers {
		if c.Name != containerName {
			continue
		}
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == mountPath && hostPathOf(spec, vm.Name) == hostPath {
				return true
			}
		}
	}
	return false
}

func mountsSecret(spec corev1.PodSpec, containerName, secret, mountPath string) bool {
	for _, c := range spec.Containers {
		if c.Name != containerName {
			continue
		}
		for _, vm := range c.VolumeMounts {
			v := volume(spec, vm.Name)
			if vm.MountPath == mountPath && vm.ReadOnly && v != nil && v.Secret != nil && v.Secret.SecretName == secret {
				return true
			}
		}
	}
	return false
}
