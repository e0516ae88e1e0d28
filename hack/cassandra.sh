#!/usr/bin/env bash
# hack/cassandra.sh: a real Apache Cassandra 5.0 on loopback, assembled from Maven Central jars.
#
#   hack/cassandra.sh install            fetch the jars into the cache (once per version)
#   hack/cassandra.sh start [1|3]        start 1 node (127.0.0.1) or 3 nodes (127.0.0.1-3); idempotent
#   hack/cassandra.sh wait  [1|3]        wait until the nodes answer CQL (and see each other)
#   hack/cassandra.sh stop               stop every node this script started
#   hack/cassandra.sh kill N             SIGKILL node N (failure tests)
#   hack/cassandra.sh nodetool-node N …  nodetool against node N (nodetool … talks to node 1)
#   hack/cassandra.sh start-node N       start node N alone (after a kill)
#   hack/cassandra.sh wipe               stop, then delete all data
#   hack/cassandra.sh status             one line per node, and nodetool status when JMX answers
#
# Environment: CASSANDRA_VERSION (default 5.0.9), CASSFS_CACHE (jar cache, default ~/.cache/cassfs),
# CASSFS_STATE (data and logs, default /var/tmp/cassfs), CASSANDRA_HEAP (default 1G for 1 node, 768M for 3),
# CASSANDRA_BASE_IP (last octet of node1's address, default 1: nodes on 127.0.0.1-3; JMX on 7000 + octet*100).
# CASSANDRA_AUTHENTICATOR / CASSANDRA_AUTHORIZER (default AllowAll*; PasswordAuthenticator and CassandraAuthorizer
# give the superuser cassandra/cassandra). CASSANDRA_CLIENT_TLS=1: the CQL port accepts TLS only (plain-text
# clients are refused), with a server certificate for the nodes' addresses and localhost signed by a test CA,
# both made once by openssl and keytool in $CASSFS_STATE/cassandra/tls (clients trust ca.pem there).
# Test-only start-up shortcuts are on (unsafesystem, no gossip settle wait): never use this for real data.
set -euo pipefail

VERSION=${CASSANDRA_VERSION:-5.0.9}
CACHE=${CASSFS_CACHE:-$HOME/.cache/cassfs}
STATE=${CASSFS_STATE:-/var/tmp/cassfs}
HOME_DIR="$CACHE/cassandra-$VERSION"
LIB="$HOME_DIR/lib"
BASE_IP=${CASSANDRA_BASE_IP:-1}
CLIENT_TLS=${CASSANDRA_CLIENT_TLS:-0}
TLS_DIR="$STATE/cassandra/tls"
TOKENS=(-9223372036854775808 -3074457345618258603 3074457345618258602)

log() { echo "cassandra: $*" >&2; }

install() {
  if [[ -f "$HOME_DIR/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn is missing: run hack/deps.sh"; exit 1; }
  log "fetching cassandra-all $VERSION and its dependencies from Maven Central into $LIB"
  mkdir -p "$HOME_DIR"
  cat >"$HOME_DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.cassfs</groupId><artifactId>cassandra-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$VERSION</version></dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.6.1</version>
    <executions><execution><id>copy</id><phase>package</phase><goals><goal>copy-dependencies</goal></goals>
      <configuration><outputDirectory>\${project.basedir}/lib</outputDirectory><includeScope>runtime</includeScope></configuration>
    </execution></executions>
  </plugin></plugins></build>
</project>
POM
  (cd "$HOME_DIR" && mvn -B -q package >"$HOME_DIR/mvn.log" 2>&1) || {
    # cassandra-parent names system-scoped JMC artifacts; Maven logs errors for them but still copies the jars.
    ls "$LIB"/cassandra-all-*.jar >/dev/null 2>&1 || { tail -30 "$HOME_DIR/mvn.log" >&2; exit 1; }
  }
  ls "$LIB"/cassandra-all-"$VERSION".jar >/dev/null
  ls "$LIB"/jamm-*.jar >/dev/null
  touch "$HOME_DIR/.complete"
  log "installed $(ls "$LIB" | wc -l) jars"
}

# A daemon must not keep the caller's pipes open (a CI log reader would wait for it forever).
close_inherited_fds() {
  local fd n
  for fd in /proc/$BASHPID/fd/*; do
    n=${fd##*/}
    ((n > 2)) && eval "exec $n>&-" 2>/dev/null || true
  done
}

ip_of() { echo "127.0.0.$((BASE_IP + $1 - 1))"; }
jmx_port() { echo $((7000 + (BASE_IP + $1 - 1) * 100)); }

node_dir() { echo "$STATE/cassandra/node$1"; }
# alive PID: the process exists and is not a zombie left for a parent that has not reaped it yet.
alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ -n $st && $st != Z ]]; }
pid_of() { local f; f="$(node_dir "$1")/pid"; [[ -f $f ]] && alive "$(cat "$f")" && cat "$f"; }
port_open() { (exec 3<>"/dev/tcp/$(ip_of "$1")/$2") 2>/dev/null; }

JAVA_MODULE_OPTS=(
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
  --add-exports java.sql/java.sql=ALL-UNNAMED
  --add-exports java.base/java.lang.ref=ALL-UNNAMED
  --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
  --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
  --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
  --add-exports java.management/com.sun.jmx.remote.security=ALL-UNNAMED
  --add-opens java.base/java.lang.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
  --add-opens java.base/jdk.internal.math=ALL-UNNAMED
  --add-opens java.base/jdk.internal.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED
)

write_config() { # node count
  local n=$1 dir; dir=$(node_dir "$n")
  mkdir -p "$dir/data" "$dir/commitlog" "$dir/saved_caches" "$dir/hints" "$dir/cdc_raw" "$dir/logs"
  cat >"$dir/cassandra.yaml" <<YAML
cluster_name: cassfs-test
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: GossipingPropertyFileSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$(ip_of 1):7000"
listen_address: $(ip_of "$n")
rpc_address: $(ip_of "$n")
storage_port: 7000
native_transport_port: 9042
num_tokens: 1
initial_token: ${TOKENS[$((n-1))]}
auto_bootstrap: false
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 32MiB
data_file_directories: [$dir/data]
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
cdc_raw_directory: $dir/cdc_raw
auto_snapshot: false
memtable_heap_space: 64MiB
key_cache_size: 8MiB
concurrent_compactors: 1
paxos_variant: v2
# Failure tests replay the hints of a whole 1 GiB write to a node that comes back; the default (1 MiB/s) would
# take many minutes.
hinted_handoff_throttle: 64MiB
authenticator: ${CASSANDRA_AUTHENTICATOR:-AllowAllAuthenticator}
authorizer: ${CASSANDRA_AUTHORIZER:-AllowAllAuthorizer}
YAML
  if ((CLIENT_TLS)); then
    # Required, not optional: a plain-text client cannot connect at all, so a missing TLS setting in a client
    # shows up at once instead of sending passwords in the clear.
    cat >>"$dir/cassandra.yaml" <<YAML
client_encryption_options:
  enabled: true
  optional: false
  keystore: $TLS_DIR/server.p12
  keystore_password: $(cat "$TLS_DIR/password")
  store_type: PKCS12
  require_client_auth: false
YAML
    chmod 600 "$dir/cassandra.yaml"
  fi
  # GossipingPropertyFileSnitch gives the test cluster a real datacenter name (dc1) so that
  # NetworkTopologyStrategy keyspaces are tested as users write them.
  printf 'dc=dc1\nrack=rack1\n' >"$dir/cassandra-rackdc.properties"
  cat >"$dir/logback.xml" <<XML
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$dir/logs/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
  <logger name="org.apache.cassandra.utils.SigarLibrary" level="ERROR"/>
</configuration>
XML
}

# ensure_client_tls makes, once, a test CA (ca.pem, the file clients trust) and a server key and certificate
# signed by it for 127.0.0.BASE_IP..BASE_IP+2 and localhost, in the PKCS12 keystore the nodes load.
ensure_client_tls() {
  ((CLIENT_TLS)) || return 0
  [[ -f $TLS_DIR/server.p12 && -f $TLS_DIR/ca.pem && -f $TLS_DIR/password ]] && return 0
  command -v openssl >/dev/null && command -v keytool >/dev/null || { log "client TLS needs openssl and keytool"; exit 1; }
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  rm -f "$TLS_DIR"/*
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$TLS_DIR/password")
  local san="DNS:localhost,IP:$(ip_of 1),IP:$(ip_of 2),IP:$(ip_of 3)"
  (
    set -e
    cd "$TLS_DIR"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj "/CN=cassfs test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' "$san" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.pem
    openssl pkcs12 -export -name cassandra -inkey server.key -in server.pem -certfile ca.pem -out server.p12 \
      -passout file:password
    rm -f server.csr server.ext ca.srl
    # The keystore must open in Java as the nodes will open it.
    keytool -list -keystore server.p12 -storetype PKCS12 -storepass:file password | grep -q PrivateKeyEntry
    chmod 644 ca.pem
  ) >"$TLS_DIR/make.log" 2>&1 || { log "making the client TLS files failed"; cat "$TLS_DIR/make.log" >&2; rm -f "$TLS_DIR/server.p12"; exit 1; }
  log "made a test CA and a server certificate for $san in $TLS_DIR"
}

start_node() { # node heap
  local n=$1 heap=$2 dir; dir=$(node_dir "$n")
  if pid_of "$n" >/dev/null; then log "node$n already running (pid $(pid_of "$n"))"; return 0; fi
  if port_open "$n" 9042; then log "$(ip_of "$n"):9042 is taken by another process"; exit 1; fi
  write_config "$n"
  # Readiness is read from the log: keep the previous run's lines out of it.
  [[ -f $dir/logs/system.log ]] && mv -f "$dir/logs/system.log" "$dir/logs/system.log.1"
  local jamm; jamm=$(ls "$LIB"/jamm-*.jar | head -1)
  log "starting node$n on $(ip_of "$n") (heap $heap, data $dir)"
  (cd "$dir"; close_inherited_fds; exec setsid java -Xms"$heap" -Xmx"$heap" -XX:+CrashOnOutOfMemoryError \
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m -XX:MaxGCPauseMillis=300 \
    -Xss512k -Djdk.attach.allowAttachSelf=true "${JAVA_MODULE_OPTS[@]}" \
    -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11 \
    -javaagent:"$jamm" -Dcassandra-foreground=yes \
    -Dcassandra.config="file://$dir/cassandra.yaml" -Dcassandra.logdir="$dir/logs" -Dcassandra.storagedir="$dir" \
    -Dcassandra-rackdc.properties="file://$dir/cassandra-rackdc.properties" \
    -Dlogback.configurationFile="$dir/logback.xml" -Dcassandra.jmx.local.port=$(jmx_port "$n") \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.superuser_setup_delay_ms=0 -Dcassandra.unsafesystem=true \
    -Dcassandra.ring_delay_ms=1000 -Djava.io.tmpdir="$dir" \
    -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon >"$dir/logs/stdout.log" 2>&1 </dev/null) &
  echo $! >"$dir/pid"
}

wait_node() { # node [timeout]
  local n=$1 deadline=$((SECONDS + ${2:-240})) dir; dir=$(node_dir "$n")
  until grep -q "Starting listening for CQL clients\|Startup complete" "$dir/logs/system.log" 2>/dev/null && port_open "$n" 9042; do
    if ! pid_of "$n" >/dev/null; then log "node$n died; last log lines:"; tail -20 "$dir/logs/stdout.log" "$dir/logs/system.log" >&2 2>/dev/null; exit 1; fi
    if ((SECONDS > deadline)); then log "node$n not ready in time"; tail -20 "$dir/logs/system.log" >&2; exit 1; fi
    sleep 0.5
  done
}

nodetool() { # node args...
  local n=$1; shift
  java -Xmx128m "${JAVA_MODULE_OPTS[@]}" -cp "$LIB/*" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$(jmx_port "$n")" "$@"
}

wait_cluster() { # count
  local count=$1 deadline=$((SECONDS + 240)) i
  for ((i = 1; i <= count; i++)); do wait_node "$i"; done
  ((count == 1)) && return 0
  until [[ $(nodetool 1 status 2>/dev/null | grep -c '^UN') -ge $count ]]; do
    ((SECONDS > deadline)) && { log "cluster did not reach $count UN nodes"; nodetool 1 status >&2 || true; exit 1; }
    sleep 1
  done
}

cmd_start() {
  local count=${1:-1} heap i start=$SECONDS
  [[ $count == 1 || $count == 3 ]] || { log "node count must be 1 or 3"; exit 2; }
  heap=${CASSANDRA_HEAP:-$([[ $count == 1 ]] && echo 1G || echo 768M)}
  install
  ensure_client_tls
  for ((i = 1; i <= count; i++)); do start_node "$i" "$heap"; wait_node "$i"; done
  wait_cluster "$count"
  log "$count node(s) ready in $((SECONDS - start)) s (CQL on $(for ((i = 1; i <= count; i++)); do printf '%s ' "$(ip_of "$i"):9042"; done))"
  ((CLIENT_TLS)) && log "CQL clients must use TLS and trust $TLS_DIR/ca.pem"
  return 0
}

cmd_stop() {
  local i pid
  for i in 1 2 3; do
    pid=$(pid_of "$i") || continue
    log "stopping node$i (pid $pid)"
    kill "$pid" 2>/dev/null || true
  done
  for i in 1 2 3; do
    for _ in $(seq 1 60); do pid_of "$i" >/dev/null || break; sleep 0.5; done
    pid=$(pid_of "$i") && { log "node$i did not stop; killing"; kill -9 "$pid"; } || true
  done
  return 0
}

cmd_status() {
  local i any=0
  for i in 1 2 3; do
    if pid=$(pid_of "$i"); then any=1; echo "node$i $(ip_of "$i") pid $pid $(port_open "$i" 9042 && echo cql-up || echo cql-down)"; fi
  done
  ((any)) || { echo "no cassandra nodes running"; return 1; }
  nodetool 1 status 2>/dev/null | grep -E '^(UN|DN|UJ|DL|Datacenter)' || true
}

case "${1:-}" in
  install) install ;;
  start) cmd_start "${2:-1}" ;;
  wait) wait_cluster "${2:-1}" ;;
  stop) cmd_stop ;;
  kill) pid=$(pid_of "$2") && kill -9 "$pid" && log "killed node$2 (pid $pid)" ;;
  start-node) install; ensure_client_tls; start_node "$2" "${CASSANDRA_HEAP:-768M}"; wait_node "$2" ;;
  wipe) cmd_stop; rm -rf "$STATE/cassandra"; log "wiped $STATE/cassandra" ;;
  status) cmd_status ;;
  nodetool) shift; nodetool 1 "$@" ;;
  nodetool-node) shift; n=$1; shift; nodetool "$n" "$@" ;;
  *) sed -n '2,21p' "$0"; exit 2 ;;
esac
