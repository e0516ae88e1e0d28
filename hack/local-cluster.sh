#!/usr/bin/env bash
# hack/local-cluster.sh: a real single-node Kubernetes on this machine without Docker or kind
# (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet as host processes).
#
#   hack/local-cluster.sh build    build the Kubernetes binaries from the Go module proxy into the cache (idempotent)
#   hack/local-cluster.sh up       build if needed, start everything, import the images, start the CassFS node plugin
#   hack/local-cluster.sh down     stop everything this script started, unmount, remove the cluster state
#   hack/local-cluster.sh status   what runs
#   hack/local-cluster.sh env      print the variables a test needs (KUBECONFIG, sockets)
#
# Environment:
#   KUBE_VERSION   Kubernetes version to build (default v1.36.3)
#   KUBE_BIN       where the binaries are cached (default ~/.cache/cassfs/kubernetes-$KUBE_VERSION)
#   KUBE_COMPONENTS  what build (and up) builds when missing (default: kubelet kube-apiserver kube-controller-manager
#                  kube-scheduler; kubelet and kube-apiserver are required, the others are used when present)
#   CASSFS_STATE   state directory of the private test bed (default /var/tmp/cassfs); the cluster lives in
#                  $CASSFS_STATE/cluster (logs in $CASSFS_STATE/cluster/logs)
#   CASSANDRA_BASE_IP, ZK_PORT_BASE   the private Cassandra/ZooKeeper bed (see hack/cassandra.sh, hack/zookeeper.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
KUBE_BIN=${KUBE_BIN:-$HOME/.cache/cassfs/kubernetes-$KUBE_VERSION}
# shellcheck disable=SC2206 # a space-separated list on purpose
KUBE_COMPONENTS=(${KUBE_COMPONENTS:-kubelet kube-apiserver kube-controller-manager kube-scheduler})

log() { echo "local-cluster: $*" >&2; }

# build_kube builds each missing component of KUBE_COMPONENTS from the Go module proxy: a wrapper module requires
# k8s.io/kubernetes and replaces each staging module (./staging/src/k8s.io/X in upstream's go.mod) by its published
# version v0.MINOR.PATCH. Binaries land in KUBE_BIN only when complete, so an interrupted build is resumed.
build_kube() {
  local missing=() c
  for c in "${KUBE_COMPONENTS[@]}"; do [[ -x $KUBE_BIN/$c ]] || missing+=("$c"); done
  ((${#missing[@]})) || { log "kubernetes $KUBE_VERSION binaries cached in $KUBE_BIN"; return 0; }
  command -v go >/dev/null || { log "go is missing"; exit 1; }
  local src=$KUBE_BIN/src staging=v0.${KUBE_VERSION#v1.}
  mkdir -p "$src"
  if [[ ! -s $src/go.mod ]]; then
    log "resolving k8s.io/kubernetes@$KUBE_VERSION"
    local upstream
    upstream=$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
      sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [[ -s $upstream ]] || { log "could not download the go.mod of k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
    {
      echo "module cassfs.local/kube-build"
      echo
      echo "go $(go env GOVERSION | sed 's/^go//')"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*#replace \1 => \1 '"$staging"'#p' "$upstream"
    } >"$src/go.mod.tmp"
    mv "$src/go.mod.tmp" "$src/go.mod"
  fi
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
  for c in "${missing[@]}"; do
    log "building $c $KUBE_VERSION (cold: many minutes)"
    local t0=$SECONDS
    (cd "$src" && CGO_ENABLED=0 nice -n 19 go build -mod=mod -trimpath -ldflags "$ldflags" -o "$KUBE_BIN/.$c.tmp" "k8s.io/kubernetes/cmd/$c")
    mv "$KUBE_BIN/.$c.tmp" "$KUBE_BIN/$c"
    log "built $c in $((SECONDS - t0)) s"
  done
}


# ---------------------------------------------------------------------------------------------------------------
# The cluster. Everything lives in $C; only what config cannot move is outside (containerd's shim sockets under
# /run/containerd/s, kubelet's /var/lib/kubelet/device-plugins, /var/log/containers).
STATE=${CASSFS_STATE:-/var/tmp/cassfs}
C=$STATE/cluster
LOGS=$C/logs
RUN=$C/run # pid files
PKI=$C/pki
KROOT=$C/kubelet # kubelet --root-dir
NODE_NAME=${NODE_NAME:-localhost} # resolves to 127.0.0.1: apiserver->kubelet traffic (logs, exec) stays on loopback
DRIVER=csi.cassfs.io
PLUGIN_DIR=$KROOT/plugins/$DRIVER
CONTROLLER_SOCK=$C/csi/controller.sock
FDKEEPER_SOCK=$C/csi/fdkeeper.sock
CTR_SOCK=$C/containerd/containerd.sock
ETCD_PORT=${ETCD_PORT:-2479}
APISERVER_PORT=${APISERVER_PORT:-6443}
KUBECONFIG_FILE=$C/kubeconfig
POD_CIDR=${POD_CIDR:-198.18.0.0/24}         # benchmarking range: pods talk to nobody
SERVICE_CIDR=${SERVICE_CIDR:-198.18.1.0/24} # no kube-proxy runs: nothing routes to it
BUSYBOX_IMAGE=cassfs.local/busybox:e2e
PAUSE_IMAGE=cassfs.local/pause:e2e
CASS_HOST=127.0.0.${CASSANDRA_BASE_IP:-1}
ZK_ADDR=127.0.0.1:$((${ZK_PORT_BASE:-2180} + 1))

# node_ip: kubelet refuses a loopback node IP; take this machine's first global IPv4 address (NODE_IP overrides).
node_ip() {
  [[ -n ${NODE_IP:-} ]] && { echo "$NODE_IP"; return; }
  ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}'
}

kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }
alive() { [[ -s $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# start NAME CMD...: run CMD in its own session with its log in $LOGS/NAME.log (appended), unless it runs.
start() {
  local name=$1
  shift
  alive "$name" && return 0
  mkdir -p "$LOGS" "$RUN"
  echo "=== $(date -u +%FT%TZ) start: $*" >>"$LOGS/$name.log"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

# stop NAME [SIGNAL]: stop the process of the pid file and wait for it (SIGKILL after 20 s).
stop() {
  local name=$1 sig=${2:-TERM} pid i
  [[ -s $RUN/$name.pid ]] || return 0
  pid=$(cat "$RUN/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$name ($pid) did not stop: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; }
  fi
  rm -f "$RUN/$name.pid"
}

# wait_for WHAT SECONDS CMD...: retry CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "$what not ready after $secs s; see $LOGS"
  return 1
}

need_tools() {
  local missing=() t
  for t in etcd containerd runc ctr kubectl openssl busybox go; do command -v "$t" >/dev/null || missing+=("$t"); done
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  ((${#missing[@]} == 0)) && return 0
  log "missing: ${missing[*]}; installing the Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends containerd runc etcd-server containernetworking-plugins busybox-static >/dev/null
}

# pki: a CA and the certificates of apiserver, admin, kubelet (node identity) and apiserver->kubelet client.
pki() {
  [[ -s $PKI/admin.crt ]] && return 0
  mkdir -p "$PKI"
  local ip
  ip=$(node_ip)
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=cassfs-local-ca 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    cert() { # name subject [sans]
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      local ext=$1.ext
      echo "basicConstraints=CA:FALSE" >"$ext"
      if [[ -n ${3:-} ]]; then
        echo "extendedKeyUsage=serverAuth,clientAuth" >>"$ext"
        echo "subjectAltName=$3" >>"$ext"
      else
        echo "extendedKeyUsage=clientAuth" >>"$ext"
      fi
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$ext" 2>/dev/null
      rm -f "$1.csr" "$ext"
    }
    cert apiserver /CN=kube-apiserver \
      "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:$ip,IP:${SERVICE_CIDR%.*}.1"
    cert admin "/O=system:masters/CN=cassfs-admin"
    cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  )
}

kubeconfig() { # file cert
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: local
  context: {cluster: local, user: $2}
current-context: local
KC
}

# images: pause, busybox (+ flock) and the csi-driver, packed from local builds and imported into containerd.
build_images() {
  local img=$C/images root
  mkdir -p "$img"
  (cd "$ROOT" && CGO_ENABLED=0 nice -n 19 go build -trimpath -o "$img/bin/" ./hack/localcluster/pause ./hack/localcluster/flock ./hack/localcluster/imgpack)
  (cd "$ROOT" && CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "-X main.version=local-cluster" -o "$img/bin/csi-driver" ./cmd/csi-driver)
  root=$img/pause-root
  rm -rf "$root" && mkdir -p "$root"
  cp "$img/bin/pause" "$root/pause"
  "$img/bin/imgpack" -root "$root" -tag "$PAUSE_IMAGE" -entrypoint /pause -o "$img/pause.tar"
  root=$img/busybox-root
  rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/data"
  chmod 1777 "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  local a
  for a in $(busybox --list); do [[ $a == busybox ]] || ln -sf busybox "$root/bin/$a"; done
  rm -f "$root/bin/flock" && cp "$img/bin/flock" "$root/bin/flock"
  echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
  echo "root:x:0:" >"$root/etc/group"
  "$img/bin/imgpack" -root "$root" -tag "$BUSYBOX_IMAGE" -o "$img/busybox.tar"
  local t
  for t in pause busybox; do
    ctr -a "$CTR_SOCK" -n k8s.io images import "$img/$t.tar" >/dev/null
  done
}

start_etcd() {
  mkdir -p "$C/etcd"
  start etcd etcd --name local --data-dir "$C/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "local=http://127.0.0.1:$((ETCD_PORT + 1))" --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  start kube-apiserver "$KUBE_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" --advertise-address "$(node_ip)" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types Hostname,InternalIP \
    --authorization-mode Node,RBAC --allow-privileged=true --service-cluster-ip-range "$SERVICE_CIDR"
  wait_for kube-apiserver 120 kc get --raw /readyz
}

start_controllers() {
  if [[ -x $KUBE_BIN/kube-controller-manager ]]; then
    start kube-controller-manager "$KUBE_BIN/kube-controller-manager" --kubeconfig "$KUBECONFIG_FILE" \
      --bind-address 127.0.0.1 --leader-elect=false --service-account-private-key-file "$PKI/sa.key" \
      --root-ca-file "$PKI/ca.crt" --use-service-account-credentials=false
  fi
  if [[ -x $KUBE_BIN/kube-scheduler ]]; then
    start kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" --bind-address 127.0.0.1 --leader-elect=false
  fi
}

start_containerd() {
  mkdir -p "$C/containerd" "$C/cni/net.d"
  cat >"$C/containerd/config.toml" <<CT
version = 2
root = "$C/containerd/root"
state = "$C/containerd/state"
[grpc]
  address = "$CTR_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # These VMs lack CAP_SYS_RESOURCE: without it runc fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$C/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
CT
  cat >"$C/cni/net.d/10-cassfs-local.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "cassfs-local",
  "plugins": [
    {"type": "bridge", "bridge": "cassfs0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}
CNI
  start containerd containerd --config "$C/containerd/config.toml"
  wait_for containerd 30 ctr -a "$CTR_SOCK" version
}

start_kubelet() {
  mkdir -p "$KROOT"
  kubeconfig "$C/kubelet.kubeconfig" kubelet
  cat >"$C/kubelet.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CTR_SOCK
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
volumeStatsAggPeriod: 10s
resolvConf: /etc/resolv.conf
KL
  start kubelet "$KUBE_BIN/kubelet" --config "$C/kubelet.yaml" --kubeconfig "$C/kubelet.kubeconfig" \
    --root-dir "$KROOT" --cert-dir "$C/kubelet-pki" --hostname-override "$NODE_NAME" --node-ip "$(node_ip)" -v 2
  wait_for "node $NODE_NAME Ready" 120 bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

# The CassFS plugins as host processes: the controller service on $CONTROLLER_SOCK (the tests call CreateVolume and
# DeleteVolume there, where csi-provisioner would), the fdkeeper, and the node service registering itself with
# kubelet (serve --kubelet-registration-dir), as the node DaemonSet's containers would.
start_plugins() {
  local bin=$C/images/bin/csi-driver
  mkdir -p "$C/csi" "$PLUGIN_DIR"
  start csi-controller "$bin" serve --mode controller --endpoint "unix://$CONTROLLER_SOCK" --driver-name "$DRIVER" \
    --cassandra "$CASS_HOST" --zookeeper "$ZK_ADDR" --zookeeper-chroot /cassfs-local-cluster
  start csi-fdkeeper "$bin" fdkeeper --socket "$FDKEEPER_SOCK"
  start_node_plugin
  wait_for "CSINode $DRIVER" 60 bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' get csinode '$NODE_NAME' -o jsonpath='{.spec.drivers[*].name}' | grep -qw '$DRIVER'"
}

start_node_plugin() {
  start csi-node "$C/images/bin/csi-driver" serve --mode node --endpoint "unix://$PLUGIN_DIR/csi.sock" \
    --driver-name "$DRIVER" --node-id "$NODE_NAME" --kubelet-registration-dir "$KROOT/plugins_registry" \
    --kubelet-dir "$KROOT" --state-dir "$C/csi/node-state" --fdkeeper-socket "$FDKEEPER_SOCK" \
    --cassandra "$CASS_HOST" --zookeeper "$ZK_ADDR" --zookeeper-chroot /cassfs-local-cluster
}

# restart_node_plugin [SIGNAL]: what a crashed or upgraded node plugin pod is: the node service is killed (SIGKILL by
# default) and started again; the fdkeeper held the mounts' FUSE connections, so the new process serves them again.
restart_node_plugin() {
  stop csi-node "${1:-KILL}"
  rm -f "$PLUGIN_DIR/csi.sock" # the killed process left it: wait for the new one's
  start_node_plugin
  wait_for "node plugin socket" 60 test -S "$PLUGIN_DIR/csi.sock"
}

# objects: the CSIDriver and StorageClass the chart would install, and what kube-controller-manager would create
# when it is not built (default ServiceAccount and root CA ConfigMap).
create_objects() {
  kc apply -f - >/dev/null <<OBJ
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: $DRIVER}
spec:
  attachRequired: false
  podInfoOnMount: true
  fsGroupPolicy: File
  volumeLifecycleModes: [Persistent]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: cassfs}
provisioner: $DRIVER
reclaimPolicy: Delete
allowVolumeExpansion: true
volumeBindingMode: Immediate
parameters: {replicationFactor: "1"}
OBJ
  if ! alive kube-controller-manager; then
    kc create serviceaccount default -n default >/dev/null 2>&1 || true
    kc create configmap kube-root-ca.crt -n default --from-file=ca.crt="$PKI/ca.crt" >/dev/null 2>&1 || true
  fi
}

servers_up() {
  CASSFS_STATE=$STATE "$ROOT/hack/cassandra.sh" start 1 >&2
  CASSFS_STATE=$STATE "$ROOT/hack/zookeeper.sh" start 1 >&2
}

up() {
  local t0=$SECONDS
  need_tools
  build_kube
  [[ -x $KUBE_BIN/kubelet && -x $KUBE_BIN/kube-apiserver ]] || { log "kubelet and kube-apiserver are required"; exit 1; }
  servers_up
  mkdir -p "$C" "$LOGS" "$RUN"
  pki
  kubeconfig "$KUBECONFIG_FILE" admin
  start_etcd
  start_apiserver
  start_controllers
  start_containerd
  build_images
  start_kubelet
  create_objects
  start_plugins
  log "up in $((SECONDS - t0)) s: KUBECONFIG=$KUBECONFIG_FILE; controller socket $CONTROLLER_SOCK; logs in $LOGS"
  [[ -x $KUBE_BIN/kube-controller-manager ]] || log "no kube-controller-manager: PV/PVC binding is not done by the cluster"
  [[ -x $KUBE_BIN/kube-scheduler ]] || log "no kube-scheduler: pods must set spec.nodeName"
}

down() {
  if alive kube-apiserver && alive kubelet; then
    # Let kubelet tear pods down (NodeUnpublish/NodeUnstage through the plugin) while everything still runs.
    kc delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    wait_for "pods gone" 60 bash -c "[ -z \"\$(ctr -a '$CTR_SOCK' -n k8s.io tasks ls -q 2>/dev/null | grep -v '^$' || true)\" ]" || true
  fi
  local n
  for n in kubelet csi-node csi-fdkeeper csi-controller kube-scheduler kube-controller-manager; do stop "$n"; done
  if alive containerd; then
    local id
    for id in $(ctr -a "$CTR_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr -a "$CTR_SOCK" -n k8s.io tasks kill -s KILL "$id" >/dev/null 2>&1 || true
    done
    sleep 1
    for id in $(ctr -a "$CTR_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$CTR_SOCK" -n k8s.io tasks rm -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr -a "$CTR_SOCK" -n k8s.io containers ls -q 2>/dev/null); do ctr -a "$CTR_SOCK" -n k8s.io containers rm "$id" >/dev/null 2>&1 || true; done
  fi
  for n in containerd kube-apiserver etcd; do stop "$n"; done
  # Mounts left below the cluster directory (volumes, container root file systems, FUSE mounts), deepest first.
  local m
  for m in $(awk -v c="$C/" 'index($2, c) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
  done
  ip link del cassfs0 2>/dev/null || true
  rm -rf "$C/etcd" "$C/containerd" "$C/kubelet" "$C/kubelet-pki" "$C/csi" "$C/run" "$C/pki" "$C/cni"
  log "down (logs kept in $LOGS)"
}

status() {
  local n rc=0
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet csi-controller csi-fdkeeper csi-node; do
    if alive "$n"; then echo "$n: running (pid $(cat "$RUN/$n.pid"))"; else echo "$n: stopped"; rc=1; fi
  done
  if alive kube-apiserver; then kc get nodes -o wide 2>&1 || true; fi
  return $rc
}

env_vars() {
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
  echo "CASSFS_CONTROLLER_ENDPOINT=unix://$CONTROLLER_SOCK"
  echo "CASSFS_E2E_IMAGE=$BUSYBOX_IMAGE"
  # The API server's node proxy refuses loopback node addresses: the stats test reads kubelet directly.
  echo "CASSFS_KUBELET_URL=https://127.0.0.1:10250"
  if [[ -x $KUBE_BIN/kube-controller-manager && -x $KUBE_BIN/kube-scheduler ]]; then
    echo "CASSFS_E2E_NO_CONTROLLERS=false"
  else
    echo "CASSFS_E2E_NO_CONTROLLERS=true"
  fi
}

cmd=${1:-}
case $cmd in
  build) build_kube ;;
  up) up ;;
  down) down ;;
  status) status ;;
  env) env_vars ;;
  restart-node-plugin) restart_node_plugin "${2:-KILL}" ;;
  *) echo "usage: $0 build|up|down|status|env|restart-node-plugin [SIGNAL]" >&2; exit 2 ;;
esac
