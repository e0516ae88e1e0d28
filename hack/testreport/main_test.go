package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A package that fails outside its tests (here: b has a failed test, c fails with none) counts once, so the
// closing line of a red run never says "0 failed".
func TestSummaryCountsPackageFailures(t *testing.T) {
	f := filepath.Join(t.TempDir(), "run.json")
	lines := `{"Action":"pass","Package":"a","Test":"T1"}
{"Action":"pass","Package":"a"}
{"Action":"fail","Package":"b","Test":"T2"}
{"Action":"fail","Package":"b"}
{"Action":"pass","Package":"c","Test":"T3"}
{"Action":"fail","Package":"c"}
`
	if err := os.WriteFile(f, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	r, w, _ := os.Pipe()
	os.Stdout = w
	code := printSummary([]string{f})
	w.Close()
	os.Stdout = stdout
	b, _ := io.ReadAll(r)
	out := string(b)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if want := "2 passed, 2 failed, 0 skipped\n"; !strings.Contains(out, want) {
		t.Errorf("summary %q does not contain %q", out, want)
	}
}
