#!/usr/bin/env bash
# hack/helm.sh: a pinned helm binary, built once from the Go module proxy into a cache outside the repo.
#
#   hack/helm.sh path        print the path of the helm binary (builds it first if missing)
#   hack/helm.sh [ARGS...]   run helm with ARGS (builds it first if missing)
#
# Environment: HELM_VERSION (default v3.22.0), CASSFS_CACHE (default ~/.cache/cassfs).
# The binary lands in $CASSFS_CACHE/helm-$HELM_VERSION/bin/helm; test/chart looks there (or at $HELM).
# Building helm is CPU heavy (a few minutes on 2 cores): it happens only when the binary is missing.
set -euo pipefail

VERSION=${HELM_VERSION:-v3.22.0}
CACHE=${CASSFS_CACHE:-$HOME/.cache/cassfs}
BIN_DIR="$CACHE/helm-$VERSION/bin"
HELM_BIN="$BIN_DIR/helm"

log() { echo "helm.sh: $*" >&2; }

ensure() {
  if [[ -x "$HELM_BIN" ]]; then return 0; fi
  command -v go >/dev/null || { log "go is missing"; exit 1; }
  log "building helm $VERSION into $BIN_DIR (once; this takes a few minutes)"
  mkdir -p "$BIN_DIR"
  # Outside any module so the repo's go.mod is neither read nor touched.
  (cd "$BIN_DIR" && GOFLAGS=-mod=mod GOBIN="$BIN_DIR" GOWORK=off go install "helm.sh/helm/v3/cmd/helm@$VERSION")
  "$HELM_BIN" version --short >&2
}

case "${1:-}" in
  path) ensure; echo "$HELM_BIN" ;;
  *) ensure; exec "$HELM_BIN" "$@" ;;
esac
