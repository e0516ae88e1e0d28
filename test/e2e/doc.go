// Package e2e is the end-to-end suite of CassFS: it runs against any Kubernetes cluster where the chart
// (charts/cassfs) is installed and its StorageClass works, and checks what a user sees from pods.
//
// The tests carry the build tag e2e, so `go test ./...` never runs them:
//
//	go test -tags e2e ./test/e2e/ -count=1 -timeout 60m -v -args -kubeconfig ~/.kube/config
//
// Flags (after -args, or directly after the package): -kubeconfig (default $KUBECONFIG, then ~/.kube/config),
// -storage-class (RWO tests, default "cassfs"), -rwx-storage-class (default: -storage-class), -image (default
// busybox:1.37; needs sh, df, stat, flock, dd), -timeout-step (how long one step may take, default 5m),
// -keep-namespaces (leave failed tests' namespaces for inspection), -static-provisioning ENDPOINT (the cluster has no
// CSI sidecars: provision by calling CreateVolume on the driver's controller endpoint and creating pre-bound
// PersistentVolumes; DeleteVolume at the end), -no-controllers (no kube-controller-manager or kube-scheduler: the
// suite sets spec.nodeName, creates the default ServiceAccount and marks pre-bound PVs and claims Bound),
// -node-plugin-restart COMMAND (how to SIGKILL and restart the node plugin for TestNodePluginRestart), -kubelet-url
// URL (read the stats summary from kubelet directly: the API server node proxy refuses loopback node addresses).
//
// Each test runs in its own namespace (cassfs-e2e-*), deleted when the test ends. What is covered: a
// ReadWriteOnce volume written by one pod and read back by another; a ReadWriteMany volume shared by pods on
// two nodes (when the cluster has two schedulable nodes), including flock(2) contention across them; online
// expansion seen by df inside the pod; NodeGetVolumeStats in kubelet's stats summary; PVC deletion removing the
// PersistentVolume (DeleteVolume succeeded); a non-root pod with an fsGroup writing to its volume; the node plugin
// SIGKILLed and restarted while a pod appends and fsyncs in a loop (the pod sees no error, fsynced data survives).
// Under -static-provisioning the suite also does csi-resizer's part for online expansion (ControllerExpandVolume,
// then the PV's and the claim's capacity). The restart test needs -node-plugin-restart and fails without it;
// hack/e2e-kind.sh and hack/e2e-local.sh pass one.
//
// testdriver.yaml describes the driver to the Kubernetes external storage suite (e2e.test
// -storage.testdriver=test/e2e/testdriver.yaml); hack/e2e-kind.sh runs both on a kind cluster, and
// hack/e2e-local.sh (make e2e-local) runs this suite on a real single-node cluster on this machine
// (hack/local-cluster.sh) in static-provisioning mode.
package e2e
