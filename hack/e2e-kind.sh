#!/usr/bin/env bash
# hack/e2e-kind.sh: the CassFS end-to-end suite on a throw-away kind cluster (needs Docker, kind, kubectl, go).
#
#   hack/e2e-kind.sh            create the cluster, build and load the image, start Cassandra and ZooKeeper,
#                               install the chart, run test/e2e, delete the cluster (also on failure or Ctrl-C)
#
# Environment:
#   KIND_CLUSTER       cluster name (default cassfs-e2e)
#   KIND_NODE_IMAGE    kindest/node image to use (default: kind's own default)
#   KEEP_CLUSTER=1     leave the cluster running afterwards (kubeconfig copied to ~/.kube/kind-CLUSTER)
#   E2E_ARGS           extra arguments for the suite, e.g. "-run TestReadWriteMany -keep-namespaces"
#   E2E_EXTERNAL=1     also run the Kubernetes external storage suite (downloads e2e.test of the server's version)
#   EXTERNAL_FOCUS     ginkgo focus of that suite (default 'External.Storage.*csi.cassfs.io')
#   EXTERNAL_SKIP      ginkgo skip (default '\[Disruptive\]|\[Serial\]|\[Slow\]')
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER=${KIND_CLUSTER:-cassfs-e2e}
NAMESPACE=cassfs
IMAGE=cassfs/csi-driver:e2e
WORK=$(mktemp -d)
KUBECONFIG_FILE="$WORK/kubeconfig"
export KUBECONFIG="$KUBECONFIG_FILE"

log() { echo "e2e-kind: $*" >&2; }

for tool in docker kind kubectl go; do
  command -v "$tool" >/dev/null || { log "$tool is missing"; exit 1; }
done
HELM=$("$ROOT/hack/helm.sh" path)

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]] && kubectl get ns "$NAMESPACE" >/dev/null 2>&1; then
    log "failed (exit $rc): driver state and logs follow"
    kubectl -n "$NAMESPACE" get pods -o wide || true
    kubectl -n "$NAMESPACE" logs -l app.kubernetes.io/component=controller --all-containers --tail=200 --prefix || true
    kubectl -n "$NAMESPACE" logs -l app.kubernetes.io/component=node --all-containers --tail=200 --prefix || true
  fi
  if [[ "${KEEP_CLUSTER:-}" == 1 ]]; then
    mkdir -p "$HOME/.kube" && cp "$KUBECONFIG_FILE" "$HOME/.kube/kind-$CLUSTER" 2>/dev/null || true
    log "cluster $CLUSTER kept; KUBECONFIG=$HOME/.kube/kind-$CLUSTER; delete with: kind delete cluster --name $CLUSTER"
  else
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

log "creating kind cluster $CLUSTER (1 control plane, 2 workers)"
cat >"$WORK/kind.yaml" <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
KIND
kind create cluster --name "$CLUSTER" --config "$WORK/kind.yaml" --kubeconfig "$KUBECONFIG_FILE" \
  ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 5m

for node in $(kind get nodes --name "$CLUSTER"); do
  docker exec "$node" test -c /dev/fuse || {
    log "/dev/fuse is missing in kind node $node: load the fuse module on the Docker host (modprobe fuse)"; exit 1; }
done

log "building $IMAGE"
VERSION=$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)
docker build --build-arg VERSION="$VERSION" -t "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"

log "starting Cassandra and ZooKeeper in namespace $NAMESPACE"
kubectl create namespace "$NAMESPACE"
kubectl -n "$NAMESPACE" apply -f "$ROOT/test/e2e/manifests/"
kubectl -n "$NAMESPACE" rollout status statefulset/zookeeper --timeout=5m
kubectl -n "$NAMESPACE" rollout status statefulset/cassandra --timeout=10m

log "installing the chart"
"$HELM" install cassfs "$ROOT/charts/cassfs" --namespace "$NAMESPACE" \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --set-json 'cassandra.hosts=["cassandra"]' --set-json 'zookeeper.servers=["zookeeper:2181"]' \
  --wait --timeout 10m
kubectl -n "$NAMESPACE" get pods -o wide

log "running test/e2e"
# shellcheck disable=SC2086 # E2E_ARGS is a list of flags
# TestNodePluginRestart: SIGKILL the plugin container's process on every worker (the fdkeeper container keeps the
# FUSE connections), then wait until kubelet has restarted it and the node pods are ready again.
restart_cmd="for n in \$(kind get nodes --name $CLUSTER); do docker exec \$n pkill -KILL -f 'csi-driver serve' || true; done; \
sleep 3; kubectl --kubeconfig $KUBECONFIG_FILE -n $NAMESPACE wait --for=condition=Ready pod \
-l app.kubernetes.io/component=node --timeout=2m"
(cd "$ROOT" && go test -tags e2e ./test/e2e/ -count=1 -timeout 60m -v -args -kubeconfig "$KUBECONFIG_FILE" \
  -node-plugin-restart "$restart_cmd" ${E2E_ARGS:-})

if [[ "${E2E_EXTERNAL:-}" == 1 ]]; then
  server=$(kubectl version -o json | sed -n 's/.*"gitVersion": *"\(v[^"]*\)".*/\1/p' | tail -1)
  arch=$(go env GOARCH)
  log "running the Kubernetes $server external storage suite"
  curl -fsSL "https://dl.k8s.io/release/$server/kubernetes-test-linux-$arch.tar.gz" | tar -xz -C "$WORK"
  "$WORK/kubernetes/test/bin/e2e.test" \
    -ginkgo.focus="${EXTERNAL_FOCUS:-External.Storage.*csi.cassfs.io}" \
    -ginkgo.skip="${EXTERNAL_SKIP:-\[Disruptive\]|\[Serial\]|\[Slow\]}" \
    -storage.testdriver="$ROOT/test/e2e/testdriver.yaml" -kubeconfig "$KUBECONFIG_FILE" -report-dir "$WORK/report"
fi
log "passed"
