//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Static provisioning: on a cluster without the CSI sidecars (hack/local-cluster.sh), the suite itself does what
// csi-provisioner would: CreateVolume on the driver's controller socket, then a PersistentVolume pre-bound to the
// claim; at the end of the test DeleteVolume and the PV's removal. Everything else (binding, NodeStage and
// NodePublish for real pods, fsGroup, stats) is the cluster's own doing.
var staticProvisioning = flag.String("static-provisioning", "",
	"CSI controller endpoint (unix:///path/controller.sock): provision volumes by calling CreateVolume there and "+
		"creating pre-bound PersistentVolumes, as csi-provisioner would (for clusters without the sidecars)")

// controllerClient dials the -static-provisioning endpoint.
func controllerClient(t *testing.T) csi.ControllerClient {
	t.Helper()
	conn, err := grpc.NewClient(*staticProvisioning, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", *staticProvisioning, err)
	}
	t.Cleanup(func() { conn.Close() })
	return csi.NewControllerClient(conn)
}

// csiAccessMode is csi-provisioner's mapping of a claim's access mode (with SINGLE_NODE_MULTI_WRITER).
func csiAccessMode(m corev1.PersistentVolumeAccessMode) csi.VolumeCapability_AccessMode_Mode {
	switch m {
	case corev1.ReadWriteMany:
		return csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	case corev1.ReadOnlyMany:
		return csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
	case corev1.ReadWriteOncePod:
		return csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
	default:
		return csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER
	}
}

// provisionStatic creates the volume of pvc through the driver and a PersistentVolume bound to the claim, and
// registers the reclaim at the end of the test (after the test's pods are gone).
func provisionStatic(t *testing.T, pvc *corev1.PersistentVolumeClaim) {
	t.Helper()
	ctx := context.Background()
	class := *pvc.Spec.StorageClassName
	sc, err := client.StorageV1().StorageClasses().Get(ctx, class, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("StorageClass %s: %v", class, err)
	}
	params := map[string]string{}
	for k, v := range sc.Parameters {
		if !strings.HasPrefix(k, "csi.storage.k8s.io/") {
			params[k] = v
		}
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	mode := pvc.Spec.AccessModes[0]
	pvName := "pvc-" + string(pvc.UID)
	cc := controllerClient(t)
	cap := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{MountFlags: sc.MountOptions}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csiAccessMode(mode)},
	}
	resp, err := cc.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: pvName, CapacityRange: &csi.CapacityRange{RequiredBytes: size.Value()},
		VolumeCapabilities: []*csi.VolumeCapability{cap}, Parameters: params,
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", pvName, err)
	}
	vol := resp.Volume
	reclaim := corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName,
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": sc.Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(vol.CapacityBytes, resource.BinarySI)},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class,
			MountOptions:                  sc.MountOptions,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: sc.Provisioner, VolumeHandle: vol.VolumeId, VolumeAttributes: vol.VolumeContext}},
		},
	}
	if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create PV %s: %v", pvName, err)
	}
	t.Logf("provisioned %s (volume %s) for claim %s/%s", pvName, vol.VolumeId, pvc.Namespace, pvc.Name)
	if *noControllers {
		bindStatic(t, pvc, pvName)
	}
	t.Cleanup(func() {
		if t.Failed() && *keepNamespaces {
			return
		}
		reclaimStatic(t, pvc.Namespace, pvc.Name, pvName, vol.VolumeId, reclaim)
	})
}

// bindStatic does the PV controller's part for a pre-bound pair: the claim's volumeName and both phases Bound.
func bindStatic(t *testing.T, pvc *corev1.PersistentVolumeClaim, pvName string) {
	t.Helper()
	ctx := context.Background()
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get PV %s: %v", pvName, err)
	}
	pv.Status.Phase = corev1.VolumeBound
	if _, err := client.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("PV %s status: %v", pvName, err)
	}
	claim, err := client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Get(ctx, pvc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get claim %s: %v", pvc.Name, err)
	}
	claim.Spec.VolumeName = pvName
	if claim, err = client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("claim %s volumeName: %v", pvc.Name, err)
	}
	claim.Status.Phase = corev1.ClaimBound
	claim.Status.AccessModes = pv.Spec.AccessModes
	claim.Status.Capacity = pv.Spec.Capacity
	if _, err := client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("claim %s status: %v", pvc.Name, err)
	}
}

// reclaimStatic is the end of a statically provisioned volume: the test's pods are deleted (kubelet unpublishes
// and unstages), the claim is deleted, then DeleteVolume (reclaim policy Delete) and the PV's removal.
func reclaimStatic(t *testing.T, ns, claim, pvName, volumeID string, reclaim corev1.PersistentVolumeReclaimPolicy) {
	ctx := context.Background()
	zero := int64(0)
	_ = client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	err := waitGone(func(ctx context.Context) error {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) > 0 {
			return fmt.Errorf("%d pods left", len(pods.Items))
		}
		return err
	})
	if err != nil {
		t.Errorf("reclaim %s: pods of %s not gone: %v", pvName, ns, err)
		return
	}
	if err := client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, claim, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("reclaim %s: delete claim: %v", pvName, err)
	}
	if reclaim == corev1.PersistentVolumeReclaimDelete {
		if _, err := controllerClient(t).DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volumeID}); err != nil {
			t.Errorf("DeleteVolume %s: %v", volumeID, err)
			return
		}
	}
	if err := client.CoreV1().PersistentVolumes().Delete(ctx, pvName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete PV %s: %v", pvName, err)
	}
}

// waitGone polls check until it returns nil or the step timeout passes.
func waitGone(check func(ctx context.Context) error) error {
	deadline := time.Now().Add(*stepTimeout)
	for {
		err := check(context.Background())
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Second)
	}
}

// listVolumeIDs lists the driver's volumes through ListVolumes (static mode only).
func listVolumeIDs(t *testing.T) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	cc := controllerClient(t)
	token := ""
	for {
		resp, err := cc.ListVolumes(context.Background(), &csi.ListVolumesRequest{StartingToken: token})
		if err != nil {
			t.Fatalf("ListVolumes: %v", err)
		}
		for _, e := range resp.Entries {
			ids[e.Volume.VolumeId] = true
		}
		if token = resp.NextToken; token == "" {
			return ids
		}
	}
}

// expandStatic does what csi-resizer would when claim name in ns asks for more: ControllerExpandVolume on the
// driver, then the PersistentVolume's capacity and the claim's status capacity. CassFS needs no NodeExpandVolume
// (the quota lives in Cassandra and the mount's statfs reads it), so the resize is finished there.
func expandStatic(t *testing.T, ns, name string, size resource.Quantity) {
	t.Helper()
	ctx := context.Background()
	pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get claim %s: %v", name, err)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get PV of claim %s: %v", name, err)
	}
	resp, err := controllerClient(t).ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: pv.Spec.CSI.VolumeHandle, CapacityRange: &csi.CapacityRange{RequiredBytes: size.Value()}})
	if err != nil {
		t.Fatalf("ControllerExpandVolume %s: %v", pv.Spec.CSI.VolumeHandle, err)
	}
	if resp.NodeExpansionRequired {
		t.Fatalf("ControllerExpandVolume %s asks for NodeExpandVolume, which this mode does not drive", pv.Spec.CSI.VolumeHandle)
	}
	got := *resource.NewQuantity(resp.CapacityBytes, resource.BinarySI)
	pv.Spec.Capacity[corev1.ResourceStorage] = got
	if _, err := client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("PV %s capacity: %v", pv.Name, err)
	}
	if pvc.Status.Capacity == nil {
		pvc.Status.Capacity = corev1.ResourceList{}
	}
	pvc.Status.Capacity[corev1.ResourceStorage] = got
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("claim %s status capacity: %v", name, err)
	}
	t.Logf("expanded %s (volume %s) to %s as csi-resizer would", pv.Name, pv.Spec.CSI.VolumeHandle, got.String())
}
