//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// TestReadWriteOnce: one pod writes a file and exits; a second pod, started afterwards (anywhere), reads it
// back: the data outlives the pod and the node mount.
func TestReadWriteOnce(t *testing.T) {
	ns := newNamespace(t)
	createPVC(t, ns, "data", *storageClass, corev1.ReadWriteOnce, "1Gi")
	token := randomSuffix() + randomSuffix()
	createPod(t, ns, podOpts{name: "writer", pvc: "data",
		script: "set -e; mkdir -p /data/dir; echo " + token + " > /data/dir/file; dd if=/dev/zero of=/data/dir/big bs=1M count=8; sync; echo written"})
	waitPodPhase(t, ns, "writer", corev1.PodSucceeded)
	deletePod(t, ns, "writer")

	createPod(t, ns, podOpts{name: "reader", pvc: "data",
		script: "set -e; echo read=$(cat /data/dir/file); echo size=$(stat -c %s /data/dir/big)"})
	waitPodPhase(t, ns, "reader", corev1.PodSucceeded)
	log := podLog(t, ns, "reader")
	if !strings.Contains(log, "read="+token+"\n") || !strings.Contains(log, "size=8388608\n") {
		t.Errorf("reader saw:\n%s\nwant read=%s and size=8388608", log, token)
	}
}

// TestReadWriteManyAcrossNodes: two pods share one ReadWriteMany volume, on two different nodes when the
// cluster has them. A writes a file and holds an exclusive flock; B reads A's file, finds the lock taken
// (flock -n fails), and gets it once A is gone.
func TestReadWriteManyAcrossNodes(t *testing.T) {
	ns := newNamespace(t)
	nodes := schedulableNodes(t)
	nodeA, nodeB := nodes[0], nodes[0]
	if len(nodes) > 1 {
		nodeB = nodes[1]
	} else {
		t.Logf("only one schedulable node (%s): both pods run there", nodeA)
	}
	createPVC(t, ns, "shared", *rwxStorageClass, corev1.ReadWriteMany, "1Gi")
	token := randomSuffix()
	createPod(t, ns, podOpts{name: "a", pvc: "shared", node: nodeA,
		script: "set -e; echo " + token + " > /data/from-a; sync; " +
			"exec flock -x /data/lock -c 'touch /data/a-holds-lock; echo locked; exec sleep 3600'"})
	waitLogLine(t, ns, "a", "locked")

	// B waits for A's marker, reports what it reads and whether the lock is free, then waits for the lock.
	createPod(t, ns, podOpts{name: "b", pvc: "shared", node: nodeB,
		script: "until [ -e /data/a-holds-lock ]; do sleep 1; done; " +
			"echo read=$(cat /data/from-a); " +
			"flock -n -x /data/lock true; echo contended=$?; " +
			"until flock -n -x /data/lock true; do sleep 1; done; echo acquired; " +
			"echo from-b > /data/from-b"})
	if got := waitLogLine(t, ns, "b", "read="); got != token {
		t.Errorf("pod b on %s read %q from a file written on %s, want %q", nodeB, got, nodeA, token)
	}
	if got := waitLogLine(t, ns, "b", "contended="); got != "1" {
		t.Errorf("flock -n on %s while %s holds the lock: exit %s, want 1 (busy)", nodeB, nodeA, got)
	}
	deletePod(t, ns, "a") // the holder's process dies: the lock must be released
	waitPodPhase(t, ns, "b", corev1.PodSucceeded)
	if log := podLog(t, ns, "b"); !strings.Contains(log, "acquired") {
		t.Errorf("pod b never acquired the lock:\n%s", log)
	}
}

// TestOnlineExpansion: a PVC grows while a pod uses it, and df inside the pod shows the new size.
func TestOnlineExpansion(t *testing.T) {
	ns := newNamespace(t)
	createPVC(t, ns, "grow", *storageClass, corev1.ReadWriteOnce, "1Gi")
	createPod(t, ns, podOpts{name: "df", pvc: "grow",
		script: "while true; do echo df=$(df -P -k /data | tail -n 1 | awk '{print $2}'); sleep 3; done"})
	waitPodPhase(t, ns, "df", corev1.PodRunning)
	before := dfKiB(t, waitLogLine(t, ns, "df", "df="))
	if before < 900*1024 || before > 1100*1024 {
		t.Errorf("df of a 1Gi volume: %d KiB", before)
	}

	patch := []byte(`{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}`)
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).Patch(context.Background(), "grow", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("expand PVC: %v", err)
	}
	want := resource.MustParse("3Gi")
	if *staticProvisioning != "" {
		expandStatic(t, ns, "grow", want) // no csi-resizer in this mode: the suite does its part
	}
	poll(t, "PVC capacity 3Gi", func(ctx context.Context) (bool, error) {
		pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "grow", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := pvc.Status.Capacity[corev1.ResourceStorage]
		return c.Cmp(want) >= 0, nil
	})
	poll(t, "df shows 3Gi", func(ctx context.Context) (bool, error) {
		lines := strings.Split(strings.TrimSpace(podLog(t, ns, "df")), "\n")
		last, ok := strings.CutPrefix(lines[len(lines)-1], "df=")
		return ok && dfKiB(t, last) >= 3*1024*1024*9/10, nil
	})
}

func dfKiB(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatalf("df output %q: %v", s, err)
	}
	return n
}

// statsSummary is the part of kubelet's /stats/summary this test reads.
type statsSummary struct {
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"podRef"`
		Volumes []struct {
			Name   string `json:"name"`
			PVCRef *struct {
				Name string `json:"name"`
			} `json:"pvcRef"`
			CapacityBytes *uint64 `json:"capacityBytes"`
			UsedBytes     *uint64 `json:"usedBytes"`
			Inodes        *uint64 `json:"inodes"`
			InodesUsed    *uint64 `json:"inodesUsed"`
		} `json:"volume"`
	} `json:"pods"`
}

// TestVolumeStats: kubelet reports the volume's capacity and usage (NodeGetVolumeStats) in its stats summary.
func TestVolumeStats(t *testing.T) {
	ns := newNamespace(t)
	createPVC(t, ns, "stats", *storageClass, corev1.ReadWriteOnce, "2Gi")
	createPod(t, ns, podOpts{name: "filler", pvc: "stats",
		script: "set -e; dd if=/dev/zero of=/data/fill bs=1M count=16; sync; echo filled; exec sleep 3600"})
	waitLogLine(t, ns, "filler", "filled")
	pod := waitPodPhase(t, ns, "filler", corev1.PodRunning)

	var last string
	poll(t, "stats summary of node "+pod.Spec.NodeName, func(ctx context.Context) (bool, error) {
		raw, err := statsSummaryRaw(ctx, pod.Spec.NodeName)
		if err != nil {
			return false, err
		}
		var s statsSummary
		if err := json.Unmarshal(raw, &s); err != nil {
			return false, err
		}
		for _, p := range s.Pods {
			if p.PodRef.Namespace != ns || p.PodRef.Name != "filler" {
				continue
			}
			for _, v := range p.Volumes {
				if v.PVCRef == nil || v.PVCRef.Name != "stats" {
					continue
				}
				if v.CapacityBytes == nil || v.UsedBytes == nil {
					last = "volume listed without capacity or usage"
					return false, nil
				}
				last = fmt.Sprintf("capacity %d used %d", *v.CapacityBytes, *v.UsedBytes)
				// kubelet refreshes volume stats periodically: wait until the 16 MiB written show up.
				return *v.CapacityBytes >= 2<<30*9/10 && *v.CapacityBytes <= 2<<30*11/10 && *v.UsedBytes >= 16<<20, nil
			}
		}
		last = "pod volume not in the summary yet"
		return false, nil
	})
	t.Logf("stats: %s", last)
}

var kubeletURL = flag.String("kubelet-url", "", "read kubelet's stats summary from this URL (https://host:port) "+
	"with the kubeconfig's client certificate instead of through the API server's node proxy, which refuses "+
	"loopback node addresses (hack/local-cluster.sh)")

// statsSummaryRaw reads kubelet's /stats/summary of node.
func statsSummaryRaw(ctx context.Context, node string) ([]byte, error) {
	if *kubeletURL == "" {
		return client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "stats", "summary").DoRaw(ctx)
	}
	tlsCfg, err := rest.TLSConfigFor(restConfig)
	if err != nil {
		return nil, err
	}
	tlsCfg = tlsCfg.Clone()
	tlsCfg.InsecureSkipVerify = true // kubelet's serving certificate is self-signed
	tlsCfg.RootCAs = nil
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*kubeletURL, "/")+"/stats/summary", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("kubelet %s: %s: %s", *kubeletURL, resp.Status, body)
	}
	return body, err
}

// TestDeleteRemovesVolume: deleting a claim of a Delete StorageClass deletes its PersistentVolume, which the
// provisioner does only after DeleteVolume succeeded.
func TestDeleteRemovesVolume(t *testing.T) {
	ns := newNamespace(t)
	sc, err := client.StorageV1().StorageClasses().Get(context.Background(), *storageClass, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("StorageClass %s: %v", *storageClass, err)
	}
	if sc.ReclaimPolicy == nil || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Fatalf("StorageClass %s must have reclaimPolicy Delete for this test", *storageClass)
	}
	createPVC(t, ns, "doomed", *storageClass, corev1.ReadWriteOnce, "1Gi")
	pvName := waitBound(t, ns, "doomed").Spec.VolumeName
	createPod(t, ns, podOpts{name: "touch", pvc: "doomed", script: "echo x > /data/x"})
	waitPodPhase(t, ns, "touch", corev1.PodSucceeded)
	deletePod(t, ns, "touch")
	if err := client.CoreV1().PersistentVolumeClaims(ns).Delete(context.Background(), "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete PVC: %v", err)
	}
	if *staticProvisioning != "" {
		reclaimAsProvisioner(t, pvName)
	}
	poll(t, "PV "+pvName+" deleted", func(ctx context.Context) (bool, error) {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err == nil && pv.Status.Phase == corev1.VolumeFailed {
			return false, fmt.Errorf("PV %s failed: %s", pvName, pv.Status.Message)
		}
		return false, err
	})
}

// reclaimAsProvisioner does csi-provisioner's part of a deleted claim in static-provisioning mode: once the PV
// is Released, DeleteVolume, then the PV's removal; the volume must be gone from ListVolumes afterwards.
func reclaimAsProvisioner(t *testing.T, pvName string) {
	t.Helper()
	var handle string
	poll(t, "PV "+pvName+" released", func(ctx context.Context) (bool, error) {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		handle = pv.Spec.CSI.VolumeHandle
		// Without the PV controller nothing marks it Released; the claim's deletion was requested already.
		return pv.Status.Phase == corev1.VolumeReleased || *noControllers, nil
	})
	if !listVolumeIDs(t)[handle] {
		t.Fatalf("volume %s not listed before DeleteVolume", handle)
	}
	if _, err := controllerClient(t).DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: handle}); err != nil {
		t.Fatalf("DeleteVolume %s: %v", handle, err)
	}
	if listVolumeIDs(t)[handle] {
		t.Fatalf("volume %s still listed after DeleteVolume", handle)
	}
	if err := client.CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete PV %s: %v", pvName, err)
	}
}

// TestNonRootFSGroup: a pod running as uid 1000 with fsGroup 2000 can write to a fresh volume; the file is
// owned by uid 1000 and the volume root belongs to group 2000 (fsGroupPolicy File).
func TestNonRootFSGroup(t *testing.T) {
	ns := newNamespace(t)
	createPVC(t, ns, "owned", *storageClass, corev1.ReadWriteOnce, "1Gi")
	uid, gid, fsGroup, yes := int64(1000), int64(1000), int64(2000), true
	createPod(t, ns, podOpts{name: "nonroot", pvc: "owned",
		security: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &gid, FSGroup: &fsGroup, RunAsNonRoot: &yes},
		script:   "set -e; echo hello > /data/mine; echo file=$(stat -c '%u' /data/mine); echo root=$(stat -c '%g' /data); echo content=$(cat /data/mine)"})
	waitPodPhase(t, ns, "nonroot", corev1.PodSucceeded)
	log := podLog(t, ns, "nonroot")
	for _, want := range []string{"file=1000\n", "root=2000\n", "content=hello\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("non-root pod log lacks %q:\n%s", strings.TrimSpace(want), log)
		}
	}
}
