#!/usr/bin/env bash
# hack/bench.sh: the CassFS benchmark (issue 8). In one sitting it runs the same work on four targets:
#   local     a directory on the local disk
#   loopback  go-fuse's loopback filesystem over a local directory (the FUSE ceiling)
#   rawcql    the same bytes as 1 MiB blobs in a plain Cassandra table, through gocql (the store ceiling)
#   cassfs    a fresh CassFS volume mounted with `csi-driver mount --create` (deleted afterwards)
# and writes the measured table, the ratios and the bars of the issue (met / not met) into docs/benchmarks.md
# between the "bench:begin" and "bench:end" markers (the text around them is kept).
#
# Work: fio sequential write (end_fsync=1) and read (cold: caches dropped, CassFS remounted; then warm) with 1 MiB
# blocks and numjobs 1 and 4 (BENCH_SIZE in all, split over the jobs); fio 4 KiB random read and write for
# BENCH_RUNTIME seconds (4 jobs); an mdtest-style create/stat/read/remove of BENCH_FILES small files with 1 and 8
# processes; and for CassFS: volume creation, mount and first-read times and the mount process's peak RSS.
#
# Needs root (drop_caches, FUSE), fio, jq, go, and the servers of `make servers-up` (Cassandra and ZooKeeper).
#
# Knobs (environment):
#   BENCH_SIZE=1g          bytes per sequential test (k, m, g suffixes), split evenly over the fio jobs
#   BENCH_FILES=10000      files of the metadata test
#   BENCH_RUNTIME=15       seconds of each random-I/O test
#   BENCH_MD_STONEWALL=60  seconds after which a metadata worker stops creating (the other phases then use the
#                          files created; the report gives their number), so a slow target cannot stall the run
#   BENCH_TARGETS="local rawcql loopback cassfs"   (rawcql uses the files written by local)
#   BENCH_DIR=/var/tmp/cassfs-bench                 work directory (must be on a real disk, not tmpfs)
#   BENCH_TIMEOUT=900      seconds before one step is declared failed
#   BENCH_OUT=docs/benchmarks.md                    where the report goes ("-" : only $BENCH_DIR/run.*/report.md)
#   BENCH_RAW_DEPTH=4      blobs in flight per job for rawcql (chunks.DefaultParallelism)
#   BENCH_RAW_CODEC=none   rawcql codec: none (what CassFS stores for incompressible fio data) or zstd
#   BENCH_PERF=0           1: perf-record the CassFS mount during the first sequential write
#   CASSANDRA=127.0.0.1 ZOOKEEPER=127.0.0.1:2181   servers; CASSFS_MOUNT_ARGS: extra `csi-driver mount` flags
#   CASSFS_BIN             a csi-driver binary to use (default: built from ./cmd/csi-driver with symbols)
#   CASSFS_MOUNT=csi-driver  or "cassbench": mount with `cassbench cfsmount`, a stand-in that wires the same
#                          packages (for when `csi-driver mount` is unavailable; the report says which was used)
#   BENCH_NOTE             a sentence for the report (e.g. "The machine was shared with other test runs.")
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH_SIZE=${BENCH_SIZE:-1g}
BENCH_FILES=${BENCH_FILES:-10000}
BENCH_RUNTIME=${BENCH_RUNTIME:-15}
BENCH_MD_STONEWALL=${BENCH_MD_STONEWALL:-60}
BENCH_TARGETS=${BENCH_TARGETS:-local rawcql loopback cassfs}
BENCH_DIR=${BENCH_DIR:-/var/tmp/cassfs-bench}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-900}
BENCH_OUT=${BENCH_OUT:-docs/benchmarks.md}
BENCH_RAW_DEPTH=${BENCH_RAW_DEPTH:-4}
BENCH_RAW_CODEC=${BENCH_RAW_CODEC:-none}
BENCH_PERF=${BENCH_PERF:-0}
CASSANDRA=${CASSANDRA:-127.0.0.1}
ZOOKEEPER=${ZOOKEEPER:-127.0.0.1:2181}
CASSFS_MOUNT_ARGS=${CASSFS_MOUNT_ARGS:-}
CASSFS_MOUNT=${CASSFS_MOUNT:-csi-driver}

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

to_bytes() {
	local v=${1,,} n m=1
	case $v in
	*k) m=1024 ;; *m) m=$((1024 * 1024)) ;; *g) m=$((1024 * 1024 * 1024)) ;;
	esac
	n=${v%[kmg]}
	[[ $n =~ ^[0-9]+$ ]] || die "bad size $1"
	echo $((n * m))
}

[[ $EUID -eq 0 ]] || die "run as root (drop_caches and FUSE mounts)"
for t in fio jq go awk; do command -v $t >/dev/null || die "$t is not installed"; done
BYTES=$(to_bytes "$BENCH_SIZE")
MIB=$((1024 * 1024))
((BYTES >= 4 * MIB)) || die "BENCH_SIZE must be at least 4m"

RUN=$BENCH_DIR/run.$(date -u +%Y%m%d-%H%M%S).$$
OUT=$RUN/out
mkdir -p "$OUT" "$RUN/bin" || die "cannot make $RUN"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
FAILURES=$OUT/failures.txt
: >"$FAILURES"
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# record TARGET TEST VALUE UNIT: one measured number.
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; log "  $1 $2 = $3 $4"; }
# failed TARGET TEST REASON: a step that did not produce a number.
failed() { printf '%s %s: %s\n' "$1" "$2" "$3" >>"$FAILURES"; log "  FAILED $1 $2: $3"; }
value() { awk -F'\t' -v t="$1" -v n="$2" '$1 == t && $2 == n { v = $3 } END { print v }' "$RESULTS"; }

drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches; }

# cpu_ticks PID: user+system clock ticks used so far by PID.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK)
CASSANDRA_PID=$(pgrep -f org.apache.cassandra.service.CassandraDaemon | head -1 || true)

log "building the Go tools into $RUN/bin"
CGO_ENABLED=0 go build -o "$RUN/bin/cassbench" ./test/bench/cmd/cassbench || die "build cassbench"
if [[ -z ${CASSFS_BIN:-} && $CASSFS_MOUNT == csi-driver && " $BENCH_TARGETS " == *" cassfs "* ]]; then
	CGO_ENABLED=0 go build -o "$RUN/bin/csi-driver" ./cmd/csi-driver || die "build csi-driver"
	CASSFS_BIN=$RUN/bin/csi-driver
fi
CASSFS_BIN=${CASSFS_BIN:-$RUN/bin/csi-driver}
CB=$RUN/bin/cassbench

# ---- fio ----------------------------------------------------------------------------------------------------

# per_job NJ: bytes per fio job, a whole number of MiB.
per_job() { echo $((BYTES / $1 / MIB * MIB)); }

# fio_run TARGET TEST KIND ARGS...: runs fio with a timeout and progress on stderr, and prints fio's own figures
# for KIND (read or write): "bw_bytes iops". fio measures from the job's start to its end, end_fsync included and
# its own start-up excluded.
fio_run() {
	local target=$1 test=$2 kind=$3
	shift 3
	local json=$OUT/$target.$test.json rc
	timeout "$BENCH_TIMEOUT" fio --ioengine=psync --group_reporting --output-format=json --output="$json" \
		--eta=always --eta-newline=10 "$@" >&2
	rc=$?
	echo >&2 # fio's progress line ends with a carriage return
	if ((rc != 0)); then
		local why="fio exit $rc"
		((rc == 124)) && why="timeout after ${BENCH_TIMEOUT}s"
		[[ -s $json ]] && why+=" ($(jq -r '[.jobs[] | select(.error != 0) | "error \(.error)"] | first // ""' "$json" 2>/dev/null))"
		failed "$target" "$test" "$why"
		return 1
	fi
	jq -r ".jobs[0].$kind | \"\(.bw_bytes) \(.iops)\"" "$json"
}

# seq_write TARGET DIR NJ
seq_write() {
	local per r
	per=$(per_job "$3")
	log "$1: sequential write, $3 job(s) x $((per / MIB)) MiB"
	r=$(fio_run "$1" "seqwrite_j$3" write --name="seq$3" --directory="$2" --rw=write --bs=1M --size="$per" \
		--numjobs="$3" --end_fsync=1 --fallocate=none --verify=crc32c --do_verify=0 --verify_state_save=0) || return 1
	record "$1" "seqwrite_j$3" "$(awk -v r="$r" 'BEGIN { split(r, f, " "); printf "%.1f", f[1] / 1e6 }')" MB/s
}

# seq_read TARGET DIR NJ cold|warm: reads and verifies the files of seq_write. A warm read keeps the page cache
# the previous read filled (--invalidate=0: by default fio drops the file's cached pages before the job, which
# made every "warm" read of a FUSE filesystem go back to its server); a cold one follows the cold hook.
seq_read() {
	local per r inval=1
	per=$(per_job "$3")
	[[ $4 == warm ]] && inval=0
	log "$1: sequential read ($4), $3 job(s)"
	r=$(fio_run "$1" "seqread_$4_j$3" read --name="seq$3" --directory="$2" --rw=read --bs=1M --size="$per" \
		--numjobs="$3" --invalidate=$inval --verify=crc32c --verify_fatal=1 --verify_state_load=0) || return 1
	record "$1" "seqread_$4_j$3" "$(awk -v r="$r" 'BEGIN { split(r, f, " "); printf "%.1f", f[1] / 1e6 }')" MB/s
}

# rand_io TARGET DIR read|write: 4 KiB random I/O over the 4-job files for BENCH_RUNTIME seconds.
rand_io() {
	local per r extra=()
	per=$(per_job 4)
	[[ $3 == write ]] && extra=(--end_fsync=1)
	log "$1: 4 KiB random $3, 4 jobs, ${BENCH_RUNTIME}s"
	r=$(fio_run "$1" "rand$3" "$3" --name=seq4 --directory="$2" --rw="rand$3" --bs=4k --size="$per" --numjobs=4 \
		--time_based --runtime="$BENCH_RUNTIME" "${extra[@]}") || return 1
	record "$1" "rand$3" "$(awk -v r="$r" 'BEGIN { split(r, f, " "); printf "%.0f", f[2] }')" IOPS
}

# ---- mdtest -------------------------------------------------------------------------------------------------

# md TARGET DIR PROCS
md() {
	local json=$OUT/$1.mdtest_p$3.json ph v
	log "$1: metadata test, $BENCH_FILES files, $3 process(es)"
	if ! timeout "$BENCH_TIMEOUT" "$CB" mdtest -dir "$2" -files "$BENCH_FILES" -procs "$3" \
		-stonewall "${BENCH_MD_STONEWALL}s" >"$json" 2>"$json.err"; then
		failed "$1" "mdtest_p$3" "$(tail -c 300 "$json.err" | tr '\n' ' ')"
	fi
	v=$(jq -r 'select(.result.phase == "create") | .result.ops' "$json" 2>/dev/null)
	[[ -n $v ]] && record "$1" "md_files_p$3" "$v" files
	for ph in create stat read remove; do
		v=$(jq -r "select(.result.phase == \"$ph\") | .result | select((.errors // 0) == 0) | .ops_per_s" "$json" 2>/dev/null)
		[[ -n $v ]] && record "$1" "md_${ph}_p$3" "$(printf '%.0f' "$v")" ops/s
	done
}

# ---- targets ------------------------------------------------------------------------------------------------

# fs_suite TARGET DIR COLD_HOOK: the fio and metadata work on a mounted directory. COLD_HOOK runs before each cold
# read (drop caches; CassFS also remounts).
fs_suite() {
	local target=$1 dir=$2 cold=$3 nj
	for nj in 1 4; do
		before_write "$target" $nj
		seq_write "$target" "$dir" $nj
		after_write "$target" $nj
		$cold "$target" && seq_read "$target" "$dir" $nj cold
		seq_read "$target" "$dir" $nj warm
	done
	$cold "$target" && first_read "$target" "$dir"
	rand_io "$target" "$dir" read
	rand_io "$target" "$dir" write
	md "$target" "$dir" 1
	md "$target" "$dir" 8
}

plain_cold() { drop_caches; }

target_local() {
	mkdir -p "$RUN/local"
	fs_suite local "$RUN/local" plain_cold
}

target_rawcql() {
	local ks=cassbench_raw_$(date -u +%Y%m%d%H%M%S) nj files r
	log "rawcql: keyspace $ks, depth $BENCH_RAW_DEPTH per job, codec $BENCH_RAW_CODEC"
	RAW_KS=$ks
	"$CB" rawcql setup -hosts "$CASSANDRA" -keyspace "$ks" || { failed rawcql setup "cannot create $ks"; return; }
	for nj in 1 4; do
		files=("$RUN"/local/seq$nj.*.0)
		if [[ ! -f ${files[0]} ]]; then
			failed rawcql "seqwrite_j$nj" "no source files from the local target"
			continue
		fi
		cat "${files[@]}" >/dev/null # the source bytes come from the page cache, as fio's come from memory
		log "rawcql: write ${#files[@]} job(s)"
		r=$(timeout "$BENCH_TIMEOUT" "$CB" rawcql write -hosts "$CASSANDRA" -keyspace "$ks" -depth "$BENCH_RAW_DEPTH" \
			-codec "$BENCH_RAW_CODEC" "${files[@]}") || { failed rawcql "seqwrite_j$nj" "rawcql write failed"; continue; }
		record rawcql "seqwrite_j$nj" "$(jq -r '.result.mb_per_s * 10 | round / 10' <<<"$r")" MB/s
		drop_caches
		log "rawcql: cold read ${#files[@]} job(s)"
		r=$(timeout "$BENCH_TIMEOUT" "$CB" rawcql read -hosts "$CASSANDRA" -keyspace "$ks" -depth "$BENCH_RAW_DEPTH" \
			"${files[@]}") || { failed rawcql "seqread_cold_j$nj" "rawcql read failed"; continue; }
		record rawcql "seqread_cold_j$nj" "$(jq -r '.result.mb_per_s * 10 | round / 10' <<<"$r")" MB/s
	done
	"$CB" rawcql drop -hosts "$CASSANDRA" -keyspace "$ks" || failed rawcql drop "cannot drop $ks"
	RAW_KS=
}

target_loopback() {
	local src=$RUN/lbsrc mnt=$RUN/lbmnt pid t0
	mkdir -p "$src" "$mnt"
	"$CB" loopback "$src" "$mnt" >"$OUT/loopback.log" 2>&1 &
	pid=$!
	"$CB" waitmount -pid $pid -timeout 30s "$mnt" || { failed loopback mount "$(cat "$OUT/loopback.log")"; return; }
	LB_PID=$pid
	fs_suite loopback "$mnt" plain_cold
	kill -TERM $pid
	wait $pid || failed loopback unmount "loopback exited $?"
	LB_PID=
	rm -rf "$src"
}

# ---- CassFS -------------------------------------------------------------------------------------------------

CFS_PID=
CFS_VOL=bench-$(date -u +%Y%m%d-%H%M%S)-$$
CFS_MNT=$RUN/cassfs
CFS_WRITE_TICKS=0

# cfs_mount [--create]: mounts CFS_VOL on CFS_MNT; sets CFS_PID and CFS_SECS (start to mounted). Never call it in
# a subshell: CFS_PID must reach the caller.
cfs_mount() {
	local t0 t1
	t0=$(now_ns)
	local mounter=("$CASSFS_BIN" mount)
	[[ $CASSFS_MOUNT == cassbench ]] && mounter=("$CB" cfsmount)
	# shellcheck disable=SC2086
	"${mounter[@]}" "$@" --cassandra "$CASSANDRA" --zookeeper "$ZOOKEEPER" $CASSFS_MOUNT_ARGS "$CFS_VOL" "$CFS_MNT" \
		>>"$OUT/cassfs-mount.log" 2>&1 &
	CFS_PID=$!
	if "$CB" waitmount -gone -timeout 0s "$CFS_MNT" 2>/dev/null; then :; else
		log "BUG in the harness: $CFS_MNT is mounted already"
	fi
	if ! "$CB" waitmount -pid $CFS_PID -timeout 60s "$CFS_MNT" 2>>"$OUT/cassfs-mount.log"; then
		CFS_PID=
		return 1
	fi
	t1=$(now_ns)
	CFS_SECS=$(secs "$t0" "$t1")
}

# cfs_unmount: SIGTERM to the mount process, which must unmount and exit; sets CFS_SECS to the seconds it took.
cfs_unmount() {
	CFS_SECS=
	[[ -n $CFS_PID ]] || return 1
	local t0 t1 i
	t0=$(now_ns)
	kill -TERM "$CFS_PID" 2>/dev/null
	for ((i = 0; i < 600; i++)); do
		kill -0 "$CFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$CFS_PID" 2>/dev/null; then
		failed cassfs unmount "mount process $CFS_PID did not exit 60s after SIGTERM; unmounting by force"
		umount -l "$CFS_MNT" 2>/dev/null
		kill -KILL "$CFS_PID" 2>/dev/null
	fi
	wait "$CFS_PID" 2>/dev/null
	if "$CB" waitmount -gone -timeout 1s "$CFS_MNT" 2>/dev/null; then :; else
		failed cassfs unmount "$CFS_MNT still mounted after the mount process exited"
		umount -l "$CFS_MNT" 2>/dev/null
	fi
	CFS_PID=
	t1=$(now_ns)
	CFS_SECS=$(secs "$t0" "$t1")
}

cfs_cold() {
	cfs_unmount && record cassfs unmount_s "$CFS_SECS" s
	drop_caches
	if ! cfs_mount; then
		failed cassfs remount "$(tail -c 400 "$OUT/cassfs-mount.log" | tr '\n' ' ')"
		return 1
	fi
	record cassfs mount_s "$CFS_SECS" s
}

# before_write / after_write TARGET NJ: around each sequential write; for CassFS they start the write on a fresh
# mount process (the one of mount --create for numjobs 1, a remount for 4) and take the CPU counters, the peak RSS
# of the mount process (VmHWM: its whole life, so the write's) and, with BENCH_PERF=1, a perf profile of the first
# write.
PERF_PID=
before_write() {
	[[ $1 == cassfs ]] || return 0
	# Every write starts on a fresh mount process, so that its VmHWM belongs to the write alone.
	[[ $2 == 1 ]] || cfs_cold cassfs || return 0
	CFS_WRITE_TICKS=$(cpu_ticks "$CFS_PID")
	CASS_WRITE_TICKS=$([[ -n $CASSANDRA_PID ]] && cpu_ticks "$CASSANDRA_PID" || echo 0)
	if [[ $BENCH_PERF == 1 && $2 == 1 ]] && command -v perf >/dev/null; then
		perf record -F 199 -g -p "$CFS_PID" -o "$OUT/perf-seqwrite.data" >/dev/null 2>&1 &
		PERF_PID=$!
	fi
}

after_write() {
	[[ $1 == cassfs && -n $CFS_PID ]] || return 0
	if [[ -n $PERF_PID ]]; then
		kill -INT "$PERF_PID" && wait "$PERF_PID"
		PERF_PID=
		perf report -i "$OUT/perf-seqwrite.data" --stdio --no-children -g none --sort dso,symbol --percent-limit 0.5 \
			2>/dev/null | grep -v '^$' | head -80 >"$OUT/perf-seqwrite.txt"
		log "  perf profile: $OUT/perf-seqwrite.txt"
	fi
	local hwm
	hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$CFS_PID/status")
	record cassfs "peak_rss_after_seqwrite_j$2" "$hwm" MiB
	record cassfs "cpu_s_seqwrite_j$2" "$(awk -v a="$(cpu_ticks "$CFS_PID")" -v b="$CFS_WRITE_TICKS" -v t="$TICKS" 'BEGIN { printf "%.1f", (a - b) / t }')" s
	if [[ -n $CASSANDRA_PID ]]; then
		record cassfs "cassandra_cpu_s_seqwrite_j$2" "$(awk -v a="$(cpu_ticks "$CASSANDRA_PID")" -v b="$CASS_WRITE_TICKS" -v t="$TICKS" 'BEGIN { printf "%.1f", (a - b) / t }')" s
	fi
	if [[ $2 == 1 ]]; then
		"$CB" volume blocks -hosts "$CASSANDRA" -id "$CFS_VOL" 2>&1 | grep '"blocks"' >"$OUT/cassfs.blocks.json"
		log "  cassfs stored blocks by codec: $(tr '\n' ' ' <"$OUT/cassfs.blocks.json")"
	fi
}

# first_read TARGET DIR: for CassFS, right after a mount with dropped caches, the time to read the first 4 KiB of a
# file (lookup, open, first block from Cassandra).
first_read() {
	[[ $1 == cassfs ]] || return 0
	local t0 t1
	t0=$(now_ns)
	if dd if="$2/seq4.0.0" of=/dev/null bs=4k count=1 status=none; then
		t1=$(now_ns)
		record cassfs first_read_s "$(secs "$t0" "$t1")" s
	else
		failed cassfs first_read "dd of the first 4 KiB failed"
	fi
}

target_cassfs() {
	local r
	mkdir -p "$CFS_MNT"
	CFS_CREATED=1
	log "cassfs: CreateVolume (cassandra.Connect + Cluster.CreateVolume) of $CFS_VOL-cv"
	if r=$(timeout 120 "$CB" volume create -hosts "$CASSANDRA" -id "$CFS_VOL-cv"); then
		record cassfs connect_s "$(jq -r 'select(.result.phase == "connect") | .result.seconds * 1000 | round / 1000' <<<"$r")" s
		record cassfs create_volume_s "$(jq -r 'select(.result.phase == "create_volume") | .result.seconds * 1000 | round / 1000' <<<"$r")" s
	else
		failed cassfs create_volume "cassbench volume create failed"
	fi
	"$CB" volume delete -hosts "$CASSANDRA" -id "$CFS_VOL-cv" >/dev/null || failed cassfs delete_volume "$CFS_VOL-cv"
	log "cassfs: mount --create $CFS_VOL (with $CASSFS_MOUNT)"
	if ! cfs_mount --create; then
		failed cassfs mount_create "$(tail -c 600 "$OUT/cassfs-mount.log" | tr '\n' ' ')"
		"$CB" volume delete -hosts "$CASSANDRA" -id "$CFS_VOL" >/dev/null || failed cassfs delete_volume "$CFS_VOL"
		return
	fi
	record cassfs mount_create_s "$CFS_SECS" s
	fs_suite cassfs "$CFS_MNT" cfs_cold
	[[ -n $CFS_PID ]] && record cassfs peak_rss_last_mount "$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$CFS_PID/status")" MiB
	cfs_unmount && record cassfs unmount_s "$CFS_SECS" s
	"$CB" volume delete -hosts "$CASSANDRA" -id "$CFS_VOL" >/dev/null || failed cassfs delete_volume "$CFS_VOL"
	CFS_CREATED=
}

# cleanup, on any exit: unmount what is still mounted, drop what this run created in Cassandra.
cleanup() {
	[[ -n ${CFS_PID:-} ]] && { kill -TERM "$CFS_PID" 2>/dev/null; sleep 2; umount -l "$CFS_MNT" 2>/dev/null; }
	[[ -n ${LB_PID:-} ]] && { kill -TERM "$LB_PID" 2>/dev/null; sleep 1; umount -l "$RUN/lbmnt" 2>/dev/null; }
	[[ -n ${RAW_KS:-} ]] && "$CB" rawcql drop -hosts "$CASSANDRA" -keyspace "$RAW_KS"
	if [[ -n ${CFS_CREATED:-} ]]; then
		"$CB" volume delete -hosts "$CASSANDRA" -id "$CFS_VOL" >/dev/null
		"$CB" volume delete -hosts "$CASSANDRA" -id "$CFS_VOL-cv" >/dev/null
	fi
	true
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

log "CassFS benchmark: size $BENCH_SIZE, $BENCH_FILES files, targets: $BENCH_TARGETS; work dir $RUN"
for t in $BENCH_TARGETS; do
	case $t in
	local | rawcql | loopback | cassfs) target_$t ;;
	*) die "unknown target $t" ;;
	esac
done
rm -rf "$RUN/local"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------------------------------------

disk_of() {
	local src dev
	src=$(findmnt -n -o SOURCE,FSTYPE -T "$BENCH_DIR" | head -1)
	dev=$(lsblk -n -d -o PKNAME "${src%% *}" 2>/dev/null | head -1)
	[[ -n $dev ]] && dev=/dev/$dev || dev=${src%% *}
	echo "$src on $(lsblk -n -d -o NAME,SIZE,ROTA,MODEL "$dev" 2>/dev/null | awk '{ printf "%s, %s, rotational=%s %s", $1, $2, $3, $4 }')"
}
cmdline="BENCH_SIZE=$BENCH_SIZE BENCH_FILES=$BENCH_FILES"
[[ $BENCH_RUNTIME != 15 ]] && cmdline+=" BENCH_RUNTIME=$BENCH_RUNTIME"
[[ $BENCH_MD_STONEWALL != 60 ]] && cmdline+=" BENCH_MD_STONEWALL=$BENCH_MD_STONEWALL"
[[ $BENCH_TARGETS != "local rawcql loopback cassfs" ]] && cmdline+=" BENCH_TARGETS=\"$BENCH_TARGETS\""
[[ $BENCH_RAW_DEPTH != 4 ]] && cmdline+=" BENCH_RAW_DEPTH=$BENCH_RAW_DEPTH"
[[ $BENCH_RAW_CODEC != none ]] && cmdline+=" BENCH_RAW_CODEC=$BENCH_RAW_CODEC"
[[ $BENCH_PERF != 0 ]] && cmdline+=" BENCH_PERF=$BENCH_PERF"
[[ $CASSFS_MOUNT != csi-driver ]] && cmdline+=" CASSFS_MOUNT=$CASSFS_MOUNT"
{
	printf 'date\t%s\n' "$STARTED"
	printf 'command\t%s hack/bench.sh\n' "$cmdline"
	printf 'size\t%s\nsize_bytes\t%s\nfiles\t%s\nruntime\t%s\n' "$BENCH_SIZE" "$BYTES" "$BENCH_FILES" "$BENCH_RUNTIME"
	printf 'stonewall\t%s\n' "$BENCH_MD_STONEWALL"
	printf 'raw_depth\t%s\nraw_codec\t%s\n' "$BENCH_RAW_DEPTH" "$BENCH_RAW_CODEC"
	printf 'cpu\t%s\n' "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
	printf 'nproc\t%s\n' "$(nproc)"
	printf 'mem\t%s\n' "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'disk\t%s (work directory %s)\n' "$(disk_of)" "$BENCH_DIR"
	printf 'servers\tCassandra %s (pid %s), ZooKeeper %s, both on this machine\n' "$CASSANDRA" "${CASSANDRA_PID:-?}" "$ZOOKEEPER"
	printf 'mounter\t%s\n' "$([[ $CASSFS_MOUNT == cassbench ]] && echo 'the stand-in `cassbench cfsmount` (test/bench), not `csi-driver mount`' || echo '`csi-driver mount`')"
	printf 'commit\t%s\n' "$(git describe --always --dirty 2>/dev/null || echo unknown)"
	printf 'load_start\t%s\nload_end\t%s\n' "$LOAD_START" "$LOAD_END"
	[[ -n ${BENCH_NOTE:-} ]] && printf 'shared\t. %s\n' "$BENCH_NOTE"
} >"$OUT/meta.tsv"

into=()
[[ $BENCH_OUT != - ]] && into=(-into "$BENCH_OUT")
"$CB" report -dir "$OUT" >"$RUN/report.md" || die "report"
[[ $BENCH_OUT != - ]] && { "$CB" report -dir "$OUT" "${into[@]}" || die "report into $BENCH_OUT"; }
cat "$RUN/report.md"
log "report: $RUN/report.md${into:+ and $BENCH_OUT}; raw results: $OUT"
[[ -s $FAILURES ]] && { log "some steps failed:"; cat "$FAILURES" >&2; exit 1; }
exit 0
