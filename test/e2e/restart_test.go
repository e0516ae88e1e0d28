//go:build e2e

package e2e

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var nodePluginRestart = flag.String("node-plugin-restart", "",
	"shell command that kills the node plugin (SIGKILL) on the test pod's node and starts it again, returning once "+
		"the new plugin serves (hack/local-cluster.sh and hack/e2e-kind.sh pass one); required by TestNodePluginRestart")

// TestNodePluginRestart: the node plugin is killed and started again while a pod writes and fsyncs in a loop. With
// the fdkeeper holding the FUSE connection, the mount stays and the new plugin serves it again: the app sees no
// error (its loop stops at the first failing write or fsync), keeps going after the restart, and every line
// fsynced before the kill is on the volume afterwards.
func TestNodePluginRestart(t *testing.T) {
	if *nodePluginRestart == "" {
		t.Fatal("needs -node-plugin-restart COMMAND (a way to SIGKILL and restart the node plugin on the test's node; " +
			"hack/e2e-kind.sh and hack/local-cluster.sh pass one), or leave the test out with -test.skip TestNodePluginRestart")
	}
	ns := newNamespace(t)
	createPVC(t, ns, "live", *storageClass, corev1.ReadWriteOnce, "1Gi")
	// Each line is fsynced (sync -d: fdatasync) before "synced=N" is printed.
	createPod(t, ns, podOpts{name: "writer", pvc: "live",
		script: "i=0; while true; do i=$((i+1)); " +
			"echo line $i >> /data/log || { echo ERROR write $i; exit 1; }; " +
			"sync -d /data/log || { echo ERROR fsync $i; exit 1; }; " +
			"echo synced=$i; sleep 0.2; done"})
	waitPodPhase(t, ns, "writer", corev1.PodRunning)
	waitSynced(t, ns, "writer", 10)

	before := lastSynced(t, ns, "writer")
	start := time.Now()
	cmd := exec.Command("/bin/sh", "-c", *nodePluginRestart)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("restart the node plugin (%s): %v", *nodePluginRestart, err)
	}
	t.Logf("node plugin restarted in %v; %d lines fsynced before the kill", time.Since(start).Round(time.Millisecond), before)
	afterRestart := lastSynced(t, ns, "writer")
	waitSynced(t, ns, "writer", afterRestart+20) // the app keeps writing through the new plugin
	if log := podLog(t, ns, "writer"); strings.Contains(log, "ERROR") {
		t.Fatalf("the writer saw an error:\n%s", log)
	}
	pod := waitPodPhase(t, ns, "writer", corev1.PodRunning)
	if n := restarts(pod); n != 0 {
		t.Fatalf("writer container restarted %d times", n)
	}
	final := lastSynced(t, ns, "writer")
	deletePod(t, ns, "writer")

	// Every fsynced line is there, in order, without gaps.
	createPod(t, ns, podOpts{name: "reader", pvc: "live", script: "cat /data/log"})
	waitPodPhase(t, ns, "reader", corev1.PodSucceeded)
	lines := strings.Split(strings.TrimSpace(podLog(t, ns, "reader")), "\n")
	for i, l := range lines {
		if l != "line "+strconv.Itoa(i+1) {
			t.Fatalf("line %d of the volume's log is %q, want %q", i+1, l, "line "+strconv.Itoa(i+1))
		}
	}
	if len(lines) < final {
		t.Fatalf("the volume has %d lines, but %d were fsynced (%d before the plugin was killed)", len(lines), final, before)
	}
	t.Logf("%d lines on the volume; %d fsynced before the kill, %d in all", len(lines), before, final)
}

func restarts(pod *corev1.Pod) int32 {
	var n int32
	for _, s := range pod.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

// lastSynced is the highest synced=N the pod printed so far (0 if none).
func lastSynced(t *testing.T, ns, pod string) int {
	t.Helper()
	best := 0
	for _, line := range strings.Split(podLog(t, ns, pod), "\n") {
		if v, ok := strings.CutPrefix(line, "synced="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > best {
				best = n
			}
		}
	}
	return best
}

// waitSynced waits until the pod printed synced=N with N >= want; a pod that ends fails the test with its log.
func waitSynced(t *testing.T, ns, pod string, want int) {
	t.Helper()
	poll(t, "pod "+pod+" fsynced "+strconv.Itoa(want)+" lines", func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Fatalf("writer is %s; log:\n%s", p.Status.Phase, podLog(t, ns, pod))
		}
		return lastSynced(t, ns, pod) >= want, nil
	})
}
