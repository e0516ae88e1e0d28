#!/usr/bin/env bash
# hack/e2e-local.sh: the e2e suite (test/e2e) on a real single-node Kubernetes on this machine, without Docker:
# hack/local-cluster.sh up, the suite in static-provisioning mode (no CSI sidecars here), hack/local-cluster.sh down
# (also on failure or Ctrl-C). Cassandra and ZooKeeper come from the test bed of CASSFS_STATE /
# CASSANDRA_BASE_IP / ZK_PORT_BASE (hack/cassandra.sh, hack/zookeeper.sh); they are left running.
#
# Environment:
#   E2E_ARGS       extra arguments for the suite, e.g. "-run TestReadWriteOnce -keep-namespaces"
#   KEEP_CLUSTER=1 leave the cluster up afterwards (hack/local-cluster.sh down stops it)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LC=$ROOT/hack/local-cluster.sh
log() { echo "e2e-local: $*" >&2; }

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    "$LC" status || true
    log "failed (exit $rc); logs in ${CASSFS_STATE:-/var/tmp/cassfs}/cluster/logs"
  fi
  if [[ "${KEEP_CLUSTER:-}" == 1 ]]; then
    log "cluster kept: $("$LC" env | head -1)"
  else
    "$LC" down || true
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

t0=$SECONDS
"$LC" up
t1=$SECONDS
eval "$("$LC" env)"
cd "$ROOT"
# shellcheck disable=SC2086 # E2E_ARGS is split on purpose
go test -tags e2e ./test/e2e/ -count=1 -timeout 60m -v -args -kubeconfig "$KUBECONFIG" \
  -static-provisioning "$CASSFS_CONTROLLER_ENDPOINT" -image "$CASSFS_E2E_IMAGE" \
  -node-plugin-restart "$LC restart-node-plugin" -no-controllers="$CASSFS_E2E_NO_CONTROLLERS" \
  -kubelet-url "$CASSFS_KUBELET_URL" -timeout-step 3m ${E2E_ARGS:-}
log "bring-up $((t1 - t0)) s, suite $((SECONDS - t1)) s"
