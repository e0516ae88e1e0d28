package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeRun(t *testing.T, results, failures string) string {
	t.Helper()
	dir := t.TempDir()
	for name, s := range map[string]string{"results.tsv": results, "failures.txt": failures,
		"meta.tsv": "date\t2026-11-22 09:05 UTC\ncommand\tBENCH_SIZE=1g hack/bench.sh\nsize\t1g\nsize_bytes\t1073741824\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// bar returns the row of the bars table whose text starts with prefix.
func bar(t *testing.T, md, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| "+prefix) {
			return l
		}
	}
	t.Fatalf("no bar %q in\n%s", prefix, md)
	return ""
}

func TestReportJudgesBarsFromTheNumbers(t *testing.T) {
	dir := writeRun(t, strings.Join([]string{
		"rawcql\tseqwrite_j1\t100.0\tMB/s",
		"cassfs\tseqwrite_j1\t80.0\tMB/s",
		"rawcql\tseqwrite_j4\t100.0\tMB/s",
		"cassfs\tseqwrite_j4\t79.9\tMB/s",
		"loopback\tseqread_warm_j1\t500\tMB/s",
		"cassfs\tseqread_warm_j1\t450\tMB/s",
		"cassfs\tmd_create_p8\t999\tops/s",
		"cassfs\tmd_stat_p8\t5000\tops/s",
		"cassfs\tpeak_rss_after_seqwrite_j1\t100.5\tMiB",
		"cassfs\tpeak_rss_after_seqwrite_j4\t300.5\tMiB",
		"cassfs\tcreate_volume_s\t1.5\ts",
		"cassfs\tmount_s\t0.2\ts",
		"cassfs\tmount_s\t1.5\ts",
		"cassfs\tmount_s\t0.3\ts",
	}, "\n")+"\n", "cassfs seqread_cold_j1: timeout after 900s\n")
	r, err := loadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	md := r.markdown()
	for prefix, want := range map[string]string{
		"sequential write, 1 job":     "| met |",
		"sequential write, 4 jobs":    "**not met**",
		"cold sequential read, 1 job": "not measured",
		"warm read, 1 job":            "| met |",
		"file create":                 "**not met**",
		"stat ≥":                      "| met |",
		"driver RSS":                  "300.5 MiB, the larger",
		"CreateVolume":                "| met |",
		"NodeStageVolume":             "median 0.3 s, max 1.5 s", // judged on the median of 3 mounts: met
	} {
		if l := bar(t, md, prefix); !strings.Contains(l, want) {
			t.Errorf("bar %q: %s, want %q", prefix, l, want)
		}
	}
	if l := bar(t, md, "driver RSS"); !strings.HasSuffix(l, "| **not met** |") {
		t.Errorf("RSS bar: %s", l)
	}
	if l := bar(t, md, "NodeStageVolume"); !strings.HasSuffix(l, "| met |") {
		t.Errorf("mount bar: %s", l)
	}
	if !strings.Contains(md, "| seq read cold, 1 job | MB/s | — | — | — | failed |") {
		t.Errorf("a failed test is not shown as failed:\n%s", md)
	}
	if !strings.Contains(md, "| seq write 1 MiB, 1 job | MB/s | — | — | 100.0 | 80.0 | 80% |") {
		t.Errorf("ratio missing:\n%s", md)
	}
}

func TestSpliceKeepsTheTextAroundTheMarkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.md")
	if err := os.WriteFile(path, []byte("intro\n"+beginMarker+"\nold\n"+endMarker+"\noutro\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := spliceInto(path, "new\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "intro\n" + beginMarker + "\nnew\n" + endMarker + "\noutro\n"; string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
}
