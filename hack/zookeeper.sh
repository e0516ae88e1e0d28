#!/usr/bin/env bash
# hack/zookeeper.sh: Apache ZooKeeper 3.8 (Debian's package) on loopback.
#
#   hack/zookeeper.sh start [1|3]   standalone on 127.0.0.1:2181, or a 3-server ensemble on 127.0.0.1:2181,2182,2183
#   hack/zookeeper.sh stop          stop every server this script started
#   hack/zookeeper.sh kill N        SIGKILL server N (failure tests); start-node N brings it back
#   hack/zookeeper.sh leader        print the client port of the current ensemble leader
#   hack/zookeeper.sh wipe          stop, then delete all data
#   hack/zookeeper.sh status        mode of each server (4lw 'srvr')
#
# Environment: CASSFS_STATE (data and logs, default /var/tmp/cassfs), ZK_HEAP (default 256m),
# ZK_PORT_BASE (default 2180: server N listens on ZK_PORT_BASE+N, quorum/election ports follow it),
# ZK_TLS=1: server N also serves TLS on ZK_PORT_BASE+10+N (Netty), with a self-signed certificate for
# 127.0.0.1/localhost made by keytool in $CASSFS_STATE/zookeeper/tls (ca.pem for clients; servers restart).
# Servers are started with java directly (the package has no init script and its zkEnv.sh points at /etc).
set -euo pipefail

STATE=${CASSFS_STATE:-/var/tmp/cassfs}
ROOT="$STATE/zookeeper"
HEAP=${ZK_HEAP:-256m}
PORT_BASE=${ZK_PORT_BASE:-2180}
TLS=${ZK_TLS:-0}
TLS_DIR="$ROOT/tls"

log() { echo "zookeeper: $*" >&2; }

ensure_installed() {
  [[ -f /usr/share/java/zookeeper.jar ]] && return 0
  log "installing Debian's zookeeper package"
  apt-get install -y -qq zookeeper >/dev/null || { apt-get update -qq && apt-get install -y -qq zookeeper >/dev/null; }
}

close_inherited_fds() {
  local fd n
  for fd in /proc/$BASHPID/fd/*; do
    n=${fd##*/}
    ((n > 2)) && eval "exec $n>&-" 2>/dev/null || true
  done
}

srv_dir() { echo "$ROOT/server$1"; }
# alive PID: the process exists and is not a zombie left for a parent that has not reaped it yet.
alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ -n $st && $st != Z ]]; }
pid_of() { local f; f="$(srv_dir "$1")/pid"; [[ -f $f ]] && alive "$(cat "$f")" && cat "$f"; }
fourlw() { # port word
  local reply
  reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; echo $2 >&3; cat <&3" 2>/dev/null) || true
  echo "$reply"
}
mode_of() { fourlw "$((PORT_BASE + $1))" srvr | sed -n 's/^Mode: //p'; }

write_config() { # server count
  local n=$1 count=$2 dir i; dir=$(srv_dir "$n")
  mkdir -p "$dir/data" "$dir/logs"
  {
    echo "tickTime=2000"
    echo "initLimit=10"
    echo "syncLimit=5"
    echo "dataDir=$dir/data"
    echo "clientPort=$((PORT_BASE + n))"
    echo "clientPortAddress=127.0.0.1"
    echo "4lw.commands.whitelist=*"
    echo "admin.enableServer=false"
    echo "maxSessionTimeout=60000"
    echo "minSessionTimeout=2000"
    if ((TLS)); then
      echo "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory"
      echo "secureClientPort=$((PORT_BASE + 10 + n))"
      echo "secureClientPortAddress=127.0.0.1"
      echo "ssl.keyStore.location=$TLS_DIR/server.p12"
      echo "ssl.keyStore.type=PKCS12"
      echo "ssl.keyStore.password=$(cat "$TLS_DIR/password")"
      echo "ssl.clientAuth=none"
    fi
    if ((count == 3)); then
      for i in 1 2 3; do echo "server.$i=127.0.0.1:$((PORT_BASE + 707 + i * 10)):$((PORT_BASE + 1707 + i * 10))"; done
    fi
  } >"$dir/zoo.cfg"
  ((count == 3)) && echo "$n" >"$dir/data/myid"
  cat >"$dir/log4j.properties" <<PROPS
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$dir/logs/zookeeper.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n
PROPS
  chmod 600 "$dir/zoo.cfg"
  echo "$count" >"$dir/count"
  echo "$TLS" >"$dir/tls"
}

# ensure_tls makes the server key and self-signed certificate once (ca.pem is what clients trust).
ensure_tls() {
  ((TLS)) || return 0
  [[ -f $TLS_DIR/server.p12 && -f $TLS_DIR/ca.pem ]] && return 0
  mkdir -p "$TLS_DIR"
  chmod 700 "$TLS_DIR"
  rm -f "$TLS_DIR/server.p12" "$TLS_DIR/ca.pem"
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$TLS_DIR/password")
  local pass; pass=$(cat "$TLS_DIR/password")
  keytool -genkeypair -alias zookeeper -keyalg RSA -keysize 2048 -validity 3650 -dname "CN=localhost" \
    -ext "SAN=dns:localhost,ip:127.0.0.1" -keystore "$TLS_DIR/server.p12" -storetype PKCS12 \
    -storepass:file "$TLS_DIR/password" -keypass:file "$TLS_DIR/password" >/dev/null 2>&1 || { log "keytool failed"; exit 1; }
  keytool -exportcert -rfc -alias zookeeper -keystore "$TLS_DIR/server.p12" -storetype PKCS12 \
    -storepass:file "$TLS_DIR/password" -file "$TLS_DIR/ca.pem" >/dev/null 2>&1 || { log "keytool export failed"; exit 1; }
  unset pass
  log "made a TLS key and certificate in $TLS_DIR"
}

start_server() { # server count
  local n=$1 count=$2 dir; dir=$(srv_dir "$n")
  if pid_of "$n" >/dev/null; then log "server$n already running (pid $(pid_of "$n"))"; return 0; fi
  write_config "$n" "$count"
  log "starting server$n on 127.0.0.1:$((PORT_BASE + n))"
  # leaderConnectDelayDuringRetryMs: a follower gives up on its new leader after 5 connection attempts, 100 ms apart
  # by default; on a loaded machine the leader opens its port later than that, and it then waits initLimit (20 s)
  # for a quorum that never comes before a new election. 1 s apart keeps the follower trying for about 5 s.
  local NETTY="" j
  for j in buffer codec common handler resolver transport transport-native-epoll transport-native-unix-common; do
    NETTY+=":/usr/share/java/netty-$j.jar" # the Netty connection factory (TLS); Debian's netty-all.jar is empty
  done
  (cd "$dir"; close_inherited_fds; exec setsid java -Xms"$HEAP" -Xmx"$HEAP" -Dzookeeper.log.dir="$dir/logs" \
    -Dzookeeper.leaderConnectDelayDuringRetryMs=1000 \
    -Dlog4j.configuration="file://$dir/log4j.properties" -Dzookeeper.jmx.log4j.disable=true \
    -cp "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar$NETTY" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >"$dir/logs/stdout.log" 2>&1 </dev/null) &
  echo $! >"$dir/pid"
}

wait_ready() { # count
  local count=$1 deadline=$((SECONDS + 60)) i mode leaders
  while :; do
    leaders=0; local ok=1
    for ((i = 1; i <= count; i++)); do
      pid_of "$i" >/dev/null || { log "server$i died"; tail -20 "$(srv_dir "$i")/logs/zookeeper.log" >&2 || true; exit 1; }
      mode=$(mode_of "$i")
      case "$mode" in standalone | leader) leaders=$((leaders + 1)) ;; follower) ;; *) ok=0 ;; esac
    done
    ((ok && leaders == 1)) && return 0
    ((SECONDS > deadline)) && { log "not ready in time"; cmd_status >&2 || true; exit 1; }
    sleep 0.2
  done
}

cmd_start() {
  local count=${1:-1} i start=$SECONDS
  [[ $count == 1 || $count == 3 ]] || { log "server count must be 1 or 3"; exit 2; }
  ensure_installed
  for i in 1 2 3; do # switching between standalone and ensemble needs a restart
    if pid_of "$i" >/dev/null && [[ $(cat "$(srv_dir "$i")/count" 2>/dev/null) != "$count" ||
      $(cat "$(srv_dir "$i")/tls" 2>/dev/null || echo 0) != "$TLS" ]]; then cmd_stop; break; fi
  done
  ensure_tls
  for ((i = 1; i <= count; i++)); do start_server "$i" "$count"; done
  wait_ready "$count"
  log "$count server(s) ready in $((SECONDS - start)) s (clients: $(for ((i = 1; i <= count; i++)); do printf '127.0.0.1:%s ' $((PORT_BASE + i)); done))"
  ((TLS)) && log "TLS clients: $(for ((i = 1; i <= count; i++)); do printf '127.0.0.1:%s ' $((PORT_BASE + 10 + i)); done)(trust $TLS_DIR/ca.pem)"
  return 0
}

cmd_stop() {
  local i pid
  for i in 1 2 3; do pid=$(pid_of "$i") && { log "stopping server$i (pid $pid)"; kill "$pid"; } || true; done
  for i in 1 2 3; do
    for _ in $(seq 1 50); do pid_of "$i" >/dev/null || break; sleep 0.2; done
    pid=$(pid_of "$i") && kill -9 "$pid" || true
  done
  return 0
}

cmd_status() {
  local i any=0
  for i in 1 2 3; do
    pid=$(pid_of "$i") || continue
    any=1; echo "server$i 127.0.0.1:$((PORT_BASE + i)) pid $pid mode $(mode_of "$i")"
  done
  ((any)) || { echo "no zookeeper servers running"; return 1; }
}

cmd_leader() {
  local i
  for i in 1 2 3; do [[ $(mode_of "$i") == leader || $(mode_of "$i") == standalone ]] && { echo "$i"; return 0; }; done
  return 1
}

case "${1:-}" in
  start) cmd_start "${2:-1}" ;;
  stop) cmd_stop ;;
  kill) pid=$(pid_of "$2") && kill -9 "$pid" && log "killed server$2 (pid $pid)" ;;
  start-node) TLS=$(cat "$(srv_dir "$2")/tls" 2>/dev/null || echo 0); start_server "$2" "$(cat "$(srv_dir "$2")/count")" ;;
  leader) cmd_leader ;;
  wipe) cmd_stop; rm -rf "$ROOT"; log "wiped $ROOT" ;;
  status) cmd_status ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
