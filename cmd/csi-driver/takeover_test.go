package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cassfs/cassfs/internal/testenv"
	"github.com/cassfs/cassfs/pkg/cassandra"
	"github.com/cassfs/cassfs/pkg/fdkeeper"
)

// TestMain lets the tests run this test binary as csi-driver (CASSFS_TEST_AS=csi-driver) or as an application
// writing to a mount (CASSFS_TEST_AS=writer), in child processes that can be killed.
func TestMain(m *testing.M) {
	switch os.Getenv("CASSFS_TEST_AS") {
	case "csi-driver":
		main()
		os.Exit(0)
	case "writer":
		os.Exit(writerMain(os.Args[1]))
	}
	os.Exit(m.Run())
}

// writerMain appends numbered 100-byte records to path, fsyncing each and then printing "synced N", until its
// stdin closes; any error is printed ("ERROR ...") and fails the process.
func writerMain(path string) int {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		fmt.Printf("ERROR open: %v\n", err)
		return 1
	}
	stop := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stop) }()
	for i := 0; ; i++ {
		select {
		case <-stop:
			if err := f.Close(); err != nil {
				fmt.Printf("ERROR close: %v\n", err)
				return 1
			}
			fmt.Println("closed")
			return 0
		default:
		}
		if _, err := f.WriteString(record(i)); err != nil {
			fmt.Printf("ERROR write %d: %v\n", i, err)
			return 1
		}
		if err := f.Sync(); err != nil {
			fmt.Printf("ERROR fsync %d: %v\n", i, err)
			return 1
		}
		fmt.Printf("synced %d %d\n", i, time.Now().UnixNano())
		time.Sleep(5 * time.Millisecond)
	}
}

func record(i int) string {
	s := fmt.Sprintf("record %08d ", i)
	return s + strings.Repeat("x", 99-len(s)) + "\n"
}

// child is a process started from this test binary; its stdout lines arrive on lines.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan error
}

func startChild(t *testing.T, as string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CASSFS_TEST_AS="+as)
	cmd.Stderr = &testLogWriter{t: t, prefix: as + ": "}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 100000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return c
}

// waitLine returns the first line with prefix, failing after timeout or at EOF.
func (c *child) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("%s exited before printing %q", c.cmd.Args[0], prefix)
			}
			if strings.HasPrefix(l, "ERROR") {
				t.Fatalf("child: %s", l)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q within %v", prefix, timeout)
		}
	}
}

type testLogWriter struct {
	t      *testing.T
	prefix string
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if strings.Contains(l, "level=INFO") || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") ||
			!strings.Contains(l, "level=") {
			w.t.Log(w.prefix + l)
		}
	}
	return len(p), nil
}

// syncedIndex parses "synced N T".
func syncedIndex(t *testing.T, l string) (int, time.Time) {
	f := strings.Fields(l)
	n, err1 := strconv.Atoi(f[1])
	ns, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad line %q", l)
	}
	return n, time.Unix(0, ns)
}

// TestMountSurvivesSIGKILL: "csi-driver mount" with an fdkeeper serves a real Cassandra volume to an application
// that writes and fsyncs in a loop; the server is killed with SIGKILL and a new one takes the connection over.
// The application sees no error, every record is intact, and the mount keeps working. The time from the kill
// to the application's next completed fsync is logged.
func TestMountSurvivesSIGKILL(t *testing.T) {
	hosts := testenv.RequireCassandra(t)
	ctx := context.Background()
	vol := testenv.UniqueName("fdkeep-")
	cl, err := cassandra.Connect(ctx, cassandra.ClusterConfig{Hosts: hosts, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	t.Cleanup(func() {
		err := cl.DeleteVolume(context.Background(), vol)
		for i := 0; i < 3 && err != nil && !errors.Is(err, cassandra.ErrVolumeNotFound); i++ {
			err = cl.DeleteVolume(context.Background(), vol) // DROP KEYSPACE can time out on a loaded node
		}
		if err != nil && !errors.Is(err, cassandra.ErrVolumeNotFound) {
			t.Errorf("delete volume: %v", err)
		}
	})
	tmp := t.TempDir()
	sock := filepath.Join(tmp, "keeper.sock")
	dir := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })

	keeper := startChild(t, "csi-driver", "fdkeeper", "--socket="+sock)
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mountArgs := []string{"mount", "--fdkeeper=" + sock, "--cassandra=" + strings.Join(hosts, ","), "--create", vol, dir}
	srv1 := startChild(t, "csi-driver", mountArgs...)
	srv1.waitLine(t, "mounted volume", 2*time.Minute)

	app := startChild(t, "writer", filepath.Join(dir, "log"))
	var last int
	for last < 30 {
		last, _ = syncedIndex(t, app.waitLine(t, "synced", time.Minute))
	}
	// Drain what was synced before the kill; anything printed after it may have raced with the kill.
	for drained := false; !drained; {
		select {
		case l := <-app.lines:
			if strings.HasPrefix(l, "synced") {
				last, _ = syncedIndex(t, l)
			}
		default:
			drained = true
		}
	}
	killed := time.Now()
	if err := srv1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv1.done
	t.Logf("server killed after record %d was fsynced", last)

	srv2 := startChild(t, "csi-driver", mountArgs...)
	srv2.waitLine(t, "took over mounted volume", 2*time.Minute)
	tookOver := time.Since(killed)
	var first time.Time
	var n int
	for {
		n, first = syncedIndex(t, app.waitLine(t, "synced", time.Minute))
		if first.After(killed) {
			break
		}
	}
	t.Logf("measured: kill -> new server serving: %v; kill -> application's first fsync completed after it: %v (record %d)",
		tookOver.Round(time.Millisecond), first.Sub(killed).Round(time.Millisecond), n)
	for n < last+30 {
		n, _ = syncedIndex(t, app.waitLine(t, "synced", time.Minute))
	}
	app.stdin.Close()
	app.waitLine(t, "closed", time.Minute)
	if err := <-app.done; err != nil {
		t.Fatalf("application failed: %v", err)
	}

	// Everything the application wrote is there, in order, read through the new server.
	b, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	recs := len(b) / 100
	if len(b)%100 != 0 || recs < n+1 {
		t.Fatalf("file has %d bytes, want whole records and at least %d", len(b), n+1)
	}
	for i := 0; i < recs; i++ {
		if got := string(b[i*100 : (i+1)*100]); got != record(i) {
			t.Fatalf("record %d = %q", i, got)
		}
	}
	// The mount works for new files and names.
	if err := os.WriteFile(filepath.Join(dir, "after"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 2 {
		t.Fatalf("readdir: %v %v", ents, err)
	}

	// SIGTERM unmounts, and the keeper lets go of the connection.
	if err := srv2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv2.waitLine(t, "unmounted", time.Minute)
	<-srv2.done
	if kept, err := fdkeeper.NewClient(sock).List(); err != nil || len(kept) != 0 {
		t.Fatalf("keeper still holds %v (%v)", kept, err)
	}
	_ = keeper.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-keeper.done; err != nil {
		t.Errorf("keeper: %v", err)
	}
}
