#!/usr/bin/env bash
# hack/fuzz.sh: run every Go fuzz target of CassFS for a fixed number of executions each.
#
#   hack/fuzz.sh                 # each target for FUZZTIME executions (default 2000x), as hack/test.sh does
#   FUZZTIME=100000x hack/fuzz.sh  # longer (make fuzz FUZZTIME=...)
#   hack/fuzz.sh FuzzCreateVolume  # only the targets whose names match the argument (a grep -E pattern)
#
# Budgets are execution counts, not durations: Go 1.26's fuzz coordinator can fail a time-budgeted run with a
# bare "context deadline exceeded" (golang/go#75804). Each target runs in its own fuzzing process (-fuzz takes one
# target; -run '^$' so no other test runs). To pay the build once per package rather than once per target, the
# script builds each package's instrumented test binary (`go test -c -fuzz=.`) and runs it from the package
# directory with the corpus cache go test itself uses ($GOCACHE/fuzz/<import path>). A failing input is written
# under the package's testdata/fuzz/<target>/; commit it with the fix so it stays a regression seed.
#
# Prints one line per target (target, executions, seconds, result) and exits non-zero when any target fails.
# Needs no server. FUZZ_PARALLEL sets the fuzz workers (default: GOMAXPROCS).
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-2000x}
if [[ ! $FUZZTIME =~ ^[0-9]+x$ ]]; then
  echo "FUZZTIME must be an execution count such as 20000x (durations trip golang/go#75804)" >&2
  exit 2
fi
filter=${1:-.}
parallel=()
[[ -n ${FUZZ_PARALLEL:-} ]] && parallel=(-test.parallel "$FUZZ_PARALLEL")

# The packages that hold fuzz targets.
pkgs=(./pkg/driver ./pkg/cassandra)
root=$PWD
cache=$(go env GOCACHE)/fuzz
fail=0
total=0
start=$SECONDS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pkg in "${pkgs[@]}"; do
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go | sed 's/^func //' | sort)
  targets=$(grep -E -- "$filter" <<<"$targets")
  [[ -z $targets ]] && continue
  bin=$tmp/$(basename "$pkg").test
  t0=$SECONDS
  if ! go test -c -fuzz=. -o "$bin" "$pkg" >"$tmp/build.log" 2>&1; then
    echo "build of $pkg failed:"; cat "$tmp/build.log"; fail=1; continue
  fi
  echo "$pkg: instrumented test binary built in $((SECONDS - t0)) s"
  importpath=$(go list "$pkg")
  for t in $targets; do
    t0=$SECONDS
    if (cd "$root/$pkg" && "$bin" -test.run='^$' -test.fuzz="^${t}\$" -test.fuzztime="$FUZZTIME" \
      -test.fuzzcachedir="$cache/$importpath" "${parallel[@]}") >"$tmp/run.log" 2>&1; then
      result=ok
    else
      result=FAIL
      fail=1
    fi
    execs=$(grep -o 'execs: [0-9]*' "$tmp/run.log" | tail -1 | grep -o '[0-9]*')
    printf '%-32s %-16s execs %-8s %4d s  %s\n' "$t" "$pkg" "${execs:-?}" $((SECONDS - t0)) "$result"
    if [[ $result != ok ]]; then
      grep -v '^W[0-9]\{4\} ' "$tmp/run.log" | tail -40
    fi
    total=$((total + 1))
  done
done
echo "fuzz: $total targets, FUZZTIME=$FUZZTIME, $((SECONDS - start)) s, $([[ $fail == 0 ]] && echo ok || echo FAILED)"
exit $fail
