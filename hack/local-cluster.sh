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
#   CASSFS_STATE   state directory of the private test bed (default /var/tmp/cassfs); the cluster lives in
#                  $CASSFS_STATE/cluster (logs in $CASSFS_STATE/cluster/logs)
#   CASSANDRA_BASE_IP, ZK_PORT_BASE   the private Cassandra/ZooKeeper bed (see hack/cassandra.sh, hack/zookeeper.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
KUBE_BIN=${KUBE_BIN:-$HOME/.cache/cassfs/kubernetes-$KUBE_VERSION}
KUBE_COMPONENTS=(kubelet kube-apiserver kube-controller-manager kube-scheduler)

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

cmd=${1:-}
case $cmd in
  build) build_kube ;;
  *) echo "usage: $0 build|up|down|status|env" >&2; exit 2 ;;
esac
