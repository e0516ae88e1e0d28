package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// runReport turns the measurements of one hack/bench.sh run (DIR/results.tsv: target, test, value, unit;
// DIR/failures.txt; DIR/meta.tsv: key, value) into the Markdown block of docs/benchmarks.md: the table per target,
// the ratios, the CassFS timings and the bars of issue 8, each marked met or not met from the measured numbers.
// With -into FILE, the block replaces what lies between the markers "<!-- bench:begin -->" and
// "<!-- bench:end -->" of FILE (appended when FILE has no markers); otherwise it is printed.
func runReport(args []string) error {
	fl := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fl.String("dir", "", "the run's output directory")
	into := fl.String("into", "", "Markdown file to update between the bench markers")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("need -dir")
	}
	rs, err := loadRun(*dir)
	if err != nil {
		return err
	}
	block := rs.markdown()
	if *into == "" {
		fmt.Print(block)
		return nil
	}
	return spliceInto(*into, block)
}

const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

func spliceInto(path, block string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	block = beginMarker + "\n" + block + endMarker + "\n"
	var out string
	b, e := bytes.Index(old, []byte(beginMarker)), bytes.Index(old, []byte(endMarker))
	switch {
	case b >= 0 && e > b:
		out = string(old[:b]) + block + strings.TrimPrefix(string(old[e+len(endMarker):]), "\n")
	case len(old) == 0:
		out = "# Benchmarks\n\n" + block
	default:
		out = string(old) + "\n" + block
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

type run struct {
	vals     map[string]map[string]string // target -> test -> value
	samples  map[string][]float64         // "target/test" -> every value recorded (mount times)
	failures []string
	failed   map[string]bool // "target test"
	meta     map[string]string
	blocks   []string
}

func loadRun(dir string) (*run, error) {
	r := &run{vals: map[string]map[string]string{}, samples: map[string][]float64{},
		failed: map[string]bool{}, meta: map[string]string{}}
	err := eachLine(filepath.Join(dir, "results.tsv"), func(l string) {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			return
		}
		if r.vals[f[0]] == nil {
			r.vals[f[0]] = map[string]string{}
		}
		r.vals[f[0]][f[1]] = f[2]
		if v, err := strconv.ParseFloat(f[2], 64); err == nil {
			r.samples[f[0]+"/"+f[1]] = append(r.samples[f[0]+"/"+f[1]], v)
		}
	})
	if err != nil {
		return nil, err
	}
	_ = eachLine(filepath.Join(dir, "failures.txt"), func(l string) {
		r.failures = append(r.failures, l)
		if f := strings.SplitN(l, " ", 3); len(f) == 3 {
			r.failed[f[0]+" "+strings.TrimSuffix(f[1], ":")] = true
		}
	})
	_ = eachLine(filepath.Join(dir, "meta.tsv"), func(l string) {
		if k, v, ok := strings.Cut(l, "\t"); ok {
			r.meta[k] = v
		}
	})
	_ = eachLine(filepath.Join(dir, "cassfs.blocks.json"), func(l string) { r.blocks = append(r.blocks, l) })
	return r, nil
}

func eachLine(path string, f func(string)) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
			f(l)
		}
	}
	return sc.Err()
}

// num returns the measured number of target/test, if there is one.
func (r *run) num(target, test string) (float64, bool) {
	v, err := strconv.ParseFloat(r.vals[target][test], 64)
	return v, err == nil
}

// cell is what the table shows for target/test: the number, "failed", or "—" (not part of this target's work or
// not run).
func (r *run) cell(target, test string) string {
	if v, ok := r.vals[target][test]; ok {
		return v
	}
	if r.failed[target+" "+test] {
		return "failed"
	}
	return "—"
}

func (r *run) ratio(a, b, test string) string {
	x, ok1 := r.num(a, test)
	y, ok2 := r.num(b, test)
	if !ok1 || !ok2 || y == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", 100*x/y)
}

var targets = []struct{ key, name string }{
	{"local", "local dir"}, {"loopback", "FUSE loopback"}, {"rawcql", "raw gocql"}, {"cassfs", "CassFS"},
}

var rows = []struct{ test, label, unit string }{
	{"seqwrite_j1", "seq write 1 MiB, 1 job", "MB/s"},
	{"seqwrite_j4", "seq write 1 MiB, 4 jobs", "MB/s"},
	{"seqread_cold_j1", "seq read cold, 1 job", "MB/s"},
	{"seqread_cold_j4", "seq read cold, 4 jobs", "MB/s"},
	{"seqread_warm_j1", "seq read warm, 1 job", "MB/s"},
	{"seqread_warm_j4", "seq read warm, 4 jobs", "MB/s"},
	{"randread", "4 KiB random read, 4 jobs", "IOPS"},
	{"randwrite", "4 KiB random write, 4 jobs", "IOPS"},
	{"md_files_p1", "files created, 1 process", "files"},
	{"md_create_p1", "create, 1 process", "ops/s"},
	{"md_stat_p1", "stat, 1 process", "ops/s"},
	{"md_read_p1", "read, 1 process", "ops/s"},
	{"md_remove_p1", "remove, 1 process", "ops/s"},
	{"md_files_p8", "files created, 8 processes", "files"},
	{"md_create_p8", "create, 8 processes", "ops/s"},
	{"md_stat_p8", "stat, 8 processes", "ops/s"},
	{"md_read_p8", "read, 8 processes", "ops/s"},
	{"md_remove_p8", "remove, 8 processes", "ops/s"},
}

func (r *run) markdown() string {
	var b strings.Builder
	m := r.meta
	fmt.Fprintf(&b, "## Run of %s\n\n", m["date"])
	fmt.Fprintf(&b, "- Command: `%s`\n", m["command"])
	fmt.Fprintf(&b, "- Sizes: BENCH_SIZE=%s (sequential bytes per test, split over the jobs), BENCH_FILES=%s, "+
		"BENCH_RUNTIME=%ss, metadata create stonewall %ss; raw gocql: %s blobs in flight per job, codec %s\n",
		m["size"], m["files"], m["runtime"], m["stonewall"], m["raw_depth"], m["raw_codec"])
	fmt.Fprintf(&b, "- Machine: %s; %s CPUs; %s memory; kernel %s; disk: %s\n", m["cpu"], m["nproc"], m["mem"], m["kernel"], m["disk"])
	fmt.Fprintf(&b, "- Servers: %s\n", m["servers"])
	fmt.Fprintf(&b, "- Code: %s; CassFS mounted by %s\n", m["commit"], m["mounter"])
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) at start: %s, at end: %s%s\n\n", m["load_start"], m["load_end"], m["shared"])

	b.WriteString("### Throughput\n\nMB/s (10^6 bytes/s) and IOPS as fio reports them (bytes or I/Os over the jobs' run time, " +
		"end_fsync included), the raw gocql tool's bytes over its first request to last answer, and operations per " +
		"second of the metadata phases. \"—\": not part of that target's work; \"failed\": see below.\n\n")
	b.WriteString("| test | unit |")
	for _, t := range targets {
		b.WriteString(" " + t.name + " |")
	}
	b.WriteString(" CassFS / raw gocql | CassFS / loopback | loopback / local |\n|---|---|")
	for range targets {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s |", row.label, row.unit)
		for _, t := range targets {
			b.WriteString(" " + r.cell(t.key, row.test) + " |")
		}
		fmt.Fprintf(&b, " %s | %s | %s |\n", r.ratio("cassfs", "rawcql", row.test),
			r.ratio("cassfs", "loopback", row.test), r.ratio("loopback", "local", row.test))
	}

	b.WriteString("\n### CassFS times and resources\n\n| measure | value |\n|---|---:|\n")
	for _, it := range []struct{ test, label string }{
		{"connect_s", "cassandra.Connect (s)"},
		{"create_volume_s", "Cluster.CreateVolume of a fresh volume (s)"},
		{"mount_create_s", "mount --create of a new volume: start to mounted (s)"},
		{"mount_s", "mount of the existing volume (remounts, caches dropped): start to mounted (s)"},
		{"unmount_s", "SIGTERM to the mount process exited and unmounted (s)"},
		{"first_read_s", "first 4 KiB read after a mount, caches dropped (s)"},
		{"peak_rss_after_seqwrite_j1", "peak RSS (VmHWM) of a fresh mount process after the 1-job write (MiB)"},
		{"peak_rss_after_seqwrite_j4", "peak RSS (VmHWM) of a fresh mount process after the 4-job write (MiB)"},
		{"peak_rss_last_mount", "peak RSS (VmHWM) of the last mount process: cold 4-job read, warm read, random I/O, metadata (MiB)"},
		{"cpu_s_seqwrite_j1", "CPU seconds of the mount process during the 1-job write"},
		{"cassandra_cpu_s_seqwrite_j1", "CPU seconds of Cassandra during the 1-job write"},
		{"cpu_s_seqwrite_j4", "CPU seconds of the mount process during the 4-job write"},
		{"cassandra_cpu_s_seqwrite_j4", "CPU seconds of Cassandra during the 4-job write"},
	} {
		s := r.samples["cassfs/"+it.test]
		switch {
		case len(s) > 1:
			fmt.Fprintf(&b, "| %s | median %s, max %s (%d samples) |\n", it.label, fmtf(median(s)), fmtf(maxf(s)), len(s))
		case len(s) == 1:
			fmt.Fprintf(&b, "| %s | %s |\n", it.label, fmtf(s[0]))
		default:
			fmt.Fprintf(&b, "| %s | %s |\n", it.label, r.cell("cassfs", it.test))
		}
	}
	if len(r.blocks) > 0 {
		fmt.Fprintf(&b, "\nBlocks CassFS stored for the 1-job write, by codec (0 none, 1 zstd): `%s`\n",
			strings.Join(r.blocks, " "))
	}

	b.WriteString("\n### Bars of issue 8\n\n| bar | measured | result |\n|---|---|---|\n")
	for _, bar := range r.bars() {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", bar[0], bar[1], bar[2])
	}
	if len(r.failures) > 0 {
		b.WriteString("\n### What failed\n\n")
		for _, f := range r.failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// bars judges each bar of the issue from the measured numbers; a bar without its numbers is "not measured".
func (r *run) bars() [][3]string {
	var out [][3]string
	rel := func(bar, test, over, overName string, min float64) {
		x, ok1 := r.num("cassfs", test)
		y, ok2 := r.num(over, test)
		if !ok1 || !ok2 || y == 0 {
			out = append(out, [3]string{bar, fmt.Sprintf("CassFS %s, %s %s", r.cell("cassfs", test), overName, r.cell(over, test)), "not measured"})
			return
		}
		out = append(out, [3]string{bar, fmt.Sprintf("CassFS %s vs %s %s MB/s = %.1f%%", fmtf(x), overName, fmtf(y), 100*x/y), verdict(x/y >= min)})
	}
	rel("sequential write, 1 job ≥ 80% of raw gocql", "seqwrite_j1", "rawcql", "raw gocql", 0.8)
	rel("sequential write, 4 jobs ≥ 80% of raw gocql", "seqwrite_j4", "rawcql", "raw gocql", 0.8)
	rel("cold sequential read, 1 job ≥ 80% of raw gocql", "seqread_cold_j1", "rawcql", "raw gocql", 0.8)
	rel("cold sequential read, 4 jobs ≥ 80% of raw gocql", "seqread_cold_j4", "rawcql", "raw gocql", 0.8)
	rel("warm read, 1 job ≥ 80% of FUSE loopback", "seqread_warm_j1", "loopback", "loopback", 0.8)
	rel("warm read, 4 jobs ≥ 80% of FUSE loopback", "seqread_warm_j4", "loopback", "loopback", 0.8)
	abs := func(bar, test, unit string, ok func(float64) bool, note string) {
		s := r.samples["cassfs/"+test]
		if len(s) == 0 {
			out = append(out, [3]string{bar, r.cell("cassfs", test), "not measured"})
			return
		}
		v, shown := s[0], fmtf(s[0])+" "+unit
		if len(s) > 1 {
			v = median(s)
			shown = fmt.Sprintf("median %s %s, max %s %s (%d mounts)", fmtf(v), unit, fmtf(maxf(s)), unit, len(s))
		}
		out = append(out, [3]string{bar, shown + note, verdict(ok(v))})
	}
	abs("file create ≥ 1,000/s with 8 processes", "md_create_p8", "/s", func(v float64) bool { return v >= 1000 }, "")
	abs("stat ≥ 5,000/s with 8 processes", "md_stat_p8", "/s", func(v float64) bool { return v >= 5000 }, "")
	note := ""
	if r.meta["size_bytes"] != strconv.Itoa(1<<30) {
		note = fmt.Sprintf(" (this run wrote %s, not the bar's 1 GiB)", r.meta["size"])
	}
	rss := append(append([]float64(nil), r.samples["cassfs/peak_rss_after_seqwrite_j1"]...), r.samples["cassfs/peak_rss_after_seqwrite_j4"]...)
	if len(rss) == 0 {
		out = append(out, [3]string{"driver RSS ≤ 256 MiB while writing 1 GiB", "—", "not measured"})
	} else {
		out = append(out, [3]string{"driver RSS ≤ 256 MiB while writing 1 GiB",
			fmt.Sprintf("%s MiB, the larger of the 1-job and 4-job writes%s", fmtf(maxf(rss)), note), verdict(maxf(rss) <= 256)})
	}
	abs("CreateVolume under 5 s", "create_volume_s", "s", func(v float64) bool { return v < 5 }, "")
	abs("NodeStageVolume (mount) under 1 s", "mount_s", "s", func(v float64) bool { return v < 1 }, "")
	return out
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func median(s []float64) float64 {
	c := append([]float64(nil), s...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func maxf(s []float64) float64 {
	m := s[0]
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

func fmtf(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
