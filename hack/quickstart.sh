#!/usr/bin/env bash
# hack/quickstart.sh: from a fresh Debian machine to a mounted CassFS volume, on local servers.
#
#   hack/quickstart.sh          install deps, start Cassandra + ZooKeeper, build, create and mount a volume
#   hack/quickstart.sh stop     unmount it and stop the servers
#   hack/quickstart.sh unmount  unmount it, leave the servers running
#
# Environment: CASSFS_MOUNT (default /mnt/cassfs), CASSFS_VOLUME (default quickstart), CASSFS_CAPACITY
# (default 10Gi), CASSFS_STATE (default /var/tmp/cassfs).
set -euo pipefail
cd "$(dirname "$0")/.."
MNT=${CASSFS_MOUNT:-/mnt/cassfs}
VOL=${CASSFS_VOLUME:-quickstart}
CAP=${CASSFS_CAPACITY:-10Gi}
STATE=${CASSFS_STATE:-/var/tmp/cassfs}
RUN=${CASSFS_QUICKSTART_RUN:-$STATE/quickstart} # pid and log of the mount
say() { echo "quickstart: $*"; }

unmount() {
  if mountpoint -q "$MNT"; then
    say "unmounting $MNT"
    umount "$MNT" || umount -l "$MNT"
  fi
  if [[ -f $RUN/mount.pid ]] && kill -0 "$(cat "$RUN/mount.pid")" 2>/dev/null; then
    kill "$(cat "$RUN/mount.pid")" || true
  fi
  rm -f "$RUN/mount.pid"
}

stop() {
  unmount
  hack/cassandra.sh stop
  hack/zookeeper.sh stop
  say "stopped (data kept in $STATE; 'hack/cassandra.sh wipe' and 'hack/zookeeper.sh wipe' delete it)"
}

case ${1:-} in
stop) stop; exit 0 ;;
unmount) unmount; exit 0 ;;
"") ;;
*) echo "usage: hack/quickstart.sh [stop|unmount]" >&2; exit 2 ;;
esac

hack/deps.sh
hack/cassandra.sh start 1
hack/zookeeper.sh start 1
make --no-print-directory build
mkdir -p "$RUN" "$MNT"
if mountpoint -q "$MNT"; then
  say "$MNT is already mounted"
else
  say "creating volume '$VOL' ($CAP) and mounting it at $MNT"
  (setsid bin/csi-driver mount --create --capacity "$CAP" --cassandra 127.0.0.1 \
    --zookeeper 127.0.0.1:2181 "$VOL" "$MNT" >"$RUN/mount.log" 2>&1 </dev/null) &
  echo $! >"$RUN/mount.pid"
  for _ in $(seq 1 120); do
    mountpoint -q "$MNT" && break
    kill -0 "$(cat "$RUN/mount.pid")" 2>/dev/null || { say "the mount failed:"; cat "$RUN/mount.log"; exit 1; }
    sleep 0.5
  done
  mountpoint -q "$MNT" || { say "no mount after 60 s:"; cat "$RUN/mount.log"; exit 1; }
fi
echo "hello from CassFS, $(date -u)" >"$MNT/hello.txt"
say "wrote and read back $MNT/hello.txt: $(cat "$MNT/hello.txt")"
df -h "$MNT" | sed 's/^/  /'
cat <<MSG

CassFS volume '$VOL' is mounted at $MNT, stored in the Cassandra keyspace of that volume on 127.0.0.1:9042,
with file locks through ZooKeeper on 127.0.0.1:2181. The mount's log is $RUN/mount.log.
Stop everything with:  make quickstart-stop   (or: hack/quickstart.sh stop)
MSG
