#!/usr/bin/env bash
# hack/test.sh: the whole CassFS test suite against real servers. `make test` and .ci/run call it.
#
#   1. installs what is missing (hack/deps.sh), checks formatting and go vet, runs every fuzz target briefly
#      (hack/fuzz.sh, no server needed);
#   2. starts single-node Cassandra (127.0.0.1:9042) and standalone ZooKeeper (127.0.0.1:2181) and runs every
#      package's tests (unit, integration, conformance, FUSE mounts, CSI sanity, Helm chart);
#   3. runs the README's first command (hack/quickstart.sh) against them and unmounts its volume;
#   4. stops them, starts three Cassandra nodes (127.0.0.1-3) and a three-server ZooKeeper ensemble
#      (127.0.0.1:2181-2183) and runs the replication and failure tests (-tags multinode);
#   5. starts a secured bed of its own (one Cassandra node on 127.0.0.71 with PasswordAuthenticator,
#      CassandraAuthorizer and TLS required on the CQL port; ZooKeeper on 127.0.0.1:2481) and runs the tenant
#      isolation tests (-tags secure), then stops it;
#   6. prints "N passed, N failed, N skipped" over everything, and exits non-zero on any failure.
#
# Environment: CI=true wipes server data first; CASSFS_TEST_TIMEOUT (default 45m) bounds phase 2;
# CASSFS_SKIP_MULTINODE=1 leaves out the three-node step and CASSFS_SKIP_SECURE=1 the secured one (never in CI);
# GO_TEST_FLAGS adds flags to go test;
# CASSFS_FUZZTIME (default 2000x) is the execution count of each fuzz target.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=${CASSFS_STATE:-/var/tmp/cassfs}
OUT=${CASSFS_TEST_OUT:-$STATE/test-results}
mkdir -p "$OUT"
rm -f "$OUT"/*.json
start=$SECONDS
fail=0
step() { echo; echo "=== $* ($((SECONDS - start)) s)"; }

step "dependencies"
hack/deps.sh || exit 1

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n $unformatted ]]; then echo "gofmt would change:"; echo "$unformatted"; fail=1; fi
go vet ./... || fail=1
go vet -tags multinode ./test/multinode/ || fail=1
go vet -tags secure ./test/secure/ || fail=1
go build -o bin/testreport ./hack/testreport || exit 1

step "fuzz targets, ${CASSFS_FUZZTIME:-2000x} executions each (hack/fuzz.sh)"
# Needs no server; runs before they start. Execution counts, not durations (golang/go#75804).
FUZZTIME=${CASSFS_FUZZTIME:-2000x} hack/fuzz.sh || fail=1

if [[ ${CI:-} == true ]]; then
  step "wiping server data for a clean run"
  hack/cassandra.sh wipe
  hack/zookeeper.sh wipe
  CASSFS_STATE=$STATE/multi hack/cassandra.sh wipe
  CASSFS_STATE=$STATE/multi hack/zookeeper.sh wipe
  CASSFS_STATE=$STATE/secure hack/cassandra.sh wipe
  CASSFS_STATE=$STATE/secure hack/zookeeper.sh wipe
fi

step "single-node Cassandra and standalone ZooKeeper"
CASSFS_STATE=$STATE/multi hack/cassandra.sh stop
CASSFS_STATE=$STATE/multi hack/zookeeper.sh stop
hack/cassandra.sh start 1 || exit 1
hack/zookeeper.sh start 1 || exit 1

step "go test ./... against the real servers"
# shellcheck disable=SC2086
go test -json -count=1 -timeout "${CASSFS_TEST_TIMEOUT:-45m}" ${GO_TEST_FLAGS:-} ./... 2>&1 |
  bin/testreport -save "$OUT/main.json" || fail=1

step "the README's first command (hack/quickstart.sh), on the same servers"
qs_env=(CASSFS_MOUNT="$STATE/quickstart-ci" CASSFS_VOLUME=quickstart_ci CASSFS_QUICKSTART_RUN="$STATE/quickstart-ci.run")
if env "${qs_env[@]}" hack/quickstart.sh; then
  echo "quickstart: ok"
else
  echo "quickstart: FAILED"; fail=1
fi
env "${qs_env[@]}" hack/quickstart.sh unmount

if [[ ${CASSFS_SKIP_MULTINODE:-} != 1 ]]; then
  step "three Cassandra nodes and a three-server ZooKeeper ensemble"
  hack/cassandra.sh stop
  hack/zookeeper.sh stop
  export CASSFS_STATE=$STATE/multi
  if hack/cassandra.sh start 3 && hack/zookeeper.sh start 3; then
    step "go test -tags multinode"
    go test -json -count=1 -timeout 40m -tags multinode ./test/multinode/ 2>&1 |
      bin/testreport -save "$OUT/multinode.json" || fail=1
  else
    echo "the three-node test bed did not start"; fail=1
  fi
  hack/cassandra.sh stop
  hack/zookeeper.sh stop
  export CASSFS_STATE=$STATE
fi

if [[ ${CASSFS_SKIP_SECURE:-} != 1 ]]; then
  # Addresses and ports of its own, so that it never meets the other beds' servers.
  secure_env=(CASSFS_STATE="$STATE/secure" CASSANDRA_BASE_IP=71 ZK_PORT_BASE=2480 CASSANDRA_HEAP=768M
    CASSANDRA_AUTHENTICATOR=PasswordAuthenticator CASSANDRA_AUTHORIZER=CassandraAuthorizer CASSANDRA_CLIENT_TLS=1)
  step "secured bed: Cassandra with passwords, roles and client TLS on 127.0.0.71, ZooKeeper on 127.0.0.1:2481"
  if env "${secure_env[@]}" hack/cassandra.sh start 1 && env "${secure_env[@]}" hack/zookeeper.sh start 1; then
    step "go test -tags secure"
    env "${secure_env[@]}" CASSFS_TEST_CASSANDRA=127.0.0.71 CASSFS_TEST_ZOOKEEPER=127.0.0.1:2481 \
      CASSFS_TEST_CASSANDRA_CA="$STATE/secure/cassandra/tls/ca.pem" \
      go test -json -count=1 -timeout 15m -tags secure ./test/secure/ 2>&1 |
      bin/testreport -save "$OUT/secure.json" || fail=1
  else
    echo "the secured test bed did not start"; fail=1
  fi
  env "${secure_env[@]}" hack/cassandra.sh stop
  env "${secure_env[@]}" hack/zookeeper.sh stop
fi

if [[ ${CASSFS_SKIP_MULTINODE:-} != 1 ]]; then
  # Leave the single-node servers up, as a developer had them.
  hack/cassandra.sh start 1 >/dev/null 2>&1
  hack/zookeeper.sh start 1 >/dev/null 2>&1
fi

step "summary (results in $OUT)"
bin/testreport -summary "$OUT"/*.json || fail=1
echo "total time $((SECONDS - start)) s"
exit $fail
