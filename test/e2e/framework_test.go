//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	kubeconfig      = flag.String("kubeconfig", "", "kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
	storageClass    = flag.String("storage-class", "cassfs", "StorageClass of the ReadWriteOnce tests")
	rwxStorageClass = flag.String("rwx-storage-class", "", "StorageClass of the ReadWriteMany test (default: -storage-class)")
	image           = flag.String("image", "busybox:1.37", "image of the test pods (sh, df, stat, flock, dd)")
	stepTimeout     = flag.Duration("timeout-step", 5*time.Minute, "how long one step (bind, start, resize, ...) may take")
	keepNamespaces  = flag.Bool("keep-namespaces", false, "keep the namespaces of failed tests")
	noControllers   = flag.Bool("no-controllers", false, "the cluster runs no kube-controller-manager and no "+
		"kube-scheduler: the suite creates each namespace's default ServiceAccount, sets spec.nodeName on its pods "+
		"and (with -static-provisioning) marks pre-bound PVs and claims Bound")
)

// client is set by TestMain, and restConfig, the configuration it was made from.
var (
	client     kubernetes.Interface
	restConfig *rest.Config
)

func TestMain(m *testing.M) {
	flag.Parse()
	if *rwxStorageClass == "" {
		*rwxStorageClass = *storageClass
	}
	path := *kubeconfig
	if path == "" {
		path = os.Getenv("KUBECONFIG")
	}
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".kube", "config")
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: no cluster: kubeconfig %q: %v\n", path, err)
		os.Exit(1)
	}
	restConfig = cfg
	client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func randomSuffix() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newNamespace creates a namespace for one test and deletes it (with its pods and claims) at the end.
func newNamespace(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cassfs-e2e-" + randomSuffix(),
		Labels: map[string]string{"app.kubernetes.io/part-of": "cassfs-e2e"}}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	if *noControllers { // the service account controller's part
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}}
		if _, err := client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create default ServiceAccount: %v", err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpNamespace(t, ns.Name)
			if *keepNamespaces {
				t.Logf("keeping namespace %s", ns.Name)
				return
			}
		}
		if err := client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// dumpNamespace logs the events and pod states of a failed test's namespace.
func dumpNamespace(t *testing.T, ns string) {
	ctx := context.Background()
	if evs, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, e := range evs.Items {
			t.Logf("event %s/%s: %s %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	if pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			t.Logf("pod %s on %s: %s", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
}

// poll runs cond until it reports done, fails or the step timeout passes; what names the step in the failure.
func poll(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 2*time.Second, *stepTimeout, true, cond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func createPVC(t *testing.T, ns, name, class string, mode corev1.PersistentVolumeAccessMode, size string) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{mode},
			StorageClassName: &class,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			},
		},
	}
	out, err := client.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), pvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create PVC %s: %v", name, err)
	}
	if *staticProvisioning != "" {
		provisionStatic(t, out)
	}
	return out
}

// waitBound waits until the claim is bound and returns it (Spec.VolumeName is the PV).
func waitBound(t *testing.T, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	poll(t, "PVC "+name+" bound", func(ctx context.Context) (bool, error) {
		var err error
		pvc, err = client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && pvc.Status.Phase == corev1.ClaimBound, err
	})
	return pvc
}

// podOpts describe a test pod: a shell script run with the claim mounted at /data.
type podOpts struct {
	name, pvc, script string
	node              string // pin to this node (kubernetes.io/hostname), or "" for any
	security          *corev1.PodSecurityContext
}

func createPod(t *testing.T, ns string, o podOpts) *corev1.Pod {
	t.Helper()
	zero, no := int64(0), false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: o.name, Namespace: ns},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  &no, // the test pods never call the API
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &zero,
			SecurityContext:               o.security,
			Containers: []corev1.Container{{
				Name:         "test",
				Image:        *image,
				Command:      []string{"/bin/sh", "-c", o.script},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.pvc}}}},
		},
	}
	if o.node != "" {
		pod.Spec.NodeSelector = map[string]string{corev1.LabelHostname: o.node}
	}
	if *noControllers { // the scheduler's part
		pod.Spec.NodeName = o.node
		if o.node == "" {
			pod.Spec.NodeName = schedulableNodes(t)[0]
		}
	}
	out, err := client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", o.name, err)
	}
	return out
}

// waitPodPhase waits for the pod to reach phase; a pod that fails instead ends the test with its log.
func waitPodPhase(t *testing.T, ns, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	poll(t, "pod "+name+" "+string(phase), func(ctx context.Context) (bool, error) {
		var err error
		pod, err = client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if pod.Status.Phase == corev1.PodFailed && phase != corev1.PodFailed {
			return false, fmt.Errorf("pod failed; log:\n%s", podLog(t, ns, name))
		}
		return pod.Status.Phase == phase, nil
	})
	return pod
}

// podLog returns the test container's log so far.
func podLog(t *testing.T, ns, name string) string {
	t.Helper()
	rc, err := client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: "test"}).Stream(context.Background())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, rc); err != nil {
		return b.String() + "(log read error: " + err.Error() + ")"
	}
	return b.String()
}

// waitLogLine waits until a line of the pod's log starts with prefix and returns the rest of the line.
func waitLogLine(t *testing.T, ns, name, prefix string) string {
	t.Helper()
	var rest string
	poll(t, "pod "+name+" logs "+prefix, func(ctx context.Context) (bool, error) {
		pod, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if pod.Status.Phase == corev1.PodPending {
			return false, nil
		}
		for _, line := range strings.Split(podLog(t, ns, name), "\n") {
			if r, ok := strings.CutPrefix(line, prefix); ok {
				rest = r
				return true, nil
			}
		}
		if pod.Status.Phase != corev1.PodRunning {
			return false, fmt.Errorf("pod ended (%s) without %q; log:\n%s", pod.Status.Phase, prefix, podLog(t, ns, name))
		}
		return false, nil
	})
	return rest
}

func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	if err := client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod %s: %v", name, err)
	}
	poll(t, "pod "+name+" gone", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// schedulableNodes lists Ready nodes without NoSchedule taints (where the test pods can run).
func schedulableNodes(t *testing.T) []string {
	t.Helper()
	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	var names []string
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			continue
		}
		ready, tainted := false, false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		for _, taint := range n.Spec.Taints {
			if taint.Effect == corev1.TaintEffectNoSchedule || taint.Effect == corev1.TaintEffectNoExecute {
				tainted = true
			}
		}
		if ready && !tainted {
			names = append(names, n.Name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no schedulable node")
	}
	return names
}
