package main

import (
	"os"
	"regexp"
	"testing"
)

func TestMountCapacityFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"1073741824", 1 << 30, true},
		{"10Gi", 10 << 30, true},
		{"500M", 500e6, true},
		{"1.5Gi", 3 << 29, true},
		{"-1", 0, false},
		{"10GB", 0, false},
		{"", 0, false},
		{"1.5", 0, false},
	} {
		f, _, err := parseMountFlags([]string{"--capacity", c.in, "vol", "/mnt/x"})
		if c.ok != (err == nil) {
			t.Errorf("--capacity %q: err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if c.ok && uint64(f.capacity) != c.want {
			t.Errorf("--capacity %q = %d, want %d", c.in, f.capacity, c.want)
		}
	}
}

// The README's first command (hack/quickstart.sh) passes its default capacity to this flag.
func TestQuickstartDefaultCapacityParses(t *testing.T) {
	b, err := os.ReadFile("../../hack/quickstart.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`CASSFS_CAPACITY:-([^}]+)}`).FindSubmatch(b)
	if m == nil {
		t.Fatal("hack/quickstart.sh: no CASSFS_CAPACITY default found")
	}
	if _, _, err := parseMountFlags([]string{"--capacity", string(m[1]), "vol", "/mnt/x"}); err != nil {
		t.Fatalf("quickstart's default capacity %q: %v", m[1], err)
	}
}
