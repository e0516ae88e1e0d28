#!/usr/bin/env bash
# hack/deps.sh: install what a fresh Debian machine lacks to build, run and test CassFS.
# Idempotent: installs only missing packages (apt-get update only when something is missing) and never
# re-downloads what is cached. Go itself is expected on PATH (the go.mod version).
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have_cmd fusermount3 || need+=(fuse3)
have_pkg zookeeper || need+=(zookeeper)
have_cmd fio || need+=(fio)
have_cmd nc || need+=(netcat-openbsd)
if ! have_cmd java || ! java -version 2>&1 | grep -q 'version "17'; then need+=(openjdk-17-jdk-headless); fi
have_cmd mvn || need+=(maven)
have_cmd go || { echo "deps: Go is not on PATH; install the Go version named in go.mod" >&2; exit 1; }

if ((${#need[@]})); then
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Java 24+ cannot run Cassandra 5.0; prefer 17 when several are installed.
if ! java -version 2>&1 | grep -q 'version "17'; then
  j17=$(ls -d /usr/lib/jvm/java-17-openjdk-*/bin/java 2>/dev/null | head -1)
  [[ -n $j17 ]] && update-alternatives --set java "$j17" >/dev/null
fi

[[ -e /dev/fuse ]] || { echo "deps: /dev/fuse is missing: FUSE mounts will fail" >&2; exit 1; }
"$(dirname "$0")/cassandra.sh" install
"$(dirname "$0")/helm.sh" path >/dev/null # the chart tests run the real helm
echo "deps: ok (go $(go env GOVERSION), $(java -version 2>&1 | head -1), zookeeper $(dpkg-query -W -f='${Version}' zookeeper))" >&2
