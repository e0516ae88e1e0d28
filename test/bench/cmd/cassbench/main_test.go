package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
)

// TestMain lets the test binary serve as the mdtest worker processes that runMDTest starts.
func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// capture runs f with stdout redirected and returns the result lines it printed, by phase.
func capture(t *testing.T, f func() error) (map[string]result, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	ferr := f()
	os.Stdout = old
	w.Close()
	out := <-done
	res := map[string]result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var line map[string]result
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			continue
		}
		if x, ok := line["result"]; ok {
			res[x.Phase] = x
		}
	}
	return res, ferr
}

func TestMDTestCreatesChecksAndRemovesEveryFile(t *testing.T) {
	dir := t.TempDir()
	res, err := capture(t, func() error {
		return runMDTest([]string{"-dir", dir, "-files", "250", "-procs", "3", "-fanout", "40", "-size", "100"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range []string{"create", "stat", "read", "remove"} {
		if r := res[ph]; r.Ops != 250 || r.Errors != 0 || r.Jobs != 3 {
			t.Errorf("%s: %+v, want 250 ops by 3 jobs without errors", ph, r)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestMDTestReadsBackWhatItWrote(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	want := mdContent(7, 50)
	if err := mdCreate(path, want); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 51)
	if err := mdRead(path, want, buf); err != nil {
		t.Fatal(err)
	}
	if err := mdRead(path, mdContent(8, 50), buf); err == nil {
		t.Fatal("content of file 8 matched file 7")
	}
	if err := mdCreate(path, want); err == nil {
		t.Fatal("create of an existing file succeeded (O_EXCL)")
	}
}

// TestRawCQLRoundTrip writes a file as blocks to the real Cassandra with both codecs, reads it back, and checks that
// a damaged block fails the read.
func TestRawCQLRoundTrip(t *testing.T) {
	hosts := strings.Join(testenv.RequireCassandra(t), ",")
	ks := testenv.UniqueName("cassbench_t")
	src := filepath.Join(t.TempDir(), "src")
	data := make([]byte, 3<<20+12345)
	_, _ = rand.Read(data[:2<<20])
	copy(data[2<<20:], bytes.Repeat([]byte("compressible "), 1<<18)) // zstd shrinks the last blocks
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"-hosts", hosts, "-keyspace", ks, "-block", "1048576"}
	if _, err := capture(t, func() error { return runRawCQL(append([]string{"setup"}, common...)) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runRawCQL(append([]string{"drop"}, common...)) })
	for _, codec := range []string{"none", "zstd"} {
		res, err := capture(t, func() error {
			return runRawCQL(append(append([]string{"write"}, common...), "-codec", codec, src))
		})
		if err != nil || res["write"].Bytes != int64(len(data)) || res["write"].Ops != 4 {
			t.Fatalf("write with %s: %+v %v", codec, res["write"], err)
		}
		res, err = capture(t, func() error { return runRawCQL(append(append([]string{"read"}, common...), src)) })
		if err != nil || res["read"].Bytes != int64(len(data)) {
			t.Fatalf("read after write with %s: %+v %v", codec, res["read"], err)
		}
	}
	cl, err := cassandra.Connect(context.Background(), cassandra.ClusterConfig{Hosts: strings.Split(hosts, ",")})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Session().Query(fmt.Sprintf(`UPDATE %s.blobs SET data = 0x00 WHERE file = 0 AND seq = 1`, ks)).Exec(); err != nil {
		t.Fatal(err)
	}
	if _, err := capture(t, func() error { return runRawCQL(append(append([]string{"read"}, common...), src)) }); err == nil {
		t.Fatal("read of a damaged block succeeded")
	}
}

func TestRawCQLRefusesOtherKeyspaces(t *testing.T) {
	for _, ks := range []string{"", "system", "cassfs_x", "cassbench_x; DROP"} {
		if err := runRawCQL([]string{"drop", "-keyspace", ks}); err == nil {
			t.Errorf("keyspace %q accepted", ks)
		}
	}
}
