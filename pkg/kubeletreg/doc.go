// Package kubeletreg registers a CSI node plugin with kubelet directly, without the node-driver-registrar
// sidecar.
//
// Kubelet watches its plugin registry directory (/var/lib/kubelet/plugins_registry by default). For each socket
// that appears there it dials the socket, calls the Registration service of
// k8s.io/kubelet/pkg/apis/pluginregistration/v1 — GetInfo, which names the plugin type (CSIPlugin), the driver
// name, the CSI endpoint kubelet should use and the supported CSI versions — then validates the plugin (it calls
// the CSI NodeGetInfo on the endpoint, fills the node's CSINode object) and reports the outcome with
// NotifyRegistrationStatus. When the socket goes away, kubelet deregisters the driver.
//
// Serve does the plugin's half: it serves that service on DIR/<driver-name>-reg.sock (removing a stale socket
// first), logs every registration status, and removes the socket when its context ends. "csi-driver serve
// --kubelet-registration-dir DIR" runs it beside the node service; the Helm chart keeps the sidecar, and
// hack/local-cluster.sh uses this.
package kubeletreg
